/**
 * The one home for timers longer than Node's limit, and for deadline signals. `setTimeout` fires at
 * once (after a warning) for delays above 2^31-1 ms; a server may ask for longer cooldowns than that,
 * so long waits are chained in steps the runtime accepts.
 */

/** The longest delay `setTimeout` takes as given (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer that may run longer than {@link MAX_TIMER_MS}. */
export interface LongTimer {
  /** Stops it; the callback will not run. */
  clear(): void;
  /** Lets it keep the process alive (the default). */
  ref(): void;
  /** Stops it from keeping the process alive. */
  unref(): void;
  hasRef(): boolean;
}

/**
 * Runs `callback` after `ms` (0 when negative or NaN). Delays above {@link MAX_TIMER_MS} run as a chain
 * of shorter timers, each started when the last one fires, so the whole wait is honoured.
 */
export function setLongTimeout(callback: () => void, ms: number): LongTimer {
  let remaining = Number.isFinite(ms) ? Math.max(0, ms) : ms === Infinity ? Infinity : 0;
  let referenced = true;
  // The current link of the chain; undefined once the callback ran or the timer was cleared.
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const step = Math.min(remaining, MAX_TIMER_MS);
    remaining -= step;
    timer = setTimeout(() => {
      if (remaining > 0) return arm();
      timer = undefined;
      callback();
    }, step);
    if (!referenced) timer.unref();
  };
  arm();
  return {
    clear: () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
    ref: () => {
      referenced = true;
      timer?.ref();
    },
    unref: () => {
      referenced = false;
      timer?.unref();
    },
    hasRef: () => timer !== undefined && referenced,
  };
}

/** A signal that aborts after `ms`, or when any of `signals` aborts; `clear()` drops its timer. */
export interface DeadlineSignal {
  readonly signal: AbortSignal;
  clear(): void;
}

/**
 * A deadline as a signal: aborts with a `TimeoutError` after `ms` (never for Infinity), or with the
 * reason of the first of `signals` to abort. Its timer never keeps the process alive: a deadline
 * bounds a wait that something else holds open.
 */
export function deadlineSignal(ms: number, ...signals: ReadonlyArray<AbortSignal | undefined>): DeadlineSignal {
  const controller = new AbortController();
  const timer =
    ms === Infinity
      ? undefined
      : setLongTimeout(() => controller.abort(new DOMException(`The deadline of ${ms} ms passed`, 'TimeoutError')), ms);
  timer?.unref();
  const others = signals.filter((s): s is AbortSignal => s !== undefined);
  const signal = others.length === 0 ? controller.signal : AbortSignal.any([controller.signal, ...others]);
  return { signal, clear: () => timer?.clear() };
}
