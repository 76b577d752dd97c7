import type { FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { access, open, statfs } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { StoreFullError, StoreUnavailableError } from '../core/errors.js';

/**
 * Writing image files durably: what the disk store and the spool share.
 *
 * @module
 */

/** Bytes received while a write to the file is in flight before reading waits for it. */
const MAX_PENDING_BYTES = 256 * 1024;

/**
 * Writes a body to a file with at most one write in flight; chunks that arrive meanwhile go out
 * together in the next `writev`. Reading waits once {@link MAX_PENDING_BYTES} are waiting.
 */
export async function writeBody(file: FileHandle, body: AsyncIterable<Uint8Array>): Promise<void> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let inFlight: Promise<void> | undefined;
  let failure: { error: unknown } | undefined;
  const flush = (): void => {
    const chunks = pending;
    pending = [];
    pendingBytes = 0;
    inFlight = writeAll(file, chunks).then(
      () => {
        inFlight = undefined;
        if (pending.length > 0 && failure === undefined) flush();
      },
      (error: unknown) => {
        failure = { error };
        inFlight = undefined;
      },
    );
  };
  try {
    for await (const chunk of body) {
      if (failure) throw failure.error;
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
      if (inFlight === undefined) flush();
      else if (pendingBytes >= MAX_PENDING_BYTES) await inFlight;
    }
  } finally {
    // Also when reading failed: no write may still be running when the caller closes the file.
    while (inFlight !== undefined) await inFlight;
  }
  if (failure) throw failure.error;
  if (pending.length > 0) await writeAll(file, pending);
}

/** `writev` until every byte is written (a regular file may take fewer bytes than asked). */
async function writeAll(file: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let remaining = chunks;
  while (remaining.length > 0) {
    const { bytesWritten } = await file.writev(remaining);
    let skip = bytesWritten;
    while (remaining.length > 0 && skip >= remaining[0]!.byteLength) {
      skip -= remaining[0]!.byteLength;
      remaining = remaining.slice(1);
    }
    if (skip > 0) remaining = [remaining[0]!.subarray(skip), ...remaining.slice(1)];
  }
}

/**
 * The free space of `root`'s filesystem, after checking that `writable` (a folder in it) can be
 * written; failures become the store errors of {@link fileStoreError}.
 */
export async function writableFreeBytes(writable: string, root: string): Promise<number> {
  try {
    await access(writable, constants.W_OK);
    const space = await statfs(root);
    return space.bavail * space.bsize;
  } catch (error) {
    throw fileStoreError(error, root);
  }
}

/** Read size for image files: most images in one or a few reads, little memory per reader. */
const FILE_READ_BYTES = 1024 * 1024;

/**
 * The first `size` bytes of a file as a stream, the file opened first: a missing file fails here,
 * as a rejected promise, not later as an 'error' event nobody may be listening to yet.
 */
export async function openFileStart(file: string, size: number): Promise<Readable> {
  const handle = await open(file, 'r');
  // Large reads: 64 KB ones cost the forwarder a third more CPU per image (bench S7).
  const stream = handle.createReadStream({ start: 0, end: size - 1, highWaterMark: FILE_READ_BYTES });
  // A read error mid-stream reaches the reader through its request or loop failing; it must not also crash the process.
  stream.on('error', () => undefined);
  return stream;
}

/**
 * Store-level failures become the errors the contract maps to 503 and 507; others pass. ENOTDIR:
 * something that is not a folder where the store's folder (or one inside it) belongs.
 */
export function fileStoreError(error: unknown, root: string): unknown {
  if (isCode(error, 'ENOSPC') || isCode(error, 'EDQUOT')) {
    return new StoreFullError(`No space left in ${root}`, { cause: error });
  }
  if (['EACCES', 'EPERM', 'EROFS', 'EIO', 'ENOENT', 'ENOTDIR', 'EMFILE', 'ENFILE'].some((code) => isCode(error, code))) {
    return new StoreUnavailableError(`Cannot use ${root}: ${(error as Error).message}`, { cause: error });
  }
  return error;
}

/** Whether, and with what, reading an image's body failed (see {@link watchedBody}). */
export interface BodyReading {
  failure?: { error: unknown };
}

/**
 * `body`, noting in `reading` the error it fails with: a store rethrows that error as it is (see
 * `ImageWrite.body`), even one with an errno code (a spooled file that cannot be read), and turns
 * only its own failures into store errors.
 */
export async function* watchedBody(body: AsyncIterable<Uint8Array>, reading: BodyReading): AsyncGenerator<Uint8Array> {
  try {
    yield* body;
  } catch (error) {
    reading.failure = { error };
    throw error;
  }
}

export function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
