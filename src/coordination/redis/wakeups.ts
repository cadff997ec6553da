import { abortReason } from '../../util/abort.js';
import { setLongTimeout } from '../../util/timers.js';
import type { RedisClient } from './scripts.js';

/** A subscription to one channel, held while somebody waits on it. */
export interface Watch {
  /** Messages seen on the channel since it was subscribed; read it before each re-check. */
  readonly seen: number;
  /**
   * Resolves once a message newer than `since` arrived, or after `ms`, whichever comes first;
   * rejects when `signal` aborts.
   */
  wait(since: number, ms: number, signal: AbortSignal | undefined): Promise<void>;
  /** Gives the subscription up; the last watcher of a channel unsubscribes. */
  close(): void;
}

interface Channel {
  watchers: number;
  seen: number;
  // Waits pending on the channel; each removes itself when it ends.
  readonly wakers: Set<() => void>;
  readonly subscribed: Promise<void>;
}

/**
 * Wakes waiters when another process gives a place back, through Redis pub/sub on a connection of
 * its own (a subscribed connection runs no other command). A waiter subscribes before its re-check,
 * so a place freed between the two is never missed; each wait is bounded anyway, because messages
 * are lost while the connection is down.
 */
export class Wakeups {
  readonly #subscriber: RedisClient;
  readonly #subscribeTimeoutMs: number;
  // Channels somebody waits on; a channel is removed when its last watcher closes.
  readonly #channels = new Map<string, Channel>();

  constructor(subscriber: RedisClient, subscribeTimeoutMs: number) {
    this.#subscriber = subscriber;
    this.#subscribeTimeoutMs = subscribeTimeoutMs;
    subscriber.on('message', (name: string) => {
      const channel = this.#channels.get(name);
      if (channel === undefined) return;
      channel.seen++;
      for (const wake of channel.wakers) wake();
    });
  }

  /** Channels subscribed now. */
  get channels(): number {
    return this.#channels.size;
  }

  /**
   * Subscribes to `name` and resolves once the server confirmed it, or after the subscribe
   * timeout: a subscription that failed leaves the waits to their bounds, it does not fail them.
   */
  async watch(name: string, signal: AbortSignal | undefined): Promise<Watch> {
    let channel = this.#channels.get(name);
    if (channel === undefined) {
      const subscribed = this.#subscribe(name).catch(() => {
        // Later watchers try again; the present ones keep to their bounds.
        if (this.#channels.get(name) === fresh) this.#channels.delete(name);
      });
      const fresh: Channel = { watchers: 0, seen: 0, wakers: new Set(), subscribed };
      channel = fresh;
      this.#channels.set(name, channel);
    }
    channel.watchers++;
    const current = channel;
    let closed = false;
    const watch: Watch = {
      get seen() {
        return current.seen;
      },
      wait: (since, ms, waitSignal) => this.#wait(current, since, ms, waitSignal),
      close: () => {
        if (closed) return;
        closed = true;
        if (--current.watchers > 0 || this.#channels.get(name) !== current) return;
        this.#channels.delete(name);
        this.#subscriber.unsubscribe(name).catch(() => undefined);
      },
    };
    try {
      await this.#wait(current, Infinity, this.#subscribeTimeoutMs, signal, current.subscribed);
    } catch (error) {
      watch.close();
      throw error;
    }
    return watch;
  }

  async #subscribe(name: string): Promise<void> {
    const subscriber = this.#subscriber;
    // A connection still connecting refuses commands when the offline queue is off.
    if (subscriber.status === 'wait') await subscriber.connect();
    else if (subscriber.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const timer = setLongTimeout(() => {
          subscriber.off('ready', onReady);
          reject(new Error('The subscriber connection is not ready'));
        }, this.#subscribeTimeoutMs);
        timer.unref();
        const onReady = (): void => {
          timer.clear();
          resolve();
        };
        subscriber.once('ready', onReady);
      });
    }
    await subscriber.subscribe(name);
  }

  #wait(
    channel: Channel,
    since: number,
    ms: number,
    signal: AbortSignal | undefined,
    until?: Promise<void>,
  ): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (channel.seen > since) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let ended = false;
      const end = (): void => {
        ended = true;
        timer.clear();
        channel.wakers.delete(wake);
        signal?.removeEventListener('abort', onAbort);
      };
      const wake = (): void => {
        if (ended || channel.seen <= since) return;
        end();
        resolve();
      };
      const onAbort = (): void => {
        end();
        reject(abortReason(signal as AbortSignal));
      };
      // Waits never hold the process open: the request waiting here does, through its caller.
      const timer = setLongTimeout(() => {
        end();
        resolve();
      }, ms);
      timer.unref();
      channel.wakers.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
      void until?.then(() => {
        if (ended) return;
        end();
        resolve();
      });
    });
  }
}
