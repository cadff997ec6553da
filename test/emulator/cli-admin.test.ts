import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

const CLI = ['--import', 'tsx', 'src/testing/cli.ts'];
const WB = '/me/drive/items/01SAMPLEWORKBOOK';

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

async function output(proc: ChildProcessWithoutNullStreams): Promise<{ code: number | null; out: string }> {
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, out };
}

async function firstLine(proc: ChildProcessWithoutNullStreams): Promise<string> {
  const [line] = (await once(createInterface({ input: proc.stdout }), 'line')) as [string];
  return line;
}

function createSession(url: string, prefer?: string): Promise<Response> {
  return fetch(`${url}/v1.0${WB}/workbook/createSession`, {
    method: 'POST',
    headers: {
      Authorization: 'Bearer t',
      'Content-Type': 'application/json',
      ...(prefer === undefined ? {} : { Prefer: prefer }),
    },
    body: '{"persistChanges":true}',
  });
}

describe('workbook-emulator CLI: the newer options and the admin routes', () => {
  it('--help lists the long-running create, session cap, strict cooldown and timeout flags', async () => {
    const { code, out } = await output(run(['--help']));
    expect(code).toBe(0);
    for (const flag of [
      '--async-create-rate R',
      '--async-create-duration-ms N',
      '--async-create-fail-rate R',
      '--async-create-fail-codes C,C',
      '--max-sessions-per-workbook N',
      '--strict-cooldowns',
      '--persistent-session-timeout-ms N',
      '--non-persistent-session-timeout-ms N',
    ])
      expect(out).toContain(flag);
    expect(out).toContain('/_emulator/');
  });

  it('--async-create-rate 1 answers respond-async creates 202, and --max-sessions-per-workbook caps them', async () => {
    const proc = run([
      '--port',
      '0',
      '--json',
      '--token',
      't',
      '--async-create-rate',
      '1',
      '--async-create-duration-ms',
      '0',
      '--max-sessions-per-workbook',
      '1',
      '--persistent-session-timeout-ms',
      '60000',
    ]);
    const { url } = JSON.parse(await firstLine(proc)) as { url: string };
    const accepted = await createSession(url, 'respond-async');
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('location')).toMatch(/\/workbook\/operations\//);
    // The operation has completed (duration 0): its session holds the one place.
    const stats = (await (
      await fetch(`${url}/_emulator/stats`, { headers: { Authorization: 'Bearer t' } })
    ).json()) as { open: number };
    expect(stats.open).toBe(1);
    const capped = await createSession(url);
    expect(capped.status).toBe(429);
    // The idle timeout came through: 60 s on, the session has expired and the cap is free again.
    const advanced = await fetch(`${url}/_emulator/advance-time`, {
      method: 'POST',
      headers: { Authorization: 'Bearer t' },
      body: '{"ms":60000}',
    });
    expect(advanced.status).toBe(204);
    expect((await createSession(url)).status).toBe(201);
  });

  it('--async-create-fail-codes without --async-create-rate is refused, and a bad rate is named', async () => {
    const missing = await output(run(['--async-create-fail-codes', 'accessDenied']));
    expect(missing.code).toBe(2);
    expect(missing.out).toContain(
      'workbook-emulator: --async-create-duration-ms, --async-create-fail-rate and --async-create-fail-codes ' +
        'need --async-create-rate',
    );
    const bad = await output(run(['--async-create-rate', '2']));
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('Expected `asyncCreate.rate` to be a number from 0 to 1, got `2` (number)');
  });

  it('prints the live page URL, and the page and admin routes answer from the CLI process', async () => {
    const proc = run(['--port', '0', '--token', 't']);
    const lines = createInterface({ input: proc.stdout });
    let page: string | undefined;
    for await (const line of lines) {
      const m = /^Live page: (\S+)$/.exec(line);
      if (m !== null) {
        page = m[1];
        break;
      }
    }
    expect(page).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/_emulator\/#token=t$/);
    const html = await fetch(page as string);
    expect(html.status).toBe(200);
    expect(await html.text()).toContain('<title>Workbook emulator</title>');
    const origin = new URL(page as string).origin;
    const sessions = await fetch(`${origin}/_emulator/sessions`, { headers: { Authorization: 'Bearer t' } });
    expect(await sessions.json()).toEqual([]);
  });
});
