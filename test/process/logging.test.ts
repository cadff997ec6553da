// Logging without code, and the warning after shutdown(), in real processes: a child runs the real
// SessionManager with no logger against the emulator running here, and the test reads its stderr.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/testing/index.js';
import { killChildren, spawnFixture, type WatchedChild } from '../fixtures/exit-spawn.js';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;

let emu: Emulator;

beforeEach(async () => {
  emu = await startEmulator({ workbooks: { '/me/drive/items/A': {} } });
});

afterEach(async () => {
  await killChildren();
  emu.service.setLatency({ fixedMs: 0 });
  await emu.close();
});

/** Starts the child; DEBUG is always given, so a DEBUG set around the test run changes nothing. */
function startChild(env: Record<string, string> & { DEBUG: string }): WatchedChild {
  return spawnFixture('log-child.ts', { EMU_URL: emu.url, EMU_TOKEN: emu.token, ...env });
}

/** Lets the child shut down and waits until it has ended by itself. */
async function shutDown(child: WatchedChild): Promise<void> {
  child.process.stdin?.write('go\n');
  expect(await child.waitForExit()).toEqual({ code: 0, signal: null });
}

/** A stderr line without its time and its data: `workbook-sessions:info shut down`. */
const withoutTimeAndData = (line: string): string => line.replace(/^\S+ /, '').replace(/ \{.*\}$/, '');

const ISO_TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/.source;

describe('DEBUG=workbook-sessions, with no logger given', () => {
  it('writes every level to stderr, one line each: time, workbook-sessions:level, message, JSON data', async () => {
    const child = startChild({ DEBUG: 'workbook-sessions' });
    await child.waitForLine('ready');
    await shutDown(child);

    const lines = child.stderr().trimEnd().split('\n');
    expect(lines.map(withoutTimeAndData)).toEqual([
      'workbook-sessions:debug session opened',
      'workbook-sessions:info shutting down',
      'workbook-sessions:debug session closed',
      'workbook-sessions:info shut down',
    ]);
    expect(lines[0]).toMatch(
      new RegExp(
        `^${ISO_TIME} workbook-sessions:debug session opened \\{"id":"[^"]+","workbook":"/me/drive/items/A"\\}$`,
      ),
    );
    expect(lines[1]).toMatch(
      new RegExp(`^${ISO_TIME} workbook-sessions:info shutting down \\{"sessions":1,"timeoutMs":5000\\}$`),
    );
    expect(child.lines).toContain('report {"closed":1,"leftOpen":0,"timedOut":false}');
  });

  it('DEBUG=workbook-sessions:info writes info and above, no debug lines', async () => {
    const child = startChild({ DEBUG: 'other-lib,workbook-sessions:info' });
    await child.waitForLine('ready');
    await shutDown(child);

    const lines = child.stderr().trimEnd().split('\n');
    expect(lines.map(withoutTimeAndData)).toEqual([
      'workbook-sessions:info shutting down',
      'workbook-sessions:info shut down',
    ]);
  });

  it('without DEBUG (or with only other names in it), nothing is written', async () => {
    for (const debug of ['', 'express:*']) {
      const child = startChild({ DEBUG: debug });
      await child.waitForLine('ready');
      await shutDown(child);
      expect(child.stderr()).toBe('');
    }
  });
});

describe('shutdown() that leaves sessions open', () => {
  it.each([
    ['on', 'true'],
    ['off', 'false'],
  ])(
    'with the exit hooks %s, prints the exit warning once to stderr, and the process ends by itself',
    async (_label, hooks) => {
      const child = startChild({ DEBUG: '', EXIT_HOOKS: hooks, SHUTDOWN_TIMEOUT_MS: '50' });
      await child.waitForLine('ready');
      // The close is still on the wire when the 50 ms deadline passes.
      emu.service.setLatency({ fixedMs: 2000 });
      await shutDown(child);

      expect(child.lines).toContain('report {"closed":0,"leftOpen":1,"timedOut":true}');
      expect(child.stderr()).toBe(
        'workbook-sessions: 1 workbook session left open after shutdown() ' +
          '(1 not closed in time; the 50 ms shutdown deadline passed). ' +
          'Graph expires them after about 5 minutes.\n',
      );
    },
  );

  it('a SIGTERM during it: only the exit hooks warn, once, as the signal ends the process', async () => {
    const child = startChild({ DEBUG: '', SHUTDOWN_TIMEOUT_MS: '1000' });
    await child.waitForLine('ready');
    emu.service.setLatency({ fixedMs: 5000 });
    child.process.stdin?.write('go\n');
    await child.waitForLine('shutdown called');
    child.process.kill('SIGTERM');

    expect(await child.waitForExit()).toEqual({ code: null, signal: 'SIGTERM' });
    expect(child.stderr()).toBe(
      'workbook-sessions: 1 workbook session left open when SIGTERM ended the process ' +
        '(1 not closed in time; the 1000 ms shutdown deadline passed). ' +
        'Graph expires them after about 5 minutes.\n',
    );
  });

  it('a shutdown that closes every session prints nothing', async () => {
    const child = startChild({ DEBUG: '', SHUTDOWN_TIMEOUT_MS: '5000' });
    await child.waitForLine('ready');
    await shutDown(child);

    expect(child.lines).toContain('report {"closed":1,"leftOpen":0,"timedOut":false}');
    expect(child.stderr()).toBe('');
  });
});
