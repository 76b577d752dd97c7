/**
 * A shared document kept as an object in the images' bucket, so every receiver on that bucket
 * shares it.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { isTaken, statusOf } from '../stores/s3.js';
import { CONFLICT, DocumentUnreachableError, UNCHANGED } from './document.js';
import type { DocumentVersion, SharedDocument, WriteProtection } from './document.js';

export interface S3DocumentOptions {
  client: S3Client;
  bucket: string;
  /** The object's key, e.g. `site-a/.images-to-s3/tokens.json`. */
  key: string;
  /** Longest wait for one request: a receiver polling a store that went away must not hang. */
  timeoutMs?: number;
  /** On a store that cannot protect a write: how long after it the document is read back. */
  settleMs?: number;
}

/** See {@link S3DocumentOptions.settleMs}: long enough for the writers of a fleet's first start. */
export const DEFAULT_SETTLE_MS = 1_000;

type ETagForm = 'quoted' | 'unquoted';

interface Conditions {
  createOnly: boolean;
  ifMatch?: ETagForm;
}

function unquoted(etag: string): string {
  return etag.replace(/^"(.*)"$/, '$1');
}

/** An ETag no object has: a conditional write naming it must fail where `If-Match` is honoured. */
const ABSENT_ETAG = '"00000000000000000000000000000000"';

/**
 * A document as one S3 object. Its tag is the object's ETag.
 *
 * Writes are compare-and-swap where the store honours conditional writes: `If-None-Match: *` to
 * create, `If-Match: <ETag>` to replace (AWS S3 since 2024, Ceph RGW; a 412, or AWS's 409 for two
 * writers racing, means the object changed). Whether it does is found out at the first write by a
 * probe object, as the image store does for create-only writes. What a store ignores (s3rver both,
 * some servers `If-Match`) is done as a plain write read back {@link DEFAULT_SETTLE_MS} later and
 * redone if another writer's text is there: only a writer stalled longer than that between its
 * read and its write can then lose an edit, which {@link protection} reports so the CLI can say
 * so. Reads are conditional (`If-None-Match: <ETag>` → 304), so polling costs one small request
 * that carries no body while nothing changed.
 */
export class S3Document implements SharedDocument {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly key: string;
  private readonly timeoutMs: number;
  private readonly settleMs: number;
  private conditional: Promise<Conditions> | undefined;

  constructor(options: S3DocumentOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.key = options.key;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    this.location = `s3://${this.bucket}/${this.key}`;
  }

  read(): Promise<DocumentVersion | undefined> {
    return this.get(undefined) as Promise<DocumentVersion | undefined>;
  }

  readIfChanged(tag: string | undefined): Promise<DocumentVersion | undefined | typeof UNCHANGED> {
    return this.get(tag);
  }

  async write(text: string, expectedTag: string | undefined): Promise<string | typeof CONFLICT> {
    const { createOnly, ifMatch } = await this.conditions();
    const condition: Pick<PutObjectCommandInput, 'IfMatch' | 'IfNoneMatch'> =
      expectedTag === undefined ? (createOnly ? { IfNoneMatch: '*' } : {}) : ifMatch ? { IfMatch: ifMatch === 'quoted' ? expectedTag : unquoted(expectedTag) } : {};
    const conditional = condition.IfMatch !== undefined || condition.IfNoneMatch !== undefined;
    let written: string;
    try {
      const { ETag } = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: text, ContentType: 'application/json', CacheControl: 'no-store', ...condition }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      written = ETag ?? '';
    } catch (error) {
      if (conditional && isTaken(error)) return CONFLICT;
      throw this.failure(error, 'write');
    }
    if (conditional && written !== '') return written;
    if (!conditional) {
      // Unprotected: give a writer that read the same version a moment to write too, then read it
      // back. Another writer's text there means this write was lost, so the caller reads again and
      // re-applies its change (and a first start finds the other's token or password instead of
      // printing its own): only a writer stalled longer than this between its read and its write
      // can still lose an edit.
      await delay(this.settleMs);
    }
    const now = await this.read();
    return now !== undefined && now.text === text ? now.tag : CONFLICT;
  }

  async protection(): Promise<WriteProtection> {
    const { createOnly, ifMatch } = await this.conditions();
    return createOnly && ifMatch !== undefined ? 'compare-and-swap' : 'last-writer-wins';
  }

  private async get(tag: string | undefined): Promise<DocumentVersion | undefined | typeof UNCHANGED> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key, ...(tag !== undefined && { IfNoneMatch: tag }) }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = (await answer.Body?.transformToString('utf8')) ?? '';
      return { text, tag: answer.ETag ?? '' };
    } catch (error) {
      const status = statusOf(error);
      if (status === 304) return UNCHANGED;
      if (status === 404) return undefined;
      throw this.failure(error, 'read');
    }
  }

  /**
   * Which conditional writes the store honours, asked once, by a probe object: whether it refuses
   * `If-None-Match: *` on an existing key, and whether it refuses `If-Match` with an ETag the object
   * does not have while taking the right one, given as the store gave it (quoted, as AWS S3 and
   * HTTP have it) or without its quotes (Ceph RGW 16 refuses a quoted one even when it matches).
   */
  private conditions(): Promise<Conditions> {
    this.conditional ??= this.probe().catch((error: unknown) => {
      this.conditional = undefined;
      throw this.failure(error, 'probe conditional writes on');
    });
    return this.conditional;
  }

  private async probe(): Promise<Conditions> {
    const Key = `${this.key.slice(0, this.key.lastIndexOf('/') + 1)}.probe-${randomUUID()}`;
    const put = (condition: Pick<PutObjectCommandInput, 'IfMatch' | 'IfNoneMatch'>): Promise<string | false> =>
      this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: 'probe', ...condition }), { abortSignal: AbortSignal.timeout(this.timeoutMs) }).then(
        (answer) => answer.ETag ?? '',
        (error: unknown) => {
          if (isTaken(error)) return false;
          throw error;
        },
      );
    try {
      const etag = await put({});
      if (etag === false) throw new Error('the first write of a probe object was refused');
      const createOnly = (await put({ IfNoneMatch: '*' })) === false;
      if ((await put({ IfMatch: ABSENT_ETAG })) !== false) return { createOnly };
      // The object is unchanged (the writes above were refused), so its ETag is still `etag`.
      if ((await put({ IfMatch: etag })) !== false) return { createOnly, ifMatch: 'quoted' };
      return (await put({ IfMatch: unquoted(etag) })) !== false ? { createOnly, ifMatch: 'unquoted' } : { createOnly };
    } finally {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key })).catch(() => undefined);
    }
  }

  /** A store that cannot be reached or answers 5xx is unreachable (readers go on with what they had); anything else is an error of its own. */
  private failure(error: unknown, action: string): Error {
    const status = statusOf(error);
    const detail = error instanceof S3ServiceException ? `${error.name} (HTTP ${status ?? '?'})` : error instanceof Error ? error.message : String(error);
    if (status === undefined || status >= 500 || status === 429 || status === 408) {
      return new DocumentUnreachableError(this.location, `cannot ${action} it: ${detail}`, { cause: error });
    }
    return new Error(`Cannot ${action} ${this.location}: ${detail}. Check the bucket's name and that the credentials may read and write it.`, { cause: error });
  }
}
