/**
 * A small cache of promised values with a lifetime per entry, a bound on the number of entries
 * (least recently used go first), and one load at a time per key: callers asking for a value being
 * loaded share that load.
 */
export class ExpiringCache<V> {
  private readonly entries = new Map<string, { value: Promise<V>; expires: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cached value of `key`, or the result of `load()`, kept for `ttlMs` once it succeeded. */
  get(key: string, ttlMs: number | ((value: V) => number), load: () => Promise<V>): Promise<V> {
    const entry = this.entries.get(key);
    if (entry && entry.expires > this.now()) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.value;
    }
    const value = load();
    // While loading, the entry is shared; once loaded it lives for its lifetime; a failure is not kept.
    const loading = { value, expires: Number.POSITIVE_INFINITY };
    this.entries.delete(key);
    this.entries.set(key, loading);
    value.then(
      (loaded) => {
        if (this.entries.get(key) === loading) loading.expires = this.now() + (typeof ttlMs === 'function' ? ttlMs(loaded) : ttlMs);
      },
      () => {
        if (this.entries.get(key) === loading) this.entries.delete(key);
      },
    );
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Runs at most `slots` tasks at once; the others wait in order. */
export class TaskLimiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly slots: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }
}
