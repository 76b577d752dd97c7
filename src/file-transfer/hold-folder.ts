/**
 * Files uploaded under a temporary name, held on the receiver's disk until the client renames them
 * to their final name (RNFR/RNTO); only then do they go through the contract and into the store,
 * under the final name, once. See the README's "FTP and FTPS" section.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rm, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StoreFullError, UploadError } from '../core/errors.js';
import type { SizeLimit } from '../core/image-body.js';
import { openFileStart, writeBody } from '../stores/files.js';

/** Most bytes held at once by all sessions together: a few clips, many images. */
export const DEFAULT_HOLD_BUDGET_BYTES = 2 * 1024 * 1024 * 1024;

/** A held file: where it is on disk, and its size. */
export interface HeldFile {
  file: string;
  bytes: number;
}

const PREFIX = 'held-';

export class HoldFolder {
  private heldBytes = 0;

  constructor(
    readonly folder: string,
    readonly budgetBytes = DEFAULT_HOLD_BUDGET_BYTES,
  ) {}

  /**
   * Makes the folder (mode 0700) and removes files held by an earlier run: their sessions ended
   * with the process that held them, before any rename, so no client was told they were stored.
   */
  async open(): Promise<void> {
    await mkdir(this.folder, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.folder)) {
      if (name.startsWith(PREFIX)) await rm(path.join(this.folder, name), { force: true });
    }
  }

  /**
   * Writes `body` to a new held file, with backpressure (memory stays flat whatever the size). Fails
   * with 413 past `limit`, with 507 when the files held by all sessions would pass the budget, or
   * with the body's own error; nothing is left behind then.
   */
  async hold(body: AsyncIterable<Uint8Array>, limit: SizeLimit): Promise<HeldFile> {
    const file = path.join(this.folder, `${PREFIX}${randomUUID()}`);
    let bytes = 0;
    const counted = async function* (this: HoldFolder): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) {
        bytes += chunk.byteLength;
        this.heldBytes += chunk.byteLength;
        if (bytes > limit.maxBytes) throw new UploadError(413, limit.message);
        if (this.heldBytes > this.budgetBytes) throw new StoreFullError(`FTP hold folder ${this.folder} is over its budget of ${this.budgetBytes} bytes`, { callerMessage: heldFullMessage });
        yield chunk;
      }
    }.call(this);
    let handle: FileHandle | undefined;
    try {
      handle = await open(file, 'wx', 0o600);
      // As the disk store writes: one write in flight, what arrives meanwhile gathered into the next.
      await writeBody(handle, counted);
      await handle.close();
      handle = undefined;
      return { file, bytes };
    } catch (error) {
      await handle?.close().catch(() => undefined);
      this.heldBytes -= bytes;
      await rm(file, { force: true });
      throw error;
    }
  }

  /**
   * Hands the bytes of a held file to `use` (read in large chunks: one or a few reads for an
   * image), then removes the file, whatever `use` did with them. A file that cannot be read fails
   * `use`'s reading, not this call.
   */
  async consume<T>(held: HeldFile, use: (body: AsyncIterable<Uint8Array>) => Promise<T>): Promise<T> {
    let stream: Readable | undefined;
    let body: AsyncIterable<Uint8Array>;
    try {
      stream = held.bytes === 0 ? undefined : await openFileStart(held.file, held.bytes);
      body = stream ?? nothing();
    } catch (error) {
      body = failing(error);
    }
    try {
      return await use(body);
    } finally {
      // Closed also when `use` did not read it all (the file was refused at once).
      stream?.destroy();
      await this.release(held);
    }
  }

  /** Removes a held file (after it was stored, refused or abandoned). */
  async release(held: HeldFile): Promise<void> {
    this.heldBytes -= held.bytes;
    await unlink(held.file).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
  }
}

/** No bytes: a held file of none. */
function nothing(): AsyncIterable<Uint8Array> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ value: undefined, done: true }) }) };
}

/** Bytes whose reading fails with `error`. */
function failing(error: unknown): AsyncIterable<Uint8Array> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error instanceof Error ? error : new Error(String(error))) }) };
}

const heldFullMessage =
  'The receiver holds too many files uploaded under temporary names and not yet renamed; the file was not kept. Try again shortly.';
