// Process shutdown with the real SessionManager: a child process opens sessions against the
// emulator (running here, over HTTP on loopback) and is then signalled or left to end.
// A child ended by a signal shows `signal` set and `code` null; run through a shell, the same end
// shows as 128 + the signal number (143 for SIGTERM, 130 for SIGINT, 129 for SIGHUP).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/testing/index.js';
import { killChildren, spawnFixture, type WatchedChild } from '../fixtures/exit-spawn.js';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;

let emu: Emulator;

beforeEach(async () => {
  emu = await startEmulator({
    workbooks: { '/me/drive/items/A': {}, '/me/drive/items/B': {}, '/me/drive/items/C': {} },
    latency: { fixedMs: 5 },
  });
});

afterEach(async () => {
  await killChildren();
  emu.service.setLatency({ fixedMs: 0 });
  await emu.close();
});

function startChild(env: Record<string, string>): WatchedChild {
  return spawnFixture('exit-manager-child.ts', { EMU_URL: emu.url, EMU_TOKEN: emu.token, ...env });
}

describe('SessionManager exit hooks in a real process', () => {
  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)(
    'on %s, closes all 30 sessions on 3 workbooks, then the process ends by that signal',
    async (signal) => {
      const child = startChild({ SCENARIO: 'wait', SESSIONS: '30' });
      await child.waitForLine('ready');
      expect(emu.service.stats().open).toBe(30);

      child.process.kill(signal);
      const exit = await child.waitForExit();

      expect(exit).toEqual({ code: null, signal });
      expect(emu.service.stats().open).toBe(0);
      expect(child.stderr()).toBe('');
    },
  );

  // Every manager's shutdown listens to the round's one abort signal: Node warns past 10 listeners
  // unless the signal is told to expect them.
  it.each([
    ['SIGTERM', 'wait'],
    ['beforeExit', 'end'],
  ] as const)(
    'with 20 managers in one process, a shutdown on %s closes every session and prints no warning',
    async (how, scenario) => {
      const child = startChild({ SCENARIO: scenario, SESSIONS: '40', MANAGERS: '20' });
      await child.waitForLine('ready');
      if (how === 'SIGTERM') child.process.kill('SIGTERM');
      const exit = await child.waitForExit();

      expect(exit).toEqual(how === 'SIGTERM' ? { code: null, signal: 'SIGTERM' } : { code: 0, signal: null });
      expect(emu.service.stats()).toMatchObject({ created: 40, open: 0 });
      expect(child.stderr()).toBe('');
    },
  );

  it('closes the sessions a script left open when it simply ends (beforeExit), and it ends with code 0', async () => {
    const child = startChild({ SCENARIO: 'end', SESSIONS: '30' });

    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: 0, signal: null });
    expect(child.lines).toContain('opened 30');
    expect(emu.service.stats().open).toBe(0);
    expect(child.stderr()).toBe('');
  });

  it(
    'with the service slower than shutdownTimeoutMs, still ' +
      'ends soon after the deadline and says what it left open',
    async () => {
      const shutdownTimeoutMs = 500;
      const child = startChild({ SCENARIO: 'wait', SESSIONS: '30', SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) });
      await child.waitForLine('ready');
      emu.service.setLatency({ fixedMs: 5000 });

      const signalledAt = performance.now();
      child.process.kill('SIGTERM');
      const exit = await child.waitForExit();
      const elapsedMs = performance.now() - signalledAt;

      expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
      // The only bound on time this test asserts: the deadline plus a generous margin, far below 5 s latency x 30.
      expect(elapsedMs).toBeLessThan(shutdownTimeoutMs + 4000);
      expect(child.stderr()).toMatch(
        new RegExp(
          /^workbook-sessions: 30 workbook sessions left open when SIGTERM ended the process /.source +
            /\(30 not closed in time; the 500 ms shutdown deadline passed\)/.source,
        ),
      );
    },
  );

  it('when the app has its own SIGTERM listener, closes the sessions and leaves the exit to the app', async () => {
    const child = startChild({ SCENARIO: 'app-listener', SESSIONS: '30' });
    await child.waitForLine('ready');

    child.process.kill('SIGTERM');
    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: 7, signal: null });
    expect(child.lines).toContain('app-sigterm');
    expect(emu.service.stats().open).toBe(0);
    expect(child.stderr()).toBe('');
  });

  it('a second SIGTERM during a slow shutdown ends the process at once', async () => {
    // A 20 s deadline against 10 s latency: only the second signal can end the process soon.
    const child = startChild({ SCENARIO: 'wait', SESSIONS: '30', SHUTDOWN_TIMEOUT_MS: '20000' });
    await child.waitForLine('ready');
    emu.service.setLatency({ fixedMs: 10_000 });

    child.process.kill('SIGTERM');
    // The closes are inside the slowed emulator: the first signal is being handled.
    await waitFor(() => emu.service.stats().inFlight > 0, 5000);
    child.process.kill('SIGTERM');
    const exit = await child.waitForExit(8000);

    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(child.stderr()).toMatch(
      new RegExp(
        /^workbook-sessions: 30 workbook sessions left open when SIGTERM ended the process /.source +
          /\(30 not closed in time; a second signal cut the shutdown short\)/.source,
      ),
    );
  });

  it(
    'an idle manager (its one session opened and closed) ' + 'does not keep the process alive: it ends with code 0',
    async () => {
      const child = startChild({ SCENARIO: 'idle' });

      const exit = await child.waitForExit();

      expect(exit).toEqual({ code: 0, signal: null });
      expect(child.lines).toEqual(['ready', 'exit code=0']);
      expect(emu.service.stats().open).toBe(0);
      expect(child.stderr()).toBe('');
    },
  );
});

/** Polls `condition` until it holds; rejects after `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`Condition not met within ${String(timeoutMs)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('registerExitHooks() with a deadline past the timer limit', () => {
  // Regression guard: a shutdownTimeoutMs above 2^31-1 ms is waited for, not cut short by a timer overflow.
  it('a deadline above 2^31-1 ms does not cut the shutdown short at once', async () => {
    const child = spawnFixture('long-shutdown-deadline.ts', { CLOSE_MS: '300', DEADLINE_MS: '3000000000' });
    await child.waitForLine('ready');
    child.process.kill('SIGTERM');
    const exit = await child.waitForExit();
    expect(exit.signal).toBe('SIGTERM');
    expect(child.lines).toContain('shutdown-start');
    expect(child.lines.find((line) => line.startsWith('shutdown-end'))).toMatch(/^shutdown-end closed=3 /);
    expect(child.stderr()).not.toMatch(/left open/);
  });
});
