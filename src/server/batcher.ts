// Runs the work of one key in batches: the first item starts at once, alone; items that arrive
// while a batch of their key runs wait and go together in the next one. Keys apart run side by
// side. Under a burst the batches grow by themselves and an idle system adds no delay. Memory
// follows the keys that have work: a key leaves the maps when its last batch ends.

/** A batch's answer for one item: its value, or the error that concerns it alone. */
export type ItemOutcome<O> = { ok: true; result: O } | { ok: false; error: unknown };

interface Waiting<I, O> {
  items: I[];
  settle: { resolve(value: O): void; reject(error: unknown): void }[];
}

export class Batcher<K, I, O> {
  readonly #waiting = new Map<K, Waiting<I, O>>();
  readonly #running = new Set<K>();

  constructor(
    /** One batch of one key; answers in the items' order. Throwing fails the whole batch. */
    private readonly runBatch: (key: K, items: I[]) => Promise<ItemOutcome<O>[]>,
    private readonly maxBatch: number,
  ) {}

  submit(key: K, item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      let waiting = this.#waiting.get(key);
      if (!waiting) this.#waiting.set(key, (waiting = { items: [], settle: [] }));
      waiting.items.push(item);
      waiting.settle.push({ resolve, reject });
      if (!this.#running.has(key)) void this.#drain(key);
    });
  }

  /** Keys with a batch running or items waiting. */
  get size(): number {
    return new Set([...this.#running, ...this.#waiting.keys()]).size;
  }

  async #drain(key: K): Promise<void> {
    this.#running.add(key);
    try {
      for (let waiting = this.#waiting.get(key); waiting; waiting = this.#waiting.get(key)) {
        const items = waiting.items.splice(0, this.maxBatch);
        const settle = waiting.settle.splice(0, this.maxBatch);
        if (waiting.items.length === 0) this.#waiting.delete(key);
        try {
          const outcomes = await this.runBatch(key, items);
          outcomes.forEach((o, i) => (o.ok ? settle[i].resolve(o.result) : settle[i].reject(o.error)));
        } catch (err) {
          for (const s of settle) s.reject(err);
        }
      }
    } finally {
      this.#running.delete(key);
    }
  }
}
