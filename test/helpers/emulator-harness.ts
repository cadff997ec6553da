import { type Client, ResponseType, RetryHandlerOptions } from '@microsoft/microsoft-graph-client';
import type { WorkbookService, WorkbookServiceOptions } from '../../src/testing/index.js';

/** One way to reach an emulator: the real HTTP server, or msw handlers. */
export interface EmulatorHarness {
  readonly service: WorkbookService;
  /** The origin requests go to, e.g. http://127.0.0.1:PORT or https://graph.microsoft.com. */
  readonly origin: string;
  /** A Graph client that signs requests to `origin`. */
  readonly client: Client;
  close(): Promise<void>;
}

export type HarnessFactory = (options: WorkbookServiceOptions) => Promise<EmulatorHarness>;

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

export interface CallOptions {
  readonly body?: unknown;
  readonly session?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** `/v1.0/me/...` or an absolute URL on the harness origin, to a version and a client path. */
function split(h: EmulatorHarness, pathOrUrl: string): { version: string; path: string } {
  const path = pathOrUrl.startsWith(h.origin) ? pathOrUrl.slice(h.origin.length) : pathOrUrl;
  const m = /^\/(v1\.0|beta)(\/.*)$/.exec(path);
  if (m === null) throw new Error(`not a versioned path: ${pathOrUrl}`);
  return { version: m[1] ?? 'v1.0', path: m[2] ?? '' };
}

async function read(res: Response): Promise<Reply> {
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

/**
 * Sends one request through the real Graph client, with its RetryHandler off so faults reach the
 * test, and the raw response (status, headers, body).
 */
export async function call(
  h: EmulatorHarness,
  method: 'GET' | 'POST' | 'PATCH',
  pathOrUrl: string,
  options: CallOptions = {},
): Promise<Reply> {
  const { version, path } = split(h, pathOrUrl);
  let request = h.client
    .api(path)
    .version(version)
    .responseType(ResponseType.RAW)
    .middlewareOptions([new RetryHandlerOptions(0, 0)]);
  if (options.session !== undefined) request = request.header('workbook-session-id', options.session);
  for (const [name, value] of Object.entries(options.headers ?? {})) request = request.header(name, value);
  const res = (
    method === 'GET'
      ? await request.get()
      : method === 'POST'
        ? await request.post(options.body)
        : await request.patch(options.body)
  ) as Response;
  return read(res);
}

/** Sends one request with plain fetch: for what the Graph client would not send (no token, bad JSON). */
export async function rawFetch(
  h: EmulatorHarness,
  method: string,
  path: string,
  init: { token?: string | undefined; body?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers = new Headers(init.headers);
  if (init.token !== undefined) headers.set('Authorization', `Bearer ${init.token}`);
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');
  return read(
    await fetch(`${h.origin}${path}`, { method, headers, ...(init.body === undefined ? {} : { body: init.body }) }),
  );
}
