import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

const CLI = ['--import', 'tsx', 'src/testing/cli.ts'];

// The child of the running test; killed after it if still alive.
let child: ChildProcessWithoutNullStreams | undefined;
afterEach(() => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
});

function run(args: string[]): ChildProcessWithoutNullStreams {
  child = spawn(process.execPath, [...CLI, ...args], { cwd: process.cwd(), stdio: 'pipe' });
  return child;
}

async function output(
  proc: ChildProcessWithoutNullStreams,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('workbook-emulator CLI', () => {
  it('--json prints one line with url and token, serves the sample workbook, and exits 0 on SIGTERM', async () => {
    const proc = run(['--port', '0', '--json', '--token', 'cli-token']);
    const lines = createInterface({ input: proc.stdout });
    const [line] = (await once(lines, 'line')) as [string];
    const info = JSON.parse(line) as { url: string; token: string; workbooks: string[] };
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info).toEqual({ url: info.url, token: 'cli-token', workbooks: ['/me/drive/items/01SAMPLEWORKBOOK'] });

    const res = await fetch(`${info.url}/v1.0${info.workbooks[0]}/workbook/worksheets`, {
      headers: { Authorization: `Bearer ${info.token}` },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { value: { name: string }[] }).value.map((s) => s.name)).toEqual(['Sheet1', 'Sales']);

    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  });

  it('--strict-cooldowns, --fault-kinds and --retry-after reach the service', async () => {
    const proc = run([
      '--port',
      '0',
      '--json',
      '--token',
      't',
      '--strict-cooldowns',
      '--fault-rate',
      '1',
      '--fault-kinds',
      '503',
      '--retry-after',
      '60',
    ]);
    const lines = createInterface({ input: proc.stdout });
    const [line] = (await once(lines, 'line')) as [string];
    const info = JSON.parse(line) as { url: string; workbooks: string[] };
    const post = (path: string): Promise<Response> =>
      fetch(`${info.url}/v1.0${info.workbooks[0]}/workbook/${path}`, {
        method: 'POST',
        headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' },
        body: '{"persistChanges":true}',
      });
    // The random 503 announces 60 s; the next request lands inside it and the strict mode answers 429.
    const throttled = await post('createSession');
    expect([throttled.status, throttled.headers.get('retry-after')]).toEqual([503, '60']);
    const refused = await post('createSession');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(((await refused.json()) as { error: { innerError: { code: string } } }).error.innerError.code).toBe(
      'tooManyRequestsUncategorized',
    );
    proc.kill('SIGTERM');
    await once(proc, 'exit');
  });

  it('--max-sessions-per-workbook N answers createSession beyond N with 429', async () => {
    const proc = run(['--port', '0', '--json', '--token', 't', '--max-sessions-per-workbook', '1']);
    const lines = createInterface({ input: proc.stdout });
    const [line] = (await once(lines, 'line')) as [string];
    const info = JSON.parse(line) as { url: string; workbooks: string[] };
    const create = (): Promise<Response> =>
      fetch(`${info.url}/v1.0${info.workbooks[0]}/workbook/createSession`, {
        method: 'POST',
        headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' },
        body: '{"persistChanges":true}',
      });
    expect((await create()).status).toBe(201);
    const refused = await create();
    expect(refused.status).toBe(429);
    expect(JSON.stringify(await refused.json())).toContain('MaxSessionsPerWorkbookExceeded');
    proc.kill('SIGTERM');
    await once(proc, 'exit');
  });

  it('--create-session-delay-ms and --create-session-jitter-ms reach the service; a bad one exits 2', async () => {
    const proc = run([
      '--port',
      '0',
      '--json',
      '--token',
      't',
      '--create-session-delay-ms',
      '20',
      '--create-session-jitter-ms',
      '5',
    ]);
    const lines = createInterface({ input: proc.stdout });
    const [line] = (await once(lines, 'line')) as [string];
    const info = JSON.parse(line) as { url: string; workbooks: string[] };
    const created = await fetch(`${info.url}/v1.0${info.workbooks[0]}/workbook/createSession`, {
      method: 'POST',
      headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' },
      body: '{"persistChanges":true}',
    });
    expect(created.status).toBe(201);
    proc.kill('SIGTERM');
    await once(proc, 'exit');
    const bad = await output(run(['--create-session-delay-ms=-1']));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'workbook-emulator: Expected `createSessionDelayMs` to be a finite number >= 0, got `-1` (number)',
    );
  });

  it('--help prints usage and exits 0', async () => {
    const result = await output(run(['--help']));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: workbook-emulator [options]');
    expect(result.stdout).toContain('--fault-rate R');
  });

  it('a bad option prints the error and usage to stderr and exits 2', async () => {
    const result = await output(run(['--fault-rate', 'lots']));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('workbook-emulator: Expected --fault-rate to be a number, got "lots"');
    expect(result.stdout).toBe('');
  });

  it('an unknown fault kind, or --fault-kinds without --fault-rate, exits 2 naming the problem', async () => {
    const unknown = await output(run(['--fault-rate', '0.1', '--fault-kinds', '429,418']));
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('workbook-emulator: Expected `faults.kinds` to be a non-empty array of');
    const alone = await output(run(['--fault-kinds', '429']));
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('workbook-emulator: --fault-kinds and --retry-after need --fault-rate');
  });
});

describe('workbook-emulator CLI --https', () => {
  it(
    '--https --json serves https and prints the certificate to ' + 'trust; without it the certificate is refused',
    async () => {
      const proc = run(['--port', '0', '--json', '--https', '--token', 'cli-token']);
      const lines = createInterface({ input: proc.stdout });
      const [line] = (await once(lines, 'line')) as [string];
      const info = JSON.parse(line) as { url: string; token: string; workbooks: string[]; ca: string };
      expect(info.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(info.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
      await expect(fetch(`${info.url}/v1.0${info.workbooks[0]}/workbook/worksheets`)).rejects.toThrow(TypeError);
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      expect(await exited).toEqual([0, null]);
    },
  );

  it('--ca-file without --https is refused', async () => {
    const result = await output(run(['--ca-file', 'ca.pem']));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('workbook-emulator: --ca-file needs --https');
  });
});
