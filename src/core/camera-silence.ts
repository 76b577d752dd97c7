/**
 * When a camera counts as silent: the one rule for the gallery (its *Overdue* cards) and the
 * receiver's `camera.silent` / `camera.back` events.
 *
 * @module
 */

/** One minute: a camera sending every few seconds is not silent after a single missed image. */
export const DEFAULT_SILENCE_GRACE_MS = 60_000;

/** Silent for longer than this is overdue: three usual intervals, and at least `graceMs` more than one. */
export function silentAfterMs(usualIntervalMs: number, graceMs = DEFAULT_SILENCE_GRACE_MS): number {
  return Math.max(3 * usualIntervalMs, usualIntervalMs + graceMs);
}

/** A camera's usual interval: the median gap between the times (ms, in order) it sent something; undefined with fewer than two. */
export function usualInterval(times: readonly number[]): number | undefined {
  const gaps: number[] = [];
  for (let i = 1; i < times.length; i++) gaps.push(times[i]! - times[i - 1]!);
  if (gaps.length === 0) return undefined;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)];
}
