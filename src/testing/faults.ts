import { describe } from '../validate.js';
import { type ResolvedFaults, type RouteName, checkInteger, checkNumber, checkObject, checkRoute } from './options.js';
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
  /** Answer with this status (429, 503, 504, 502, 500, ...). */
  readonly status?: number;
  /** The `Retry-After` header, in seconds; starts a cooldown for the workbook. @default 1 for 429 and 503, none otherwise */
  readonly retryAfterSeconds?: number;
  /** `error.code`. @default the Excel code for the status, e.g. `tooManyRequests` */
  readonly code?: string;
  /** `error.innerError.code`. @default the Excel second-level code for the status, e.g. `tooManyRequestsUncategorized` */
  readonly innerCode?: string;
  /** Drop the connection instead of answering. */
  readonly drop?: boolean;
  /** Extra latency before the request is handled (then it is answered, or gets `status` / `drop`). */
  readonly delayMs?: number;
}

/** What to do to one request. */
export interface FaultDecision {
  readonly delayMs: number;
  readonly drop: boolean;
  readonly error: { status: number; code: string; innerCode: string | undefined; message: string; retryAfterSeconds: number | undefined } | undefined;
}

interface ScriptedFault {
  readonly spec: FaultSpec;
  readonly workbook: string | undefined;
  // Decremented on each match; the fault is removed at 0.
  remaining: number;
}

const SPEC_KEYS = ['workbook', 'route', 'count', 'status', 'retryAfterSeconds', 'code', 'innerCode', 'drop', 'delayMs'];

export function canonicalWorkbook(path: unknown, name: string): string {
  const parsed = typeof path === 'string' ? parseItem(path) : undefined;
  if (parsed === undefined || parsed.rest !== '') {
    throw new TypeError(`Expected \`${name}\` to be a drive-item path such as /me/drive/items/{id} or /me/drive/root:/{path}:, got ${describe(path)}`);
  }
  return parsed.item;
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
    checkObject(spec, 'spec', SPEC_KEYS);
    const workbook = spec.workbook === undefined ? undefined : canonicalWorkbook(spec.workbook, 'spec.workbook');
    if (spec.route !== undefined) checkRoute(spec.route, 'spec.route');
    const count = checkInteger(spec.count ?? 1, 'spec.count', 1);
    if (spec.status !== undefined) checkInteger(spec.status, 'spec.status', 400);
    if (spec.status !== undefined && spec.status > 599) throw new RangeError(`Expected \`spec.status\` to be an integer from 400 to 599, got ${describe(spec.status)}`);
    if (spec.retryAfterSeconds !== undefined) checkNumber(spec.retryAfterSeconds, 'spec.retryAfterSeconds', 0);
    if (spec.delayMs !== undefined) checkNumber(spec.delayMs, 'spec.delayMs', 0);
    if (spec.drop !== undefined && typeof spec.drop !== 'boolean') throw new TypeError(`Expected \`spec.drop\` to be a boolean, got ${describe(spec.drop)}`);
    for (const key of ['code', 'innerCode'] as const) {
      if (spec[key] !== undefined && (typeof spec[key] !== 'string' || spec[key] === '')) throw new TypeError(`Expected \`spec.${key}\` to be a non-empty string, got ${describe(spec[key])}`);
    }
    if (spec.status === undefined && spec.drop !== true && spec.delayMs === undefined) {
      throw new TypeError('A fault needs `status`, `drop: true` or `delayMs`');
    }
    this.#scripted.push({ spec, workbook, remaining: count });
  }

  /** Scripted faults still waiting for a request. */
  pending(): number {
    return this.#scripted.reduce((n, f) => n + f.remaining, 0);
  }

  /** The fault for this request, if any; consumes a scripted fault or draws a random one. */
  decide(workbook: string | undefined, route: RouteName): FaultDecision | undefined {
    const index = this.#scripted.findIndex((f) => (f.workbook === undefined || f.workbook === workbook) && (f.spec.route === undefined || f.spec.route === route));
    const scripted = this.#scripted[index];
    if (scripted !== undefined) {
      scripted.remaining -= 1;
      if (scripted.remaining === 0) this.#scripted.splice(index, 1);
      return fromSpec(scripted.spec);
    }
    const random = this.#random;
    if (random === undefined || random.rate === 0 || (random.routes !== undefined && !random.routes.includes(route))) return undefined;
    // Two draws per eligible request, whatever the outcome, so one seed gives one sequence.
    const hit = this.#rng.next() < random.rate;
    const kind = random.kinds[this.#rng.int(random.kinds.length)];
    if (!hit || kind === undefined) return undefined;
    if (kind === 'drop') return { delayMs: 0, drop: true, error: undefined };
    if (kind === 'slow') return { delayMs: random.slowMs, drop: false, error: undefined };
    const status = Number(kind);
    const retryAfterSeconds = status === 429 || status === 503 ? random.retryAfterSeconds : undefined;
    return { delayMs: 0, drop: false, error: { ...codesForStatus(status), status, retryAfterSeconds } };
  }
}

function fromSpec(spec: FaultSpec): FaultDecision {
  const status = spec.status;
  if (status === undefined) return { delayMs: spec.delayMs ?? 0, drop: spec.drop === true, error: undefined };
  const codes = codesForStatus(status);
  return {
    delayMs: spec.delayMs ?? 0,
    drop: spec.drop === true,
    error: {
      status,
      code: spec.code ?? codes.code,
      innerCode: spec.innerCode ?? (spec.code === undefined ? codes.innerCode : undefined),
      message: codes.message,
      retryAfterSeconds: spec.retryAfterSeconds ?? (status === 429 || status === 503 ? 1 : undefined),
    },
  };
}
