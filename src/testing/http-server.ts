import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { checkInRange, describe } from '../util/validate.js';
import { adminAnswer } from './admin-routes.js';
import type { WorkbookServiceOptions } from './options.js';
import { graphError, isDroppedConnection } from './responses.js';
import { WorkbookService } from './service.js';

export interface EmulatorOptions extends WorkbookServiceOptions {
  /**
   * The address to listen on.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * The port; 0 picks a free one.
   * @default 0
   */
  readonly port?: number;
  /**
   * Serve HTTPS with a self-signed certificate made at start (for `host`, `localhost` and
   * 127.0.0.1), so `Location` and `resourceLocation` are `https://` URLs the Graph client treats
   * as absolute. Trust `RunningEmulator.ca` in the client (it is not trusted process-wide).
   * Needs the optional peer dependency `selfsigned`.
   * @default false
   */
  readonly https?: boolean;
  /** Serve this service instead of making one (then give no other service options). */
  readonly service?: WorkbookService;
}

export interface RunningEmulator {
  /** `http://127.0.0.1:PORT` (or `https://`), no trailing slash; requests go to `${url}/v1.0/...`. */
  readonly url: string;
  /** With `https: true`, the PEM certificate the server presents, for the client to trust; else undefined. */
  readonly ca: string | undefined;
  /** The bearer token requests must carry. */
  readonly token: string;
  readonly service: WorkbookService;
  /**
   * Stops the server and destroys open sockets; requests still waiting (latency, delay faults) take no
   * effect, and it resolves once none of this server's requests is in flight. Every call returns the same promise.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Larger request bodies get 413 without being buffered further. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Starts a real HTTP server on loopback over a `WorkbookService`. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`Expected \`options\` to be an object, got ${describe(options)}`);
  const { host = '127.0.0.1', port = 0, https = false, service: given, ...serviceOptions } = options;
  if (typeof https !== 'boolean') throw new TypeError(`Expected \`https\` to be a boolean, got ${describe(https)}`);
  if (typeof host !== 'string' || host === '')
    throw new TypeError(`Expected \`host\` to be a non-empty string, got ${describe(host)}`);
  checkInRange('port', port, { min: 0, max: 65_535, integer: true });
  if (given !== undefined && !(given instanceof WorkbookService))
    throw new TypeError(`Expected \`service\` to be a WorkbookService, got ${describe(given)}`);
  if (given !== undefined && Object.keys(serviceOptions).length > 0) {
    throw new TypeError(
      `Give either \`service\` or service options (${Object.keys(serviceOptions).join(', ')}), not both`,
    );
  }
  const service = given ?? new WorkbookService(serviceOptions);

  // Open sockets, so close() can end keep-alive connections at once; each leaves on its 'close'.
  const sockets = new Set<Socket>();
  // Aborted by close(): requests still waiting then take no effect; close() waits for every one in flight.
  const stopping = new AbortController();
  // Every request in flight listens to it (and every request of a $batch): many listeners are expected.
  setMaxListeners(0, stopping.signal);
  const inFlight = new Set<Promise<void>>();
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const served = serve(service, req, res, https ? 'https' : 'http', stopping.signal);
    inFlight.add(served);
    void served.finally(() => inFlight.delete(served));
  };
  const tls = https ? await certificate(host) : undefined;
  const server: Server =
    tls === undefined ? createServer(listener) : createHttpsServer({ key: tls.key, cert: tls.cert }, listener);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A request Node cannot even parse: answer 400 if the socket still can, never crash.
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  // Set by the first close(); later calls return it.
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopping.abort();
      const closed = new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      });
      for (const socket of sockets) socket.destroy();
      // Once this resolves, no request of this server changes the service any more.
      await Promise.allSettled([...inFlight]);
      await closed;
    })();
    return closing;
  };
  return { url, ca: tls?.cert, token: service.token, service, close, [Symbol.asyncDispose]: close };
}

/** A fresh self-signed certificate for the loopback names and `host`. */
async function certificate(host: string): Promise<{ key: string; cert: string }> {
  let selfsigned: typeof import('selfsigned');
  try {
    selfsigned = await import('selfsigned');
  } catch {
    throw new Error('startEmulator({ https: true }) needs the `selfsigned` package: npm install -D selfsigned');
  }
  const names = new Set(['localhost', host]);
  const altNames = [...names].map((name) =>
    isIP(name) !== 0 ? { type: 7 as const, ip: name } : { type: 2 as const, value: name },
  );
  if (!names.has('127.0.0.1')) altNames.push({ type: 7, ip: '127.0.0.1' });
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'workbook-emulator' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 7 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

async function serve(
  service: WorkbookService,
  req: IncomingMessage,
  res: ServerResponse,
  scheme: 'http' | 'https',
  signal: AbortSignal,
): Promise<void> {
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        await send(res, refusal(service, 413, 'requestSizeExceeded', 'payloadTooLargeUncategorized', TOO_LARGE));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    }
    let request: Request;
    try {
      request = toRequest(req, Buffer.concat(chunks), scheme);
    } catch {
      await send(res, refusal(service, 400, 'invalidRequest', 'badRequestUncategorized', MALFORMED));
      return;
    }
    // The admin surface is the server's, not Graph's: its requests are not counted, faulted or delayed.
    const admin = await adminAnswer(service, request);
    if (admin !== undefined) {
      await send(res, admin);
      return;
    }
    let response: Response;
    try {
      response = await service.handle(request, { signal });
    } catch (error) {
      if (isDroppedConnection(error)) {
        req.socket.destroy();
        return;
      }
      throw error;
    }
    await send(res, response);
  } catch {
    // The last line of defence: whatever went wrong, answer 500 and keep serving.
    if (res.headersSent) {
      res.destroy();
      return;
    }
    await send(
      res,
      graphError(context(service), {
        status: 500,
        code: 'internalServerError',
        innerCode: 'internalServerErrorUncategorized',
        message: 'An unspecified error has occurred.',
      }),
    ).catch(() => res.destroy());
  }
}

function context(service: WorkbookService): { requestId: string; clientRequestId: undefined; now: number } {
  let now: number;
  try {
    now = service.now();
  } catch {
    now = Date.now();
  }
  return { requestId: randomUUID(), clientRequestId: undefined, now };
}

function toRequest(req: IncomingMessage, body: Buffer, scheme: 'http' | 'https'): Request {
  const socket = req.socket;
  const local = socket.localAddress?.includes(':') ? `[${socket.localAddress}]` : (socket.localAddress ?? '127.0.0.1');
  const fallback = `${local}:${socket.localPort ?? 0}`;
  // The Host header makes the origin of Location and resourceLocation; a bad one falls back to the socket.
  let url: URL;
  try {
    url = new URL(req.url ?? '/', `${scheme}://${req.headers.host ?? fallback}`);
  } catch {
    url = new URL(req.url ?? '/', `${scheme}://${fallback}`);
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  const method = req.method ?? 'GET';
  return new Request(url, {
    method,
    headers,
    ...(method === 'GET' || method === 'HEAD' ? {} : { body: new Uint8Array(body) }),
  });
}

async function send(res: ServerResponse, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = Object.fromEntries(response.headers);
  headers['content-length'] = String(body.length);
  res.writeHead(response.status, headers);
  res.end(body);
}

const TOO_LARGE = 'The request payload exceeds the size limit.';
const MALFORMED = 'The request is malformed or incorrect.';

/** The error answer for a request refused before the service saw it. */
function refusal(service: WorkbookService, status: number, code: string, innerCode: string, message: string): Response {
  return graphError(context(service), { status, code, innerCode, message });
}
