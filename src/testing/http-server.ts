import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe } from '../validate.js';
import { checkInteger } from './options.js';
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
  /** Serve this service instead of making one (then give no other service options). */
  readonly service?: WorkbookService;
}

export interface RunningEmulator {
  /** `http://127.0.0.1:PORT`, no trailing slash; requests go to `${url}/v1.0/...`. */
  readonly url: string;
  /** The bearer token requests must carry. */
  readonly token: string;
  readonly service: WorkbookService;
  /** Stops the server and destroys open sockets; every call returns the same promise. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Larger request bodies get 413 without being buffered further. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Starts a real HTTP server on loopback over a `WorkbookService`. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected \`options\` to be an object, got ${describe(options)}`);
  const { host = '127.0.0.1', port = 0, service: given, ...serviceOptions } = options;
  if (typeof host !== 'string' || host === '') throw new TypeError(`Expected \`host\` to be a non-empty string, got ${describe(host)}`);
  checkInteger(port, 'port', 0);
  if (port > 65_535) throw new RangeError(`Expected \`port\` to be an integer from 0 to 65535, got ${describe(port)}`);
  if (given !== undefined && !(given instanceof WorkbookService)) throw new TypeError(`Expected \`service\` to be a WorkbookService, got ${describe(given)}`);
  if (given !== undefined && Object.keys(serviceOptions).length > 0) {
    throw new TypeError(`Give either \`service\` or service options (${Object.keys(serviceOptions).join(', ')}), not both`);
  }
  const service = given ?? new WorkbookService(serviceOptions);

  // Open sockets, so close() can end keep-alive connections at once; each leaves on its 'close'.
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    void serve(service, req, res);
  });
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
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  // Set by the first close(); later calls return it.
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      server.close((error) => (error === undefined ? resolve() : reject(error)));
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  };
  return { url, token: service.token, service, close, [Symbol.asyncDispose]: close };
}

async function serve(service: WorkbookService, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        await send(res, graphError(context(service), { status: 413, code: 'requestSizeExceeded', innerCode: 'payloadTooLargeUncategorized', message: 'The request payload exceeds the size limit.' }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    }
    let request: Request;
    try {
      request = toRequest(req, Buffer.concat(chunks));
    } catch {
      await send(res, graphError(context(service), { status: 400, code: 'invalidRequest', innerCode: 'badRequestUncategorized', message: 'The request is malformed or incorrect.' }));
      return;
    }
    let response: Response;
    try {
      response = await service.handle(request);
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
    await send(res, graphError(context(service), { status: 500, code: 'internalServerError', innerCode: 'internalServerErrorUncategorized', message: 'An unspecified error has occurred.' })).catch(() => res.destroy());
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

function toRequest(req: IncomingMessage, body: Buffer): Request {
  const socket = req.socket;
  const fallback = `${socket.localAddress?.includes(':') ? `[${socket.localAddress}]` : socket.localAddress ?? '127.0.0.1'}:${socket.localPort ?? 0}`;
  // The Host header makes the origin of Location and resourceLocation; a bad one falls back to the socket.
  let url: URL;
  try {
    url = new URL(req.url ?? '/', `http://${req.headers.host ?? fallback}`);
  } catch {
    url = new URL(req.url ?? '/', `http://${fallback}`);
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  const method = req.method ?? 'GET';
  return new Request(url, { method, headers, ...(method === 'GET' || method === 'HEAD' ? {} : { body: new Uint8Array(body) }) });
}

async function send(res: ServerResponse, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = Object.fromEntries(response.headers);
  headers['content-length'] = String(body.length);
  res.writeHead(response.status, headers);
  res.end(body);
}
