import { GraphError } from '@microsoft/microsoft-graph-client';
import { describe, expect, test } from 'vitest';
import { describeFailure, encodeQuery, isFetchFailure } from '../../src/transport/send.js';

// The pure parts of sending one call: what a thrown error means, and how a query is encoded.

describe('isFetchFailure(): did fetch itself fail (no answer), or did something fail before sending?', () => {
  test("fetch's own TypeError, bare or wrapped by the Graph client, is a fetch failure", () => {
    expect(isFetchFailure(new TypeError('fetch failed'))).toBe(true);
    const wrapped = new GraphError(-1, 'fetch failed');
    wrapped.code = 'TypeError';
    expect(isFetchFailure(wrapped)).toBe(true);
  });

  test('a header fetch refuses to send is not: nothing left', () => {
    expect(isFetchFailure(new TypeError('Headers.append: "a\nb" is an invalid header value.'))).toBe(false);
    expect(isFetchFailure(new TypeError('Cannot convert argument to a ByteString'))).toBe(false);
    const wrapped = new GraphError(-1, 'x');
    wrapped.code = 'TypeError';
    wrapped.body = 'invalid header value';
    expect(isFetchFailure(wrapped)).toBe(false);
  });

  test('anything else (an auth provider that threw, a middleware bug, a non-error) is not', () => {
    expect(isFetchFailure(new Error('AADSTS70043: the refresh token has expired'))).toBe(false);
    expect(isFetchFailure(new GraphError(-1, 'boom'))).toBe(false);
    expect(isFetchFailure('TypeError')).toBe(false);
    expect(isFetchFailure(null)).toBe(false);
  });
});

describe('describeFailure(): what the Graph client said when it failed before sending', () => {
  test('its body first, then its message, then its code', () => {
    const error = new GraphError(-1, 'the message');
    error.body = 'the body';
    expect(describeFailure(error)).toBe('the body');
    expect(describeFailure(new Error('the message'))).toBe('the message');
    expect(describeFailure({ code: 'E_CODE', message: '' })).toBe('E_CODE');
    expect(describeFailure({})).toBe('unknown error');
    expect(describeFailure('plain text')).toBe('plain text');
  });

  test('secrets are redacted and long text is cut to 200 characters', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl';
    expect(describeFailure(new Error(`Authorization: Bearer ${jwt}`))).not.toContain(jwt);
    const long = describeFailure(new Error('x'.repeat(500)));
    expect(long).toHaveLength(200);
    expect(long.endsWith('...')).toBe(true);
  });
});

describe('encodeQuery(): values percent-encoded so none can cut, change or add parameters', () => {
  test('&, #, + and = are encoded in keys and values', () => {
    expect(encodeQuery({ a: 'x&b=1#frag', 'k+1': 'y+z' })).toEqual({ a: 'x%26b%3D1%23frag', 'k%2B1': 'y%2Bz' });
  });

  test('characters a query carries as they are stay readable', () => {
    expect(encodeQuery({ $select: 'id,parentReference', $filter: "startswith(name,'Q1')", p: 'a/b:c@d' })).toEqual({
      $select: 'id,parentReference',
      $filter: "startswith(name,'Q1')",
      p: 'a/b:c@d',
    });
  });
});
