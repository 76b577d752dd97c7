/**
 * Counts failed authentications per client address in fixed one-minute windows. An address over
 * the limit gets 429 instead of 401/403 until its window ends; valid tokens are never refused by
 * it, so a camera behind the same NAT as a misconfigured one keeps working (tokens carry ~190
 * bits, so letting them be checked does not make guessing feasible).
 */
export class FailedAuthLimiter {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    /** Failed attempts allowed per address and window; 0 turns the limiter off. */
    readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly maxAddresses = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called with each failure {@link fail} records (not those {@link count}ed for other receiver processes). */
  onFailure: ((address: string) => void) | undefined;

  /** Records a failed attempt; returns the seconds to wait when the address is over the limit. */
  fail(address: string): number | undefined {
    if (this.limit === 0) return undefined;
    this.onFailure?.(address);
    const now = this.now();
    const window = this.add(address, now);
    return window.failures > this.limit ? Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000)) : undefined;
  }

  /** Counts a failed attempt another process of this receiver (`serve --workers`) saw. */
  count(address: string): void {
    if (this.limit > 0) this.add(address, this.now());
  }

  private add(address: string, now: number): { start: number; failures: number } {
    let window = this.windows.get(address);
    if (window === undefined || now - window.start >= this.windowMs) {
      this.windows.delete(address);
      window = { start: now, failures: 0 };
      this.windows.set(address, window);
      this.bound(now);
    }
    window.failures++;
    return window;
  }

  /** Keeps memory bounded under a flood from many addresses: expired windows go first, then the oldest. */
  private bound(now: number): void {
    if (this.windows.size <= this.maxAddresses) return;
    for (const [address, window] of this.windows) {
      if (now - window.start >= this.windowMs) this.windows.delete(address);
    }
    for (const address of this.windows.keys()) {
      if (this.windows.size <= this.maxAddresses) break;
      this.windows.delete(address);
    }
  }
}
