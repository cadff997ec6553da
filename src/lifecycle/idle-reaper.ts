import { MAX_TIMER_MS } from '../util/timers.js';

/** What the reaper keeps: its slot in the heap and when it is next due. */
export interface Reapable {
  /** Position in the heap, -1 when not tracked. Owned by the reaper. */
  heapIndex: number;
  /** When the reaper next looks at this item (epoch ms). Owned by the reaper. */
  dueAt: number;
}

/**
 * One timer for all sessions, armed for the earliest due time, `unref`'d, and running only while
 * something is tracked. Items sit in an indexed binary min-heap: track, reschedule and untrack are
 * O(log n). Calls do not touch the heap at all: they move the session's own activity time, and
 * `onDue` works out, when the timer fires, whether the item is really due or due later.
 */
export class IdleReaper<T extends Reapable> {
  readonly #heap: T[] = [];
  readonly #onDue: (item: T, now: number) => void;
  readonly #now: () => number;
  // Set while the heap is not empty, for the top item's due time; cleared when the heap empties or on dispose.
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  /** `onDue` must reschedule or untrack the item it is given; an item left alone is untracked. */
  constructor(onDue: (item: T, now: number) => void, now: () => number = Date.now) {
    this.#onDue = onDue;
    this.#now = now;
  }

  get size(): number {
    return this.#heap.length;
  }

  /** True while the timer is armed. */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  track(item: T, dueAt: number): void {
    if (item.heapIndex !== -1) return this.reschedule(item, dueAt);
    item.dueAt = dueAt;
    item.heapIndex = this.#heap.length;
    this.#heap.push(item);
    this.#up(item.heapIndex);
    this.#arm();
  }

  reschedule(item: T, dueAt: number): void {
    if (item.heapIndex === -1) return this.track(item, dueAt);
    const before = item.dueAt;
    item.dueAt = dueAt;
    if (dueAt < before) this.#up(item.heapIndex);
    else this.#down(item.heapIndex);
    this.#arm();
  }

  untrack(item: T): void {
    const index = item.heapIndex;
    if (index === -1) return;
    const last = this.#heap.pop() as T;
    item.heapIndex = -1;
    if (last !== item) {
      this.#heap[index] = last;
      last.heapIndex = index;
      this.#down(index);
      this.#up(last.heapIndex);
    }
    this.#arm();
  }

  dispose(): void {
    for (const item of this.#heap) item.heapIndex = -1;
    this.#heap.length = 0;
    this.#disarm();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#now();
    // Bounded: each due item is handled once per firing, even if onDue reschedules it into the past.
    let budget = this.#heap.length;
    while (budget-- > 0) {
      const top = this.#heap[0];
      if (top === undefined || top.dueAt > now) break;
      const dueAt = top.dueAt;
      this.#onDue(top, now);
      if (top.heapIndex === 0 && top.dueAt === dueAt) this.untrack(top);
    }
    this.#arm();
  }

  #arm(): void {
    const top = this.#heap[0];
    // Nothing due ever (an Infinity deadline): no timer at all.
    if (top === undefined || !Number.isFinite(top.dueAt)) return this.#disarm();
    if (this.#timer !== undefined && this.#timerAt <= top.dueAt) return;
    this.#disarm();
    this.#timerAt = top.dueAt;
    // setTimeout takes at most 2^31-1 ms; a later deadline is looked at again when this one fires.
    this.#timer = setTimeout(() => this.#fire(), Math.min(MAX_TIMER_MS, Math.max(0, top.dueAt - this.#now())));
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #up(index: number): void {
    const heap = this.#heap;
    const item = heap[index] as T;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as T;
      if (parent.dueAt <= item.dueAt) break;
      heap[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    heap[index] = item;
    item.heapIndex = index;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const length = heap.length;
    const item = heap[index] as T;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && (heap[right] as T).dueAt < (heap[left] as T).dueAt ? right : left;
      const childItem = heap[child] as T;
      if (childItem.dueAt >= item.dueAt) break;
      heap[index] = childItem;
      childItem.heapIndex = index;
      index = child;
    }
    heap[index] = item;
    item.heapIndex = index;
  }
}
