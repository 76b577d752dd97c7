import { announcedSha256 } from './content-digest.js';
import { RequestBodyError, StoreError, UploadError } from './errors.js';
import { storedFilename, cameraFilename } from './filename.js';
import { ImageBody, tooLargeMessage } from './image-body.js';
import { ACCEPTED_MEDIA_TYPES, SIGNATURE_BYTES, imageTypeForBytes, imageTypeForContentType } from './image-types.js';
import type { ImageType } from './image-types.js';
import { KeyTemplate, alternateKey } from './object-key.js';
import type { ImageStore } from './store.js';

/** Maps a presented token to the camera it belongs to. */
export interface TokenVerifier {
  /** The camera name for a valid token, undefined for an unknown or revoked one. */
  verify(token: string): Promise<string | undefined>;
}

/** The parts of an HTTP request the contract looks at, whatever runtime received it. */
export interface UploadRequestHead {
  method: string;
  query: URLSearchParams;
  /** Header values by lower-case name. */
  headers: Record<string, string | string[] | undefined>;
}

export interface UploadRequest extends UploadRequestHead {
  body: AsyncIterable<Uint8Array>;
}

/** What to answer, and what to log about it (never the token). */
export interface UploadOutcome {
  status: number;
  body: { message: string } | StoredImageReceipt;
  headers: Record<string, string>;
  log: { camera?: string; key?: string; bytes?: number; filename?: string; error?: string; cause?: unknown };
}

/** The JSON body of a 200: where the image went, and what was stored. */
export interface StoredImageReceipt {
  key: string;
  bytes: number;
  /**
   * The SHA-256 (lowercase hex) the stored bytes were checked against: present when the request
   * sent a `Content-Digest`, and with a store that signs every body with it (S3).
   */
  sha256?: string;
  camera: string;
}

/** A request that passed every check that can be made before reading its body. */
export interface AdmittedUpload {
  readonly admitted: true;
  camera: string;
  type: ImageType;
  filenameHeader: string | undefined;
  /** The body's SHA-256 (hex) from the request's `Content-Digest`, checked before the image is kept. */
  expectedSha256: string | undefined;
  /** The body's length from `Content-Length`, when the request announced one. */
  announcedBytes: number | undefined;
  receivedAt: Date;
}

export interface ImageReceiverOptions {
  tokens: TokenVerifier;
  store: ImageStore;
  keyTemplate?: KeyTemplate;
  /** Largest accepted image in bytes. */
  maxBytes?: number;
  clock?: () => Date;
}

export const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

/**
 * The upload contract, free of any HTTP framework or cloud SDK: the self-hosted server and the
 * Lambda handler both call it, so they answer the same request the same way.
 *
 * `GET`/`HEAD` → 200 (the camera's Test button, no token); `POST` → store one image; other
 * methods → 405. Missing token → 401, unknown → 403; unaccepted `Content-Type` or bytes that do
 * not match it → 415; empty body → 400; over the size limit → 413; store down → 503, full → 507.
 */
export class ImageReceiver {
  readonly maxBytes: number;
  private readonly tokens: TokenVerifier;
  private readonly store: ImageStore;
  private readonly keyTemplate: KeyTemplate;
  private readonly clock: () => Date;

  constructor(options: ImageReceiverOptions) {
    this.tokens = options.tokens;
    this.store = options.store;
    this.keyTemplate = options.keyTemplate ?? new KeyTemplate();
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.clock = options.clock ?? (() => new Date());
  }

  /** Runs {@link admit} then {@link receive}: for runtimes that hold the whole request at once. */
  async handle(request: UploadRequest): Promise<UploadOutcome> {
    const admission = await this.admit(request);
    return 'admitted' in admission ? this.receive(admission, request.body) : admission;
  }

  /**
   * Every check that needs no body: method, token, content type, announced size. A server
   * calls it before answering `Expect: 100-continue`, so a refused camera never sends the image.
   */
  async admit(request: UploadRequestHead): Promise<AdmittedUpload | UploadOutcome> {
    const method = request.method.toUpperCase();
    if (method === 'GET' || method === 'HEAD') {
      return reply(200, 'images-to-s3 receiver is ready. Cameras POST images here with ?accessToken=<token>.');
    }
    if (method !== 'POST') {
      return { ...reply(405, `Method ${method} is not allowed: cameras POST images here; GET and HEAD test the address.`), headers: { allow: 'GET, HEAD, POST' } };
    }

    const presented = request.query.getAll('accessToken');
    if (presented.length === 0 || presented.every((token) => token === '')) {
      return reply(401, 'No access token: add accessToken=<token> to the camera\'s "Custom CGI parameters".');
    }
    if (new Set(presented).size > 1) {
      return reply(400, 'The accessToken parameter is given more than once with different values: give it once.');
    }
    let camera: string | undefined;
    try {
      camera = await this.tokens.verify(presented[0]!);
    } catch (error) {
      // The registry could not be read (unreachable, damaged): nothing was stored, say so.
      return failure(error, {});
    }
    if (camera === undefined) {
      return reply(403, 'The access token is not valid (unknown or revoked). Check the camera\'s "Custom CGI parameters" against the tokens issued for it.');
    }

    const contentType = header(request.headers, 'content-type');
    const type = imageTypeForContentType(contentType);
    if (type === undefined) {
      const sent = contentType ? `"${printable(contentType)}"` : 'none';
      return reply(415, `Content-Type ${sent} is not an accepted image type. Accepted: ${ACCEPTED_MEDIA_TYPES}.`, { camera });
    }

    const transferEncoding = header(request.headers, 'transfer-encoding');
    const contentLength = header(request.headers, 'content-length');
    let announcedBytes: number | undefined;
    if (transferEncoding === undefined && contentLength !== undefined) {
      if (!/^\d+$/.test(contentLength.trim())) {
        return reply(400, 'The Content-Length header is not a number.', { camera });
      }
      const length = Number(contentLength);
      if (length === 0) return reply(400, emptyMessage, { camera });
      if (length > this.maxBytes) return reply(413, tooLargeMessage(this.maxBytes), { camera });
      announcedBytes = length;
    }

    let expectedSha256: string | undefined;
    try {
      expectedSha256 = announcedSha256(header(request.headers, 'content-digest'));
    } catch (error) {
      if (error instanceof UploadError) return reply(error.status, error.message, { camera });
      throw error;
    }

    return {
      admitted: true,
      camera,
      type,
      filenameHeader: header(request.headers, 'content-disposition'),
      expectedSha256,
      announcedBytes,
      receivedAt: this.clock(),
    };
  }

  /** Reads, checks and stores the body of an admitted request. */
  async receive(upload: AdmittedUpload, source: AsyncIterable<Uint8Array>): Promise<UploadOutcome> {
    const { camera, type, receivedAt } = upload;
    const filename = cameraFilename(upload.filenameHeader);
    const log = { camera, ...(filename !== undefined && { filename: printable(filename) }) };
    // Hashing is a fifth of a minimal receiver's CPU per image: only when a client's digest or the store needs it.
    const hashed = upload.expectedSha256 !== undefined || this.store.needsSha256 === true;
    const body = new ImageBody(source, this.maxBytes, { sha256: hashed, expectedSha256: upload.expectedSha256 });
    try {
      const head = await body.head(SIGNATURE_BYTES);
      if (head.byteLength === 0) return reply(400, emptyMessage, log);
      if (!type.matches(head)) {
        const actual = imageTypeForBytes(head);
        const what = actual ? `are ${actual.mediaType}` : 'are not an image of an accepted type';
        await body.cancel();
        return reply(415, `Content-Type says ${type.mediaType} but the bytes ${what}.`, log);
      }

      const key = this.keyTemplate.keyFor({ camera, receivedAt, filename: storedFilename(upload.filenameHeader, type, receivedAt) });
      const stored = await this.store.write({
        key,
        alternateKey: () => alternateKey(key, receivedAt),
        body: body.stream(),
        ...(upload.announcedBytes !== undefined && { size: upload.announcedBytes }),
        ...(hashed && { sha256: () => body.sha256() }),
        contentType: type.mediaType,
        metadata: {
          camera,
          'received-at': receivedAt.toISOString(),
          ...(filename !== undefined && { 'camera-filename': encodeURIComponent(filename) }),
        },
      });
      const receipt: StoredImageReceipt = { key: stored.key, bytes: body.bytes, ...(hashed && { sha256: body.sha256() }), camera };
      return { status: 200, body: receipt, headers: {}, log: { ...log, key: stored.key, bytes: body.bytes } };
    } catch (error) {
      await body.cancel().catch(() => undefined);
      return failure(error, log);
    }
  }
}

const emptyMessage = 'The request has no image: the body is empty.';

function reply(status: number, message: string, log: UploadOutcome['log'] = {}): UploadOutcome {
  return { status, body: { message }, headers: {}, log: { ...log, error: message } };
}

function failure(error: unknown, log: UploadOutcome['log']): UploadOutcome {
  if (error instanceof UploadError || error instanceof RequestBodyError) {
    return reply(error.status, error.message, { ...log, cause: error.cause });
  }
  if (error instanceof StoreError) {
    return {
      ...reply(error.status, error.callerMessage ?? error.genericMessage, { ...log, error: error.message, cause: error.cause }),
      headers: error.retryAfterSeconds === undefined ? {} : { 'retry-after': String(error.retryAfterSeconds) },
    };
  }
  // Only client errors are explained to the caller; the details of anything else go to the log.
  return reply(500, 'The receiver failed to store the image; see its log.', { ...log, error: String(error), cause: error });
}

function header(headers: UploadRequestHead['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Header text made safe to echo in a message or log: no control characters, bounded. */
function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}]/gu, '?').slice(0, 200);
}
