/**
 * npm run demo             the workload below, with progress, against an embedded emulator
 * npm run demo -- --json   the same, printing only one JSON summary on stdout
 * npm run demo -- --fleet  worker processes in fleet mode on one emulator and a local redis-server
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

const USAGE = `Usage: npm run demo [-- --json] [-- --fleet]

Runs a workload through workbook-sessions against an embedded Excel workbook service emulator (no
Microsoft account needed): writers in \`await using\` scopes, one that throws, injected 429s and 503s,
a long-running createSession, an idle close, an expired session, a burst of 30 requests sharing one
session (\`sessions.acquire()\`), and a shutdown as on SIGTERM. Then a summary puts the library's counts
beside the emulator's, with the sessions created on each workbook.

Options:
  --json      print only one JSON summary on stdout
  --fleet     fleet mode instead: 3 worker processes, each its own SessionManager on one local
              redis-server (started from PATH: \`apt-get install redis-server\` or \`brew install redis\`),
              write to shared workbooks one request at a time; one is SIGKILLed holding sessions,
              and a survivor's reaper closes them
  -h, --help  show this text

With WORKBOOK_SESSIONS_TENANT_ID, WORKBOOK_SESSIONS_CLIENT_ID and WORKBOOK_SESSIONS_ITEM set, a smaller
workload runs against Microsoft Graph instead, signing in with a device code.

Exit status: 0 every session was closed, 1 a session was left open (or the demo failed, or --fleet found
no redis-server), 2 bad usage.
`;

let json = false;
let fleet = false;
try {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      fleet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  json = values.json;
  fleet = values.fleet;
} catch (error) {
  // An unknown or misspelt flag is refused rather than ignored.
  process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  process.exit(2);
}
const progress = new Progress({ quiet: json });
const env = graphEnvironment();

if (fleet) {
  // Loaded only for --fleet: the plain demo needs neither ioredis nor a Redis.
  const { RedisMissingError, runFleetDemo } = await import('./demo/fleet.js');
  try {
    const summary = await runFleetDemo({ json });
    if (json) console.log(JSON.stringify(summary));
    process.exitCode = summary.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof RedisMissingError) console.error(error.message);
    else console.error('the fleet demo failed:', error);
    process.exitCode = 1;
  }
} else {
  await runSingle();
}

async function runSingle(): Promise<void> {
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
}
