import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import type { CompletedPart, PutObjectCommandInput } from '@aws-sdk/client-s3';
import { RequestBodyError, StoreError, StoreFullError, StoreKeysTakenError, StoreUnavailableError, UploadError } from '../core/errors.js';
import { MAX_KEY_ATTEMPTS } from '../core/store.js';
import type { ByteRange, ImageStore, ImageWrite, ObjectContent, ObjectFacts, StoredObject } from '../core/store.js';
import { openFileStart } from './files.js';
import { MemoryBudget } from './memory-budget.js';

/**
 * Whether the store refuses `PutObject` with `If-None-Match: *` on an existing key (AWS S3 since
 * 2024, Ceph RGW, MinIO, Garage) or ignores it and overwrites (some fakes and older servers).
 * `auto` finds out once at start-up by writing a probe object twice.
 */
export type ConditionalWrites = 'auto' | 'yes' | 'no';

export interface S3StoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix inside the bucket, e.g. `cameras/`. */
  prefix?: string;
  conditionalWrites?: ConditionalWrites;
  /**
   * Images up to this size are held in memory and sent in one `PutObject`, signed with the SHA-256
   * of the body (the receiver's hash where {@link ImageWrite.sha256} gives it), so the store checks
   * the bytes; larger ones go as a multipart upload of parts of this size, each part signed with the
   * SHA-256 the SDK computes for it, one part at a time through one buffer. An upload holds one
   * part in memory at most (its announced size, when smaller), never more for a larger image. Spooled images ({@link ImageWrite.file}) are
   * streamed from their file in one `PutObject`, whatever their size, and hold none.
   */
  partSize?: number;
  /**
   * The most bytes of image bodies all writes of this store hold in memory at once. A write
   * reserves what it needs before reading its body (its announced size up to one part, else one
   * part) and waits while the budget is taken.
   */
  memoryBudgetBytes?: number;
}

export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/**
 * Four parts' worth: 4 large uploads at once, or about 65 images of 500 KB. Eight measured 195 MB
 * of peak RSS for 32 concurrent 50 MB uploads (bench S3 memory), four 159–166 MB, no slower.
 */
export const DEFAULT_MEMORY_BUDGET_BYTES = 4 * DEFAULT_PART_SIZE;
/**
 * The SigV4 header that carries the payload's SHA-256. When a request already has it, the signer
 * (`getPayloadHash` in @smithy/signature-v4) signs that value instead of hashing the body.
 */
const PAYLOAD_HASH_HEADER = 'x-amz-content-sha256';
/** Keys recently found taken, so a camera that always sends the same name skips the clash. */
const KNOWN_TAKEN_LIMIT = 10_000;
/**
 * How S3-compatible stores say they are full: Ceph RGW answers a write over a user or bucket quota
 * with 403 QuotaExceeded, MinIO a drive past its free-space threshold with 507 XMinioStorageFull
 * (any 507, Insufficient Storage, counts).
 */
const FULL_CODES = new Set(['QuotaExceeded', 'XMinioStorageFull']);

export { parseS3Location } from './s3-location.js';

export interface S3ClientSettings {
  /** An S3-compatible endpoint; when unset the SDK reads `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`. */
  endpoint?: string;
  region?: string;
  /** Path-style URLs (`host/bucket/key`); defaults to on whenever a custom endpoint is in use. */
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  requestTimeoutMs?: number;
}

/**
 * An S3 client that works with AWS and with S3-compatible servers.
 *
 * Checksums are only computed when an operation requires them: the SDK's default since 2025
 * sends streamed bodies as `aws-chunked` with a CRC32 trailer, which Ceph RGW answers with 411
 * and some servers store as corrupt objects. The bytes are checked all the same: a body held in
 * memory is signed with its SHA-256 (`x-amz-content-sha256`), which the store verifies. For an
 * image, {@link S3Store} signs with the SHA-256 the receiver already computed for its receipt, so
 * the bytes are hashed once, and the store thereby confirms that the receipt's hash is that of the
 * bytes it keeps. (A Content-MD5 on top would check them twice, and cost about a third of the
 * receiver's CPU per image.)
 */
export function createS3Client(settings: S3ClientSettings = {}): S3Client {
  const endpoint = settings.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  const region = settings.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined);
  return new S3Client({
    ...(endpoint !== undefined && { endpoint }),
    ...(region !== undefined && { region }),
    ...(settings.credentials && { credentials: settings.credentials }),
    forcePathStyle: settings.forcePathStyle ?? endpoint !== undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The SDK writes to the console when a streamed request fails ("non-retryable streaming
    // request"); the caller already gets the error and decides about retrying (the spool's forwarder).
    logger: silentLogger,
    // A store that stops answering must fail the upload (503) in bounded time, not only log a warning.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: settings.requestTimeoutMs ?? 30_000, throwOnRequestTimeout: true },
  });
}

/**
 * Images as objects in an S3 bucket (AWS S3 or any S3-compatible store).
 *
 * No overwrite: writes are create-only (`If-None-Match: *`) where the store supports it, and
 * check-then-write where it does not; either way writes to one key are serialised inside this
 * process. On a clash the image goes under an alternate key. A failed write leaves no object and
 * no multipart upload.
 */
export class S3Store implements ImageStore {
  /** Every `PutObject` is signed with its body's SHA-256; the receiver's hash spares hashing it twice. */
  readonly needsSha256 = true;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly memory: MemoryBudget;
  private readonly spareParts: Buffer[] = [];
  private conditionalWrites: ConditionalWrites;
  private readonly knownTaken = new Set<string>();
  private readonly keyLocks = new Map<string, Promise<unknown>>();

  constructor(options: S3StoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.partSize = options.partSize ?? DEFAULT_PART_SIZE;
    this.memory = new MemoryBudget(Math.max(options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES, this.partSize));
    this.conditionalWrites = options.conditionalWrites ?? 'auto';
  }

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  /** Whether create-only writes are in use (known after {@link open}). */
  get usesConditionalWrites(): boolean {
    return this.conditionalWrites === 'yes';
  }

  async open(): Promise<void> {
    await this.check();
    if (this.conditionalWrites === 'auto') {
      this.conditionalWrites = (await this.probeConditionalWrites()) ? 'yes' : 'no';
    }
  }

  async write(image: ImageWrite): Promise<{ key: string }> {
    const { file } = image;
    if (file) {
      try {
        return await this.putWhole(image, () => openFileStart(file.path, file.size), file.size, file.sha256);
      } catch (error) {
        throw storeError(error);
      }
    }
    const small = image.size !== undefined && image.size <= this.partSize;
    const release = await this.memory.reserve(small ? image.size! : this.partSize);
    try {
      return await this.writeFromMemory(image);
    } finally {
      release();
    }
  }

  /** Memory held by image bodies right now, and the most there may be (see {@link S3StoreOptions.memoryBudgetBytes}). */
  get memoryUse(): { reservedBytes: number; budgetBytes: number } {
    return { reservedBytes: this.memory.reservedBytes, budgetBytes: this.memory.totalBytes };
  }

  /** A body read from the request: one part held in memory, then one `PutObject` or a multipart upload. */
  private async writeFromMemory(image: ImageWrite): Promise<{ key: string }> {
    const body = image.body[Symbol.asyncIterator]();
    // When reading the body fails, that error is rethrown as it is: not wrapped, and not replaced by
    // whatever the upload made of it (e.g. an AbortMultipartUpload the store refused).
    let bodyFailure: { error: unknown } | undefined;
    const source: AsyncIterator<Uint8Array> = {
      next: () =>
        body.next().catch((error: unknown) => {
          bodyFailure = { error };
          throw error;
        }),
    };
    // The body goes straight into the buffer it is sent from: exactly its announced size when that
    // fits in one part, else one part, which a larger image then reuses for each of its parts.
    let part = image.size !== undefined && image.size <= this.partSize ? Buffer.allocUnsafe(image.size) : this.takePart();
    let filled = 0;
    let overflow: Uint8Array | undefined;
    for (let next = await source.next(); !next.done; next = await source.next()) {
      const chunk = next.value;
      if (filled + chunk.byteLength > part.length && part.length < this.partSize) {
        // More than announced (only a runtime that does not hold the body to its Content-Length lets that through).
        const whole = this.takePart();
        part.copy(whole, 0, 0, filled);
        part = whole;
      }
      const fits = Math.min(chunk.byteLength, part.length - filled);
      part.set(chunk.subarray(0, fits), filled);
      filled += fits;
      if (fits < chunk.byteLength) {
        overflow = chunk.subarray(fits);
        break;
      }
    }
    try {
      if (overflow === undefined) {
        const whole = part.subarray(0, filled);
        // The body was read to its end, so the writer's hash, if it has one, is known.
        return await this.putWhole(image, () => Promise.resolve(whole), whole.byteLength, image.sha256?.());
      }
      return await this.putInParts(image, part, overflow, source);
    } catch (error) {
      if (bodyFailure) throw bodyFailure.error;
      throw storeError(error);
    } finally {
      this.giveBackPart(part);
    }
  }

  /**
   * A buffer of one part. Part buffers are reused rather than left to the garbage collector: freeing
   * and allocating 8 MB blocks by the hundred fragmented the heap (glibc serves them from its arena
   * once a first one was freed), which kept RSS far above what the uploads held.
   */
  private takePart(): Buffer {
    return this.spareParts.pop() ?? Buffer.allocUnsafe(this.partSize);
  }

  private giveBackPart(part: Buffer): void {
    // The budget admits at most this many parts at once, so no more are ever worth keeping.
    if (part.length === this.partSize && this.spareParts.length < this.memory.totalBytes / this.partSize) this.spareParts.push(part);
  }

  async *list(prefix = ''): AsyncIterable<StoredObject> {
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.prefix + prefix });
    try {
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined) continue;
          yield { key: object.Key.slice(this.prefix.length), size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) };
        }
      }
    } catch (error) {
      throw storeError(error);
    }
  }

  async read(key: string, range?: ByteRange): Promise<ObjectContent | undefined> {
    try {
      const Range = range && `bytes=${range.start}-${range.end}`;
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, ...(Range && { Range }) }));
      // A ranged answer says which bytes it holds, and of how many: `bytes 0-65535/1048576`.
      const part = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(object.ContentRange ?? '');
      return {
        key,
        size: part ? Number(part[3]) : (object.ContentLength ?? 0),
        lastModified: object.LastModified ?? new Date(0),
        contentType: object.ContentType ?? 'application/octet-stream',
        body: object.Body as Readable,
        ...(part && { range: { start: Number(part[1]), end: Number(part[2]) } }),
      };
    } catch (error) {
      if (error instanceof NoSuchKey || statusOf(error) === 404) return undefined;
      // A range that starts past the end (an empty object): the whole object, as the contract says.
      if (range && statusOf(error) === 416) return this.read(key);
      throw storeError(error);
    }
  }

  async listFolders(prefix: string): Promise<string[]> {
    const full = this.prefix + prefix;
    const folders: string[] = [];
    try {
      for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: full, Delimiter: '/' })) {
        for (const common of page.CommonPrefixes ?? []) {
          if (common.Prefix !== undefined) folders.push(common.Prefix.slice(full.length, -1));
        }
      }
    } catch (error) {
      throw storeError(error);
    }
    return folders;
  }

  async head(key: string): Promise<ObjectFacts | undefined> {
    try {
      const object = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return {
        key,
        size: object.ContentLength ?? 0,
        lastModified: object.LastModified ?? new Date(0),
        contentType: object.ContentType ?? 'application/octet-stream',
        metadata: object.Metadata ?? {},
      };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw storeError(error);
    }
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      throw storeError(error);
    }
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }

  /**
   * One `PutObject` of a body held in memory or read from a file (`body` gives it afresh for each
   * attempt); on a clash the same bytes go to another key, unless the object there is this image.
   */
  private async putWhole(image: ImageWrite, body: () => Promise<Buffer | Readable>, length: number, payloadHash: string | undefined): Promise<{ key: string }> {
    let key = this.knownTaken.has(image.key) ? image.alternateKey() : image.key;
    for (let attempt = 1; ; attempt++) {
      // Under the key's lock even with conditional writes: a multipart upload of this process may
      // hold the key, and its completion is not create-only everywhere (see putInParts).
      const stored = await this.withKeyLock(key, async () => {
        const conditional = this.usesConditionalWrites;
        if (!conditional && (await this.exists(key))) return false;
        const payload = await body();
        try {
          const params: PutObjectCommandInput = { ...this.objectParams(key, image), Body: payload, ContentLength: length, ...(conditional && { IfNoneMatch: '*' }) };
          await this.putObject(params, payloadHash);
          return true;
        } catch (error) {
          if (conditional && isTaken(error)) return false;
          throw error;
        } finally {
          // A file stream the request did not read to its end (it failed, or never connected) still holds its file open.
          if (!Buffer.isBuffer(payload)) payload.destroy();
        }
      });
      if (stored || (await this.holdsSameImage(key, image))) return { key };
      this.rememberTaken(key);
      if (attempt >= MAX_KEY_ATTEMPTS) throw new StoreKeysTakenError(image.key, attempt);
      key = image.alternateKey();
    }
  }

  /**
   * A multipart upload for an image larger than one part, one part at a time through one reused
   * buffer. The body cannot be replayed, so the key is checked before the upload starts, and check
   * and upload hold the key's lock (whatever the store's conditional writes) so that two uploads
   * from this process never both take a key that was free. Against other writers the create-only
   * condition guards the completion only where the store honours it there: AWS S3 does, Ceph RGW
   * 16 ignores `If-None-Match` on CompleteMultipartUpload.
   *
   * (Not lib-storage's `Upload`: its chunker keeps a view into each concatenated part while it
   * collects the next, about 36 MB per upload with 8 MB parts, and it has no bound across uploads.)
   */
  private async putInParts(image: ImageWrite, first: Buffer, overflow: Uint8Array, rest: AsyncIterator<Uint8Array>): Promise<{ key: string }> {
    const preferred = this.knownTaken.has(image.key) ? image.alternateKey() : image.key;
    return this.withKeyLock(preferred, () => this.putInPartsLocked(image, preferred, first, overflow, rest));
  }

  /** `first` is the full first part, and then the buffer each further part is sent from; `overflow` begins the second. */
  private async putInPartsLocked(
    image: ImageWrite,
    preferred: string,
    first: Buffer,
    overflow: Uint8Array,
    rest: AsyncIterator<Uint8Array>,
  ): Promise<{ key: string }> {
    let key = preferred;
    for (let attempt = 1; await this.exists(key); attempt++) {
      this.rememberTaken(key);
      if (attempt >= MAX_KEY_ATTEMPTS) throw new StoreKeysTakenError(image.key, attempt);
      key = image.alternateKey();
    }
    const target = { Bucket: this.bucket, Key: this.prefix + key };
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand(this.objectParams(key, image)));
    const parts: CompletedPart[] = [];
    try {
      const part = first;
      let filled = part.length;
      const send = async (): Promise<void> => {
        const PartNumber = parts.length + 1;
        const { ETag } = await this.client.send(new UploadPartCommand({ ...target, UploadId, PartNumber, Body: part.subarray(0, filled), ContentLength: filled }));
        parts.push({ ETag, PartNumber });
        filled = 0;
      };
      const add = async (chunk: Uint8Array): Promise<void> => {
        for (let offset = 0; offset < chunk.byteLength; ) {
          const count = Math.min(chunk.byteLength - offset, this.partSize - filled);
          part.set(chunk.subarray(offset, offset + count), filled);
          filled += count;
          offset += count;
          if (filled === this.partSize) await send();
        }
      };
      await send();
      await add(overflow);
      for (let next = await rest.next(); !next.done; next = await rest.next()) await add(next.value);
      if (filled > 0) await send();
      await this.client.send(
        new CompleteMultipartUploadCommand({ ...target, UploadId, MultipartUpload: { Parts: parts }, ...(this.usesConditionalWrites && { IfNoneMatch: '*' }) }),
      );
    } catch (error) {
      await this.client.send(new AbortMultipartUploadCommand({ ...target, UploadId })).catch(() => undefined);
      if (isTaken(error)) {
        this.rememberTaken(key);
        throw new StoreUnavailableError(`Another upload took key ${key} while this one was being sent`, { cause: error });
      }
      throw error;
    }
    return { key };
  }

  /**
   * Sends one `PutObject`. With `payloadHash` (the body's SHA-256, lowercase hex) the request
   * carries it as `x-amz-content-sha256` from the build step on, before signing, so SigV4 signs
   * that value and the SDK does not hash the body again; the store still checks it against the bytes.
   */
  private putObject(params: PutObjectCommandInput, payloadHash: string | undefined): Promise<unknown> {
    const command = new PutObjectCommand(params);
    if (payloadHash !== undefined) {
      command.middlewareStack.add(
        (next) => (args) => {
          if (isHttpRequest(args.request)) args.request.headers[PAYLOAD_HASH_HEADER] = payloadHash;
          return next(args);
        },
        { step: 'build', name: 'receiverPayloadHash' },
      );
    }
    return this.client.send(command);
  }

  private objectParams(key: string, image: ImageWrite): Pick<PutObjectCommandInput, 'Bucket' | 'Key' | 'ContentType' | 'Metadata'> {
    return { Bucket: this.bucket, Key: this.prefix + key, ContentType: image.contentType, Metadata: image.metadata };
  }

  private async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  /** Whether the object under a taken key is this image itself, stored by an earlier attempt. */
  private async holdsSameImage(key: string, image: ImageWrite): Promise<boolean> {
    if (image.isSameImage === undefined) return false;
    const existing = await this.head(key);
    return existing !== undefined && image.isSameImage(existing);
  }

  private rememberTaken(key: string): void {
    this.knownTaken.add(key);
    if (this.knownTaken.size > KNOWN_TAKEN_LIMIT) {
      this.knownTaken.delete(this.knownTaken.values().next().value!);
    }
  }

  /** Runs the writes of this process to one key one at a time (check-then-write, multipart uploads). */
  private async withKeyLock<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.keyLocks.get(key) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(task);
    this.keyLocks.set(key, current);
    try {
      return await current;
    } finally {
      if (this.keyLocks.get(key) === current) this.keyLocks.delete(key);
    }
  }

  /** Writes a probe object twice with `If-None-Match: *`: a store that honours it refuses the second. */
  private async probeConditionalWrites(): Promise<boolean> {
    const Key = `${this.prefix}.images-to-s3-probe/${randomUUID()}`;
    const put = () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: 'probe', IfNoneMatch: '*' }));
    try {
      await put();
      return await put().then(() => false, (error: unknown) => {
        if (isTaken(error)) return true;
        throw error;
      });
    } catch (error) {
      throw storeError(error);
    } finally {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key })).catch(() => undefined);
    }
  }
}

const silentLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** The SDK's HTTP request as a middleware sees it (its type lives in @smithy/protocol-http). */
function isHttpRequest(request: unknown): request is { headers: Record<string, string> } {
  return typeof request === 'object' && request !== null && typeof (request as { headers?: unknown }).headers === 'object';
}

/** 412 (or 409 for a concurrent conditional write): a conditional write found the key taken, or changed. */
export function isTaken(error: unknown): boolean {
  const status = statusOf(error);
  return status === 412 || status === 409;
}

export function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/**
 * A store that says it is full is a 507, anything else the store or the network did wrong a 503;
 * store errors already made, and errors from reading the request, pass.
 */
function storeError(error: unknown): unknown {
  if (error instanceof UploadError || error instanceof RequestBodyError || error instanceof StoreError) return error;
  const detail = error instanceof S3ServiceException ? `${error.name} (HTTP ${statusOf(error) ?? '?'})` : String(error);
  if (statusOf(error) === 507 || (error instanceof S3ServiceException && FULL_CODES.has(error.name))) {
    return new StoreFullError(`S3 store: ${detail}`, { cause: error });
  }
  return new StoreUnavailableError(`S3 store: ${detail}`, { cause: error });
}
