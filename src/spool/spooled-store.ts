import { StoreFullError } from '../core/errors.js';
import { compareFolders, compareKeys } from '../core/store.js';
import type { ByteRange, ImageStore, ImageWrite, ObjectContent, ObjectFacts, StoreHealth, StoredObject } from '../core/store.js';
import { isCode } from '../stores/files.js';
import { Forwarder } from './forwarder.js';
import type { ForwarderLog, ForwarderReport } from './forwarder.js';
import { Spool } from './spool.js';
import type { SpoolContents, SpoolOptions, SpoolRecovery, SpooledImage } from './spool.js';

export interface SpooledStoreOptions extends SpoolOptions {
  /** Images sent to the store at once. */
  forwardConcurrency: number;
  backoff?: { initialMs: number; maxMs: number };
  log?: ForwarderLog;
}

/**
 * A remote store behind a local spool: a write is durable once it is in the spool, and the
 * forwarder moves it to the store in the background, so the camera's answer never waits on the
 * store being up or fast. Reads see both: an image still in the spool can be viewed under its key.
 */
export class SpooledStore implements ImageStore {
  /** The spool keeps each image's SHA-256 to sign its forwarding with and to recognise it in the store. */
  readonly needsSha256 = true;
  readonly spool: Spool;
  readonly forwarder: Forwarder;
  /** What {@link open} found waiting from before. */
  recovery: SpoolRecovery | undefined;
  /**
   * `serve --workers`: images waiting in the other workers' spools (by file), which the others
   * tell of (see {@link sibling}); listed and read as this spool's own, so that every worker's
   * gallery shows the same images.
   */
  private readonly siblings = new Map<string, SpooledImage>();
  private readonly siblingsByKey = new Map<string, SpooledImage>();

  constructor(
    readonly target: ImageStore,
    options: SpooledStoreOptions,
  ) {
    this.spool = new Spool(options);
    this.forwarder = new Forwarder({
      spool: this.spool,
      store: target,
      concurrency: options.forwardConcurrency,
      ...(options.backoff && { backoff: options.backoff }),
      ...(options.log && { log: options.log }),
    });
  }

  get location(): string {
    return this.target.location;
  }

  /** Opens the spool and starts forwarding; the store itself is opened by the forwarder, so a store that is down does not stop the receiver. */
  async open(): Promise<void> {
    this.recovery = await this.spool.open();
    this.forwarder.start();
  }

  async write(image: ImageWrite): Promise<{ key: string }> {
    if (!this.spool.hasRoomFor(image.size)) throw this.fullError();
    const spooled = await this.spool.add(image);
    this.forwarder.wake();
    return { key: spooled.key };
  }

  /** Another worker's spool took `added`, or removed `removed` once forwarded. */
  sibling(change: { added: SpooledImage } | { removed: string }): void {
    if ('added' in change) {
      this.siblings.set(change.added.file, change.added);
      this.siblingsByKey.set(change.added.key, change.added);
      return;
    }
    const image = this.siblings.get(change.removed);
    if (image === undefined) return;
    this.siblings.delete(change.removed);
    if (this.siblingsByKey.get(image.key) === image) this.siblingsByKey.delete(image.key);
  }

  /** Images waiting to be forwarded: this spool's, then the other workers'. */
  *waiting(): Iterable<SpooledImage> {
    yield* this.spool.waiting();
    yield* this.siblings.values();
  }

  private findWaiting(key: string): SpooledImage | undefined {
    return this.spool.find(key) ?? this.siblingsByKey.get(key);
  }

  /** The spool's images and the store's objects; while the store is unreachable, the spool's alone (see {@link listingNotice}). */
  async *list(prefix = ''): AsyncIterable<StoredObject> {
    const spooled = [...this.waiting()]
      .filter((image) => image.key.startsWith(prefix))
      .sort((a, b) => compareKeys(a.key, b.key))
      .map((image) => ({ key: image.key, size: image.size, lastModified: image.receivedAt }));
    if (this.forwarder.storeDown) {
      yield* spooled;
      return;
    }
    let next = 0;
    for await (const object of this.target.list(prefix)) {
      while (next < spooled.length && compareKeys(spooled[next]!.key, object.key) < 0) yield spooled[next++]!;
      // Stored, but not yet removed from the spool: listed once.
      if (next < spooled.length && spooled[next]!.key === object.key) next++;
      yield object;
    }
    yield* spooled.slice(next);
  }

  /** A spooled image is read whole (`range` is for the store's objects). */
  async read(key: string, range?: ByteRange): Promise<ObjectContent | undefined> {
    const image = this.findWaiting(key);
    if (image === undefined) return this.target.read(key, range);
    try {
      return { key, size: image.size, lastModified: image.receivedAt, contentType: image.contentType, body: await this.spool.bodyOf(image) };
    } catch (error) {
      // Forwarded and removed from the spool since it was found: the store has it now.
      if (isCode(error, 'ENOENT')) return this.target.read(key, range);
      throw error;
    }
  }

  async head(key: string): Promise<ObjectFacts | undefined> {
    const image = this.findWaiting(key);
    if (image === undefined) return this.target.head?.(key);
    return { key, size: image.size, lastModified: image.receivedAt, contentType: image.contentType, metadata: { ...image.metadata } };
  }

  async listFolders(prefix: string): Promise<string[]> {
    const stored = this.target.listFolders && !this.forwarder.storeDown ? await this.target.listFolders(prefix) : [];
    const folders = new Set(stored);
    for (const image of this.waiting()) {
      if (!image.key.startsWith(prefix)) continue;
      const rest = image.key.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash > 0) folders.add(rest.slice(0, slash));
    }
    return [...folders].sort(compareFolders);
  }

  /** Ready while the spool takes images, whatever the store does: {@link health} tells the rest. */
  async check(): Promise<void> {
    await this.spool.check();
    if (!this.spool.hasRoomFor()) throw this.fullError();
  }

  async health(): Promise<StoreHealth> {
    // Idle, the forwarder has nothing to learn the store's state from: ask the store.
    await this.forwarder.checkStore();
    const contents = this.spool.contents();
    const report = this.forwarder.status();
    // With `serve --workers`, the other workers' spools too: the receiver's, whichever worker answers.
    let siblingBytes = 0;
    for (const image of this.siblings.values()) siblingBytes += image.size;
    const facts = {
      spooled: contents.images + this.siblings.size,
      spooledBytes: contents.bytes + siblingBytes,
      ...(contents.oldest && { oldestSpooledAt: contents.oldest.toISOString() }),
    };
    if (report.storeReachable) return { status: 'ready', storeState: 'reachable', ...facts };
    return {
      status: 'degraded',
      storeState: 'unreachable',
      message: `The store ${this.location} is unreachable since ${report.unreachableSince?.toISOString() ?? 'start'} (${report.lastError ?? 'no answer'}); images are spooled and forwarded when it is back.`,
      ...facts,
    };
  }

  /** While listings hold only the spool's images (the store is unreachable), why, in words for a viewer. */
  listingNotice(): string | undefined {
    if (!this.forwarder.storeDown) return undefined;
    const images = this.spool.contents().images + this.siblings.size;
    const since = this.forwarder.status().unreachableSince;
    return `The image store is unreachable${since ? ` since ${since.toISOString().slice(0, 16).replace('T', ' ')} UTC` : ''}. Shown are only the ${images === 1 ? 'image' : `${images.toLocaleString('en')} images`} received since then, safe on the receiver and forwarded when the store is back.`;
  }

  /** What waits in the spool, and what the forwarder did. */
  report(): { spool: SpoolContents; forwarder: Readonly<ForwarderReport> } {
    return { spool: this.spool.contents(), forwarder: this.forwarder.status() };
  }

  async close(): Promise<void> {
    await this.forwarder.stop();
    await this.target.close();
  }

  private fullError(): StoreFullError {
    const { images, bytes } = this.spool.contents();
    const report = this.forwarder.status();
    const why = report.storeReachable
      ? 'the store takes images more slowly than they arrive'
      : `the store has been unreachable since ${report.unreachableSince?.toISOString() ?? 'start'}`;
    const mb = (count: number): string => `${(count / 1024 / 1024).toFixed(1)} MB`;
    const message = `The receiver's spool is full (${images} images, ${mb(bytes)} waiting, limit ${mb(this.spool.maxBytes)}): ${why}. Nothing spooled was dropped; this image was not stored.`;
    return new StoreFullError(message, { callerMessage: message, retryAfterSeconds: 60 });
  }
}
