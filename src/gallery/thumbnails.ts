/**
 * Small JPEG renditions of stored images, made with sharp (libvips) and cached: in memory, and in
 * a folder when one is given, so a restart (or an S3 store that charges per GET) does not pay for
 * them again. A key's bytes never change (stores never overwrite), so a rendition never goes stale.
 *
 * sharp is loaded at the first rendition, not with this module: libvips would otherwise take
 * 15 MB and more of resident memory in every receiver, including those whose gallery is never opened.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rm, stat, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type sharp from 'sharp';
import type { ImageStore } from '../core/store.js';
import { writeFileAtomically } from '../files/durable.js';
import { TaskLimiter } from './cache.js';

/** `thumb` for grids (≈ 10–20 KB), `preview` for cards and the time-lapse player. */
export type RenditionName = 'thumb' | 'preview';

export const RENDITIONS: Record<RenditionName, { width: number; height: number; quality: number }> = {
  thumb: { width: 320, height: 240, quality: 70 },
  preview: { width: 960, height: 720, quality: 72 },
};

/** Bumped when renditions change, so cached files of the old kind are not used. */
const RENDITION_VERSION = 1;
/** Larger images are not decoded (a 100 MP image is far beyond any camera's snapshot). */
const MAX_INPUT_PIXELS = 100_000_000;

export interface ThumbnailOptions {
  store: ImageStore;
  /** A folder for rendered files that outlives the process; memory only when unset. */
  cacheDir?: string;
  /** Bytes the folder may hold; beyond, the least recently used files go. */
  cacheDirMaxBytes?: number;
  /** Bytes held in memory. */
  memoryBytes?: number;
  /** Images decoded at once. */
  concurrency?: number;
}

let sharpLoading: Promise<typeof sharp> | undefined;

/** sharp, imported at the first call (see the module comment); later calls share that import. */
function loadSharp(): Promise<typeof sharp> {
  sharpLoading ??= import('sharp').then((module) => module.default);
  return sharpLoading;
}

/** The image could not be decoded (not an image, a format without a decoder here, damaged). */
export class RenditionError extends Error {
  constructor(key: string, options?: { cause?: unknown }) {
    super(`Cannot make a preview of ${key}`, options);
    this.name = 'RenditionError';
  }
}

export class ThumbnailService {
  /** What happened so far, for tests and logs. */
  readonly counts = { rendered: 0, memoryHits: 0, diskHits: 0 };
  private readonly store: ImageStore;
  private readonly cacheDir: string | undefined;
  private readonly cacheDirMaxBytes: number;
  private readonly memoryBytes: number;
  private readonly memory = new Map<string, Buffer>();
  private memoryUsed = 0;
  private readonly inFlight = new Map<string, Promise<Buffer | undefined>>();
  private readonly limiter: TaskLimiter;
  private diskUsed: Promise<number> | undefined;
  private pruning = false;

  constructor(options: ThumbnailOptions) {
    this.store = options.store;
    this.cacheDir = options.cacheDir;
    this.cacheDirMaxBytes = options.cacheDirMaxBytes ?? 512 * 1024 * 1024;
    this.memoryBytes = options.memoryBytes ?? 32 * 1024 * 1024;
    this.limiter = new TaskLimiter(options.concurrency ?? Math.max(2, os.availableParallelism()));
  }

  /**
   * The JPEG rendition of `key`, or undefined when the store has no such object.
   * @throws {@link RenditionError} when the object cannot be decoded as an image.
   */
  async get(key: string, rendition: RenditionName): Promise<Buffer | undefined> {
    const id = createHash('sha256').update(`${RENDITION_VERSION}\0${rendition}\0${key}`).digest('hex');
    const remembered = this.memory.get(id);
    if (remembered) {
      this.counts.memoryHits++;
      this.memory.delete(id);
      this.memory.set(id, remembered);
      return remembered;
    }
    let pending = this.inFlight.get(id);
    if (!pending) {
      pending = this.load(id, key, rendition).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }

  private async load(id: string, key: string, rendition: RenditionName): Promise<Buffer | undefined> {
    const file = this.cacheDir === undefined ? undefined : path.join(this.cacheDir, id.slice(0, 2), `${id}.jpg`);
    if (file) {
      const cached = await readFile(file).catch(() => undefined);
      if (cached) {
        this.counts.diskHits++;
        // Touched, so pruning removes the least recently used.
        const now = new Date();
        await utimes(file, now, now).catch(() => undefined);
        this.remember(id, cached);
        return cached;
      }
    }
    const rendered = await this.limiter.run(() => this.render(key, rendition));
    if (!rendered) return undefined;
    this.counts.rendered++;
    this.remember(id, rendered);
    if (file) await this.keep(file, rendered);
    return rendered;
  }

  private async render(key: string, rendition: RenditionName): Promise<Buffer | undefined> {
    const content = await this.store.read(key);
    if (!content) return undefined;
    const chunks: Uint8Array[] = [];
    for await (const chunk of content.body) chunks.push(chunk);
    const { width, height, quality } = RENDITIONS[rendition];
    const createSharp = await loadSharp();
    try {
      return await createSharp(Buffer.concat(chunks), { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
        .rotate()
        .resize({ width, height, fit: 'inside', withoutEnlargement: true })
        .jpeg({ quality, mozjpeg: true })
        .toBuffer();
    } catch (error) {
      throw new RenditionError(key, { cause: error });
    }
  }

  private remember(id: string, body: Buffer): void {
    this.memory.set(id, body);
    this.memoryUsed += body.byteLength;
    while (this.memoryUsed > this.memoryBytes && this.memory.size > 0) {
      const [oldest, dropped] = this.memory.entries().next().value!;
      this.memory.delete(oldest);
      this.memoryUsed -= dropped.byteLength;
    }
  }

  /**
   * Writes a rendition to the folder, then prunes if it is full. Durably, like every file: a
   * cached file is served as it is, without a check, so one a power cut left empty would stay a
   * broken thumbnail while it is viewed; the fsyncs cost little beside the rendering they save.
   */
  private async keep(file: string, body: Buffer): Promise<void> {
    try {
      this.diskUsed ??= this.measureDisk();
      await writeFileAtomically(file, body);
      const used = (await this.diskUsed) + body.byteLength;
      this.diskUsed = Promise.resolve(used);
      if (used > this.cacheDirMaxBytes && !this.pruning) await this.prune(file);
    } catch {
      // The folder is a cache: failing to fill it only costs a render next time.
    }
  }

  private async measureDisk(): Promise<number> {
    return (await this.cachedFiles()).reduce((sum, file) => sum + file.size, 0);
  }

  /** Removes the least recently used files (but `newest`) until the folder holds 80 % of its limit. */
  private async prune(newest: string): Promise<void> {
    this.pruning = true;
    try {
      const files = (await this.cachedFiles()).sort((a, b) => a.used - b.used);
      let used = files.reduce((sum, file) => sum + file.size, 0);
      for (const file of files) {
        if (used <= this.cacheDirMaxBytes * 0.8) break;
        if (file.path === newest) continue;
        await rm(file.path, { force: true });
        used -= file.size;
      }
      this.diskUsed = Promise.resolve(used);
    } finally {
      this.pruning = false;
    }
  }

  private async cachedFiles(): Promise<Array<{ path: string; size: number; used: number }>> {
    if (this.cacheDir === undefined) return [];
    const entries = await readdir(this.cacheDir, { recursive: true, withFileTypes: true }).catch(() => []);
    const files = await Promise.all(
      entries
        .filter((entry) => entry.isFile() && entry.name.endsWith('.jpg'))
        .map(async (entry) => {
          const file = path.join(entry.parentPath, entry.name);
          const info = await stat(file).catch(() => undefined);
          return info ? { path: file, size: info.size, used: info.mtimeMs } : undefined;
        }),
    );
    return files.filter((file) => file !== undefined);
  }
}
