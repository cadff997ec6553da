import { Client } from '@microsoft/microsoft-graph-client';
import { describe, expect, test } from 'vitest';
import { GraphRequestError } from '../../src/errors.js';
import { clientBase, resolveLocation, type GraphBase, type Target } from '../../src/transport/location.js';

// Where a `Location` or `resourceLocation` may lead: the pure rules, no requests.

const base: GraphBase = { origin: 'https://graph.microsoft.com', version: 'v1.0' };
const created: Target = { version: 'v1.0', path: '/me/drive/items/A/workbook/createSession' };
const resolve = (location: string | null, from: Target = created): Target =>
  resolveLocation(base, 'POST', from, location, 'Location');
const refusal = (location: string | null): GraphRequestError => {
  try {
    resolve(location);
  } catch (error) {
    if (error instanceof GraphRequestError) return error;
    throw error;
  }
  throw new Error(`expected ${String(location)} to be refused`);
};

describe('resolveLocation(): what is followed', () => {
  test('a relative reference is read against the URL of the request whose answer carried it', () => {
    expect(resolve('operations/1')).toEqual({ version: 'v1.0', path: '/me/drive/items/A/workbook/operations/1' });
  });

  test('an absolute path on the Graph origin keeps its own version root', () => {
    expect(resolve('/beta/me/drive/items/A/workbook/operations/7')).toEqual({
      version: 'beta',
      path: '/me/drive/items/A/workbook/operations/7',
    });
  });

  test('an absolute URL on the Graph origin keeps its query exactly as written, not re-encoded', () => {
    const location = 'https://graph.microsoft.com/v1.0/me/drive/items/A/workbook/sessionInfo?sessionId=a%2Bb|c';
    expect(resolve(location)).toEqual({
      version: 'v1.0',
      path: '/me/drive/items/A/workbook/sessionInfo?sessionId=a%2Bb|c',
    });
  });

  test('a fragment is left out', () => {
    expect(resolve('/v1.0/me/drive/items/A/workbook/operations/1#part').path).toBe(
      '/me/drive/items/A/workbook/operations/1',
    );
  });
});

describe('resolveLocation(): what is refused', () => {
  test('no location at all is a malformed answer, naming the header', () => {
    const error = refusal(null);
    expect(error).toMatchObject({ kind: 'malformed', method: 'POST', path: created.path });
    expect(error.message).toContain('the answer has no Location');
  });

  test('another host is never followed: the token would travel there', () => {
    const error = refusal('https://evil.example/v1.0/me/drive/items/A/workbook/operations/1');
    expect(error.kind).toBe('unsafe-location');
    expect(error.message).toContain(
      'Location points to https://evil.example, not https://graph.microsoft.com; not followed',
    );
  });

  test('the same host over another scheme or port is another origin', () => {
    expect(refusal('http://graph.microsoft.com/v1.0/x').kind).toBe('unsafe-location');
    expect(refusal('https://graph.microsoft.com:8443/v1.0/x').kind).toBe('unsafe-location');
  });

  test('a path outside the version roots is refused', () => {
    expect(refusal('/v2.0/me/drive/items/A/workbook/operations/1').message).toContain(
      'Location is outside the Graph version root',
    );
    expect(refusal('/me/drive/items/A').message).toContain('outside the Graph version root');
  });

  test('dot segments, plain or percent-encoded, are refused: the path sent would differ from the one checked', () => {
    for (const location of [
      '/v1.0/me/drive/items/A/workbook/../../B/workbook/operations/1',
      '/v1.0/me/drive/items/A/%2e%2e/B',
      '/v1.0/me/drive/items/A/%2E/B',
      '/v1.0/me/drive/items/A/..',
    ]) {
      expect(refusal(location)).toMatchObject({ kind: 'unsafe-location' });
    }
  });

  test('"https://" after the origin is refused: the Graph client would read it as another host', () => {
    const error = refusal('/v1.0/me/drive/items/A/workbook/operations/1?next=https://evil.example');
    expect(error.kind).toBe('unsafe-location');
    expect(error.message).toContain('Location carries "https://" after its origin');
  });

  test('text that is not a URL is refused', () => {
    expect(refusal('https://[').message).toContain('Location is not a URL');
  });

  test('the header named in the message is the one given', () => {
    const from: Target = { version: 'v1.0', path: '/me/drive/items/A/workbook/operations/1' };
    expect(() => resolveLocation(base, 'GET', from, null, 'resourceLocation')).toThrow(
      'GET /me/drive/items/A/workbook/operations/1 failed: malformed: the answer has no resourceLocation',
    );
  });
});

describe('clientBase()', () => {
  test("reads the client's base URL origin and default version", () => {
    const client = Client.initWithMiddleware({
      baseUrl: 'https://graph.microsoft.us/',
      defaultVersion: 'beta',
      middleware: { execute: async () => undefined },
    });
    expect(clientBase(client)).toEqual({ origin: 'https://graph.microsoft.us', version: 'beta' });
  });

  test('falls back to the Graph host and v1.0 when the client names neither', () => {
    const client = Client.initWithMiddleware({ middleware: { execute: async () => undefined } });
    expect(clientBase(client)).toEqual({ origin: 'https://graph.microsoft.com', version: 'v1.0' });
  });
});
