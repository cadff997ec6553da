import type { SeededRandom } from './random.js';

/** Graph's long-running operation states, as the best-practice page spells them. */
export type OperationStatus = 'notStarted' | 'running' | 'succeeded' | 'failed';

export interface OperationRecord {
  readonly id: string;
  readonly workbook: string;
  readonly persistChanges: boolean;
  readonly startedAt: number;
  /** How long it runs, on the service clock: `asyncCreate.durationMs`, or the create's own duration if longer. */
  readonly durationMs: number;
  /**
   * Set at start when a `failNextOperation()` or a random failure applies, or at the end when the
   * session cap is reached.
   */
  failure: OperationFailure | undefined;
  polls: number;
  status: OperationStatus;
  // Set when the operation succeeds and its session exists.
  sessionId: string | undefined;
}

export interface OperationFailure {
  readonly code: string;
  readonly message: string;
  /** Codes nested below `code`, outermost first; sent under `innererror`, as the operation resource spells it. */
  readonly innerCodes: readonly string[];
}

export interface PendingFailure extends OperationFailure {
  readonly workbook: string | undefined;
}

/** Async createSession operations, and the failures queued for the next ones. */
export class OperationRegistry {
  // Every operation by id; never removed, so late polls still see the final state.
  readonly #byId = new Map<string, OperationRecord>();
  // The operations whose outcome is not fixed yet; added by start(), left by settle().
  readonly #unsettled = new Set<OperationRecord>();
  // Failures from failNextOperation(), consumed in order by the next matching operation.
  readonly #failures: PendingFailure[] = [];
  readonly #rng: SeededRandom;

  constructor(rng: SeededRandom) {
    this.#rng = rng;
  }

  queueFailure(failure: PendingFailure): void {
    this.#failures.push(failure);
  }

  /** `random` is the failure drawn for this operation, if any; a queued one comes first. */
  start(
    workbook: string,
    persistChanges: boolean,
    timing: { readonly now: number; readonly durationMs: number },
    random?: OperationFailure,
  ): OperationRecord {
    const index = this.#failures.findIndex((f) => f.workbook === undefined || f.workbook === workbook);
    const queued = index === -1 ? undefined : this.#failures.splice(index, 1)[0];
    const failure = queued ?? random;
    const hex = (n: number): string => this.#rng.string(n, '0123456789abcdef');
    const record: OperationRecord = {
      id: `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
      workbook,
      persistChanges,
      startedAt: timing.now,
      durationMs: timing.durationMs,
      failure:
        failure === undefined
          ? undefined
          : { code: failure.code, message: failure.message, innerCodes: failure.innerCodes },
      polls: 0,
      status: 'notStarted',
      sessionId: undefined,
    };
    this.#byId.set(record.id, record);
    this.#unsettled.add(record);
    return record;
  }

  get(id: string): OperationRecord | undefined {
    return this.#byId.get(id);
  }

  /** Operations still to settle: started, their session not yet made, their failure not yet fixed. */
  *unsettled(): IterableIterator<OperationRecord> {
    for (const op of this.#unsettled) yield op;
  }

  /** Marks an operation settled (its outcome is fixed); it is no longer returned by `unsettled()`. */
  settle(op: OperationRecord): void {
    this.#unsettled.delete(op);
  }
}
