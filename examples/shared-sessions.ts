/**
 * Shared sessions in an HTTP server: many requests at once on one workbook, served by one warm session.
 *
 *   npx tsx examples/shared-sessions.ts   starts the server, sends itself a burst of 30 requests at once
 *                                         and one more later, prints how many sessions were created,
 *                                         then shuts down and exits (0 when all went well)
 *
 * Each request handler takes a lease, `await using book = await sessions.acquire(workbook)`, and makes
 * its call. The first lease creates the workbook's session and the others lease the same one; leaving
 * the handler gives the lease back and leaves the session open, warm for the next request. It closes
 * after `idleTimeoutMs` with no lease and no call, or at the shutdown. The calls of all leases share the
 * workbook's lane, so Graph still sees one request at a time. With `sessions.open()` in each handler,
 * the same burst would create and close 30 sessions, up to `maxSessionsPerWorkbook` of them at once.
 *
 * Routes: GET /sales (the Sales table's rows), POST /sales with {"region","fruit","qty"} (adds a row).
 * Against Microsoft Graph (see examples/support/target.ts) your workbook needs a `Sales` table with
 * three columns, and the burst's 5 POSTs add 5 rows to it: a shared session is always persistent.
 *
 * `exitHooks: false`, as in examples/http-server.ts: the server's own shutdown first stops taking
 * requests, then closes the sessions.
 */
import type { WorkbookTableRow } from '@microsoft/microsoft-graph-types';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  SessionManager,
  isGraphRequestError,
  isManagerShutDownError,
  isSessionBudgetTimeoutError,
} from '../src/index.js';
import { openTarget } from './support/target.js';

const BURST = 30;
/** Every sixth request of the burst adds a row; the others read. */
const POST_EVERY = 6;

const target = await openTarget();
const sessions = new SessionManager({ client: target.client, exitHooks: false });
sessions.on('opened', ({ id }) => console.log(`  session ${id} opened`));
sessions.on('reopened', ({ id, previousId, reason }) =>
  console.log(`  session ${id} replaced ${previousId} (${reason})`),
);
sessions.on('closed', ({ id, reason }) => console.log(`  session ${id} closed (${reason})`));

// The most leases held at once, seen from inside the handlers.
let mostLeases = 0;

/** A collection as Graph sends it; the item types come from `@microsoft/microsoft-graph-types`. */
interface TableRows {
  value: WorkbookTableRow[];
}

async function route(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== '/sales') return { status: 404, body: { error: 'not found' } };
  if (req.method === 'GET') {
    // A lease on the workbook's shared session, given back when this block ends, whatever happens inside it.
    await using book = await sessions.acquire(target.workbook);
    mostLeases = Math.max(mostLeases, sessions.stats().leases);
    const rows = await book.api("/tables('Sales')/rows").get<TableRows>();
    return { status: 200, body: rows.value.map((r) => r.values[0]) };
  }
  if (req.method === 'POST') {
    const input = JSON.parse(await readBody(req)) as { region?: unknown; fruit?: unknown; qty?: unknown };
    await using book = await sessions.acquire(target.workbook);
    mostLeases = Math.max(mostLeases, sessions.stats().leases);
    await book.api("/tables('Sales')/rows/add").post({ values: [[input.region, input.fruit, input.qty]] });
    return { status: 201, body: { added: [input.region, input.fruit, input.qty] } };
  }
  return { status: 405, body: { error: 'method not allowed' } };
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  route(req).then(
    ({ status, body }) => reply(res, status, body),
    (error: unknown) => {
      // Shutting down, or the workbook's session budget stayed full: tell the client to come back.
      if (isManagerShutDownError(error)) return reply(res, 503, { error: 'shutting down' });
      if (isSessionBudgetTimeoutError(error)) return reply(res, 503, { error: 'busy, try again' });
      if (isGraphRequestError(error)) return reply(res, error.status === 404 ? 404 : 502, { error: error.message });
      console.error(error);
      return reply(res, 500, { error: 'internal error' });
    },
  );
});

// The graceful shutdown: no new requests, the ones in flight finish, then the sessions close.
let stopping: Promise<void> | undefined;
function gracefulShutdown(why: string): Promise<void> {
  stopping ??= (async () => {
    console.log(`${why}: no new connections; waiting for requests in flight`);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Idle keep-alive sockets (our own fetch keeps some) would hold server.close() open.
    server.closeIdleConnections();
    await closed;
    console.log('requests done; closing workbook sessions');
    const report = await sessions.shutdown({ timeoutMs: 5_000 });
    console.log(`sessions closed: ${report.closed}, already expired: ${report.expired}, left open: ${report.leftOpen}`);
    if (target.emulator !== undefined)
      console.log(`sessions open on the emulator: ${target.emulator.service.stats().open}`);
    await target.close();
    if (report.leftOpen !== 0) process.exitCode = 1;
  })();
  return stopping;
}
process.once('SIGTERM', (signal) => void gracefulShutdown(signal));
process.once('SIGINT', (signal) => void gracefulShutdown(signal));

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
console.log(
  `listening on ${base} (workbook ${target.workbook} on ` +
    `${target.kind === 'emulator' ? 'the embedded emulator' : 'Microsoft Graph'})`,
);

/** Sends one request to the server; resolves to its answer's status. */
async function send(method: 'GET' | 'POST', body?: unknown): Promise<number> {
  const res = await fetch(`${base}/sales`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await res.text();
  return res.status;
}

const statuses = await Promise.all(
  Array.from({ length: BURST }, (_, i) =>
    i % POST_EVERY === POST_EVERY - 1 ? send('POST', { region: 'east', fruit: 'pear', qty: i + 1 }) : send('GET'),
  ),
);
const count = (status: number): number => statuses.filter((s) => s === status).length;
console.log(
  `${BURST} requests at once: ${count(200)} x GET /sales -> 200, ${count(201)} x POST /sales -> 201` +
    `${count(200) + count(201) === BURST ? '' : `, ${BURST - count(200) - count(201)} failed`}`,
);
console.log(`the most leases held at once on the workbook's session: ${mostLeases}`);
// A request after the burst: the session is still warm, no createSession needed.
const later = await send('GET');
console.log(`a later request: GET /sales -> ${later}, on the same session`);
if (later !== 200 || count(200) + count(201) !== BURST) process.exitCode = 1;

const { opened, reopened } = sessions.stats().totals;
if (target.emulator === undefined) {
  // Graph publishes no count of sessions: the library's own is what there is.
  console.log(`sessions created on Graph for ${BURST + 1} requests: ${opened + reopened} (by the library's count)`);
} else {
  const stats = target.emulator.service.stats();
  console.log(`sessions created on the emulator (as Graph would see them) for ${BURST + 1} requests: ${stats.created}`);
  console.log(`most requests at once on the workbook: ${stats.maxInFlightPerWorkbook}`);
}
await gracefulShutdown('burst done');

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
