import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { createBearerClient } from '../../src/transport/graph-client.js';
import { SessionManager, type SessionManagerOptions } from '../../src/manager/session-manager.js';
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WorkbookService, type WorkbookServiceOptions } from '../../src/testing/index.js';
import { isDroppedConnection } from '../../src/testing/responses.js';

/** One request a test server received. */
export interface SeenRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * What a test server answers: a `Response`, `'drop'` to destroy the socket, or `undefined` to let
 * the real emulator service answer.
 */
export type Override = (
  request: SeenRequest & { readonly origin: string },
) => Response | 'drop' | undefined | Promise<Response | 'drop' | undefined>;

export interface BadServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The real workbook service behind it: counts the sessions created, closed and still open. */
  readonly service: WorkbookService;
  readonly token: string;
  /** Every request received, in order. */
  readonly requests: SeenRequest[];
  /** Replaces the override; `undefined` lets the service answer everything. */
  setOverride(override: Override | undefined): void;
  close(): Promise<void>;
}

/**
 * A small `node:http` server in front of a real `WorkbookService`: a test overrides the answers it
 * wants to be wrong (HTML pages, bad JSON, odd headers, foreign Locations) and lets the service
 * answer the rest, so open sessions are still counted faithfully.
 */
export async function startBadServer(
  options: { service?: WorkbookServiceOptions; override?: Override } = {},
): Promise<BadServer> {
  const service = new WorkbookService({
    workbooks: { '/me/drive/items/A': {}, '/me/drive/items/B': {} },
    ...options.service,
  });
  const requests: SeenRequest[] = [];
  let override = options.override;
  // Open sockets, destroyed by close() so keep-alive connections do not hold it.
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const seen: SeenRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: flatHeaders(req), body };
      requests.push(seen);
      const origin = `http://${req.headers.host ?? '127.0.0.1'}`;
      try {
        let answer = await override?.({ ...seen, origin });
        if (answer === undefined) {
          const method = seen.method.toUpperCase();
          answer = await service.handle(
            new Request(new URL(seen.url, origin), {
              method,
              headers: seen.headers,
              ...(method === 'GET' || method === 'HEAD' ? {} : { body }),
            }),
          );
        }
        if (answer === 'drop') {
          req.socket.destroy();
          return;
        }
        const text = Buffer.from(await answer.arrayBuffer());
        res.writeHead(answer.status, { ...Object.fromEntries(answer.headers), 'content-length': String(text.length) });
        res.end(text);
      } catch (error) {
        if (isDroppedConnection(error)) {
          req.socket.destroy();
          return;
        }
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(error));
      }
    })();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    service,
    token: service.token,
    requests,
    setOverride: (next) => {
      override = next;
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Graph's error JSON with a status and optional headers. */
export function graphErrorResponse(
  status: number,
  error: Record<string, unknown>,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** A JSON answer. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** The route a request path names below `/workbook`, e.g. `createSession`, `worksheets`, `operations/1`. */
export function workbookRoute(url: string): string {
  const path = url.split('?')[0] ?? '';
  const at = path.indexOf('/workbook/');
  return at === -1 ? '' : path.slice(at + '/workbook/'.length);
}

/**
 * A manager against `server` with fast retries (1-5 ms backoff, a 5 s deadline), no exit hooks, and
 * kept in `managers` for the test file to shut down.
 */
export function fastManager(
  server: BadServer,
  managers: SessionManager[],
  options: Omit<SessionManagerOptions, 'client'> = {},
): SessionManager {
  const manager = new SessionManager({
    client: createBearerClient({ baseUrl: server.url, token: server.token }),
    exitHooks: false,
    retries: 2,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    retryDeadlineMs: 5000,
    pollIntervalMs: 10,
    ...options,
  });
  managers.push(manager);
  return manager;
}

/**
 * One server that answers anything, for the tests of the enclosing describe block: started before
 * them, closed after; after each test its override is cleared, the managers made through
 * `manager()` are shut down, 0 sessions must be left open, and the requests seen are forgotten.
 */
export function answeringServer(defaults: Omit<SessionManagerOptions, 'client'> = {}): {
  readonly server: BadServer;
  manager(options?: Omit<SessionManagerOptions, 'client'>): SessionManager;
} {
  let server: BadServer | undefined;
  const managers: SessionManager[] = [];
  const started = (): BadServer => {
    if (server === undefined) throw new Error('the server starts in beforeAll');
    return server;
  };
  beforeAll(async () => {
    server = await startBadServer();
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(async () => {
    const s = started();
    s.setOverride(undefined);
    for (const m of managers.splice(0)) await m.shutdown({ timeoutMs: 2000 });
    expect(s.service.stats().open).toBe(0);
    s.requests.length = 0;
  });
  return {
    get server() {
      return started();
    },
    manager: (options = {}) => fastManager(started(), managers, { ...defaults, ...options }),
  };
}

/** The error `promise` rejects with; a promise that resolves fails the test. */
export async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}
