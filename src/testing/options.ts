import { randomBytes } from 'node:crypto';
import { describe } from '../util/validate.js';

/** The routes the emulator tells apart, for faults and counters. */
export type RouteName =
  | 'item'
  | 'createSession'
  | 'refreshSession'
  | 'closeSession'
  | 'operation'
  | 'sessionInfo'
  | 'worksheets'
  | 'range'
  | 'usedRange'
  | 'tableRows'
  | 'tableRowsAdd'
  | 'tables'
  | 'names'
  | 'application'
  | 'batch'
  | 'other';

export const ROUTE_NAMES: readonly RouteName[] = [
  'item',
  'createSession',
  'refreshSession',
  'closeSession',
  'operation',
  'sessionInfo',
  'worksheets',
  'range',
  'usedRange',
  'tableRows',
  'tableRowsAdd',
  'tables',
  'names',
  'application',
  'batch',
  'other',
];

/** The contents of one workbook file when the emulator starts. */
export interface WorkbookSeed {
  /**
   * Worksheets by name, in order. A workbook seeded with none gets one empty `Sheet1`.
   * Tables are kept apart from the cell grid: `readRange` does not show table rows.
   */
  readonly worksheets?: Readonly<
    Record<
      string,
      {
        /** Cell values, row by row, starting at A1. A string starting with `=` is a formula. */
        readonly cells?: readonly (readonly unknown[])[];
        /** Number format codes, row by row from A1, like `cells`; `null` or missing is `General`. */
        readonly numberFormats?: readonly (readonly (string | null)[])[];
        /**
         * Tables on this sheet by name; names are unique across the workbook. `address` is the
         * table's top-left cell (its header row), which only its range addresses use.
         */
        readonly tables?: Readonly<
          Record<
            string,
            {
              readonly columns: readonly string[];
              readonly rows?: readonly (readonly unknown[])[];
              readonly address?: string;
            }
          >
        >;
      }
    >
  >;
  /**
   * Workbook-scoped named items: a reference (`'=Sheet1!$A$1:$B$2'`) or a constant (`'=0.08'`),
   * or an object with a `comment` and `visible` too.
   */
  readonly names?: Readonly<
    Record<string, string | { readonly value: string; readonly comment?: string; readonly visible?: boolean }>
  >;
}

/**
 * The faults the emulator knows, for the random mix and for `injectFault({ kind })`:
 * - `429`: `tooManyRequests` -> `tooManyRequestsUncategorized`, with `Retry-After`;
 * - `429-bare`: `TooManyRequests` with no inner code and no `Retry-After`, as Graph sometimes answers;
 * - `503`: `serviceUnavailable` -> `serviceUnavailableUncategorized`, with `Retry-After`; `503-bare`: the same without it;
 * - `504`: `gatewayTimeout` -> `gatewayTimeoutUncategorized`, the request not applied;
 * - `502`: `badGateway`, no inner code;
 * - `500`: `internalServerError` -> `internalServerErrorUncategorized` -> `GenericFileOpenError`;
 * - `drop`: the connection closes without an answer, the request not applied;
 * - `slow`: `slowMs` of latency, then a normal answer;
 * - `504-applied`: the request takes effect, then the answer is a 504
 *   `gatewayTimeout` -> `gatewayTimeoutUncategorized` -> `MaxRequestDurationExceeded`;
 * - `drop-applied`: the request takes effect, then the connection closes without an answer;
 * - `accessConflict`: 409 `conflict` -> `accessConflict` (another client holds an edit lock);
 * - `invalidSessionAccessConflict`: 409 `conflict` -> `invalidSessionAccessConflict`, on sessionful requests only.
 */
export type FaultKind =
  | '429'
  | '429-bare'
  | '503'
  | '503-bare'
  | '504'
  | '502'
  | '500'
  | 'drop'
  | 'slow'
  | '504-applied'
  | 'drop-applied'
  | 'accessConflict'
  | 'invalidSessionAccessConflict';

/** Random faults, drawn from the seeded random source for each request. */
export interface RandomFaultOptions {
  /** The share of requests that get a fault, from 0 to 1. */
  readonly rate: number;
  /**
   * The kinds drawn from, each equally likely. `drop` closes the connection without an answer,
   * `slow` adds `slowMs` of latency and then answers normally.
   * @default ['429', '503', '504']
   */
  readonly kinds?: readonly FaultKind[];
  /**
   * The `Retry-After` sent with 429 and 503 (not their `-bare` kinds).
   * @default 1
   */
  readonly retryAfterSeconds?: number;
  /**
   * Raw `Retry-After` values, one drawn for each 429 and 503 instead of `retryAfterSeconds`: seconds of
   * any size (`'0'`, `'7200'`), HTTP-dates (past ones too), or nonsense (`'Mon 1'`). Seconds and dates
   * start a cooldown on the workbook; nonsense starts none.
   * @default none
   */
  readonly retryAfter?: readonly string[];
  /**
   * The extra latency of a `slow` fault.
   * @default 1000
   */
  readonly slowMs?: number;
  /**
   * Only these routes get random faults.
   * @default every route
   */
  readonly routes?: readonly RouteName[];
}

/** Latency added to every request. */
export interface LatencyOptions {
  /**
   * Latency added to every request.
   * @default 0
   */
  readonly fixedMs?: number;
  /**
   * Up to this much more, drawn from the seeded random source for each request.
   * @default 0
   */
  readonly jitterMs?: number;
}

export interface WorkbookServiceOptions {
  /**
   * The bearer token every request must carry (`Authorization: Bearer <token>`).
   * @default a random string
   */
  readonly token?: string;
  /**
   * Workbook files by drive-item path (`/me/drive/items/{id}`, `/me/drive/root:/{path}:`, ...).
   * @default no workbooks
   */
  readonly workbooks?: Readonly<Record<string, WorkbookSeed>>;
  /**
   * A persistent session expires after this much inactivity.
   * @default 300_000
   */
  readonly persistentSessionTimeoutMs?: number;
  /**
   * A non-persistent session expires after this much inactivity.
   * @default 420_000
   */
  readonly nonPersistentSessionTimeoutMs?: number;
  /**
   * The clock, in milliseconds. `advanceTime()` adds to an offset on top of it. Expiry, operations
   * and cooldowns all use it.
   * @default () => Date.now() (read on each call, so fake timers installed later apply)
   */
  readonly now?: () => number;
  /** How `Prefer: respond-async` creates behave. */
  readonly asyncCreate?: {
    /**
     * The share of `Prefer: respond-async` creates answered 202 with an operation, from 0 to 1.
     * @default 0
     */
    readonly rate?: number;
    /**
     * How long such an operation runs, on the service clock.
     * @default 0
     */
    readonly durationMs?: number;
    /**
     * The share of operations, from 0 to 1, that end `failed` instead of creating a session (drawn
     * from the seeded random source). A `failNextOperation()` still comes first.
     * @default 0
     */
    readonly failRate?: number;
    /**
     * The second-level codes such a failure carries, one drawn per failure; the top-level code follows
     * from it (`transientFailure` -> `serviceUnavailable`, `accessDenied` -> `forbidden`, ...).
     * @default ['transientFailure']
     */
    readonly failCodes?: readonly string[];
  };
  /**
   * Latency added to every request.
   * @default none
   */
  readonly latency?: LatencyOptions;
  /**
   * Random faults.
   * @default none
   */
  readonly faults?: RandomFaultOptions;
  /**
   * The seed of the random source used for jitter, random faults, the async path and session ids.
   * @default 1
   */
  readonly seed?: number;
  /**
   * Answer a request that arrives on a workbook during a `Retry-After` cooldown the emulator announced
   * for it with 429 `tooManyRequests` (and the time still left as `Retry-After`), as Graph may, instead
   * of serving it; a refused request consumes no scripted fault. Either way it is counted in
   * `cooldownViolations`.
   * @default false
   */
  readonly strictCooldowns?: boolean;
  /**
   * The most sessions open at once on one workbook; a createSession beyond it answers 429
   * `tooManyRequests` -> `tooManyRequestsUncategorized` -> `MaxSessionsPerWorkbookExceeded` with no
   * `Retry-After` (Graph publishes no cap; a Microsoft engineer mentioned about 25).
   * @default no cap
   */
  readonly maxSessionsPerWorkbook?: number;
}

/** The options with their defaults applied; merged in one place, here. */
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
];
export const FAULT_KINDS: readonly FaultKind[] = [
  '429',
  '429-bare',
  '503',
  '503-bare',
  '504',
  '502',
  '500',
  'drop',
  'slow',
  '504-applied',
  'drop-applied',
  'accessConflict',
  'invalidSessionAccessConflict',
];

export function resolveOptions(
  options: WorkbookServiceOptions | undefined,
  extraKeys: readonly string[] = [],
): ResolvedOptions {
  const o = checkObject(options ?? {}, 'options', [...SERVICE_KEYS, ...extraKeys]) as WorkbookServiceOptions;
  if (o.token !== undefined && (typeof o.token !== 'string' || !/^[\x21-\x7e]+$/.test(o.token))) {
    throw new TypeError(
      `Expected \`token\` to be a non-empty string of visible ASCII characters, got ${describe(o.token)}`,
    );
  }
  if (o.now !== undefined && typeof o.now !== 'function') {
    throw new TypeError(`Expected \`now\` to be a function, got ${describe(o.now)}`);
  }
  if (o.workbooks !== undefined) checkObject(o.workbooks, 'workbooks');
  const asyncCreate = checkObject(o.asyncCreate ?? {}, 'asyncCreate', [
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
    persistentSessionTimeoutMs: checkNumber(o.persistentSessionTimeoutMs ?? 300_000, 'persistentSessionTimeoutMs', 1),
    nonPersistentSessionTimeoutMs: checkNumber(
      o.nonPersistentSessionTimeoutMs ?? 420_000,
      'nonPersistentSessionTimeoutMs',
      1,
    ),
    // Looked up on each call, so a fake clock installed after the service was made still drives it.
    now: o.now ?? (() => Date.now()),
    asyncRate: checkRate(asyncCreate.rate ?? 0, 'asyncCreate.rate'),
    asyncDurationMs: checkNumber(asyncCreate.durationMs ?? 0, 'asyncCreate.durationMs', 0),
    asyncFailRate: checkRate(asyncCreate.failRate ?? 0, 'asyncCreate.failRate'),
    asyncFailCodes: checkCodes(asyncCreate.failCodes ?? ['transientFailure'], 'asyncCreate.failCodes'),
    strictCooldowns: checkBoolean(o.strictCooldowns ?? false, 'strictCooldowns'),
    maxSessionsPerWorkbook:
      o.maxSessionsPerWorkbook === undefined
        ? Infinity
        : checkInteger(o.maxSessionsPerWorkbook, 'maxSessionsPerWorkbook', 1),
    latency: resolveLatency(o.latency),
    faults: resolveFaults(o.faults),
    seed: checkInteger(o.seed ?? 1, 'seed'),
  };
}

export function resolveLatency(latency: LatencyOptions | undefined): Required<LatencyOptions> | undefined {
  if (latency === undefined) return undefined;
  const l = checkObject(latency, 'latency', ['fixedMs', 'jitterMs']) as LatencyOptions;
  return {
    fixedMs: checkNumber(l.fixedMs ?? 0, 'latency.fixedMs', 0),
    jitterMs: checkNumber(l.jitterMs ?? 0, 'latency.jitterMs', 0),
  };
}

export function resolveFaults(faults: RandomFaultOptions | undefined): ResolvedFaults | undefined {
  if (faults === undefined) return undefined;
  const f = checkObject(faults, 'faults', [
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
      `Expected \`faults.kinds\` to be a non-empty array of ${FAULT_KINDS.join(', ')}, got ${JSON.stringify(kinds)}`,
    );
  }
  return {
    rate: checkRate(f.rate, 'faults.rate'),
    kinds: [...kinds],
    retryAfterSeconds: checkNumber(f.retryAfterSeconds ?? 1, 'faults.retryAfterSeconds', 0),
    retryAfter: f.retryAfter === undefined ? undefined : checkHeaderValues(f.retryAfter, 'faults.retryAfter'),
    slowMs: checkNumber(f.slowMs ?? 1000, 'faults.slowMs', 0),
    routes: f.routes === undefined ? undefined : checkRoutes(f.routes, 'faults.routes'),
  };
}

/** Non-empty strings, each usable as an HTTP header value. */
export function checkHeaderValues(values: unknown, name: string): string[] {
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
export function checkCodes(values: unknown, name: string): string[] {
  if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'string' || !/^\w+$/.test(v))) {
    throw new TypeError(`Expected \`${name}\` to be a non-empty array of error codes, got ${JSON.stringify(values)}`);
  }
  return [...(values as string[])];
}

export function checkBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`Expected \`${name}\` to be a boolean, got ${describe(value)}`);
  return value;
}

export function checkRoutes(routes: unknown, name: string): RouteName[] {
  if (!Array.isArray(routes) || routes.some((r) => !ROUTE_NAMES.includes(r as RouteName))) {
    throw new TypeError(
      `Expected \`${name}\` to be an array of route names (${ROUTE_NAMES.join(', ')}), got ${JSON.stringify(routes)}`,
    );
  }
  return [...(routes as RouteName[])];
}

export function checkRoute(route: unknown, name: string): RouteName {
  if (!ROUTE_NAMES.includes(route as RouteName)) {
    throw new TypeError(`Expected \`${name}\` to be a route name (${ROUTE_NAMES.join(', ')}), got ${describe(route)}`);
  }
  return route as RouteName;
}

export function checkObject(value: unknown, name: string, allowedKeys?: readonly string[]): object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`${name}\` to be an object, got ${describe(value)}`);
  }
  if (allowedKeys !== undefined) {
    for (const key of Object.keys(value)) {
      if (!allowedKeys.includes(key))
        throw new TypeError(`Unknown option \`${name === 'options' ? key : `${name}.${key}`}\``);
    }
  }
  return value;
}

export function checkNumber(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new RangeError(`Expected \`${name}\` to be a finite number >= ${min}, got ${describe(value)}`);
  }
  return value;
}

export function checkInteger(value: unknown, name: string, min = -Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(
      `Expected \`${name}\` to be an integer${min === -Infinity ? '' : ` >= ${min}`}, got ${describe(value)}`,
    );
  }
  return value;
}

export function checkRate(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new RangeError(`Expected \`${name}\` to be a number from 0 to 1, got ${describe(value)}`);
  }
  return value;
}
