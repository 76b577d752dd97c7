import { createHash } from 'node:crypto';
import { StoreKeysTakenError } from '../core/errors.js';
import { alternateKey } from '../core/object-key.js';
import type { ImageStore } from '../core/store.js';
import { isCode } from '../stores/files.js';
import type { Spool, SpooledImage } from './spool.js';

/** Where the forwarder reports what it does; pino's (and so Fastify's) logger fits. */
export interface ForwarderLog {
  info(facts: object, message: string): void;
  warn(facts: object, message: string): void;
  error(facts: object, message: string): void;
}

export interface ForwarderOptions {
  spool: Spool;
  /** The store images go to; opened by the forwarder, when it can be reached. */
  store: ImageStore;
  /** Images sent to the store at once. */
  concurrency: number;
  /** Wait after the first failure; it doubles with each further one (with jitter), up to `maxMs`. */
  backoff?: { initialMs: number; maxMs: number };
  log?: ForwarderLog;
  clock?: () => number;
  random?: () => number;
}

/** What the forwarder has done since start, and how the store is doing. */
export interface ForwarderReport {
  /** The store answered the last attempt (or none was made yet). */
  storeReachable: boolean;
  /** Since when every attempt failed, while the store is unreachable. */
  unreachableSince: Date | undefined;
  /** The last failure, in words (never a secret). */
  lastError: string | undefined;
  attempts: number;
  failures: number;
  forwarded: number;
  /** Images that had to take another key in the store than their receipt's (a different object already had it). */
  rekeyed: number;
}

export const DEFAULT_BACKOFF = { initialMs: 1_000, maxMs: 30_000 };
/** The longest wait before an image the store refused on its own account (not the store's) is tried again. */
const MAX_IMAGE_BACKOFF_MS = 5 * 60_000;
/** The in-flight name of a probe of the store (never a spooled file's path). */
const PROBE = '(probe)';
/** How long {@link Forwarder.stop} waits for attempts in flight. */
const STOP_GRACE_MS = 5_000;
/** HTTP statuses that are about one image, not the store: the others try the breaker. */
const IMAGE_STATUSES = new Set([400, 409, 411, 412, 413, 422]);

const silentLog: ForwarderLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Moves spooled images into the store, oldest first, a few at a time, and removes each from the
 * spool once the store has it.
 *
 * Failures that say the store is unwell (connection errors, timeouts, 5xx, throttling, refused
 * credentials) open a circuit breaker: nothing is sent until the backoff (exponential with jitter)
 * has passed, then one image probes the store; its success resumes full speed. So a dead store
 * costs one request per backoff, not one per image. A failure that concerns one image (the store
 * refused it) backs off that image alone.
 *
 * No duplicates: an image's key was decided when it was received, alternate keys are derived
 * from the image itself, and a write that finds its key taken by the same bytes (an earlier
 * attempt whose answer was lost, e.g. to `kill -9`) counts as done.
 */
export class Forwarder {
  log: ForwarderLog;
  private readonly spool: Spool;
  private readonly store: ImageStore;
  private readonly concurrency: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly retryAt = new Map<string, { attempts: number; at: number }>();
  private opened = false;
  private opening: Promise<void> | undefined;
  private stopped = true;
  /** Store-wide failures in a row; > 0 means the breaker is open or probing. */
  private failuresInRow = 0;
  private closedUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly report: ForwarderReport = {
    storeReachable: true,
    unreachableSince: undefined,
    lastError: undefined,
    attempts: 0,
    failures: 0,
    forwarded: 0,
    rekeyed: 0,
  };

  constructor(options: ForwarderOptions) {
    this.spool = options.spool;
    this.store = options.store;
    this.concurrency = options.concurrency;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.log = options.log ?? silentLog;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** Starts forwarding what waits, and what arrives from now on (see {@link wake}). */
  start(): void {
    this.stopped = false;
    this.pump();
  }

  /** Something was spooled: forward it when there is capacity. */
  wake(): void {
    this.pump();
  }

  /** Facts for metrics and readiness. */
  status(): Readonly<ForwarderReport> {
    return { ...this.report };
  }

  /** Whether the store is known to be down right now (the breaker is open). */
  get storeDown(): boolean {
    return this.failuresInRow > 0;
  }

  /**
   * Starts no more attempts and waits for those in flight: each ends with the store's answer or
   * its request timeout. An image whose attempt ends with the store's answer unseen stays in the
   * spool and is found to be stored already at the next start. Waits at most `graceMs`.
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    let deadline: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight.values(), this.opening]),
      new Promise((resolve) => (deadline = setTimeout(resolve, graceMs).unref())),
    ]);
    clearTimeout(deadline);
  }

  private pump(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.clock();
    if (now < this.closedUntil) {
      this.wakeAt(this.closedUntil);
      return;
    }
    if (!this.opened) {
      this.opening ??= this.attempt(() => this.store.open()).then((ok) => {
        this.opening = undefined;
        if (ok) this.opened = true;
        this.pump();
      });
      return;
    }
    // A breaker that was open lets one image through to probe the store.
    const limit = this.failuresInRow > 0 ? 1 : this.concurrency;
    let earliestRetry = Infinity;
    for (const image of this.spool.waiting()) {
      if (this.inFlight.size >= limit) return;
      if (this.inFlight.has(image.file)) continue;
      const retry = this.retryAt.get(image.file);
      if (retry && retry.at > now) {
        earliestRetry = Math.min(earliestRetry, retry.at);
        continue;
      }
      void this.track(image.file, this.forward(image));
    }
    if (earliestRetry !== Infinity) this.wakeAt(earliestRetry);
    // An open breaker with no image to probe with (the spool emptied another way) probes the store itself.
    if (this.failuresInRow > 0 && this.inFlight.size === 0) void this.track(PROBE, this.attempt(() => this.store.check()));
  }

  /**
   * Asks the store whether it is there (for readiness), unless the answer is known or coming: the
   * store is not yet open, already known to be down, or attempts are under way (forwards or a
   * probe). A failure opens the breaker as any failed attempt does.
   */
  async checkStore(): Promise<void> {
    if (this.stopped || !this.opened || this.failuresInRow > 0 || this.inFlight.size > 0) return;
    await this.track(PROBE, this.attempt(() => this.store.check()));
  }

  /** Counts `work` as in flight under `name` until it ends, then looks for more to do. */
  private track(name: string, work: Promise<unknown>): Promise<void> {
    const tracked = work
      .then(() => undefined)
      .finally(() => {
        this.inFlight.delete(name);
        this.pump();
      });
    this.inFlight.set(name, tracked);
    return tracked;
  }

  private wakeAt(at: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pump(), Math.max(0, at - this.clock()));
    this.timer.unref();
  }

  private async forward(image: SpooledImage): Promise<void> {
    let alternates = 0;
    await this.attempt(
      async () => {
        const { key } = await this.store.write({
          key: image.key,
          alternateKey: () => forwardingAlternateKey(image, ++alternates),
          body: lazyBody(() => this.spool.bodyOf(image)),
          size: image.size,
          file: { path: image.file, size: image.size, sha256: image.sha256 },
          sha256: () => image.sha256,
          contentType: image.contentType,
          metadata: { ...image.metadata, sha256: image.sha256 },
          isSameImage: (existing) => existing.size === image.size && existing.metadata.sha256 === image.sha256,
        });
        await this.spool.remove(image);
        this.retryAt.delete(image.file);
        this.report.forwarded++;
        if (key !== image.key) {
          this.report.rekeyed++;
          this.log.warn({ camera: image.camera, key: image.key, storedAs: key }, 'forwarded image under another key: a different object already had its key in the store');
        }
      },
      (error) => {
        if (isCode(causeOf(error), 'ENOENT') && (causeOf(error) as { path?: unknown }).path === image.file) {
          this.log.error({ camera: image.camera, key: image.key, file: image.file }, 'a spooled image was removed from the spool folder by something else; it cannot be forwarded');
          void this.spool.remove(image).catch(() => undefined);
          return;
        }
        const previous = this.retryAt.get(image.file)?.attempts ?? 0;
        const delay = this.delay(previous + 1, MAX_IMAGE_BACKOFF_MS);
        this.retryAt.set(image.file, { attempts: previous + 1, at: this.clock() + delay });
        this.log.error({ camera: image.camera, key: image.key, attempts: previous + 1, retryInMs: delay, err: error }, 'the store refused a spooled image; it stays in the spool');
      },
    );
  }

  /**
   * Runs one attempt at the store. Store-wide failures (and any failure when `onImageFailure` is
   * not given) open the breaker; failures about one image go to `onImageFailure`.
   */
  private async attempt(task: () => Promise<void>, onImageFailure?: (error: unknown) => void): Promise<boolean> {
    this.report.attempts++;
    try {
      await task();
      if (this.failuresInRow > 0) {
        this.log.info({ unreachableSince: this.report.unreachableSince, waiting: this.spool.contents().images }, 'the store is reachable again; forwarding the spool');
      }
      this.failuresInRow = 0;
      this.closedUntil = 0;
      Object.assign(this.report, { storeReachable: true, unreachableSince: undefined, lastError: undefined });
      return true;
    } catch (error) {
      this.report.failures++;
      this.report.lastError = describe(error);
      if (onImageFailure && concernsOneImage(error)) {
        onImageFailure(error);
        return false;
      }
      // Attempts that were already under way when the breaker opened do not open it further.
      if (this.clock() < this.closedUntil) return false;
      this.failuresInRow++;
      const delay = this.delay(this.failuresInRow, this.backoff.maxMs);
      this.closedUntil = this.clock() + delay;
      this.report.storeReachable = false;
      this.report.unreachableSince ??= new Date(this.clock());
      this.log.warn(
        { store: this.store.location, failuresInRow: this.failuresInRow, retryInMs: delay, waiting: this.spool.contents().images, err: error },
        'the store is not reachable; images stay in the spool',
      );
      return false;
    }
  }

  /** Exponential backoff with "equal jitter": between half and all of the doubled delay. */
  private delay(failures: number, maxMs: number): number {
    const full = Math.min(maxMs, this.backoff.initialMs * 2 ** Math.min(failures - 1, 30));
    return Math.round(full / 2 + (this.random() * full) / 2);
  }
}

/** A body that opens its file only when a store reads it (S3 reads {@link ImageWrite.file} instead). */
async function* lazyBody(open: () => Promise<AsyncIterable<Uint8Array>>): AsyncGenerator<Uint8Array> {
  yield* await open();
}

/**
 * The `n`th alternate key (from 1) of a spooled image: the same on every try, so that a retry
 * finds its own earlier copy.
 */
export function forwardingAlternateKey(image: Pick<SpooledImage, 'key' | 'sha256' | 'receivedAt'>, n: number): string {
  const seed = createHash('sha256').update(`${image.sha256}:${image.receivedAt.toISOString()}:${n}`).digest();
  return alternateKey(image.key, image.receivedAt, seed);
}

function causeOf(error: unknown): unknown {
  return (error as { cause?: unknown } | undefined)?.cause ?? error;
}

function concernsOneImage(error: unknown): boolean {
  // The store answered, about this image's keys: other images have keys of their own.
  if (error instanceof StoreKeysTakenError) return true;
  const cause = causeOf(error);
  const status = (cause as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  if (status !== undefined) return IMAGE_STATUSES.has(status);
  // A spooled file that cannot be read is this image's problem, not the store's.
  return typeof (cause as { syscall?: unknown } | undefined)?.syscall === 'string' && typeof (cause as { path?: unknown }).path === 'string';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
