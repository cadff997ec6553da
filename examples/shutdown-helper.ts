/**
 * Fitting workbook-sessions into an application that already has its own graceful shutdown.
 *
 *   npx tsx examples/shutdown-helper.ts
 *
 * Many services already run one shutdown routine on SIGTERM / SIGINT: a helper such as
 * close-with-grace or @godaddy/terminus, or a few hand-written lines like `onShutdown()` below. Then
 * the manager should not install its own signal listeners (`exitHooks: false`), and the app's routine
 * calls `sessions.shutdown()` at the right moment: after the work that uses sessions has stopped.
 *
 * With close-with-grace the same step reads:
 *
 *   closeWithGrace({ delay: 10_000 }, async () => { stopWorkers(); await sessions.shutdown(); });
 *
 * and with @godaddy/terminus:
 *
 *   createTerminus(server, { signals: ['SIGTERM', 'SIGINT'], onSignal: () => sessions.shutdown() });
 *
 * This example sends itself SIGTERM after a moment, as an orchestrator would, and exits 0 when the
 * session it held was closed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionManager, shortId } from '../src/index.js';
import { openTarget } from './support/target.js';

// ---- The application's existing shutdown helper (yours may come from a package) -----------------

type Cleanup = () => Promise<unknown> | unknown;
const cleanups: { name: string; run: Cleanup }[] = [];

/** Registers a cleanup step; steps run one after another, in the order registered. */
function onShutdown(name: string, run: Cleanup): void {
  cleanups.push({ name, run });
}

/** Runs the steps once on the first SIGTERM or SIGINT, with a hard deadline; exit code 0 if all succeed. */
function installShutdownHandler(options: { deadlineMs: number }): void {
  let started = false;
  const handler = async (signal: NodeJS.Signals): Promise<void> => {
    if (started) return;
    started = true;
    console.log(`[app] ${signal} received, shutting down`);
    // If a step hangs, leave anyway; unref'd so it does not keep a finished process alive.
    setTimeout(() => {
      console.error('[app] shutdown deadline passed, exiting');
      process.exit(1);
    }, options.deadlineMs).unref();
    let failed = false;
    for (const step of cleanups) {
      try {
        await step.run();
        console.log(`[app]   ${step.name}: done`);
      } catch (error) {
        failed = true;
        console.error(`[app]   ${step.name}: failed`, error);
      }
    }
    process.exitCode = failed ? 1 : 0;
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, (s) => void handler(s));
}

// ---- The application -----------------------------------------------------------------------------

const target = await openTarget();

// exitHooks: false: the app's handler above owns the signals and calls shutdown() itself.
const sessions = new SessionManager({ client: target.client, exitHooks: false });
sessions.on('closed', ({ id, reason }) => console.log(`[sessions] ${id} closed (${reason})`));

// A worker that keeps one session for its lifetime and reads from it every 100 ms.
const stopWorker = new AbortController();
const book = await sessions.open(target.workbook, { persistChanges: false });
console.log(`[worker] holding session ${shortId(book.id)} on ${book.workbook}`);
const worker = (async () => {
  let reads = 0;
  while (!stopWorker.signal.aborted) {
    await book
      .api('/worksheets')
      .get({ signal: stopWorker.signal })
      .catch(() => undefined);
    reads++;
    await sleep(100, undefined, { signal: stopWorker.signal }).catch(() => undefined);
  }
  console.log(`[worker] stopped after ${reads} reads`);
})();

installShutdownHandler({ deadlineMs: 15_000 });
// Order: stop what uses sessions, then close the sessions, then everything else.
onShutdown('stop the worker', async () => {
  stopWorker.abort();
  await worker;
});
onShutdown('close workbook sessions', async () => {
  const report = await sessions.shutdown({ timeoutMs: 5_000 });
  console.log(
    `[app]   sessions: ${report.closed} closed, ${report.expired} already expired, ${report.leftOpen} left open`,
  );
  if (report.leftOpen > 0) throw new Error(`${report.leftOpen} workbook session(s) may still be open`);
});
onShutdown('stop the emulator', async () => {
  if (target.emulator !== undefined)
    console.log(`[app]   sessions open on the emulator: ${target.emulator.service.stats().open}`);
  await target.close();
});

// As an orchestrator would, a moment later. (On Windows process.kill ends the process instead.)
await sleep(400);
if (process.platform === 'win32') process.emit('SIGTERM', 'SIGTERM');
else process.kill(process.pid, 'SIGTERM');
