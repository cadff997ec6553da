#!/usr/bin/env node
// The operator command: `workbook-sessions recover --journal <path>` closes the sessions a crashed
// process left open. Exit codes: 0 done, 1 a close (or the run) failed, 2 bad usage.
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Client } from '@microsoft/microsoft-graph-client';
import { createBearerClient, createGraphClient, type TokenCredentialLike } from './transport/graph-client.js';
import { SessionJournal } from './journal/journal.js';
import { recoverOrphans, type RecoveredSession, type RecoveryReport } from './journal/recovery.js';
import { redactSecrets } from './util/redact.js';
import { SessionManager } from './manager/session-manager.js';

const USAGE = `Usage: workbook-sessions recover --journal <path> [--dry-run] [--json]
                                [--emulator-url <url> --token <token>]

Closes the Excel workbook sessions that processes which are gone left open in Microsoft Graph,
as recorded in a session journal. Sessions of processes still running are never touched; sessions
past Graph's expiry (5 min persistent, 7 min non-persistent) are dropped without a request.

Options:
  --journal <path>      the journal file, or the directory holding sessions.journal (required)
  --dry-run             list what would be closed; send nothing, change nothing (needs no sign-in)
  --json                print the report as JSON
  --emulator-url <url>  talk to a workbook emulator (workbook-sessions/testing) instead of Graph
  --token <token>       the emulator's bearer token (or set WORKBOOK_SESSIONS_TOKEN)
  -h, --help            show this text
  -v, --version         print the version

Without --emulator-url, signs in with a device code: set WORKBOOK_SESSIONS_TENANT_ID and
WORKBOOK_SESSIONS_CLIENT_ID (an app registration allowing public client flows, delegated
Files.ReadWrite), and install the optional peer @azure/identity.

Exit status: 0 done, 1 a close failed, 2 bad usage.
`;

/** This package's version, from its package.json (beside `dist/` and `src/` alike). */
async function packageVersion(): Promise<string> {
  const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

class UsageError extends Error {
  override name = 'UsageError';
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${await packageVersion()}\n`);
    return 0;
  }
  const problem = commandProblem(positionals);
  if (problem !== undefined) return usage(problem);
  const journalPath = values.journal;
  if (journalPath === undefined || journalPath === '') return usage('Missing --journal <path>');
  return recoverCommand(values, journalPath);
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      journal: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'emulator-url': { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false },
    },
  });
}

type Parsed = ReturnType<typeof parse>;
type Values = Parsed['values'];

/** What is wrong with the positional arguments, when they are not the one command `recover`. */
function commandProblem(positionals: readonly string[]): string | undefined {
  const [command, ...extra] = positionals;
  if (command === undefined) return 'Missing the command (recover)';
  if (command !== 'recover') return `Unknown command ${JSON.stringify(command)}`;
  if (extra.length > 0) return `Unexpected argument ${JSON.stringify(extra[0])}`;
  return undefined;
}

/** Runs `recover` on the journal, prints the report and gives the exit code; SIGINT stops it. */
async function recoverCommand(values: Values, journalPath: string): Promise<number> {
  const controller = new AbortController();
  const onSigint = (): void =>
    controller.abort(new Error('Interrupted (SIGINT); sessions not yet closed stay in the journal'));
  process.once('SIGINT', onSigint);
  try {
    const journalFile = await new SessionJournal({ path: journalPath }).file();
    if (!(await exists(journalFile))) {
      // Most likely a mistyped path: say so, and create nothing there.
      process.stderr.write(`workbook-sessions: no journal at ${journalFile}: nothing to recover\n`);
      if (values.json) process.stdout.write(`${JSON.stringify(emptyReport(values['dry-run']), null, 2)}\n`);
      return 0;
    }
    const report = await recover(values, journalPath, controller.signal);
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.failed.length > 0 ? 1 : 0;
  } catch (error) {
    if (error instanceof UsageError) return usage(error.message);
    process.stderr.write(
      `workbook-sessions: ${redactSecrets(error instanceof Error ? error.message : String(error))}\n`,
    );
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function recover(values: Values, journalPath: string, signal: AbortSignal): Promise<RecoveryReport> {
  if (values['dry-run']) {
    // Reading needs no Graph client and no sign-in.
    return recoverOrphans(
      new SessionJournal({ path: journalPath }),
      () => Promise.reject(new Error('a dry run closes nothing')),
      { dryRun: true, signal },
    );
  }
  const client = await buildClient(values['emulator-url'], values.token ?? process.env.WORKBOOK_SESSIONS_TOKEN);
  const sessions = new SessionManager({ client, journal: { path: journalPath }, exitHooks: false });
  try {
    return await sessions.recover({ signal });
  } finally {
    await sessions.shutdown();
  }
}

async function buildClient(emulatorUrl: string | undefined, token: string | undefined): Promise<Client> {
  if (emulatorUrl !== undefined) {
    if (token === undefined || token === '')
      throw new UsageError('--emulator-url needs --token <token> (or WORKBOOK_SESSIONS_TOKEN)');
    try {
      return createBearerClient({ baseUrl: emulatorUrl, token });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
  }
  if (token !== undefined) throw new UsageError('--token is only for --emulator-url; Graph sign-in uses a device code');
  const tenantId = process.env.WORKBOOK_SESSIONS_TENANT_ID;
  const clientId = process.env.WORKBOOK_SESSIONS_CLIENT_ID;
  if (tenantId === undefined || tenantId === '' || clientId === undefined || clientId === '') {
    throw new UsageError(
      'Set WORKBOOK_SESSIONS_TENANT_ID and WORKBOOK_SESSIONS_CLIENT_ID to sign in to Microsoft Graph ' +
        '(or use --emulator-url)',
    );
  }
  let identity: typeof import('@azure/identity');
  try {
    identity = await import('@azure/identity');
  } catch {
    throw new Error(
      'Signing in to Microsoft Graph needs the optional package @azure/identity: npm install @azure/identity',
    );
  }
  const credential: TokenCredentialLike = new identity.DeviceCodeCredential({
    tenantId,
    clientId,
    // The prompt goes to stderr so that --json output stays clean.
    userPromptCallback: (info) => void process.stderr.write(`${info.message}\n`),
  });
  return createGraphClient({ credential, scopes: ['https://graph.microsoft.com/Files.ReadWrite'] });
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function emptyReport(dryRun: boolean): RecoveryReport {
  return { dryRun, closed: [], expired: [], failed: [], skippedLive: [], wouldClose: [], corrupt: [] };
}

function usage(problem: string): number {
  process.stderr.write(`workbook-sessions: ${problem}\n\n${USAGE}`);
  return 2;
}

function formatReport(report: RecoveryReport): string {
  const now = Date.now();
  const rows: Array<[string, RecoveredSession]> = [
    ...report.closed.map((s): [string, RecoveredSession] => ['closed', s]),
    ...report.wouldClose.map((s): [string, RecoveredSession] => ['would close', s]),
    ...report.expired.map((s): [string, RecoveredSession] => [
      s.expiredBy === 'graph' ? 'expired (graph)' : 'expired (age)',
      s,
    ]),
    ...report.failed.map((s): [string, RecoveredSession] => ['failed', s]),
    ...report.skippedLive.map((s): [string, RecoveredSession] => ['live, left', s]),
  ];
  const table = [
    ['outcome', 'workbook', 'session', 'persist', 'age', 'pid'],
    ...rows.map(([outcome, s]) => [
      outcome,
      s.workbook,
      s.id,
      s.persistChanges ? 'yes' : 'no',
      age(now - s.createdAt),
      String(s.pid),
    ]),
  ];
  const widths = table[0]?.map((_, column) => Math.max(...table.map((row) => (row[column] ?? '').length))) ?? [];
  const lines =
    rows.length === 0
      ? ['No sessions in the journal.']
      : table.map((row) =>
          row
            .map((cell, column) => cell.padEnd(widths[column] ?? 0))
            .join('  ')
            .trimEnd(),
        );
  for (const s of report.failed) lines.push(`failed ${s.id}: ${s.error ?? 'unknown error'}`);
  for (const c of report.corrupt) lines.push(`journal line ${c.line} skipped: ${c.reason}`);
  const counts = report.dryRun
    ? `Dry run: would close ${report.wouldClose.length}, would drop ${report.expired.length} past expiry, ` +
      `${report.skippedLive.length} of live processes left alone.`
    : `Closed ${report.closed.length}, expired ${report.expired.length}, failed ${report.failed.length}, ` +
      `${report.skippedLive.length} of live processes left alone.`;
  lines.push(
    '',
    `${counts}${report.corrupt.length > 0 ? ` ${report.corrupt.length} corrupt journal line(s) skipped.` : ''}`,
  );
  return `${lines.join('\n')}\n`;
}

function age(ms: number): string {
  if (ms < 0) return '0s';
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours}h${String(minutes % 60).padStart(2, '0')}m` : `${Math.floor(hours / 24)}d`;
}

process.exitCode = await main(process.argv.slice(2));
