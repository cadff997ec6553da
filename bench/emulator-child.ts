/**
 * The emulator for the bench, in its own process so that its CPU does not compete with the code
 * measured (DESIGN.md, "Measuring speed honestly"). Started by `emulator-process.ts` with
 * `child_process.fork`; takes commands over IPC.
 */
import { startEmulator, type FaultSpec, type RandomFaultOptions, type WorkbookSeed } from '../dist/testing/index.js';

export type EmulatorCommand =
  | { readonly op: 'setLatency'; readonly ms: number }
  | { readonly op: 'setFaults'; readonly faults: RandomFaultOptions | undefined }
  | { readonly op: 'injectFault'; readonly spec: FaultSpec }
  | { readonly op: 'stats' }
  | { readonly op: 'resetStats' }
  | { readonly op: 'cpu' }
  | { readonly op: 'close' };

export interface EmulatorStart {
  readonly workbooks: readonly string[];
  readonly latencyMs: number;
  /** How long a createSession takes on top of the latency (the emulator's default is 0). */
  readonly createSessionDelayMs?: number;
  /** Up to this much more per createSession, from the emulator's seeded random source. */
  readonly createSessionJitterMs?: number;
}

const SEED: WorkbookSeed = {
  worksheets: {
    Sheet1: {
      cells: [
        ['region', 'fruit', 'count'],
        ['east', 'apple', 3],
        ['west', 'pear', 5],
      ],
    },
  },
};

function send(message: unknown): void {
  process.send?.(message);
}

process.once('message', (start: EmulatorStart) => {
  void (async () => {
    const emulator = await startEmulator({
      port: 0,
      workbooks: Object.fromEntries(start.workbooks.map((w) => [w, SEED])),
      latency: { fixedMs: start.latencyMs },
      createSessionDelayMs: start.createSessionDelayMs ?? 0,
      createSessionJitterMs: start.createSessionJitterMs ?? 0,
    });
    const { service } = emulator;
    process.on('message', (message: { id: number; command: EmulatorCommand }) => {
      const { id, command } = message;
      try {
        switch (command.op) {
          case 'setLatency':
            service.setLatency({ fixedMs: command.ms });
            return send({ id, ok: true });
          case 'setFaults':
            service.setFaults(command.faults);
            return send({ id, ok: true });
          case 'injectFault':
            service.injectFault(command.spec);
            return send({ id, ok: true });
          case 'stats':
            return send({ id, ok: true, value: service.stats() });
          case 'cpu': {
            const { user, system } = process.cpuUsage();
            return send({ id, ok: true, value: (user + system) / 1000 });
          }
          case 'resetStats':
            service.resetStats();
            return send({ id, ok: true });
          case 'close':
            void emulator.close().finally(() => {
              send({ id, ok: true });
              process.disconnect();
            });
            return;
        }
      } catch (error) {
        send({ id, ok: false, error: error instanceof Error ? error.message : String(error) });
      }
    });
    send({ ready: true, url: emulator.url, token: emulator.token });
  })().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});
