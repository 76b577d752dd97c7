import { createHash, randomUUID } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, statfs, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StoreFullError, StoreKeysTakenError } from '../core/errors.js';
import { MAX_KEY_ATTEMPTS } from '../core/store.js';
import type { ImageWrite } from '../core/store.js';
import { syncFolder } from '../files/durable.js';
import { leftWorkerFolders } from '../files/worker-folders.js';
import { fileStoreError, isCode, openFileStart, watchedBody, writableFreeBytes, writeBody } from '../stores/files.js';
import type { BodyReading } from '../stores/files.js';

/** One image waiting in the spool to be forwarded to the store. */
export interface SpooledImage {
  /** Its file in the spool's `ready` folder. */
  readonly file: string;
  /** The key it was given when received, and keeps in the store (see {@link Spool.add}). */
  readonly key: string;
  /** Bytes of the image (the file holds a trailer after them). */
  readonly size: number;
  readonly sha256: string;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly camera: string;
  readonly receivedAt: Date;
}

/** What the spool holds. */
export interface SpoolContents {
  images: number;
  bytes: number;
  /** When the oldest waiting image was received. */
  oldest: Date | undefined;
}

/** What {@link Spool.open} found from before. */
export interface SpoolRecovery {
  /** Images found waiting (left by the previous run, a crash or an outage). */
  images: number;
  bytes: number;
  /** Files that are not complete spooled images, moved to the `damaged` folder (nothing is deleted). */
  damaged: string[];
}

export interface SpoolOptions {
  folder: string;
  /** Most bytes of images waiting at once; more are refused (see {@link Spool.hasRoomFor}). */
  maxBytes: number;
  /** fsync each image and its folder before {@link Spool.add} resolves (the default). */
  fsync?: boolean;
  /** Free space on the spool's filesystem below which it takes no more images. */
  minFreeBytes?: number;
}

/** The file format's last bytes: a file that does not end with them is not a complete spooled image. */
const MAGIC = Buffer.from('I2S3SPL1');
const TRAILER_TAIL = 4 + MAGIC.length;
/** Keys recently forwarded: a new image with one of them takes an alternate key at once. */
const RECENT_KEYS_LIMIT = 10_000;
const DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024;

/**
 * A durable local queue of images on their way to a remote store.
 *
 * An image is streamed into a temporary file in `incoming/`, followed by a trailer (key, type,
 * metadata, size, SHA-256) and fixed magic bytes; the file is fsynced, renamed into `ready/` and
 * the folder fsynced. Only then does {@link add} resolve, so an image is either complete in
 * `ready/` or was never acknowledged; a crash leaves at most an unacknowledged temporary file,
 * removed at the next start. One file per image, written once: no index to corrupt or replay.
 *
 * One receiver process per spool folder.
 */
export class Spool {
  readonly folder: string;
  readonly maxBytes: number;
  private readonly ready: string;
  private readonly incoming: string;
  private readonly damaged: string;
  private readonly fsync: boolean;
  private readonly minFreeBytes: number;
  /** Waiting images, oldest first. */
  private readonly images = new Map<string, SpooledImage>();
  private readonly byKey = new Map<string, SpooledImage>();
  /** Keys of images being received, claimed before their trailer is written. */
  private readonly claimedKeys = new Set<string>();
  private readonly recentKeys = new Set<string>();
  private bytes = 0;
  /** The largest image seen: with less room than that, the spool counts as full for readiness. */
  private largest = 0;
  /** Bytes of images still being received. */
  private receiving = 0;
  private sequence = 0;
  /** Told of each image added and removed (`serve --workers` tells the other workers). */
  observer: { added(image: SpooledImage): void; removed(image: SpooledImage): void } | undefined;

  constructor(options: SpoolOptions) {
    this.folder = path.resolve(options.folder);
    this.maxBytes = options.maxBytes;
    this.ready = path.join(this.folder, 'ready');
    this.incoming = path.join(this.folder, 'incoming');
    this.damaged = path.join(this.folder, 'damaged');
    this.fsync = options.fsync ?? true;
    this.minFreeBytes = options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;
  }

  /**
   * Creates the folders, removes what an interrupted run was still receiving (never acknowledged)
   * and indexes the images waiting, oldest first.
   */
  async open(): Promise<SpoolRecovery> {
    await mkdir(this.incoming, { recursive: true, mode: 0o750 });
    await mkdir(this.ready, { recursive: true, mode: 0o750 });
    await rm(this.incoming, { recursive: true, force: true });
    await mkdir(this.incoming, { mode: 0o750 });
    const damaged: string[] = [];
    const names = (await readdir(this.ready)).sort();
    for (const name of names) {
      const file = path.join(this.ready, name);
      const image = await readTrailer(file).catch(() => undefined);
      if (image) {
        this.index(image);
      } else {
        await mkdir(this.damaged, { recursive: true, mode: 0o750 });
        await rename(file, path.join(this.damaged, name));
        damaged.push(name);
      }
    }
    return { images: this.images.size, bytes: this.bytes, damaged };
  }

  /**
   * Whether an image of `bytes` fits under {@link maxBytes} now; without `bytes` (unannounced, or
   * asked by a readiness check), whether an image as large as the largest so far fits.
   */
  hasRoomFor(bytes?: number): boolean {
    return this.bytes + this.receiving + Math.max(bytes ?? this.largest, 1) <= this.maxBytes;
  }

  /**
   * Stores an image durably and resolves with it, under the image's key or, when another waiting
   * or recently forwarded image has that key, an alternate one. The key is final: the forwarder
   * stores the image under it.
   */
  async add(image: ImageWrite): Promise<SpooledImage> {
    const temporary = path.join(this.incoming, `${randomUUID()}.part`);
    let file: FileHandle | undefined;
    let key: string | undefined;
    const tally = { bytes: 0 };
    const hash = image.sha256 ? undefined : createHash('sha256');
    const receivedAt = new Date(image.metadata['received-at'] ?? Date.now());
    let spooled: TrailerFacts | undefined;
    const reading: BodyReading = {};
    // Once the body has passed (its size and hash known), its key and the trailer that records it;
    // the trailer goes out with the body's last bytes, in the same write.
    const trailer = (): Buffer => {
      key = this.claimKey(image);
      spooled = {
        key,
        size: tally.bytes,
        sha256: hash ? hash.digest('hex') : image.sha256!(),
        contentType: image.contentType,
        metadata: image.metadata,
        camera: image.metadata.camera ?? '',
        receivedAt,
      };
      return trailerOf(spooled);
    };
    try {
      file = await open(temporary, 'wx', 0o640);
      await writeBody(file, this.counted(watchedBody(image.body, reading), tally, hash, trailer));
      if (this.fsync) await file.sync();
      await file.close();
      file = undefined;
      const name = `${String(receivedAt.getTime()).padStart(15, '0')}-${String(this.sequence++).padStart(9, '0')}-${randomUUID().slice(0, 8)}.image`;
      const target = path.join(this.ready, name);
      await rename(temporary, target);
      if (this.fsync) await syncFolder(this.ready);
      const stored: SpooledImage = { file: target, ...spooled! };
      this.index(stored);
      this.observer?.added(stored);
      return stored;
    } catch (error) {
      await file?.close().catch(() => undefined);
      await unlink(temporary).catch(() => undefined);
      throw reading.failure ? reading.failure.error : fileStoreError(error, this.folder);
    } finally {
      if (key !== undefined) this.claimedKeys.delete(key);
      this.receiving -= tally.bytes;
    }
  }

  /**
   * The body as it passes, counted in `tally` and in the bytes being received, and hashed into
   * `hash`; then what `end` gives (the trailer).
   */
  private async *counted(body: AsyncIterable<Uint8Array>, tally: { bytes: number }, hash: Hash | undefined, end: () => Uint8Array): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      tally.bytes += chunk.byteLength;
      this.receiving += chunk.byteLength;
      hash?.update(chunk);
      yield chunk;
    }
    yield end();
  }

  /** Removes a forwarded image. */
  async remove(image: SpooledImage): Promise<void> {
    await unlink(image.file).catch((error: unknown) => {
      if (!isCode(error, 'ENOENT')) throw error;
    });
    if (this.images.delete(image.file)) {
      this.bytes -= image.size;
      this.byKey.delete(image.key);
      this.recentKeys.add(image.key);
      if (this.recentKeys.size > RECENT_KEYS_LIMIT) this.recentKeys.delete(this.recentKeys.values().next().value!);
      this.observer?.removed(image);
    }
  }

  /** Waiting images, oldest first. */
  waiting(): IterableIterator<SpooledImage> {
    return this.images.values();
  }

  /** The waiting image under `key`, if any. */
  find(key: string): SpooledImage | undefined {
    return this.byKey.get(key);
  }

  /** An image's bytes, from its file (opened first: a file already forwarded and removed fails here). */
  bodyOf(image: SpooledImage): Promise<Readable> {
    return openFileStart(image.file, image.size);
  }

  contents(): SpoolContents {
    return { images: this.images.size, bytes: this.bytes, oldest: this.images.values().next().value?.receivedAt };
  }

  /** Throws StoreFullError when the spool's filesystem is (nearly) full, or another error when it cannot be written. */
  async check(): Promise<void> {
    const free = await writableFreeBytes(this.incoming, this.folder);
    if (free < this.minFreeBytes) {
      throw new StoreFullError(`Only ${Math.floor(free / 1024 / 1024)} MB free for the spool in ${this.folder}`, {
        callerMessage: 'The receiver\'s spool disk is full; the image was not stored.',
      });
    }
  }

  private index(image: SpooledImage): void {
    this.images.set(image.file, image);
    this.byKey.set(image.key, image);
    this.bytes += image.size;
    this.largest = Math.max(this.largest, image.size);
  }

  /** The image's key, or an alternate one while it is taken by another image here. */
  private claimKey(image: ImageWrite): string {
    let key = image.key;
    for (let attempt = 1; ; attempt++) {
      if (!this.byKey.has(key) && !this.claimedKeys.has(key) && !this.recentKeys.has(key)) {
        this.claimedKeys.add(key);
        return key;
      }
      if (attempt >= MAX_KEY_ATTEMPTS) throw new StoreKeysTakenError(image.key, attempt);
      key = image.alternateKey();
    }
  }
}

/**
 * `serve --workers`: each worker K > 1 spools into `folder/worker-K` (see src/cli/serve.ts). Images
 * left waiting in the folder of a worker beyond `workers` (the receiver ran with more before) move
 * into `folder`'s own spool, worker 1's, before it opens, and are forwarded from there; what such a
 * folder was still receiving was never acknowledged and goes. Resolves with the images moved.
 */
export async function adoptWorkerSpools(folder: string, workers: number): Promise<number> {
  let moved = 0;
  for (const left of await leftWorkerFolders(folder, workers)) {
    for (const part of ['ready', 'damaged']) {
      const from = path.join(left, part);
      const files = await readdir(from).catch(() => [] as string[]);
      if (files.length === 0) continue;
      const into = path.join(folder, part);
      await mkdir(into, { recursive: true, mode: 0o750 });
      for (const file of files) await rename(path.join(from, file), path.join(into, file));
      await syncFolder(into);
      if (part === 'ready') moved += files.length;
    }
    await rm(left, { recursive: true, force: true });
  }
  return moved;
}

/** The spool's default size: a quarter of the space free on the spool's filesystem now. */
export async function defaultSpoolMaxBytes(folder: string): Promise<number> {
  let probe = path.resolve(folder);
  for (;;) {
    try {
      const space = await statfs(probe);
      return Math.floor((space.bavail * space.bsize) / 4);
    } catch (error) {
      const parent = path.dirname(probe);
      if (!isCode(error, 'ENOENT') || parent === probe) throw error;
      probe = parent;
    }
  }
}

type TrailerFacts = Omit<SpooledImage, 'file'>;

function trailerOf(image: TrailerFacts): Buffer {
  const json = Buffer.from(
    JSON.stringify({
      key: image.key,
      size: image.size,
      sha256: image.sha256,
      contentType: image.contentType,
      metadata: image.metadata,
      camera: image.camera,
      receivedAt: image.receivedAt.toISOString(),
    }),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.byteLength);
  return Buffer.concat([json, length, MAGIC]);
}

/** The facts at the end of a spooled file; throws when the file is not a complete spooled image. */
async function readTrailer(file: string): Promise<SpooledImage> {
  const handle = await open(file, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    if (fileSize < TRAILER_TAIL) throw new Error('too short');
    const tail = Buffer.alloc(TRAILER_TAIL);
    await handle.read(tail, 0, TRAILER_TAIL, fileSize - TRAILER_TAIL);
    if (!tail.subarray(4).equals(MAGIC)) throw new Error('no trailer');
    const length = tail.readUInt32BE(0);
    if (length > fileSize - TRAILER_TAIL) throw new Error('bad trailer length');
    const json = Buffer.alloc(length);
    await handle.read(json, 0, length, fileSize - TRAILER_TAIL - length);
    const facts = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
    const size = fileSize - TRAILER_TAIL - length;
    const valid =
      typeof facts.key === 'string' &&
      facts.size === size &&
      typeof facts.sha256 === 'string' &&
      typeof facts.contentType === 'string' &&
      typeof facts.camera === 'string' &&
      typeof facts.receivedAt === 'string' &&
      typeof facts.metadata === 'object' &&
      facts.metadata !== null;
    if (!valid) throw new Error('incomplete trailer');
    return {
      file,
      key: facts.key as string,
      size,
      sha256: facts.sha256 as string,
      contentType: facts.contentType as string,
      metadata: facts.metadata as Record<string, string>,
      camera: facts.camera as string,
      receivedAt: new Date(facts.receivedAt as string),
    };
  } finally {
    await handle.close();
  }
}
