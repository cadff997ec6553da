import { randomBytes } from 'node:crypto';
import { checkBoolean, checkInRange, checkObject, describe } from '../util/validate.js';
import {
  FAULT_KINDS,
  type FaultKind,
  type LatencyOptions,
  ROUTE_NAMES,
  type RandomFaultOptions,
  type RouteName,
  type WorkbookSeed,
  type WorkbookServiceOptions,
} from './options.js';

/**
 * Checking the emulator's options and merging their defaults, in one place. The generic checks come
 * from `util/validate.ts`; the ones that know Graph's vocabulary (error codes, header values, route
 * names) are here.
 */

/** The options with their defaults applied. */
export interface ResolvedOptions {
  readonly token: string;
  readonly workbooks: Readonly<Record<string, WorkbookSeed>>;
  readonly persistentSessionTimeoutMs: number;
  readonly nonPersistentSessionTimeoutMs: number;
  readonly now: () => number;
  readonly asyncRate: number;
  readonly asyncDurationMs: number;
  readonly asyncFailRate: number;
  readonly asyncFailCodes: readonly string[];
  readonly strictCooldowns: boolean;
  readonly maxSessionsPerWorkbook: number;
  /** `createSessionDelayMs` and `createSessionJitterMs`. */
  readonly createSession: Required<LatencyOptions>;
  readonly latency: Required<LatencyOptions> | undefined;
  readonly faults: ResolvedFaults | undefined;
  readonly seed: number;
}

export interface ResolvedFaults {
  readonly rate: number;
  readonly kinds: readonly FaultKind[];
  readonly retryAfterSeconds: number;
  readonly retryAfter: readonly string[] | undefined;
  readonly slowMs: number;
  readonly routes: readonly RouteName[] | undefined;
}

const SERVICE_KEYS = [
  'token',
  'workbooks',
  'persistentSessionTimeoutMs',
  'nonPersistentSessionTimeoutMs',
  'now',
  'asyncCreate',
  'latency',
  'faults',
  'seed',
  'strictCooldowns',
  'maxSessionsPerWorkbook',
  'createSessionDelayMs',
  'createSessionJitterMs',
];

export function resolveOptions(
  options: WorkbookServiceOptions | undefined,
  extraKeys: readonly string[] = [],
): ResolvedOptions {
  const o = checkObject('options', options ?? {}, [...SERVICE_KEYS, ...extraKeys]) as WorkbookServiceOptions;
  if (o.token !== undefined && (typeof o.token !== 'string' || !/^[\x21-\x7e]+$/.test(o.token))) {
    throw new TypeError(
      `Expected \`token\` to be a non-empty string of visible ASCII characters, got ${describe(o.token)}`,
    );
  }
  if (o.now !== undefined && typeof o.now !== 'function') {
    throw new TypeError(`Expected \`now\` to be a function, got ${describe(o.now)}`);
  }
  if (o.workbooks !== undefined) checkObject('workbooks', o.workbooks);
  const asyncCreate = checkObject('asyncCreate', o.asyncCreate ?? {}, [
    'rate',
    'durationMs',
    'failRate',
    'failCodes',
  ]) as NonNullable<WorkbookServiceOptions['asyncCreate']>;
  return {
    // Hex: a base64url token may start with "-", which a command line then reads as an option
    // (`--token -x…` is refused by `workbook-sessions recover`), and it shows no mixed-case look-alikes.
    token: o.token ?? randomBytes(24).toString('hex'),
    workbooks: o.workbooks ?? {},
    persistentSessionTimeoutMs: checkInRange('persistentSessionTimeoutMs', o.persistentSessionTimeoutMs ?? 300_000, {
      min: 1,
    }),
    nonPersistentSessionTimeoutMs: checkInRange(
      'nonPersistentSessionTimeoutMs',
      o.nonPersistentSessionTimeoutMs ?? 420_000,
      { min: 1 },
    ),
    // Looked up on each call, so a fake clock installed after the service was made still drives it.
    now: o.now ?? (() => Date.now()),
    asyncRate: checkRate('asyncCreate.rate', asyncCreate.rate ?? 0),
    asyncDurationMs: checkInRange('asyncCreate.durationMs', asyncCreate.durationMs ?? 0, { min: 0 }),
    asyncFailRate: checkRate('asyncCreate.failRate', asyncCreate.failRate ?? 0),
    asyncFailCodes: checkCodes('asyncCreate.failCodes', asyncCreate.failCodes ?? ['transientFailure']),
    strictCooldowns: checkBoolean('strictCooldowns', o.strictCooldowns ?? false),
    maxSessionsPerWorkbook:
      o.maxSessionsPerWorkbook === undefined
        ? Infinity
        : checkInRange('maxSessionsPerWorkbook', o.maxSessionsPerWorkbook, { min: 1, integer: true }),
    createSession: {
      fixedMs: checkInRange('createSessionDelayMs', o.createSessionDelayMs ?? 0, { min: 0 }),
      jitterMs: checkInRange('createSessionJitterMs', o.createSessionJitterMs ?? 0, { min: 0 }),
    },
    latency: resolveLatency(o.latency),
    faults: resolveFaults(o.faults),
    seed: checkInRange('seed', o.seed ?? 1, { integer: true }),
  };
}

export function resolveLatency(latency: LatencyOptions | undefined): Required<LatencyOptions> | undefined {
  if (latency === undefined) return undefined;
  const l = checkObject('latency', latency, ['fixedMs', 'jitterMs']) as LatencyOptions;
  return {
    fixedMs: checkInRange('latency.fixedMs', l.fixedMs ?? 0, { min: 0 }),
    jitterMs: checkInRange('latency.jitterMs', l.jitterMs ?? 0, { min: 0 }),
  };
}

export function resolveFaults(faults: RandomFaultOptions | undefined): ResolvedFaults | undefined {
  if (faults === undefined) return undefined;
  const f = checkObject('faults', faults, [
    'rate',
    'kinds',
    'retryAfterSeconds',
    'retryAfter',
    'slowMs',
    'routes',
  ]) as RandomFaultOptions;
  const kinds = f.kinds ?? ['429', '503', '504'];
  if (!Array.isArray(kinds) || kinds.length === 0 || kinds.some((k) => !FAULT_KINDS.includes(k))) {
    throw new TypeError(
      `Expected \`faults.kinds\` to be a non-empty array of ${FAULT_KINDS.join(', ')}, ` +
        `got ${JSON.stringify(kinds)}`,
    );
  }
  return {
    rate: checkRate('faults.rate', f.rate),
    kinds: [...kinds],
    retryAfterSeconds: checkInRange('faults.retryAfterSeconds', f.retryAfterSeconds ?? 1, { min: 0 }),
    retryAfter: f.retryAfter === undefined ? undefined : checkHeaderValues('faults.retryAfter', f.retryAfter),
    slowMs: checkInRange('faults.slowMs', f.slowMs ?? 1000, { min: 0 }),
    routes: f.routes === undefined ? undefined : checkRoutes('faults.routes', f.routes),
  };
}

/** A share of requests (or operations), from 0 to 1. */
export function checkRate(name: string, value: unknown): number {
  return checkInRange(name, value, { min: 0, max: 1 });
}

/** Non-empty strings, each usable as an HTTP header value. */
export function checkHeaderValues(name: string, values: unknown): string[] {
  if (
    !Array.isArray(values) ||
    values.length === 0 ||
    values.some((v) => typeof v !== 'string' || !/^[\x20-\x7e]+$/.test(v))
  ) {
    throw new TypeError(
      `Expected \`${name}\` to be a non-empty array of header values (visible ASCII), got ${JSON.stringify(values)}`,
    );
  }
  return [...(values as string[])];
}

/** A non-empty array of Graph error codes. */
export function checkCodes(name: string, values: unknown): string[] {
  if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'string' || !/^\w+$/.test(v))) {
    throw new TypeError(`Expected \`${name}\` to be a non-empty array of error codes, got ${JSON.stringify(values)}`);
  }
  return [...(values as string[])];
}

export function checkRoutes(name: string, routes: unknown): RouteName[] {
  if (!Array.isArray(routes) || routes.some((r) => !ROUTE_NAMES.includes(r as RouteName))) {
    throw new TypeError(
      `Expected \`${name}\` to be an array of route names (${ROUTE_NAMES.join(', ')}), got ${JSON.stringify(routes)}`,
    );
  }
  return [...(routes as RouteName[])];
}

export function checkRoute(name: string, route: unknown): RouteName {
  if (!ROUTE_NAMES.includes(route as RouteName)) {
    throw new TypeError(`Expected \`${name}\` to be a route name (${ROUTE_NAMES.join(', ')}), got ${describe(route)}`);
  }
  return route as RouteName;
}
