import { abortReason } from '../../util/abort.js';
import { setLongTimeout, type LongTimer } from '../../util/timers.js';
import type { RedisClient } from './scripts.js';

/** One waiter's watch on a channel, held while it waits. */
export interface Watch {
  /** Messages naming this waiter since it began watching; read it before each take. */
  readonly seen: number;
  /**
   * Resolves once a message naming this waiter newer than `since` arrived, or after `ms`,
   * whichever comes first; rejects when `signal` aborts.
   */
  wait(since: number, ms: number, signal: AbortSignal | undefined): Promise<void>;
  /** Gives the watch up; a channel nobody watches is unsubscribed after a moment. */
  close(): void;
}

interface Waiter {
  seen: number;
  // The pending wait's wake-up; set while it waits, cleared when it ends.
  wake: (() => void) | undefined;
}

interface Channel {
  // Waiters of this process on the channel, by token; each removes itself when it closes.
  readonly waiters: Map<string, Waiter>;
  readonly subscribed: Promise<void>;
  /** The server confirmed the subscription: a message published from now on reaches us. */
  confirmed: boolean;
  // Set when the last waiter left; the channel is unsubscribed when it fires, cleared by a new waiter.
  linger: LongTimer | undefined;
}

/**
 * How long a channel nobody watches stays subscribed: a process that waits on a workbook again
 * soon (a busy one does, request after request) is then told without subscribing again first.
 */
const LINGER_MS = 1000;

/**
 * Wakes a waiter when a place is handed to it, through Redis pub/sub on a connection of its own
 * (a subscribed connection runs no other command). Every process waiting on a workbook listens on
 * its channel, and a message names the one waiter it is for (its token): the others ignore it, so
 * a freed place wakes one waiter, not every one. A waiter is subscribed before the take whose
 * refusal puts it in line is answered, so a place handed to it is never missed; each wait is
 * bounded anyway, because messages are lost while the connection is down.
 */
export class Wakeups {
  readonly #subscriber: RedisClient;
  readonly #subscribeTimeoutMs: number;
  // Channels somebody waits on, or waited on a moment ago (lingering); removed when unsubscribed.
  readonly #channels = new Map<string, Channel>();

  constructor(subscriber: RedisClient, subscribeTimeoutMs: number) {
    this.#subscriber = subscriber;
    this.#subscribeTimeoutMs = subscribeTimeoutMs;
    subscriber.on('message', (name: string, message: string) => {
      const waiter = this.#channels.get(name)?.waiters.get(message);
      if (waiter === undefined) return;
      waiter.seen++;
      waiter.wake?.();
    });
  }

  /** Channels subscribed now. */
  get channels(): number {
    return this.#channels.size;
  }

  /** Whether `name` is subscribed already: a waiter may then watch before its first take, at no cost. */
  subscribed(name: string): boolean {
    return this.#channels.get(name)?.confirmed === true;
  }

  /**
   * Watches `name` for messages naming `token`, and resolves once the server confirmed the
   * subscription, or after the subscribe timeout: a subscription that failed leaves the waits to
   * their bounds, it does not fail them.
   */
  async watch(name: string, token: string, signal: AbortSignal | undefined): Promise<Watch> {
    let channel = this.#channels.get(name);
    if (channel === undefined) {
      const subscribed = this.#subscribe(name).then(
        () => {
          fresh.confirmed = true;
        },
        () => {
          // Later waiters try again; the present ones keep to their bounds.
          if (this.#channels.get(name) === fresh) this.#channels.delete(name);
        },
      );
      const fresh: Channel = { waiters: new Map(), subscribed, confirmed: false, linger: undefined };
      channel = fresh;
      this.#channels.set(name, channel);
    }
    channel.linger?.clear();
    channel.linger = undefined;
    const current = channel;
    const waiter: Waiter = { seen: 0, wake: undefined };
    current.waiters.set(token, waiter);
    let closed = false;
    const watch: Watch = {
      get seen() {
        return waiter.seen;
      },
      wait: (since, ms, waitSignal) => this.#wait(waiter, since, ms, waitSignal),
      close: () => {
        if (closed) return;
        closed = true;
        current.waiters.delete(token);
        if (current.waiters.size > 0 || this.#channels.get(name) !== current) return;
        current.linger = setLongTimeout(() => {
          current.linger = undefined;
          if (current.waiters.size > 0 || this.#channels.get(name) !== current) return;
          this.#channels.delete(name);
          this.#subscriber.unsubscribe(name).catch(() => undefined);
        }, LINGER_MS);
        // A lingering subscription never holds the process open.
        current.linger.unref();
      },
    };
    if (current.confirmed) return watch;
    try {
      await this.#wait(waiter, Infinity, this.#subscribeTimeoutMs, signal, current.subscribed);
    } catch (error) {
      watch.close();
      throw error;
    }
    return watch;
  }

  /** Ends the lingering subscriptions' timers (the connection itself is its owner's to quit). */
  close(): void {
    for (const channel of this.#channels.values()) channel.linger?.clear();
    this.#channels.clear();
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
    waiter: Waiter,
    since: number,
    ms: number,
    signal: AbortSignal | undefined,
    until?: Promise<void>,
  ): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (waiter.seen > since) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let ended = false;
      const end = (): void => {
        ended = true;
        timer.clear();
        if (waiter.wake === wake) waiter.wake = undefined;
        signal?.removeEventListener('abort', onAbort);
      };
      const wake = (): void => {
        if (ended || waiter.seen <= since) return;
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
      waiter.wake = wake;
      signal?.addEventListener('abort', onAbort, { once: true });
      void until?.then(() => {
        if (ended) return;
        end();
        resolve();
      });
    });
  }
}
