import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, readdir, rm, rmdir, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { StoreFullError, StoreKeysTakenError, StoreUnavailableError } from '../core/errors.js';
import { MAX_KEY_ATTEMPTS, compareFolders } from '../core/store.js';
import type { ByteRange, ImageStore, ImageWrite, ObjectContent, ObjectFacts, StoredObject } from '../core/store.js';
import { mediaTypeForName } from '../core/media-types.js';
import { SharedFolders, syncFolder } from '../files/durable.js';
import type { FolderHold } from '../files/durable.js';
import { fileStoreError as storeError, isCode, watchedBody, writableFreeBytes, writeBody } from './files.js';
import type { BodyReading } from './files.js';

/** Folder, inside the store's root, for files still being received. Keys never start with a dot. */
const INCOMING = '.incoming';
/** Temporary files older than this at start-up are left over from a crash. */
const STALE_INCOMING_MS = 60 * 60 * 1000;
/** Free space below which `check()` reports the store as full. */
export const DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024;

export interface DiskStoreOptions {
  /**
   * fsync each image and its folder before a write resolves (the default), so that a 2xx means the
   * image survives a power cut. Off, a write still never overwrites and is still visible only
   * once complete, but the last seconds of images before a power cut or kernel crash (not a
   * crash of the receiver) can be lost or left empty.
   */
  fsync?: boolean;
}

/**
 * Images as files under a root folder, one file per key.
 *
 * A write streams into a temporary file in the same filesystem, fsyncs it, then hard-links it
 * under its key (`link` fails rather than replace an existing file, so no image is ever
 * overwritten), and fsyncs the folder so the new name survives a power cut. Readers never see a
 * partial file, and a failed write leaves no file behind. The file is closed while it is linked,
 * and the temporary name removed while the folder is fsynced; writes into one folder that overlap
 * share one handle of it for those fsyncs (see `SharedFolders`). Besides the writes of its bytes,
 * an image takes six round trips through the thread pool (open, fsync, close, link, unlink, the
 * folder's fsync) plus the folder's open and close when no other write into it is under way.
 *
 * The body goes to the file with at most one write in flight: what arrives meanwhile is written
 * with the next (one `writev`), so a busy thread pool means fewer, larger writes rather than a
 * queue of small ones. (Concurrent fsyncs of one folder are left to the filesystem, which
 * commits them together: sharing them in the receiver measured slower.)
 */
export class DiskStore implements ImageStore {
  readonly root: string;
  private readonly incoming: string;
  /** The folders that writes under way fsync, each opened once while they overlap. */
  private readonly folders = new SharedFolders();

  /** Whether a write fsyncs the file and its folder before it resolves (see {@link DiskStoreOptions.fsync}). */
  readonly fsync: boolean;

  constructor(
    root: string,
    /** Below this much free space the store reports itself not ready (it still takes what fits). */
    private readonly minFreeBytes = DEFAULT_MIN_FREE_BYTES,
    options: DiskStoreOptions = {},
  ) {
    this.root = path.resolve(root);
    this.incoming = path.join(this.root, INCOMING);
    this.fsync = options.fsync ?? true;
  }

  get location(): string {
    return `file:${this.root}`;
  }

  async open(): Promise<void> {
    await mkdir(this.incoming, { recursive: true });
    await this.removeStaleIncoming();
  }

  async write(image: ImageWrite): Promise<{ key: string }> {
    const temporary = path.join(this.incoming, `${randomUUID()}.part`);
    let file: FileHandle | undefined;
    let temporaryLeft = true;
    let folder: FolderHold | undefined;
    const reading: BodyReading = {};
    try {
      // Writes into the same folder under way at once share its handle for their fsyncs.
      if (this.fsync) folder = this.folders.hold(path.dirname(this.pathFor(image.key)));
      file = await this.createIncoming(temporary);
      await writeBody(file, watchedBody(image.body, reading));
      if (this.fsync) await file.sync();
      // The bytes are all written (and durable, with fsync): the file is closed while it gets its name.
      const closing = file.close();
      file = undefined;
      const [closed, linked] = await Promise.allSettled([closing, this.linkUnderFreeKey(temporary, image)]);
      if (linked.status === 'rejected') throw linked.reason;
      const placed = linked.value;
      if (closed.status === 'rejected') {
        // A close may report a write-back error (on some file systems): the bytes may not all be there.
        if (placed.linked) await unlink(placed.file).catch(() => undefined);
        throw closed.reason;
      }
      // The temporary name goes while the new one is made durable.
      temporaryLeft = false;
      await Promise.all([unlink(temporary).catch(() => undefined), this.fsync && this.syncFolderOf(placed.file, folder!)]);
      return { key: placed.key };
    } catch (error) {
      throw reading.failure ? reading.failure.error : storeError(error, this.root);
    } finally {
      await file?.close().catch(() => undefined);
      await Promise.all([temporaryLeft && unlink(temporary).catch(() => undefined), folder?.release()]);
    }
  }

  async *list(prefix = ''): AsyncIterable<StoredObject> {
    yield* this.walk('', prefix);
  }

  async read(key: string, range?: ByteRange): Promise<ObjectContent | undefined> {
    const file = this.pathFor(key);
    try {
      const info = await stat(file);
      if (!info.isFile()) return undefined;
      const part = range && range.start <= range.end && range.start < info.size ? { start: range.start, end: Math.min(range.end, info.size - 1) } : undefined;
      return {
        key,
        size: info.size,
        lastModified: info.mtime,
        contentType: contentTypeFor(key),
        body: createReadStream(file, part),
        ...(part && { range: part }),
      };
    } catch (error) {
      return this.missing(error, undefined);
    }
  }

  async listFolders(prefix: string): Promise<string[]> {
    const folder = prefix === '' ? this.root : this.pathFor(prefix.replace(/\/+$/, ''));
    try {
      const entries = await readdir(folder, { withFileTypes: true });
      return entries
        .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
        .map((entry) => entry.name)
        .sort(compareFolders);
    } catch (error) {
      return this.missing(error, []);
    }
  }

  async head(key: string): Promise<ObjectFacts | undefined> {
    try {
      const info = await stat(this.pathFor(key));
      if (!info.isFile()) return undefined;
      return { key, size: info.size, lastModified: info.mtime, contentType: contentTypeFor(key), metadata: {} };
    } catch (error) {
      return this.missing(error, undefined);
    }
  }

  /**
   * What a read that found no file answers: `nothing` when the store's folder is there (no object
   * under that key), StoreUnavailableError when the folder itself is gone or is not a folder. Other
   * failures become store errors too.
   */
  private async missing<T>(error: unknown, nothing: T): Promise<T> {
    if (!isCode(error, 'ENOENT') && !isCode(error, 'ENOTDIR')) throw storeError(error, this.root);
    const root = await stat(this.root).catch((rootError: unknown) => {
      throw storeError(rootError, this.root);
    });
    if (!root.isDirectory()) throw new StoreUnavailableError(`Cannot use ${this.root}: it is not a folder`);
    return nothing;
  }

  async check(): Promise<void> {
    const free = await writableFreeBytes(this.incoming, this.root);
    if (free < this.minFreeBytes) {
      throw new StoreFullError(`Only ${Math.floor(free / 1024 / 1024)} MB free in ${this.root}`);
    }
  }

  /**
   * Deletes images last modified before `cutoff` (their receive time: stored files are never
   * modified), then the folders that became empty. Safe beside uploads: a folder is only removed
   * when it is empty and old itself, and a write whose folder vanished makes it again.
   */
  async removeOlderThan(cutoff: Date): Promise<{ removed: number; bytes: number }> {
    let removed = 0;
    let bytes = 0;
    for await (const object of this.list()) {
      if (object.lastModified >= cutoff) continue;
      try {
        await unlink(this.pathFor(object.key));
        removed++;
        bytes += object.size;
      } catch (error) {
        if (!isCode(error, 'ENOENT')) throw error;
      }
    }
    await this.removeEmptyFolders(this.root, cutoff);
    return { removed, bytes };
  }

  async close(): Promise<void> {}

  /** fsyncs the folder of `file`, through the handle writes into it share when it is the folder held. */
  private async syncFolderOf(file: string, held: FolderHold): Promise<void> {
    const folder = path.dirname(file);
    // An alternate key may lie in another folder than the preferred one.
    await (held.folder === folder ? held.sync() : syncFolder(folder));
  }

  /** Creates the temporary file, recreating the folder if someone removed it while running. */
  private async createIncoming(temporary: string): Promise<FileHandle> {
    try {
      return await open(temporary, 'wx', 0o640);
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error;
      await mkdir(this.incoming, { recursive: true });
      return await open(temporary, 'wx', 0o640);
    }
  }

  /**
   * Links the temporary file under the image's key, or an alternate one if that is taken (unless
   * the file there is this very image, see `ImageWrite.isSameImage`): the key, its file, and
   * whether the file was linked now (rather than found there).
   */
  private async linkUnderFreeKey(temporary: string, image: ImageWrite): Promise<Placed> {
    let key = image.key;
    for (let attempt = 1; ; attempt++) {
      const file = this.pathFor(key);
      try {
        await this.linkInto(temporary, file);
        return { key, file, linked: true };
      } catch (error) {
        if (!isCode(error, 'EEXIST')) throw error;
      }
      if (image.isSameImage) {
        const existing = await this.head(key);
        if (existing && image.isSameImage(existing)) return { key, file, linked: false };
      }
      if (attempt >= MAX_KEY_ATTEMPTS) throw new StoreKeysTakenError(image.key, attempt);
      key = image.alternateKey();
    }
  }

  /**
   * Links `temporary` at `target` (never replacing a file), making the folder when it is missing
   * (new, or just removed by retention): a folder made anew is not the one a kept handle may
   * still have open, so its fsyncs open it afresh.
   */
  private async linkInto(temporary: string, target: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await link(temporary, target);
        return;
      } catch (error) {
        if (!isCode(error, 'ENOENT') || attempt >= 3) throw error;
      }
      const folder = path.dirname(target);
      this.folders.replaced(folder);
      const made = await mkdir(folder, { recursive: true });
      // A folder made now (a camera's new day) is a new name in its parent: made durable too.
      if (made !== undefined && this.fsync) {
        for (let created = folder; ; created = path.dirname(created)) {
          await syncFolder(path.dirname(created));
          if (created === made || created === path.dirname(created)) break;
        }
      }
    }
  }

  /** Removes empty folders below `folder` that are older than `cutoff`; true when `folder` is left empty. */
  private async removeEmptyFolders(folder: string, cutoff: Date): Promise<boolean> {
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    let empty = true;
    for (const entry of entries) {
      if (entry.name.startsWith('.') || !entry.isDirectory()) {
        empty = false;
        continue;
      }
      const child = path.join(folder, entry.name);
      const childEmpty = await this.removeEmptyFolders(child, cutoff);
      const info = childEmpty ? await stat(child).catch(() => undefined) : undefined;
      if (info && info.mtime < cutoff) {
        await rmdir(child).catch(() => (empty = false));
      } else {
        empty = false;
      }
    }
    return empty;
  }

  /** The file for a key; keys are sanitised already, this is a second fence. */
  private pathFor(key: string): string {
    const file = path.resolve(this.root, ...key.split('/'));
    if (!file.startsWith(this.root + path.sep) || key.split('/').some((part) => part.startsWith('.'))) {
      throw new Error(`Key "${key}" is outside the store`);
    }
    return file;
  }

  private async *walk(folder: string, prefix: string): AsyncGenerator<StoredObject> {
    let entries;
    try {
      entries = await readdir(path.join(this.root, folder), { withFileTypes: true });
    } catch (error) {
      // A folder removed meanwhile (retention) holds nothing; the store's own folder gone is a failure.
      await this.missing(error, undefined);
      return;
    }
    // Key order as S3 lists it (UTF-8 bytes): a folder's keys all start with `name/`, and "-" or
    // "." sort before "/", so `front-door/x` and `front.jpg` come before `front/x`.
    const sortName = (entry: { name: string; isDirectory(): boolean }): Buffer =>
      Buffer.from(entry.isDirectory() ? `${entry.name}/` : entry.name);
    entries.sort((a, b) => Buffer.compare(sortName(a), sortName(b)));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const key = folder === '' ? entry.name : `${folder}/${entry.name}`;
      if (entry.isDirectory()) {
        // Only descend where keys with the prefix can be.
        if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) yield* this.walk(key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const info = await stat(path.join(this.root, key)).catch(() => undefined);
        if (info) yield { key, size: info.size, lastModified: info.mtime };
      }
    }
  }

  private async removeStaleIncoming(): Promise<void> {
    const cutoff = Date.now() - STALE_INCOMING_MS;
    for (const name of await readdir(this.incoming)) {
      const file = path.join(this.incoming, name);
      const info = await stat(file).catch(() => undefined);
      if (info && info.mtimeMs < cutoff) await rm(file, { force: true });
    }
  }
}

/** Where a write's image went: its key and file; `linked` false when the file there was this image already. */
interface Placed {
  key: string;
  file: string;
  linked: boolean;
}

function contentTypeFor(key: string): string {
  return mediaTypeForName(key)?.mediaType ?? 'application/octet-stream';
}
