/**
 * An HTTP server whose requests each open a workbook session, with a graceful shutdown.
 *
 *   npx tsx examples/http-server.ts              serves on http://127.0.0.1:3000 until Ctrl-C / SIGTERM
 *   npx tsx examples/http-server.ts --self-test  starts, sends itself a few requests, sends itself
 *                                                SIGTERM, and exits 0 when every session was closed
 *
 * Routes: GET /sheets (worksheet names), GET /sales (the Sales table's rows), POST /sales with
 * {"region","fruit","qty"} (adds a row). Against Microsoft Graph (see examples/support/target.ts)
 * your workbook needs a `Sales` table with three columns for the /sales routes.
 *
 * Why `exitHooks: false`: this server owns its SIGTERM handling. The order matters: first stop taking
 * requests and let the ones in flight finish (they still need their sessions), then close the
 * sessions. With the manager's own hooks on, it would start closing sessions the moment SIGTERM
 * arrives, while requests are still running; they would fail with ManagerShutDownError or
 * SessionClosedError. So the hooks are off and `sessions.shutdown()` is the last step of our handler.
 */
import type { WorkbookTableRow, WorkbookWorksheet } from '@microsoft/microsoft-graph-types';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SessionManager, isGraphRequestError, isManagerShutDownError } from '../src/index.js';
import { openTarget } from './support/target.js';

const selfTest = process.argv.includes('--self-test');
const target = await openTarget();
const sessions = new SessionManager({ client: target.client, exitHooks: false });
sessions.on('opened', ({ id }) => console.log(`  session ${id} opened`));
sessions.on('closed', ({ id, reason }) => console.log(`  session ${id} closed (${reason})`));
sessions.on('retried', ({ status, delayMs }) =>
  console.log(`  retrying after ${status ?? 'a network error'}, in ${delayMs} ms`),
);

/** A collection as Graph sends it; the item types come from `@microsoft/microsoft-graph-types`. */
interface TableRows {
  value: WorkbookTableRow[];
}

async function route(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/sheets') {
    // One session per request, closed when this block ends, whatever happens inside it.
    await using book = await sessions.open(target.workbook, { persistChanges: false });
    const sheets = await book.api('/worksheets').get<{ value: WorkbookWorksheet[] }>();
    return { status: 200, body: sheets.value.map((s) => s.name) };
  }
  if (req.method === 'GET' && url.pathname === '/sales') {
    await using book = await sessions.open(target.workbook, { persistChanges: false });
    const rows = await book.api("/tables('Sales')/rows").get<TableRows>();
    return { status: 200, body: rows.value.map((r) => r.values[0]) };
  }
  if (req.method === 'POST' && url.pathname === '/sales') {
    const input = JSON.parse(await readBody(req)) as { region?: unknown; fruit?: unknown; qty?: unknown };
    await using book = await sessions.open(target.workbook); // persistent: the row is saved to the file
    await book.api("/tables('Sales')/rows/add").post({ values: [[input.region, input.fruit, input.qty]] });
    return { status: 201, body: { added: [input.region, input.fruit, input.qty] } };
  }
  return { status: 404, body: { error: 'not found' } };
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  route(req).then(
    ({ status, body }) => reply(res, status, body),
    (error: unknown) => {
      // Shutting down: tell the client to come back; Graph refused: pass its status on.
      if (isManagerShutDownError(error)) return reply(res, 503, { error: 'shutting down' });
      if (isGraphRequestError(error)) return reply(res, error.status === 404 ? 404 : 502, { error: error.message });
      console.error(error);
      return reply(res, 500, { error: 'internal error' });
    },
  );
});

// The graceful shutdown, run once on SIGTERM or SIGINT.
let stopping: Promise<void> | undefined;
function gracefulShutdown(signal: NodeJS.Signals): Promise<void> {
  stopping ??= (async () => {
    console.log(`${signal}: no new connections; waiting for requests in flight`);
    // Idle keep-alive sockets would hold server.close() open (Node 18.2+ can close them).
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closed;
    console.log('requests done; closing workbook sessions');
    const report = await sessions.shutdown({ timeoutMs: 5_000 });
    console.log(`sessions closed: ${report.closed}, already expired: ${report.expired}, left open: ${report.leftOpen}`);
    if (target.emulator !== undefined)
      console.log(`sessions open on the emulator: ${target.emulator.service.stats().open}`);
    await target.close();
    process.exitCode = report.leftOpen === 0 ? 0 : 1;
  })();
  return stopping;
}
process.once('SIGTERM', (signal) => void gracefulShutdown(signal));
process.once('SIGINT', (signal) => void gracefulShutdown(signal));

const port = selfTest ? 0 : Number(process.env['PORT'] ?? 3000);
await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
console.log(
  `listening on ${base} (workbook ${target.workbook} on ` +
    `${target.kind === 'emulator' ? 'the embedded emulator' : 'Microsoft Graph'})`,
);

if (selfTest) {
  const send = async (method: string, path: string, body?: unknown): Promise<void> => {
    const res = await fetch(`${base}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    console.log(`${method} ${path} -> ${res.status} ${await res.text()}`);
    if (!res.ok) process.exitCode = 1;
  };
  await Promise.all([
    send('GET', '/sheets'),
    send('POST', '/sales', { region: 'east', fruit: 'pear', qty: 4 }),
    send('GET', '/sheets'),
  ]);
  await send('GET', '/sales');
  // SIGTERM while a request holds a session: the request finishes first, then the sessions close.
  const opened = once(sessions, 'opened');
  const late = send('GET', '/sales');
  await opened;
  // A real signal, to run the real handler. (On Windows process.kill ends the process instead.)
  if (process.platform === 'win32') void gracefulShutdown('SIGTERM');
  else process.kill(process.pid, 'SIGTERM');
  await late;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  // While stopping, ask the client not to keep the connection: an idle keep-alive socket would hold server.close().
  const headers = { 'content-type': 'application/json', ...(stopping === undefined ? {} : { connection: 'close' }) };
  res.writeHead(status, headers).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}
