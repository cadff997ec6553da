#!/usr/bin/env node
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type EmulatorOptions, type RunningEmulator, startEmulator } from './http-server.js';
import {
  FAULT_KINDS,
  type FaultKind,
  type RandomFaultOptions,
  type WorkbookSeed,
  type WorkbookServiceOptions,
} from './options.js';
import { SAMPLE_WORKBOOK_PATH, sampleWorkbook } from './sample-workbook.js';

type AsyncCreate = NonNullable<WorkbookServiceOptions['asyncCreate']>;

const USAGE = `Usage: workbook-emulator [options]

Serves an emulated Excel workbook session service (Microsoft Graph) on loopback.

Options:
  --port N            port to listen on, 0 for any free one (default 8787)
  --host H            address to listen on (default 127.0.0.1)
  --token T           bearer token requests must carry (default: random)
  --latency-ms N      latency added to every request (default 0)
  --jitter-ms N       up to this much more, drawn per request (default 0)
  --fault-rate R      share of requests, 0..1, that get a random fault (default 0)
  --fault-kinds K,K   the kinds drawn from, comma-separated (default 429,503,504); any of
                      ${FAULT_KINDS.join(', ')}
  --retry-after V     a Retry-After value for random 429 and 503, as sent: seconds, an
                      HTTP-date or anything (repeatable, one drawn per fault; default 1)
  --strict-cooldowns  answer 429 to a request inside a cooldown the emulator announced
  --max-sessions-per-workbook N
                      answer createSession beyond N open sessions on a workbook with 429
  --create-session-delay-ms N
                      how long making a session takes before createSession answers (default 0)
  --create-session-jitter-ms N
                      up to this much more, drawn per createSession (default 0)
  --async-create-rate R
                      share of createSession requests sent with Prefer: respond-async, 0..1,
                      answered 202 with a long-running operation to poll (default 0)
  --async-create-duration-ms N
                      how long such an operation runs (default 0)
  --async-create-fail-rate R
                      share of operations, 0..1, that end failed (default 0)
  --async-create-fail-codes C,C
                      the error codes a failed operation carries, one drawn per failure
                      (default transientFailure)
  --persistent-session-timeout-ms N
                      a persistent session expires after this much inactivity (default 300000)
  --non-persistent-session-timeout-ms N
                      a non-persistent session expires after this much inactivity (default 420000)
  --seed N            seed of the random source (default 1)
  --workbook PATH     serve a workbook at this drive-item path, e.g. /me/drive/items/01ABC
                      (repeatable; default: ${SAMPLE_WORKBOOK_PATH})
  --https             serve https with a self-signed certificate made at start (needs the
                      selfsigned package); trust it in the client, see --ca-file
  --ca-file FILE      with --https, write the certificate (PEM) to FILE
  --json              print one line of JSON {"url","token","workbooks"} instead of text
                      (with --https, "ca" too: the certificate as PEM)
  --help              print this help

Admin routes (they need the token) and a live page are served under /_emulator/; see the README.
`;

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new TypeError(`Expected --${name} to be a number, got ${JSON.stringify(value)}`);
  return n;
}

/** The `asyncCreate` option from its flags; the others need `--async-create-rate`, as they shape its operations. */
function asyncCreateOptions(values: Record<string, string | boolean | string[] | undefined>): AsyncCreate | undefined {
  const flag = (name: string): string | undefined => values[name] as string | undefined;
  const rate = number(flag('async-create-rate'), 'async-create-rate');
  const durationMs = number(flag('async-create-duration-ms'), 'async-create-duration-ms');
  const failRate = number(flag('async-create-fail-rate'), 'async-create-fail-rate');
  const failCodes = flag('async-create-fail-codes')
    ?.split(',')
    .map((c) => c.trim());
  if (rate === undefined) {
    if (durationMs !== undefined || failRate !== undefined || failCodes !== undefined)
      throw new TypeError(
        '--async-create-duration-ms, --async-create-fail-rate and --async-create-fail-codes need --async-create-rate',
      );
    return undefined;
  }
  return {
    rate,
    ...(durationMs === undefined ? {} : { durationMs }),
    ...(failRate === undefined ? {} : { failRate }),
    ...(failCodes === undefined ? {} : { failCodes }),
  };
}

async function main(): Promise<void> {
  const values = readArgs();
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const paths = values.workbook ?? [SAMPLE_WORKBOOK_PATH];
  const emulator = await startEmulator(emulatorOptions(values, paths));
  if (values['ca-file'] !== undefined && emulator.ca !== undefined) writeFileSync(values['ca-file'], emulator.ca);
  announce(emulator, paths, values.json === true);
  const stop = (): void => {
    void emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function readArgs() {
  return parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      'latency-ms': { type: 'string' },
      'jitter-ms': { type: 'string' },
      'fault-rate': { type: 'string' },
      'fault-kinds': { type: 'string' },
      'retry-after': { type: 'string', multiple: true },
      'strict-cooldowns': { type: 'boolean' },
      'max-sessions-per-workbook': { type: 'string' },
      'create-session-delay-ms': { type: 'string' },
      'create-session-jitter-ms': { type: 'string' },
      'async-create-rate': { type: 'string' },
      'async-create-duration-ms': { type: 'string' },
      'async-create-fail-rate': { type: 'string' },
      'async-create-fail-codes': { type: 'string' },
      'persistent-session-timeout-ms': { type: 'string' },
      'non-persistent-session-timeout-ms': { type: 'string' },
      seed: { type: 'string' },
      workbook: { type: 'string', multiple: true },
      https: { type: 'boolean' },
      'ca-file': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  }).values;
}

type Values = ReturnType<typeof readArgs>;

/** The emulator's options from the command line; a bad value or a missing companion option throws. */
function emulatorOptions(values: Values, paths: readonly string[]): EmulatorOptions {
  const workbooks: Record<string, WorkbookSeed> = Object.fromEntries(paths.map((p) => [p, sampleWorkbook()]));
  const latencyMs = number(values['latency-ms'], 'latency-ms');
  const jitterMs = number(values['jitter-ms'], 'jitter-ms');
  const faultRate = number(values['fault-rate'], 'fault-rate');
  const seed = number(values.seed, 'seed');
  const maxSessions = number(values['max-sessions-per-workbook'], 'max-sessions-per-workbook');
  const createDelay = number(values['create-session-delay-ms'], 'create-session-delay-ms');
  const createJitter = number(values['create-session-jitter-ms'], 'create-session-jitter-ms');
  const faults = randomFaults(values, faultRate);
  const asyncCreate = asyncCreateOptions(values);
  const persistentTimeout = number(values['persistent-session-timeout-ms'], 'persistent-session-timeout-ms');
  const nonPersistentTimeout = number(values['non-persistent-session-timeout-ms'], 'non-persistent-session-timeout-ms');
  if (values['ca-file'] !== undefined && values.https !== true) throw new TypeError('--ca-file needs --https');
  return {
    port: number(values.port, 'port') ?? 8787,
    host: values.host ?? '127.0.0.1',
    workbooks,
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(latencyMs === undefined && jitterMs === undefined
      ? {}
      : { latency: { fixedMs: latencyMs ?? 0, jitterMs: jitterMs ?? 0 } }),
    ...(faults === undefined ? {} : { faults }),
    ...(seed === undefined ? {} : { seed }),
    ...(values['strict-cooldowns'] === true ? { strictCooldowns: true } : {}),
    ...(maxSessions === undefined ? {} : { maxSessionsPerWorkbook: maxSessions }),
    ...(createDelay === undefined ? {} : { createSessionDelayMs: createDelay }),
    ...(createJitter === undefined ? {} : { createSessionJitterMs: createJitter }),
    ...(asyncCreate === undefined ? {} : { asyncCreate }),
    ...(persistentTimeout === undefined ? {} : { persistentSessionTimeoutMs: persistentTimeout }),
    ...(nonPersistentTimeout === undefined ? {} : { nonPersistentSessionTimeoutMs: nonPersistentTimeout }),
    ...(values.https === true ? { https: true } : {}),
  };
}

function randomFaults(values: Values, faultRate: number | undefined): RandomFaultOptions | undefined {
  const kinds = values['fault-kinds']?.split(',').map((k) => k.trim()) as FaultKind[] | undefined;
  const retryAfter = values['retry-after'];
  if (faultRate === undefined && (kinds !== undefined || retryAfter !== undefined))
    throw new TypeError('--fault-kinds and --retry-after need --fault-rate');
  return faultRate === undefined
    ? undefined
    : {
        rate: faultRate,
        ...(kinds === undefined ? {} : { kinds }),
        ...(retryAfter === undefined ? {} : { retryAfter }),
      };
}

/** The address, the token and the workbooks, as text or as one line of JSON. */
function announce(emulator: RunningEmulator, paths: readonly string[], json: boolean): void {
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        url: emulator.url,
        token: emulator.token,
        workbooks: paths,
        ...(emulator.ca === undefined ? {} : { ca: emulator.ca }),
      })}\n`,
    );
  } else {
    console.log(`Workbook emulator listening on ${emulator.url}`);
    console.log(`Token: ${emulator.token}`);
    for (const p of paths) console.log(`Workbook: ${emulator.url}/v1.0${p}/workbook`);
    // The fragment is read by the page and never sent to the server.
    console.log(`Live page: ${emulator.url}/_emulator/#token=${emulator.token}`);
    console.log('Press Ctrl+C to stop.');
  }
}

main().catch((error: unknown) => {
  console.error(`workbook-emulator: ${error instanceof Error ? error.message : String(error)}`);
  console.error(USAGE);
  process.exitCode = 2;
});
