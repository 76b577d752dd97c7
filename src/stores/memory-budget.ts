/**
 * A bound on the bytes that writes hold in memory at once. A write reserves what it will need,
 * whole, before it reads its body, and gives it back when done; writes that do not fit wait, in
 * the order they asked. Reserving all at once, never piece by piece, is what keeps two half-served
 * writes from waiting on each other for ever. While a write waits it reads nothing, so its sender
 * is slowed by TCP instead of the receiver's memory growing.
 */
export class MemoryBudget {
  private available: number;
  private readonly waiting: Array<{ bytes: number; grant: () => void }> = [];

  constructor(readonly totalBytes: number) {
    this.available = totalBytes;
  }

  /** Bytes reserved right now. */
  get reservedBytes(): number {
    return this.totalBytes - this.available;
  }

  /**
   * Reserves `bytes` (at most the whole budget: a larger reservation takes the whole budget) and
   * resolves with the function that gives them back; call it once.
   */
  async reserve(bytes: number): Promise<() => void> {
    const wanted = Math.min(Math.max(0, bytes), this.totalBytes);
    if (this.waiting.length === 0 && wanted <= this.available) {
      this.available -= wanted;
    } else {
      await new Promise<void>((grant) => this.waiting.push({ bytes: wanted, grant }));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.available += wanted;
      this.grantWaiting();
    };
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.waiting[0]!.bytes <= this.available) {
      const next = this.waiting.shift()!;
      this.available -= next.bytes;
      next.grant();
    }
  }
}
