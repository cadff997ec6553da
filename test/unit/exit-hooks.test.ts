// The process-wide exit hooks, exercised in real child processes with real signals. The children
// register stand-in participants (test/fixtures/exit-fake-participant.ts), so these tests cover the
// hooks alone; exit-hooks.process.test.ts runs the real SessionManager against the emulator.
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, spawnFixture, type WatchedChild } from '../fixtures/exit-spawn.js';

const FAKE = 'exit-fake-participant.ts';

function startFake(env: Record<string, string>): WatchedChild {
  return spawnFixture(FAKE, env);
}

/** The lines the child printed from `first` on, without the ready marker. */
function eventsAfterReady(child: WatchedChild): string[] {
  return child.lines.slice(child.lines.indexOf('ready') + 1);
}

afterEach(async () => {
  await killChildren();
});

describe('registerExitHooks() on a signal', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const)(
    'closes sessions, then re-raises %s so the process ends by it (shell code %i)',
    async (signal, _shellCode) => {
      const child = startFake({ SCENARIO: 'wait', FAKE_SESSIONS: '3', FAKE_CLOSE_MS: '100' });
      await child.waitForLine('ready');

      child.process.kill(signal);
      const exit = await child.waitForExit();

      expect(exit).toEqual({ code: null, signal });
      expect(eventsAfterReady(child)).toEqual([
        'shutdown-start p0 reason=signal timeoutMs=2000',
        'shutdown-end p0 closed=3 left=0',
      ]);
      expect(child.stderr()).toBe('');
    },
  );

  it('shuts every participant down in parallel, each with its own deadline', async () => {
    const child = startFake({ SCENARIO: 'wait', FAKE_PARTICIPANTS: '3', FAKE_CLOSE_MS: '300' });
    await child.waitForLine('ready');

    child.process.kill('SIGTERM');
    const exit = await child.waitForExit();

    expect(exit.signal).toBe('SIGTERM');
    const events = eventsAfterReady(child);
    // All three started before any finished: they ran side by side.
    expect(events.slice(0, 3).sort()).toEqual([
      'shutdown-start p0 reason=signal timeoutMs=2000',
      'shutdown-start p1 reason=signal timeoutMs=2000',
      'shutdown-start p2 reason=signal timeoutMs=2000',
    ]);
    expect(events.slice(3).sort()).toEqual([
      'shutdown-end p0 closed=3 left=0',
      'shutdown-end p1 closed=3 left=0',
      'shutdown-end p2 closed=3 left=0',
    ]);
  });

  it('reports on stderr how many sessions the deadline left open, then still ends by the signal', async () => {
    const child = startFake({ SCENARIO: 'wait', FAKE_CLOSE_MS: '60000', FAKE_TIMEOUT_MS: '300' });
    await child.waitForLine('ready');

    child.process.kill('SIGTERM');
    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(child.stderr()).toBe(
      'workbook-sessions: 3 workbook sessions left open when SIGTERM ended the process ' +
        '(3 not closed in time; the 300 ms shutdown deadline passed). Graph expires them after about 5 minutes.\n',
    );
  });

  it('a second signal during a slow shutdown stops waiting and ends the process by that signal', async () => {
    // Closes would take a minute and the deadline is 50 s: only the second signal can end this soon.
    const child = startFake({ SCENARIO: 'wait', FAKE_CLOSE_MS: '60000', FAKE_TIMEOUT_MS: '50000' });
    await child.waitForLine('ready');

    child.process.kill('SIGTERM');
    await child.waitForLine(/^shutdown-start p0/);
    child.process.kill('SIGINT');
    const exit = await child.waitForExit(10_000);

    expect(exit).toEqual({ code: null, signal: 'SIGINT' });
    expect(child.stderr()).toContain('3 workbook sessions left open when SIGINT ended the process');
    expect(child.stderr()).toContain('a second signal cut the shutdown short');
  });

  it('still handles a second signal when the participant unregistered inside its own shutdown', async () => {
    const child = startFake({
      SCENARIO: 'wait',
      FAKE_CLOSE_MS: '60000',
      FAKE_TIMEOUT_MS: '50000',
      FAKE_UNREGISTER_IN_SHUTDOWN: '1',
    });
    await child.waitForLine('ready');

    child.process.kill('SIGTERM');
    await child.waitForLine(/^shutdown-start p0/);
    child.process.kill('SIGTERM');
    const exit = await child.waitForExit(10_000);

    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(child.stderr()).toBe(
      'workbook-sessions: 3 workbook sessions left open when SIGTERM ended the process ' +
        '(3 not closed in time; a second signal cut the shutdown short). Graph expires them after about 5 minutes.\n',
    );
  });

  it('leaves exiting to the application when it has its own listener for the signal', async () => {
    const child = startFake({ SCENARIO: 'app-listener', FAKE_CLOSE_MS: '200' });
    await child.waitForLine('ready');

    child.process.kill('SIGTERM');
    const exit = await child.waitForExit();

    // Not re-raised: the app's listener set exitCode 7 and let the loop empty once sessions closed.
    expect(exit).toEqual({ code: 7, signal: null });
    expect(eventsAfterReady(child)).toEqual([
      'shutdown-start p0 reason=signal timeoutMs=2000',
      'app-sigterm',
      'shutdown-end p0 closed=3 left=0',
      'exit code=7',
    ]);
  });

  it('a participant whose shutdown throws does not stop the others or crash the process', async () => {
    const child = startFake({ SCENARIO: 'one-throws', FAKE_PARTICIPANTS: '2', FAKE_CLOSE_MS: '100' });
    await child.waitForLine('ready');

    child.process.kill('SIGHUP');
    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: null, signal: 'SIGHUP' });
    expect(eventsAfterReady(child)).toContain('shutdown-end p0 closed=3 left=0');
    expect(eventsAfterReady(child)).toContain('shutdown-end p1 closed=3 left=0');
    expect(child.stderr()).toBe(
      'workbook-sessions: 3 workbook sessions left open when SIGHUP ended the process ' +
        '(shutdown threw: Error: broken broke). Graph expires them after about 5 minutes.\n',
    );
  });
});

describe('registerExitHooks() on beforeExit', () => {
  it('closes the sessions a finished script left open, then lets it end with code 0', async () => {
    const child = startFake({ SCENARIO: 'end', FAKE_CLOSE_MS: '100' });

    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: 0, signal: null });
    expect(eventsAfterReady(child)).toEqual([
      'shutdown-start p0 reason=beforeExit timeoutMs=2000',
      'shutdown-end p0 closed=3 left=0',
      'exit code=0',
    ]);
    expect(child.stderr()).toBe('');
  });

  it('tries once: sessions it could not close do not make beforeExit loop, and exit warns about them', async () => {
    const child = startFake({ SCENARIO: 'end', FAKE_CLOSE_MS: '60000', FAKE_TIMEOUT_MS: '200' });

    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: 0, signal: null });
    expect(eventsAfterReady(child)).toEqual([
      'shutdown-start p0 reason=beforeExit timeoutMs=200',
      'shutdown-end p0 closed=0 left=3',
      'exit code=0',
    ]);
    expect(child.stderr()).toBe(
      'workbook-sessions: 3 workbook sessions left open at exit ' +
        '(3 not closed in time; the 200 ms shutdown deadline passed). Graph expires them after about 5 minutes.\n',
    );
  });

  it('a signal arriving while beforeExit closes sessions lets the closes finish, then ends by the signal', async () => {
    const child = startFake({ SCENARIO: 'end', FAKE_CLOSE_MS: '1000' });
    await child.waitForLine(/^shutdown-start p0 reason=beforeExit/);

    child.process.kill('SIGTERM');
    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(eventsAfterReady(child)).toEqual([
      'shutdown-start p0 reason=beforeExit timeoutMs=2000',
      'shutdown-end p0 closed=3 left=0',
    ]);
  });

  it('reports what was left open even when the participant unregisters inside its own shutdown', async () => {
    const child = startFake({
      SCENARIO: 'end',
      FAKE_CLOSE_MS: '60000',
      FAKE_TIMEOUT_MS: '200',
      FAKE_UNREGISTER_IN_SHUTDOWN: '1',
    });

    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: 0, signal: null });
    expect(child.stderr()).toBe(
      'workbook-sessions: 3 workbook sessions left open after the shutdown on beforeExit ' +
        '(3 not closed in time; the 200 ms shutdown deadline passed). Graph expires them after about 5 minutes.\n',
    );
  });

  it('does nothing for a participant with no open sessions: the process ends on its own', async () => {
    const child = startFake({ SCENARIO: 'end', FAKE_SESSIONS: '0' });

    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: 0, signal: null });
    expect(eventsAfterReady(child)).toEqual(['exit code=0']);
    expect(child.stderr()).toBe('');
  });
});

describe('the process-wide listeners', () => {
  it('are one set shared by every participant and every copy of the module, removed with the last', async () => {
    const child = spawnFixture('exit-listener-count.ts');
    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: 0, signal: null });
    const steps = child.lines.filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
    const base = steps[0]?.counts as Record<string, number>;
    const plusOne = Object.fromEntries(Object.entries(base).map(([event, count]) => [event, count + 1]));
    expect(steps).toEqual([
      { step: 'before', distinctCopies: true, participants: 0, counts: base },
      { step: 'one', distinctCopies: true, participants: 1, counts: plusOne },
      { step: 'three', distinctCopies: true, participants: 3, counts: plusOne },
      { step: 'one-left', distinctCopies: true, participants: 1, counts: plusOne },
      { step: 'none', distinctCopies: true, participants: 0, counts: base },
    ]);
  });

  it('after the last uninstall a signal gets Node default handling again', async () => {
    const child = startFake({ SCENARIO: 'uninstall-then-wait' });
    await child.waitForLine('ready');
    expect(child.lines).toContain('listeners SIGTERM=0');

    child.process.kill('SIGTERM');
    const exit = await child.waitForExit();

    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(child.lines.some((line) => line.startsWith('shutdown-start'))).toBe(false);
  });
});
