import { checkBoolean, checkInRange, checkObject, describe } from '../util/validate.js';
import { FAULT_KINDS, type FaultKind, type RouteName } from './options.js';
import { type ResolvedFaults, checkRoute } from './resolve-options.js';
import type { SeededRandom } from './random.js';
import { parseItem } from './request-path.js';
import { codesForStatus } from './responses.js';

/** One scripted fault, consumed in order by the requests it matches. */
export interface FaultSpec {
  /** Only requests to this workbook (drive-item path). @default any workbook */
  readonly workbook?: string;
  /** Only requests on this route. @default any route */
  readonly route?: RouteName;
  /** How many matching requests get the fault. @default 1 */
  readonly count?: number;
  /**
   * A fault from the emulator's catalogue (see `FaultKind`), as the random mix draws it; the other
   * fields override its parts. `invalidSessionAccessConflict` matches sessionful requests only.
   */
  readonly kind?: FaultKind;
  /** Answer with this status (429, 503, 504, 502, 500, ...). */
  readonly status?: number;
  /**
   * The `Retry-After` header, in seconds; starts a cooldown for the workbook. `null` sends none.
   * @default 1 for 429 and 503, none otherwise
   */
  readonly retryAfterSeconds?: number | null;
  /**
   * The `Retry-After` header as sent, instead of `retryAfterSeconds`: seconds, an HTTP-date (a past one
   * too) or anything else. Seconds and dates start a cooldown; anything else starts none.
   */
  readonly retryAfter?: string;
  /** `error.code`. @default the Excel code for the status, e.g. `tooManyRequests` */
  readonly code?: string;
  /**
   * `error.innerError.code`.
   * @default the Excel second-level code for the status, e.g. `tooManyRequestsUncategorized`
   */
  readonly innerCode?: string;
  /** Codes nested below `innerCode`, outermost first, e.g. `['GenericFileOpenError']`. @default none */
  readonly deeperCodes?: readonly string[];
  /** Drop the connection instead of answering. */
  readonly drop?: boolean;
  /**
   * The request takes effect first (a write is applied, a session is created), and only then is the
   * answer replaced by `status` or by a dropped connection.
   * @default false
   */
  readonly applied?: boolean;
  /** Extra latency before the request is handled (then it is answered, or gets `status` / `drop`). */
  readonly delayMs?: number;
}

export interface FaultError {
  readonly status: number;
  readonly code: string;
  readonly innerCode: string | undefined;
  readonly deeperCodes: readonly string[];
  readonly message: string;
  /** The `Retry-After` header as sent, if any. */
  readonly retryAfter: string | undefined;
}

/** What to do to one request. */
export interface FaultDecision {
  readonly delayMs: number;
  readonly drop: boolean;
  /** The request is handled first; its answer is then replaced by `error` or the drop. */
  readonly applied: boolean;
  readonly error: FaultError | undefined;
}

interface ScriptedFault {
  readonly decision: FaultDecision;
  readonly workbook: string | undefined;
  readonly route: RouteName | undefined;
  readonly sessionfulOnly: boolean;
  // Decremented on each match; the fault is removed at 0.
  remaining: number;
}

const SPEC_KEYS = [
  'workbook',
  'route',
  'count',
  'kind',
  'status',
  'retryAfterSeconds',
  'retryAfter',
  'code',
  'innerCode',
  'deeperCodes',
  'drop',
  'applied',
  'delayMs',
];

export function canonicalWorkbook(path: unknown, name: string): string {
  const parsed = typeof path === 'string' ? parseItem(path) : undefined;
  if (parsed === undefined || parsed.rest !== '') {
    throw new TypeError(
      `Expected \`${name}\` to be a drive-item path such as /me/drive/items/{id} or /me/drive/root:/{path}:, ` +
        `got ${describe(path)}`,
    );
  }
  return parsed.item;
}

const NONE: FaultDecision = { delayMs: 0, drop: false, applied: false, error: undefined };

function errorFor(status: number, overrides: Partial<FaultError> = {}): FaultError {
  const codes = codesForStatus(status);
  return {
    status,
    code: codes.code,
    innerCode: codes.innerCode,
    deeperCodes: [],
    message: codes.message,
    retryAfter: undefined,
    ...overrides,
  };
}

/** A fault of the catalogue; `retryAfter` is what a 429 or 503 kind sends. */
export function faultOfKind(kind: FaultKind, retryAfter: string | undefined, slowMs: number): FaultDecision {
  switch (kind) {
    case 'drop':
      return { ...NONE, drop: true };
    case 'drop-applied':
      return { ...NONE, drop: true, applied: true };
    case 'slow':
      return { ...NONE, delayMs: slowMs };
    case '429':
    case '503':
      return { ...NONE, error: errorFor(Number(kind), { retryAfter }) };
    case '429-bare':
      return { ...NONE, error: errorFor(429, { code: 'TooManyRequests', innerCode: undefined }) };
    case '503-bare':
      return { ...NONE, error: errorFor(503) };
    case '500':
      return {
        ...NONE,
        error: errorFor(500, {
          deeperCodes: ['GenericFileOpenError'],
          message: 'An internal server error occurred while opening the file.',
        }),
      };
    case '502':
    case '504':
      return { ...NONE, error: errorFor(Number(kind)) };
    case '504-applied':
      return {
        ...NONE,
        applied: true,
        error: errorFor(504, {
          deeperCodes: ['MaxRequestDurationExceeded'],
          message: 'The request took longer than the maximum request duration.',
        }),
      };
    case 'accessConflict':
      return {
        ...NONE,
        error: errorFor(409, {
          innerCode: 'accessConflict',
          message: 'Another client holds an edit lock on the workbook; try again once it is released.',
        }),
      };
    case 'invalidSessionAccessConflict':
      return {
        ...NONE,
        error: errorFor(409, {
          innerCode: 'invalidSessionAccessConflict',
          message: 'The session cannot be used: another client holds a conflicting lock on the workbook.',
        }),
      };
  }
}

/** Scripted faults (in order) and random ones (from the seeded source), decided per request. */
export class FaultPlan {
  // Faults from injectFault(), in order; each leaves when its count is used up.
  readonly #scripted: ScriptedFault[] = [];
  // Set by the constructor and setFaults(); undefined means no random faults.
  #random: ResolvedFaults | undefined;
  readonly #rng: SeededRandom;

  constructor(random: ResolvedFaults | undefined, rng: SeededRandom) {
    this.#random = random;
    this.#rng = rng;
  }

  setRandom(random: ResolvedFaults | undefined): void {
    this.#random = random;
  }

  inject(spec: FaultSpec): void {
    checkObject('spec', spec, SPEC_KEYS);
    const workbook = spec.workbook === undefined ? undefined : canonicalWorkbook(spec.workbook, 'spec.workbook');
    const route = spec.route === undefined ? undefined : checkRoute('spec.route', spec.route);
    const count = checkInRange('spec.count', spec.count ?? 1, { min: 1, integer: true });
    if (spec.kind !== undefined && !FAULT_KINDS.includes(spec.kind))
      throw new TypeError(`Expected \`spec.kind\` to be one of ${FAULT_KINDS.join(', ')}, got ${describe(spec.kind)}`);
    if (spec.status !== undefined) checkInRange('spec.status', spec.status, { min: 400, max: 599, integer: true });
    if (spec.retryAfterSeconds !== undefined && spec.retryAfterSeconds !== null)
      checkInRange('spec.retryAfterSeconds', spec.retryAfterSeconds, { min: 0 });
    if (
      spec.retryAfter !== undefined &&
      (typeof spec.retryAfter !== 'string' || !/^[\x20-\x7e]+$/.test(spec.retryAfter))
    ) {
      throw new TypeError(
        `Expected \`spec.retryAfter\` to be a header value (visible ASCII), got ${describe(spec.retryAfter)}`,
      );
    }
    if (spec.retryAfter !== undefined && spec.retryAfterSeconds !== undefined)
      throw new TypeError('Give `spec.retryAfter` or `spec.retryAfterSeconds`, not both');
    if (spec.delayMs !== undefined) checkInRange('spec.delayMs', spec.delayMs, { min: 0 });
    for (const key of ['drop', 'applied'] as const) {
      if (spec[key] !== undefined) checkBoolean(`spec.${key}`, spec[key]);
    }
    for (const key of ['code', 'innerCode'] as const) {
      if (spec[key] !== undefined && (typeof spec[key] !== 'string' || spec[key] === ''))
        throw new TypeError(`Expected \`spec.${key}\` to be a non-empty string, got ${describe(spec[key])}`);
    }
    if (
      spec.deeperCodes !== undefined &&
      (!Array.isArray(spec.deeperCodes) || spec.deeperCodes.some((c) => typeof c !== 'string' || c === ''))
    ) {
      throw new TypeError(
        `Expected \`spec.deeperCodes\` to be an array of non-empty strings, got ${describe(spec.deeperCodes)}`,
      );
    }
    if (spec.kind === undefined && spec.status === undefined && spec.drop !== true && spec.delayMs === undefined) {
      throw new TypeError('A fault needs `kind`, `status`, `drop: true` or `delayMs`');
    }
    const decision = fromSpec(spec);
    if (decision.applied && decision.error === undefined && !decision.drop)
      throw new TypeError('An `applied` fault needs a `status` or `drop: true` to replace the answer with');
    this.#scripted.push({
      decision,
      workbook,
      route,
      sessionfulOnly: spec.kind === 'invalidSessionAccessConflict',
      remaining: count,
    });
  }

  /** Scripted faults still waiting for a request. */
  pending(): number {
    return this.#scripted.reduce((n, f) => n + f.remaining, 0);
  }

  /** The fault for this request, if any; consumes a scripted fault or draws a random one. */
  decide(workbook: string | undefined, route: RouteName, sessionful: boolean): FaultDecision | undefined {
    // `GET {item}` is a drive request, not a workbook call: only a fault that names its route reaches it.
    const drive = route === 'item';
    const index = this.#scripted.findIndex(
      (f) =>
        (f.workbook === undefined || f.workbook === workbook) &&
        (drive ? f.route === 'item' : f.route === undefined || f.route === route) &&
        (sessionful || !f.sessionfulOnly),
    );
    const scripted = this.#scripted[index];
    if (scripted !== undefined) {
      scripted.remaining -= 1;
      if (scripted.remaining === 0) this.#scripted.splice(index, 1);
      return scripted.decision;
    }
    const random = this.#random;
    if (
      random === undefined ||
      random.rate === 0 ||
      (random.routes === undefined ? drive : !random.routes.includes(route))
    )
      return undefined;
    // Two draws per eligible request, whatever the outcome, so one seed gives one sequence.
    const hit = this.#rng.next() < random.rate;
    const kind = random.kinds[this.#rng.int(random.kinds.length)];
    if (!hit || kind === undefined) return undefined;
    if (kind === 'invalidSessionAccessConflict' && !sessionful) return undefined;
    const withRetryAfter = kind === '429' || kind === '503';
    // A third draw only where a Retry-After is drawn, so runs without `retryAfter` keep their sequence.
    const list = random.retryAfter;
    const retryAfter = !withRetryAfter
      ? undefined
      : list === undefined
        ? String(Math.ceil(random.retryAfterSeconds))
        : list[this.#rng.int(list.length)];
    return faultOfKind(kind, retryAfter, random.slowMs);
  }
}

function fromSpec(spec: FaultSpec): FaultDecision {
  // Graph sends whole seconds; a fractional option is rounded up.
  const givenRetryAfter =
    spec.retryAfter ??
    (spec.retryAfterSeconds === undefined || spec.retryAfterSeconds === null
      ? undefined
      : String(Math.ceil(spec.retryAfterSeconds)));
  const base: FaultDecision = spec.kind === undefined ? NONE : faultOfKind(spec.kind, givenRetryAfter ?? '1', 1000);
  const status = spec.status ?? base.error?.status;
  const applied = spec.applied ?? base.applied;
  const drop = spec.drop ?? base.drop;
  const delayMs = spec.delayMs ?? base.delayMs;
  if (status === undefined) return { delayMs, drop, applied, error: undefined };
  const statusChanged = spec.status !== undefined && spec.status !== base.error?.status;
  const codes = statusChanged || base.error === undefined ? errorFor(status) : base.error;
  // A given top-level code without an inner one means a bare code, as Graph's 429 `TooManyRequests`.
  const innerCode = spec.innerCode ?? (spec.code === undefined ? codes.innerCode : undefined);
  const defaultRetryAfter =
    status === 429 || status === 503 ? (spec.kind === undefined ? '1' : base.error?.retryAfter) : undefined;
  return {
    delayMs,
    drop,
    applied,
    error: {
      status,
      code: spec.code ?? codes.code,
      innerCode,
      deeperCodes: spec.deeperCodes ?? (innerCode === codes.innerCode ? codes.deeperCodes : []),
      message: codes.message,
      retryAfter: spec.retryAfterSeconds === null ? undefined : (givenRetryAfter ?? defaultRetryAfter),
    },
  };
}

/**
 * The cooldown a `Retry-After` value announces, in ms from `now`: whole seconds, or an HTTP-date
 * (a past one announces none). Anything else announces none, as a client cannot read it either.
 */
export function cooldownMs(retryAfter: string, now: number): number {
  const value = retryAfter.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value)) return 0;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : 0;
}
