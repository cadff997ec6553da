import { shortId } from '../util/ids.js';
import type { RouteName } from './options.js';

/** What an emulator timeline entry records. */
export type EmulatorEventType = 'create' | 'close' | 'expire' | 'call' | 'fault' | 'cooldown';

/**
 * One entry of the emulator's timeline (`WorkbookService.events()`): a session created, closed or
 * expired, a request answered, a fault applied, a cooldown announced.
 */
export interface EmulatorEvent {
  /** Numbers the entries from 1 in order; ask for the ones after the last seen. */
  readonly seq: number;
  /** When, on the service clock (ms). */
  readonly at: number;
  readonly type: EmulatorEventType;
  /** The workbook (its key, as `openByWorkbook` names it); absent for requests to no workbook. */
  readonly workbook?: string;
  /** The session, shortened as in the library's logs: a timeline is shown, and ids grant access. */
  readonly session?: string;
  /** `call` and `fault`: the route the request took. */
  readonly route?: RouteName;
  /** `call`: the method. */
  readonly method?: string;
  /** `call`: the status answered; absent for a dropped connection. */
  readonly status?: number;
  /** `fault`: what was done (`429`, `drop`, `delay 1000 ms`, ...); `cooldown`: its `Retry-After`. */
  readonly detail?: string;
  /** `cooldown`: how long it runs (ms). */
  readonly ms?: number;
}

/** The entry as recorded, before it gets its number and time. */
export type EventInput = Omit<EmulatorEvent, 'seq' | 'at'>;

/** How many entries the timeline keeps; older ones are dropped first. */
export const EVENT_CAPACITY = 1000;

/** A bounded ring of timeline entries: recording costs the same however long the service runs. */
export class EventLog {
  // The last EVENT_CAPACITY entries, oldest first once the ring has wrapped at #next.
  readonly #ring: (EmulatorEvent | undefined)[] = new Array<EmulatorEvent | undefined>(EVENT_CAPACITY);
  // The seq of the last entry recorded; only grows.
  #seq = 0;

  record(at: number, input: EventInput): void {
    this.#seq += 1;
    const event: EmulatorEvent = {
      seq: this.#seq,
      at,
      ...input,
      ...(input.session === undefined ? {} : { session: shortId(input.session) }),
    };
    this.#ring[(this.#seq - 1) % EVENT_CAPACITY] = event;
  }

  /** The seq of the last entry recorded; 0 before the first. */
  get last(): number {
    return this.#seq;
  }

  /** The entries kept with a seq above `after`, oldest first. */
  after(after: number): EmulatorEvent[] {
    const first = Math.max(after + 1, this.#seq - EVENT_CAPACITY + 1, 1);
    const out: EmulatorEvent[] = [];
    for (let seq = first; seq <= this.#seq; seq++) {
      const event = this.#ring[(seq - 1) % EVENT_CAPACITY];
      if (event !== undefined) out.push(event);
    }
    return out;
  }
}
