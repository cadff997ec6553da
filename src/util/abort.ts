import { setLongTimeout } from './timers.js';

/** The reason a signal carries, as an Error when it is not one already. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * Waits `ms`, or rejects with the signal's reason as soon as it aborts. The listener is removed on
 * every way out. The timer keeps the process alive unless `ref: false`: someone is waiting for what
 * comes after it. Delays past the runtime's timer limit are honoured in full (see `timers.ts`).
 */
export function abortableDelay(
  ms: number,
  signal?: AbortSignal,
  options: { readonly ref?: boolean } = {},
): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  if (ms <= 0 && signal === undefined) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      timer.clear();
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setLongTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (options.ref === false) timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Settles like `promise`, or rejects with the signal's reason when it aborts first. `promise`
 * itself goes on; the caller decides what happens to its result.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    // The work goes on; its outcome is nobody's concern now, but must not be an unhandled rejection.
    promise.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * A signal that follows `signal` only until `started()` is called: for a queue that would otherwise
 * give up on a task already running (p-queue races a running task against its signal and frees the
 * slot), while the task's request is still on the wire.
 */
export function untilStarted(signal: AbortSignal | undefined): {
  readonly signal: AbortSignal | undefined;
  started(): void;
} {
  if (signal === undefined) return { signal: undefined, started: () => undefined };
  const controller = new AbortController();
  const follow = (): void => controller.abort(abortReason(signal));
  if (signal.aborted) follow();
  else signal.addEventListener('abort', follow, { once: true });
  return { signal: controller.signal, started: () => signal.removeEventListener('abort', follow) };
}

/**
 * Aborts `controller` when `signal` aborts (at once if it already has), with the signal's reason.
 * Returns the unlink: call it when the link is no longer wanted, so no listener outlives its work.
 */
export function linkAbort(signal: AbortSignal | undefined, controller: AbortController): () => void {
  if (signal === undefined || controller.signal.aborted) return () => undefined;
  if (signal.aborted) {
    controller.abort(abortReason(signal));
    return () => undefined;
  }
  const follow = (): void => controller.abort(abortReason(signal));
  signal.addEventListener('abort', follow, { once: true });
  // Once the controller has aborted (by this link or another way), the listener has nothing left to do.
  const unlink = (): void => signal.removeEventListener('abort', follow);
  controller.signal.addEventListener('abort', unlink, { once: true });
  return unlink;
}

/** Resolves true when `work` settles (either way), false when `signal` aborts first. Never rejects. */
export function settledBefore(work: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const done = (value: boolean): void => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = (): void => done(false);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      () => done(true),
      () => done(true),
    );
  });
}
