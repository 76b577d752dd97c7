import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { formatBytes } from './byte-size.js';
import { RequestBodyError, UploadError } from './errors.js';
import type { MediaKind } from './media-types.js';

/** What an {@link ImageBody} checks beyond the size limit. */
export interface BodyHashing {
  /** Hash the body with SHA-256 as it streams, so that {@link ImageBody.sha256} can answer. */
  sha256: boolean;
  /**
   * The SHA-256 (lowercase hex) the body must have: a body that ends with another fails with 400
   * before its end reaches the reader, so a store keeps nothing of it. Implies hashing.
   */
  expectedSha256?: string | undefined;
  /** What the 413 says when the body is over the limit (the default names --max-bytes). */
  tooLargeMessage?: string;
}

/** A size limit and what the 413 says when a body crosses it. */
export interface SizeLimit {
  maxBytes: number;
  message: string;
}

/**
 * Reads a request body once: first its leading bytes (for the signature check), then the whole
 * body as a stream that counts (and, when asked, hashes) what passes and fails with 413 as soon as
 * the limit is crossed, whether or not a `Content-Length` announced the size. The limit can be
 * changed once the leading bytes told what the body is ({@link restrict}): an image and a clip
 * have limits of their own.
 */
export class ImageBody {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly hash: Hash | undefined;
  private readonly expectedSha256: string | undefined;
  private maxBytes: number;
  private tooLargeMessage: string;
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;
  /** No more reading: the source ended, failed or was cancelled. */
  private done = false;
  /** The source ended: every byte of the body was read from it. */
  private ended = false;
  private digest: string | undefined;
  /** Bytes that went through {@link stream} so far. */
  bytes = 0;

  constructor(source: AsyncIterable<Uint8Array>, maxBytes: number, hashing: BodyHashing = { sha256: false }) {
    this.iterator = source[Symbol.asyncIterator]();
    this.maxBytes = maxBytes;
    this.expectedSha256 = hashing.expectedSha256;
    this.tooLargeMessage = hashing.tooLargeMessage ?? tooLargeMessage('image', maxBytes);
    this.hash = hashing.sha256 || hashing.expectedSha256 !== undefined ? createHash('sha256') : undefined;
  }

  /** At least `count` leading bytes, or fewer if the body is shorter. */
  async head(count: number): Promise<Uint8Array> {
    while (this.bufferedBytes < count && !this.done) {
      const chunk = await this.next();
      if (chunk === undefined) break;
      this.buffered.push(chunk);
      this.bufferedBytes += chunk.byteLength;
      this.ensureWithinLimit(this.bufferedBytes);
    }
    return this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
  }

  /**
   * Holds the body to another limit from now on, e.g. a clip's once its leading bytes said it is
   * one; fails with 413 at once when what was read already is over it.
   */
  restrict(limit: SizeLimit): void {
    this.maxBytes = limit.maxBytes;
    this.tooLargeMessage = limit.message;
    this.ensureWithinLimit(Math.max(this.bytes, this.bufferedBytes));
  }

  /** The whole body, from the first byte. Read it once. */
  async *stream(): AsyncGenerator<Uint8Array> {
    const head = this.buffered;
    this.buffered = [];
    for (const chunk of head) yield this.pass(chunk);
    for (;;) {
      const chunk = await this.next();
      if (chunk === undefined) break;
      yield this.pass(chunk);
    }
    // Before the reader sees the end, so that it can ask for the hash right away (a store signs with
    // it), and so that a body that is not what its client hashed fails before a store commits it.
    if (this.ended && this.hash) {
      this.digest = this.hash.digest('hex');
      if (this.expectedSha256 !== undefined && this.digest !== this.expectedSha256) {
        throw new UploadError(400, digestMismatchMessage);
      }
    }
  }

  /**
   * SHA-256 of the whole body, lowercase hex, for a body read with hashing on. Known once
   * {@link stream} has passed the body's last byte (throws before that, after the body was
   * cancelled, or when it is not hashed); every call answers the same.
   */
  sha256(): string {
    if (this.hash === undefined) throw new Error('This body is not hashed');
    if (this.digest === undefined) throw new Error('The SHA-256 of a body is known only once the body was read to its end');
    return this.digest;
  }

  /** Stops reading the source, e.g. after a rejection. */
  async cancel(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.iterator.return?.();
    }
  }

  private pass(chunk: Uint8Array): Uint8Array {
    this.bytes += chunk.byteLength;
    this.ensureWithinLimit(this.bytes);
    this.hash?.update(chunk);
    return chunk;
  }

  private ensureWithinLimit(bytes: number): void {
    if (bytes > this.maxBytes) {
      throw new UploadError(413, this.tooLargeMessage);
    }
  }

  private async next(): Promise<Uint8Array | undefined> {
    if (this.done) return undefined;
    let result: IteratorResult<Uint8Array>;
    try {
      result = await this.iterator.next();
    } catch (error) {
      this.done = true;
      // A source that refuses the body itself (a multipart body with two files, a deadline) says why.
      if (error instanceof UploadError || error instanceof RequestBodyError) throw error;
      throw new RequestBodyError({ cause: error });
    }
    if (result.done) {
      this.done = true;
      this.ended = true;
      return undefined;
    }
    return result.value;
  }
}

const digestMismatchMessage =
  'The body does not match its Content-Digest: the image was damaged on the way, or the digest was computed over other bytes. Nothing was stored; send it again.';

/** What a 413 of the self-hosted receiver says: the limit of the kind, and the option that sets it. */
export function tooLargeMessage(kind: MediaKind, maxBytes: number): string {
  return kind === 'clip'
    ? `The clip is larger than this receiver accepts (${formatBytes(maxBytes)}). Shorten the clip (the action's pre/post durations, or how long an "unlimited" clip records), lower the stream profile's bit rate, or raise the receiver's --max-clip-bytes.`
    : `The image is larger than this receiver accepts (${formatBytes(maxBytes)}). Lower the camera's resolution or JPEG quality, or raise the receiver's --max-bytes.`;
}
