/**
 * Error handling: what each typed error means and what to do about it, each one triggered against the
 * emulator (faults injected, sessions expired on its clock).
 *
 *   npx tsx examples/error-handling.ts
 *
 * Always runs against the embedded emulator, since it needs to inject faults.
 * `whatToDo()` is the part to copy: the `isX()` guards also match errors from another copy of the
 * package (they compare by `name` too), so prefer them to `instanceof`.
 */
import {
  SessionManager,
  isGraphRequestError,
  isManagerShutDownError,
  isSessionClosedError,
  isSessionExpiredError,
  isSessionFault,
  isSessionRecreatable,
} from '../src/index.js';
import { graphEnvironment, openTarget } from './support/target.js';

/** What an error from workbook-sessions means for the caller. */
function whatToDo(error: unknown): string {
  if (isGraphRequestError(error)) {
    // Graph answered with an error (kind 'http'), or no usable answer came ('network', 'malformed', ...).
    // By the time you see it, the manager has already retried what was safe to retry.
    const codes =
      `status ${error.status ?? '-'}, graphCode ${error.graphCode ?? '-'}, ` +
      `innerCode ${error.innerCode ?? '-'}, attempt ${error.attempt}`;
    if (error.outcomeUnknown) {
      return (
        `GraphRequestError (${codes}): the write may have been applied before its session failed. ` +
        `Check the workbook before sending it again.`
      );
    }
    // sessionFaultOf(error) says what Graph's codes mean for the session; these two guards cover the usual
    // questions.
    if (isSessionRecreatable(error)) {
      return (
        `GraphRequestError (${codes}): that session is unusable, but a new one may do the work. ` +
        `A persistent handle reopens on its next call; otherwise open a new session.`
      );
    }
    if (isSessionFault(error)) {
      return (
        `GraphRequestError (${codes}): Graph will not use this session again; the handle is now closed ` +
        `(reason 'failed'). Open a new session if the work should go on.`
      );
    }
    if (error.status === 429 || error.status === 503) {
      return (
        `GraphRequestError (${codes}, retryAfterMs ${error.retryAfterMs ?? '-'}): still throttled after the retries. ` +
        `Slow down: wait retryAfterMs, send less at once, then try again.`
      );
    }
    if (error.status === 502 || error.status === 504 || error.kind === 'network') {
      return (
        `GraphRequestError (${codes}): a non-idempotent call got no reliable answer, so it was not resent. ` +
        `It may or may not have been applied: check, then retry yourself, ` +
        `or mark calls that are safe to resend with { idempotent: true }.`
      );
    }
    return (
      `GraphRequestError (${codes}): the request itself is wrong or not allowed; ` +
      `resending it as is will fail again. Fix the request.`
    );
  }
  if (isSessionExpiredError(error)) {
    return (
      `SessionExpiredError: Graph no longer knows this non-persistent session; its changes are lost. ` +
      `Open a new session and redo the work.`
    );
  }
  if (isSessionClosedError(error)) {
    // reason: 'disposed' (your close / scope end), 'idle', 'shutdown', 'expired', 'failed'.
    return (
      `SessionClosedError (reason '${error.reason}'): the handle was used after its session ended. ` +
      `Open a new session; for 'disposed', check the handle does not outlive its scope.`
    );
  }
  if (isManagerShutDownError(error)) {
    return (
      `ManagerShutDownError: the manager was shut down (shutdown(), or the process is stopping); ` +
      `it opens no more sessions. Stop taking work.`
    );
  }
  if (error instanceof TypeError || error instanceof RangeError) {
    return `${error.name}: a programming error, refused before any request: ${error.message}`;
  }
  return `not from workbook-sessions: ${String(error)}`;
}

async function show(title: string, attempt: () => Promise<unknown>): Promise<void> {
  console.log(`\n== ${title}`);
  try {
    await attempt();
    console.log('   (no error)');
  } catch (error) {
    console.log(`   ${whatToDo(error)}`);
  }
}

if (graphEnvironment() !== undefined)
  console.log('(this example always uses the embedded emulator: it injects faults)');
await using target = await openTarget({ emulatorOnly: true });
const emulator = target.emulator!;
const { service } = emulator;
const workbook = target.workbook;

// A low retry count so that the throttling case gives up quickly; the default is 5.
await using sessions = new SessionManager({ client: target.client, retries: 1, exitHooks: false });
sessions.on('retried', (e) =>
  console.log(
    `   (retried ${e.method} after ${e.status ?? e.code}, waiting ${e.delayMs} ms` +
      `${e.cooldown ? ', lane paused for Retry-After' : ''})`,
  ),
);
sessions.on('reopened', (e) => console.log(`   (session ${e.previousId} was ${e.reason}; reopened as ${e.id})`));

await show('a bad request: a row with 2 values for a 3-column table', async () => {
  await using book = await sessions.open(workbook);
  await book.api("/tables('Sales')/rows/add").post({ values: [['west', 'kiwi']] });
});

await show('throttled: 429 with Retry-After: 1, more often than the retries allow', async () => {
  service.injectFault({ workbook, route: 'worksheets', count: 2, status: 429, retryAfterSeconds: 1 });
  await using book = await sessions.open(workbook);
  await book.api('/worksheets').get();
});

await show('a 504 on a POST: not resent, since the row may have been added', async () => {
  service.injectFault({ workbook, route: 'tableRowsAdd', count: 1, status: 504 });
  await using book = await sessions.open(workbook);
  await book.api("/tables('Sales')/rows/add").post({ values: [['west', 'kiwi', 3]] });
});

await show('the same 504 on a call marked { idempotent: true }: resent, and it succeeds', async () => {
  service.injectFault({ workbook, route: 'range', count: 1, status: 504 });
  await using book = await sessions.open(workbook);
  // Setting values is safe to send twice; the library cannot know that about a PATCH, so say so.
  await book.api("/worksheets('Sheet1')/range(address='E1')").patch({ values: [['ok']] }, { idempotent: true });
});

await show('a handle used after its scope ended', async () => {
  let escaped;
  {
    await using book = await sessions.open(workbook);
    escaped = book;
  }
  await escaped.api('/worksheets').get();
});

await show('Graph refuses the session for good (innerCode invalidSessionAccessConflict)', async () => {
  await using book = await sessions.open(workbook);
  service.injectFault({
    workbook,
    route: 'worksheets',
    count: 1,
    status: 409,
    code: 'accessConflict',
    innerCode: 'invalidSessionAccessConflict',
  });
  await book
    .api('/worksheets')
    .get()
    .catch((error: unknown) => console.log(`   first: ${whatToDo(error)}`));
  // The handle is closed now: no closeSession is sent for a session Graph has refused. (The emulator,
  // whose injected faults have no effect, still counts it open until its expiry.)
  await book.api('/worksheets').get();
});

await show('a persistent session that Graph forgot: reopened and the call replayed, no error', async () => {
  await using book = await sessions.open(workbook, { persistChanges: true });
  service.expireSession(book.id); // as if Graph had dropped it
  await book.api('/worksheets').get();
});

await show("a non-persistent session past Graph's 7-minute expiry: its changes are gone", async () => {
  await using book = await sessions.open(workbook, { persistChanges: false });
  await book.api("/worksheets('Sheet1')/range(address='F1')").patch({ values: [['draft']] });
  service.advanceTime(7 * 60_000 + 1_000); // the emulator's clock; no waiting
  await book.api("/worksheets('Sheet1')/range(address='F1')").get();
});

await show('a workbook path that is not a drive-item path', () =>
  sessions.open('https://example.com/me/drive/items/01ABC'),
);

await show('open() after shutdown()', async () => {
  await sessions.shutdown();
  await sessions.open(workbook);
});

console.log(`\nsessions open on the emulator: ${service.stats().open}`);
if (service.stats().open !== 0) process.exitCode = 1;
