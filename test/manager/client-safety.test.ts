import { Client, RedirectHandler, RetryHandler, HTTPMessageHandler } from '@microsoft/microsoft-graph-client';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SessionManager, createBearerClient, createGraphClient } from '../../src/index.js';
import { safeRequestOptions } from '../../src/transport/client-safety.js';
import { type BadServer, graphErrorResponse, startBadServer, workbookRoute } from '../helpers/bad-server.js';
import { type PackageCopy, bearerMiddleware, installSecondCopy } from '../helpers/graph-client-copy.js';

// The manager's promises about the Graph client (no resend by its RetryHandler, no redirect
// followed) hold for a Client from any copy of @microsoft/microsoft-graph-client; a client that
// cannot be made safe is refused when the manager is built.

const BOOK = '/me/drive/items/A';
let server: BadServer;
let elsewhere: BadServer;
let copy: PackageCopy;
const managers: SessionManager[] = [];

beforeAll(async () => {
  server = await startBadServer();
  elsewhere = await startBadServer();
  copy = installSecondCopy();
});
afterAll(async () => {
  await server.close();
  await elsewhere.close();
  copy.remove();
});
afterEach(async () => {
  server.setOverride(undefined);
  for (const m of managers.splice(0)) await m.shutdown({ timeoutMs: 2000 });
  expect(server.service.stats().open).toBe(0);
});

function manager(client: unknown): SessionManager {
  const m = new SessionManager({
    client: client as Client,
    exitHooks: false,
    retries: 2,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
  });
  managers.push(m);
  return m;
}

/** A client built entirely from the second copy: its own Client, RetryHandler, RedirectHandler. */
function clientFromCopy(options: { redirect?: boolean } = {}): object {
  const { graph } = copy;
  const middleware = [
    bearerMiddleware(server.token),
    // No wait between its retries, so resends (if any) show at once.
    new graph.RetryHandler(new graph.RetryHandlerOptions(0, 3)),
    ...(options.redirect === false ? [] : [new graph.RedirectHandler()]),
    new graph.HTTPMessageHandler(),
  ];
  return graph.Client.initWithMiddleware({ middleware, baseUrl: server.url, defaultVersion: 'v1.0' });
}

describe('a Client from a second copy of @microsoft/microsoft-graph-client', () => {
  test('is a separate copy (its classes are not ours)', () => {
    expect(copy.graph.RetryHandler).not.toBe(RetryHandler);
    expect(copy.graph.Client).not.toBe(Client);
  });

  test("a POST answered 504 reaches the server once: the client's RetryHandler does not resend it", async () => {
    const book = await manager(clientFromCopy()).open(BOOK);
    const before = server.requests.length;
    server.setOverride((r) =>
      workbookRoute(r.url) === 'tables/T/rows/add'
        ? graphErrorResponse(504, { code: 'gatewayTimeout' }, { 'Retry-After': '0' })
        : undefined,
    );
    await expect(book.api('/tables/T/rows/add').post({ values: [[1]] })).rejects.toMatchObject({
      name: 'GraphRequestError',
      status: 504,
      attempt: 1,
    });
    expect(server.requests.slice(before).map((r) => workbookRoute(r.url))).toEqual(['tables/T/rows/add']);
    await book.close();
  });

  test('a 307 to another host is not followed: the session id never leaves the Graph host', async () => {
    const book = await manager(clientFromCopy()).open(BOOK);
    server.setOverride((r) =>
      workbookRoute(r.url) === 'worksheets'
        ? new Response(null, { status: 307, headers: { Location: `${elsewhere.url}/v1.0${BOOK}/workbook/worksheets` } })
        : undefined,
    );
    await expect(book.api('/worksheets').get()).rejects.toMatchObject({
      name: 'GraphRequestError',
      kind: 'http',
      status: 307,
    });
    expect(elsewhere.requests).toEqual([]);
    await book.close();
  });

  test('a chain without a RedirectHandler does not follow a 307 either (fetch is told not to)', async () => {
    const book = await manager(clientFromCopy({ redirect: false })).open(BOOK);
    server.setOverride((r) =>
      workbookRoute(r.url) === 'worksheets'
        ? new Response(null, { status: 307, headers: { Location: `${elsewhere.url}/v1.0${BOOK}/workbook/worksheets` } })
        : undefined,
    );
    await expect(book.api('/worksheets').get()).rejects.toMatchObject({ status: 307 });
    expect(elsewhere.requests).toEqual([]);
    await book.close();
  });

  test(
    'SessionManager refuses a Client whose RetryHandler comes from another copy than ' +
      'the Client (its per-request options would be ignored)',
    () => {
      const middleware = [bearerMiddleware(server.token), new RetryHandler(), new copy.graph.HTTPMessageHandler()];
      const mixed = copy.graph.Client.initWithMiddleware({ middleware, baseUrl: server.url });
      const before = server.requests.length;
      expect(() => manager(mixed)).toThrow(
        new TypeError(
          'The Graph client cannot be used safely: its RetryHandler ignores per-request ' +
            'options (it would resend requests the manager must send once); its middleware ' +
            'seem to come from another copy of @microsoft/microsoft-graph-client than its ' +
            'Client. Build it with createGraphClient() or createBearerClient(), or with ' +
            'Client.initWithMiddleware() from one copy of @microsoft/microsoft-graph-client',
        ),
      );
      expect(server.requests.length).toBe(before);
    },
  );

  test('SessionManager refuses a Client whose RedirectHandler comes from another copy than the Client', () => {
    const middleware = [
      bearerMiddleware(server.token),
      new copy.graph.RetryHandler(),
      new RedirectHandler(),
      new HTTPMessageHandler(),
    ];
    const mixed = copy.graph.Client.initWithMiddleware({ middleware, baseUrl: server.url });
    expect(() => manager(mixed)).toThrow(
      /its RedirectHandler ignores per-request options \(it would follow redirects with the session id\)/,
    );
  });
});

describe('safeRequestOptions()', () => {
  test('refuses a chain whose middleware hides what follows it', () => {
    class Opaque {
      #next: { execute(context: unknown): Promise<void> } | undefined;
      async execute(context: unknown): Promise<void> {
        await this.#next?.execute(context);
      }
      setNext(next: { execute(context: unknown): Promise<void> }): void {
        this.#next = next;
      }
    }
    const client = Client.initWithMiddleware({
      middleware: [new Opaque(), new RetryHandler(), new HTTPMessageHandler()],
    });
    expect(() => safeRequestOptions(client)).toThrow(
      /the middleware after Opaque cannot be seen \(keep it in a `nextMiddleware` property/,
    );
  });

  test(
    'accepts the default middleware chain of either copy (AuthenticationHandler, ' +
      'RetryHandler, RedirectHandler, TelemetryHandler, HTTPMessageHandler)',
    () => {
      const authProvider = { getAccessToken: () => Promise.resolve('t') };
      const theirs = safeRequestOptions(copy.graph.Client.initWithMiddleware({ authProvider }));
      expect(theirs.map((o) => o.constructor)).toEqual([
        copy.graph.RetryHandlerOptions,
        copy.graph.RedirectHandlerOptions,
      ]);
      const ours = safeRequestOptions(createGraphClient({ credential: { getToken: () => Promise.resolve(null) } }));
      expect(ours).toMatchObject([{ maxRetries: 0 }, { maxRedirects: 0 }]);
    },
  );

  test('refuses something that is not a Graph Client', () => {
    expect(() => safeRequestOptions({ api: () => undefined })).toThrow(/its middleware chain cannot be found/);
  });

  test(
    "builds the options from the client's own classes: the second copy's for its " +
      'client, ours for createBearerClient()',
    () => {
      const theirs = safeRequestOptions(clientFromCopy());
      expect(theirs.map((o) => o.constructor)).toEqual([
        copy.graph.RetryHandlerOptions,
        copy.graph.RedirectHandlerOptions,
      ]);
      expect(theirs).toMatchObject([{ maxRetries: 0 }, { maxRedirects: 0 }]);
      const ours = safeRequestOptions(createBearerClient({ baseUrl: server.url, token: server.token }));
      expect(ours.map((o) => o.constructor.name)).toEqual(['RetryHandlerOptions', 'RedirectHandlerOptions']);
      expect(ours[0]?.constructor).not.toBe(copy.graph.RetryHandlerOptions);
    },
  );
});
