import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SessionManager, createBearerClient, createGraphClient, type TokenCredentialLike } from '../../src/index.js';

// What reached the server, per request.
const seen: Array<{ url: string; authorization: string | null }> = [];
const server = setupServer(
  http.all('https://graph.microsoft.com/*', ({ request }) => {
    seen.push({ url: request.url, authorization: request.headers.get('authorization') });
    if (request.url.endsWith('/createSession'))
      return HttpResponse.json({ id: 'S-1', persistChanges: true }, { status: 201 });
    return new HttpResponse(null, { status: 204 });
  }),
  http.all('https://other.example/*', ({ request }) => {
    seen.push({ url: request.url, authorization: request.headers.get('authorization') });
    return new HttpResponse(null, { status: 204 });
  }),
);

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  seen.length = 0;
});
afterAll(() => server.close());

describe('createGraphClient', () => {
  test('gets its token from an @azure/identity-style credential, with the scopes given', async () => {
    const asked: unknown[] = [];
    const credential: TokenCredentialLike = {
      getToken: async (scopes) => {
        asked.push(scopes);
        return { token: 'token-from-credential', expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    // Without the file look-up: this server answers workbook calls only.
    const sessions = new SessionManager({
      client: createGraphClient({ credential, scopes: ['Files.ReadWrite'] }),
      exitHooks: false,
      resolveWorkbooks: false,
    });
    await sessions.withSession('/me/drive/items/A', () => undefined);
    expect(seen.map((r) => new URL(r.url).pathname)).toEqual([
      '/v1.0/me/drive/items/A/workbook/createSession',
      '/v1.0/me/drive/items/A/workbook/closeSession',
    ]);
    expect(seen.every((r) => r.authorization === 'Bearer token-from-credential')).toBe(true);
    expect(asked[0]).toEqual(['Files.ReadWrite']);
    await sessions.shutdown();
  });

  test('asks for the Graph default scope when none is given', async () => {
    const asked: unknown[] = [];
    const client = createGraphClient({
      credential: {
        getToken: async (scopes) => {
          asked.push(scopes);
          return { token: 't', expiresOnTimestamp: Date.now() + 60_000 };
        },
      },
    });
    await client.api('/me/drive/items/A/workbook/closeSession').post({});
    expect(asked).toEqual([['https://graph.microsoft.com/.default']]);
  });
});

describe('createGraphClient baseUrl', () => {
  const credential: TokenCredentialLike = {
    getToken: () => Promise.resolve({ token: 'tok', expiresOnTimestamp: Date.now() + 60_000 }),
  };

  test("createGraphClient() with a baseUrl on a host that is not Graph's sends the token there", async () => {
    const client = createGraphClient({ credential, baseUrl: 'https://other.example' });
    await client.api('/me/drive/items/A/workbook/closeSession').post({});
    expect(seen).toEqual([
      { url: 'https://other.example/v1.0/me/drive/items/A/workbook/closeSession', authorization: 'Bearer tok' },
    ]);
  });

  test('createGraphClient() refuses a plain-http baseUrl, which the Graph client would never sign', () => {
    expect(() => createGraphClient({ credential, baseUrl: 'http://127.0.0.1:3000' })).toThrow(
      new TypeError(
        'Expected `baseUrl` to be an https:// URL (the Graph client sends the token over ' +
          'https only; for a loopback http server use createBearerClient()), got ' +
          '"http://127.0.0.1:3000"',
      ),
    );
  });
});

describe('createBearerClient', () => {
  test('signs requests to its base URL only', async () => {
    const client = createBearerClient({ baseUrl: 'https://graph.microsoft.com', token: 'fixed-token' });
    await client.api('/me/drive/items/A/workbook/closeSession').post({});
    await client.api('https://other.example/v1.0/me').get();
    expect(seen).toEqual([
      {
        url: 'https://graph.microsoft.com/v1.0/me/drive/items/A/workbook/closeSession',
        authorization: 'Bearer fixed-token',
      },
      { url: 'https://other.example/v1.0/me', authorization: null },
    ]);
  });

  test('refuses a bad base URL or token before any request', () => {
    expect(() => createBearerClient({ baseUrl: 'ftp://x', token: 't' })).toThrow(TypeError);
    expect(() => createBearerClient({ baseUrl: 'https://user:pw@graph.example', token: 't' })).toThrow(
      /no credentials/,
    );
    expect(() => createBearerClient({ baseUrl: 'https://graph.microsoft.com', token: '' })).toThrow(/non-empty string/);
  });
});
