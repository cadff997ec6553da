/**
 * Work under way that someone must wait for (a shutdown, a later write): each promise is kept, with
 * a label, from `add` until it settles, and `drained` waits until none is left, including work
 * added while it waits.
 */
export class Pending<Label = undefined> {
  readonly #work = new Map<Promise<unknown>, Label>();

  /** Keeps `work` until it settles; returns it. Its rejection is left to whoever holds it. */
  add<T>(work: Promise<T>, ...label: Label extends undefined ? [] : [Label]): Promise<T> {
    this.#work.set(work, label[0] as Label);
    const forget = (): void => void this.#work.delete(work);
    work.then(forget, forget);
    return work;
  }

  get size(): number {
    return this.#work.size;
  }

  /** The labels of the work under way. */
  labels(): Label[] {
    return [...this.#work.values()];
  }

  promises(): Promise<unknown>[] {
    return [...this.#work.keys()];
  }

  /** Resolves once every one of `sets` is empty; never rejects. */
  static async drained(...sets: ReadonlyArray<Pending<unknown>>): Promise<void> {
    for (;;) {
      const all = sets.flatMap((set) => set.promises());
      if (all.length === 0) return;
      await Promise.allSettled(all);
    }
  }
}
