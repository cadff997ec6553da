/**
 * npm run demo             the workload below, with progress, against an embedded emulator
 * npm run demo -- --json   the same, printing only one JSON summary on stdout
 *
 * With WORKBOOK_SESSIONS_TENANT_ID, WORKBOOK_SESSIONS_CLIENT_ID and WORKBOOK_SESSIONS_ITEM set (see
 * examples/support/target.ts), a smaller workload runs against Microsoft Graph instead, signing in
 * with a device code.
 *
 * Exits 0 when every session was closed, 1 when any was left open (or the demo itself failed).
 */
import { runEmulatorDemo, PER_WORKBOOK_CONCURRENCY } from './demo/emulator-workload.js';
import { runGraphDemo } from './demo/graph-workload.js';
import { Progress } from './demo/progress.js';
import { formatSummary } from './demo/summary.js';
import { parseArgs } from 'node:util';
import { graphEnvironment } from './support/target.js';

const USAGE = `Usage: npm run demo [-- --json]

Runs a workload through workbook-sessions against an embedded Excel workbook service emulator (no
Microsoft account needed): writers in \`await using\` scopes, one that throws, injected 429s and 503s,
a long-running createSession, an idle close, an expired session, a burst of 30 requests sharing one
session (\`sessions.acquire()\`), and a shutdown as on SIGTERM. Then a summary puts the library's counts
beside the emulator's, with the sessions created on each workbook.

Options:
  --json      print only one JSON summary on stdout
  -h, --help  show this text

With WORKBOOK_SESSIONS_TENANT_ID, WORKBOOK_SESSIONS_CLIENT_ID and WORKBOOK_SESSIONS_ITEM set, a smaller
workload runs against Microsoft Graph instead, signing in with a device code.

Exit status: 0 every session was closed, 1 a session was left open (or the demo failed), 2 bad usage.
`;

let json = false;
try {
  const { values } = parseArgs({
    options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  json = values.json;
} catch (error) {
  // An unknown or misspelt flag is refused rather than ignored.
  process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  process.exit(2);
}
const progress = new Progress({ quiet: json });
const env = graphEnvironment();

try {
  if (!json) {
    console.log(
      env === undefined
        ? 'workbook-sessions demo: an embedded Excel workbook service emulator, no Microsoft account needed'
        : `workbook-sessions demo against Microsoft Graph: ${env.item}`,
    );
  }
  const summary = env === undefined ? await runEmulatorDemo(progress) : await runGraphDemo(progress, env);
  console.log(json ? JSON.stringify(summary) : formatSummary(summary, PER_WORKBOOK_CONCURRENCY));
  process.exitCode = summary.ok ? 0 : 1;
} catch (error) {
  console.error('the demo failed:', error);
  process.exitCode = 1;
}
