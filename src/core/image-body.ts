import { createHash } from 'node:crypto';
import { RequestBodyError, UploadError } from './errors.js';

/**
 * Reads a request body once: first its leading bytes (for the signature check), then the whole
 * body as a stream that counts and hashes what passes and fails with 413 as soon as the limit is
 * crossed, whether or not a `Content-Length` announced the size.
 */
export class ImageBody {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly hash = createHash('sha256');
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;
  /** No more reading: the source ended, failed or was cancelled. */
  private done = false;
  /** The source ended: every byte of the body was read from it. */
  private ended = false;
  private digest: string | undefined;
  /** Bytes that went through {@link stream} so far. */
  bytes = 0;

  constructor(
    source: AsyncIterable<Uint8Array>,
    private readonly maxBytes: number,
  ) {
    this.iterator = source[Symbol.asyncIterator]();
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
    // Before the reader sees the end, so that it can ask for the hash right away (a store signs with it).
    if (this.ended) this.digest = this.hash.digest('hex');
  }

  /**
   * SHA-256 of the whole body, lowercase hex. Known once {@link stream} has passed the body's last
   * byte (throws before that, or after the body was cancelled); every call answers the same.
   */
  sha256(): string {
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
    this.hash.update(chunk);
    return chunk;
  }

  private ensureWithinLimit(bytes: number): void {
    if (bytes > this.maxBytes) {
      throw new UploadError(413, tooLargeMessage(this.maxBytes));
    }
  }

  private async next(): Promise<Uint8Array | undefined> {
    if (this.done) return undefined;
    let result: IteratorResult<Uint8Array>;
    try {
      result = await this.iterator.next();
    } catch (error) {
      this.done = true;
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

export function tooLargeMessage(maxBytes: number): string {
  return `The image is larger than this receiver accepts (${formatBytes(maxBytes)}). Lower the camera's resolution or JPEG quality, or raise the receiver's --max-bytes.`;
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, '')} MB` : `${bytes} bytes`;
}
