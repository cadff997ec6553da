import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs an example as a user would (`node --import tsx examples/...`), against the emulator. */
function run(file: string, args: readonly string[] = []): Promise<Run> {
  const env = { ...process.env };
  // Never reach for a real tenant from the tests, whatever the developer's shell has set.
  for (const key of Object.keys(env)) if (key.startsWith('WORKBOOK_SESSIONS_')) delete env[key];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', file, ...args],
      { cwd: root, env, timeout: 50_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function expectSuccess(result: Run): void {
  if (result.code !== 0)
    throw new Error(`exit code ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
}

describe('examples run against the emulator and exit 0', { timeout: 60_000 }, () => {
  it('quick-start.ts closes its `await using` session at the end of the scope', async () => {
    const result = await run('examples/quick-start.ts');
    expectSuccess(result);
    expect(result.stdout).toContain('worksheets: Sheet1, Sales');
    expect(result.stdout).toMatch(/closed session \S+ \(disposed\)/);
    expect(result.stdout).toContain('sessions open on the emulator: 0');
  });

  it(
    'with-session.mjs (plain JavaScript) closes the ' + 'session when the callback returns and when it throws',
    async () => {
      const result = await run('examples/with-session.mjs');
      expectSuccess(result);
      expect(result.stdout).toContain('withSession rejected: the report could not be built');
      expect(result.stdout).toContain('the session the callback held is closed');
      expect(result.stdout).toContain('a late call fails with SessionClosedError (reason: disposed)');
      expect(result.stdout).toContain('sessions open on the emulator: 0');
    },
  );

  it('http-server.ts --self-test serves requests, then shuts down gracefully on a real SIGTERM', async () => {
    const result = await run('examples/http-server.ts', ['--self-test']);
    expectSuccess(result);
    expect(result.stdout).toContain('GET /sheets -> 200 ["Sheet1","Sales"]');
    expect(result.stdout).toContain('POST /sales -> 201');
    expect(result.stdout).toContain('SIGTERM: no new connections; waiting for requests in flight');
    // The request in flight at SIGTERM finished (its session closed at scope exit) before shutdown() ran.
    const signal = result.stdout.indexOf('SIGTERM:');
    const lastScopeClose = result.stdout.lastIndexOf('closed (disposed)');
    const closing = result.stdout.indexOf('requests done; closing workbook sessions');
    expect(signal).toBeLessThan(lastScopeClose);
    expect(lastScopeClose).toBeLessThan(closing);
    expect(result.stdout.match(/GET \/sales -> 200/g)).toHaveLength(2);
    expect(result.stdout).toContain('sessions open on the emulator: 0');
  });

  it('shared-sessions.ts serves a burst of 30 requests with one shared session, then shuts down', async () => {
    const result = await run('examples/shared-sessions.ts');
    expectSuccess(result);
    expect(result.stdout).toContain('30 requests at once: 25 x GET /sales -> 200, 5 x POST /sales -> 201\n');
    expect(result.stdout).toContain('a later request: GET /sales -> 200, on the same session');
    // What Graph saw: one createSession for all 31 requests, and one request at a time on the workbook.
    expect(result.stdout).toContain('sessions created on the emulator (as Graph would see them) for 31 requests: 1');
    expect(result.stdout).toContain('most requests at once on the workbook: 1');
    expect(result.stdout.match(/session \S+ opened/g)).toHaveLength(1);
    expect(result.stdout).toMatch(/session \S+ closed \(shutdown\)/);
    expect(result.stdout).toContain('sessions closed: 1, already expired: 0, left open: 0');
    expect(result.stdout).toContain('sessions open on the emulator: 0');
  });

  it("shutdown-helper.ts closes the held session from the app's own SIGTERM handler", async () => {
    const result = await run('examples/shutdown-helper.ts');
    expectSuccess(result);
    expect(result.stdout).toContain('[app] SIGTERM received, shutting down');
    expect(result.stdout).toMatch(/\[sessions\] \S+ closed \(shutdown\)/);
    expect(result.stdout).toContain('[app]   sessions: 1 closed, 0 already expired, 0 left open');
    expect(result.stdout).toContain('[app]   sessions open on the emulator: 0');
  });

  it('error-handling.ts meets each typed error and says what to do', async () => {
    const result = await run('examples/error-handling.ts');
    expectSuccess(result);
    expect(result.stdout).toContain('GraphRequestError (status 400, graphCode invalidArgument');
    expect(result.stdout).toContain(
      'GraphRequestError (status 429, graphCode tooManyRequests, innerCode ' +
        'tooManyRequestsUncategorized, attempt 2, retryAfterMs 1000)',
    );
    expect(result.stdout).toContain('GraphRequestError (status 504');
    expect(result.stdout).toContain("SessionClosedError (reason 'disposed')");
    expect(result.stdout).toContain("SessionClosedError (reason 'failed')");
    expect(result.stdout).toContain('SessionExpiredError');
    expect(result.stdout).toContain('ManagerShutDownError');
    expect(result.stdout).toContain('TypeError: a programming error');
    expect(result.stdout).toContain('sessions open on the emulator: 0');
  });
});

describe('demo', { timeout: 60_000 }, () => {
  it('demo.ts --json prints one JSON object: nothing left open, library and emulator agree', async () => {
    const result = await run('examples/demo.ts', ['--json']);
    expectSuccess(result);
    const summary = JSON.parse(result.stdout) as {
      ok: boolean;
      durationMs: number;
      leftOpen: number;
      retries: number;
      reopened: number;
      expired: number;
      server: {
        created: number;
        closed: number;
        open: number;
        faultsInjected: number;
        cooldownViolations: number;
        maxInFlightPerWorkbook: number;
      };
      checks: { name: string; ok: boolean }[];
      workbooks: Record<
        string,
        { opened: number; reopened: number; created: number; closedBy: Record<string, number>; server: unknown }
      >;
      burst: {
        workbook: string;
        requests: number;
        writes: number;
        reads: number;
        sessionsCreated: number;
        serverSessionsCreated: number;
        mostLeases: number;
      };
    };
    expect(summary.ok).toBe(true);
    expect(summary.leftOpen).toBe(0);
    expect(summary.server.open).toBe(0);
    expect(summary.server.cooldownViolations).toBe(0);
    expect(summary.server.maxInFlightPerWorkbook).toBe(1);
    expect(summary.retries).toBe(summary.server.faultsInjected);
    expect(summary.reopened).toBe(2);
    expect(summary.expired).toBe(1);
    expect(summary.checks.filter((c) => !c.ok)).toEqual([]);
    // Every way a session ends in the workload happened.
    const reasons = Object.values(summary.workbooks).flatMap((w) => Object.keys(w.closedBy));
    expect(new Set(reasons)).toEqual(new Set(['disposed', 'idle', 'shutdown']));
    // The burst: 30 requests at once, each with its own lease, served by exactly one session on its workbook.
    expect(summary.burst).toMatchObject({ workbook: 'orders', requests: 30, writes: 15, reads: 15 });
    expect(summary.burst.sessionsCreated).toBe(1);
    expect(summary.burst.serverSessionsCreated).toBe(1);
    expect(summary.burst.mostLeases).toBeGreaterThan(1);
    expect(summary.workbooks['orders']).toMatchObject({
      opened: 1,
      reopened: 0,
      created: 1,
      server: { created: 1, mostOpen: 1 },
    });
    // Every workbook's count of sessions created agrees with the emulator's.
    for (const w of Object.values(summary.workbooks)) expect(w.server).toMatchObject({ created: w.created });
    expect(summary.durationMs).toBeLessThan(15_000);
  });

  it('demo.ts prints its progress and a summary for people', async () => {
    const result = await run('examples/demo.ts');
    expectSuccess(result);
    expect(result.stdout).toMatch(/sales\s+retried\s+POST \/tables\('Orders'\)\/rows\/add after 429/);
    expect(result.stdout).toMatch(/report\s+closed\s+\S+\s+reason: idle/);
    expect(result.stdout).toMatch(/orders\s+opened\s+\S+\s+persistent/);
    expect(result.stdout).toContain('sessions created on orders: 1 (the emulator counted 1), up to ');
    expect(result.stdout).toMatch(/sessions for 30 requests on orders\s+1\s+1\s+one shared session: ok/);
    expect(result.stdout).toMatch(/orders(\s+\d+){5}\s+1\s+1\s+1\s+shutdown 1/);
    expect(result.stdout).toContain('Shutting down as on SIGTERM');
    expect(result.stdout).toMatch(/sessions open after shutdown\s+0\s+0\s+ok/);
    expect(result.stdout).toContain('ok: 0 sessions left open on the emulator.');
  });

  it('demo.ts --help prints its options and exits 0 without running the workload', async () => {
    const result = await run('examples/demo.ts', ['--help']);
    expectSuccess(result);
    expect(result.stdout).toMatch(/^Usage: npm run demo \[-- --json\]/);
    expect(result.stdout).toContain('--json      print only one JSON summary on stdout');
    expect(result.stdout).not.toContain('Shutting down');
  });

  it('demo.ts refuses an unknown flag, naming it, with exit code 2', async () => {
    const result = await run('examples/demo.ts', ['--jsn']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Unknown option '--jsn'");
    expect(result.stdout).toBe('');
  });
});
