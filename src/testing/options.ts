/**
 * The emulator's options and the names they use (routes, fault kinds): types and documented defaults
 * only. Checking them and merging the defaults is `resolve-options.ts`.
 */

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
 * - `503`: `serviceUnavailable` -> `serviceUnavailableUncategorized`, with `Retry-After`; `503-bare`: the
 *   same without it;
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
  /**
   * How long making a session takes: a createSession answers only after this long (on the timers, as
   * `latency` is), and a `Prefer: respond-async` one answered 202 has its operation complete no sooner
   * than this on the service clock. Benchmarks use about 800 (a create on Graph often takes seconds).
   * @default 0
   */
  readonly createSessionDelayMs?: number;
  /**
   * Up to this much more than `createSessionDelayMs`, drawn from the seeded random source for each
   * createSession (nothing is drawn while it is 0, so the fault sequence stays as it was).
   * @default 0
   */
  readonly createSessionJitterMs?: number;
}
