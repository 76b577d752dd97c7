import { announcedSha256 } from './content-digest.js';
import { RequestBodyError, StoreError, UploadError } from './errors.js';
import { cameraFilename, storedFilename } from './filename.js';
import { ImageBody, tooLargeMessage } from './image-body.js';
import { ACCEPTED_MEDIA_TYPES, SIGNATURE_BYTES, mediaTypeForBytes, mediaTypeForContentType } from './media-types.js';
import type { MediaType } from './media-types.js';
import { KeyTemplate, alternateKey } from './object-key.js';
import { presentedToken, refusal } from './outcome.js';
import type { OutcomeFacts, StoredImageReceipt, UploadOutcome } from './outcome.js';
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

/**
 * One file a camera sends, by whatever protocol, once the protocol has told which camera it is:
 * what {@link ImageReceiver.ingest} takes.
 */
export interface IncomingFile {
  camera: string;
  /** The name the camera gave the file; a path is folded into one name, a missing one generated. */
  filename?: string | undefined;
  /** The media type the sender declared; undefined when the protocol has none (the bytes decide). */
  contentType?: string | undefined;
  body: AsyncIterable<Uint8Array>;
  /** The size the sender announced, checked against the limit before any byte is read. */
  size?: number | undefined;
  /** The SHA-256 (hex) the sender announced; a body with another is refused (400). */
  sha256?: string | undefined;
}

/** A request that passed every check that can be made before reading its body. */
export interface AdmittedUpload {
  readonly admitted: true;
  camera: string;
  /** The declared type; undefined: the first bytes decide. */
  type: MediaType | undefined;
  /** The camera's name for the file, as it sent it. */
  filename: string | undefined;
  /** The body's SHA-256 (hex) from the request's `Content-Digest`, checked before the image is kept. */
  expectedSha256: string | undefined;
  /** The body's length from `Content-Length`, when the request announced one. */
  announcedBytes: number | undefined;
  receivedAt: Date;
}

export interface ImageReceiverOptions {
  /** Checks the tokens of HTTP requests; without it, only requests an adapter authenticated are taken. */
  tokens?: TokenVerifier;
  store: ImageStore;
  keyTemplate?: KeyTemplate;
  /** Largest accepted image in bytes. */
  maxBytes?: number;
  /** What a 413 says, where the runtime has its own advice (the default names --max-bytes). */
  tooLargeMessage?: string;
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
  private readonly tokens: TokenVerifier | undefined;
  private readonly store: ImageStore;
  private readonly keyTemplate: KeyTemplate;
  private readonly tooLargeMessage: string;
  private readonly clock: () => Date;

  constructor(options: ImageReceiverOptions) {
    this.tokens = options.tokens;
    this.store = options.store;
    this.keyTemplate = options.keyTemplate ?? new KeyTemplate();
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.tooLargeMessage = options.tooLargeMessage ?? tooLargeMessage(this.maxBytes);
    this.clock = options.clock ?? (() => new Date());
  }

  /** Runs {@link admit} then {@link receive}: for runtimes that hold the whole request at once. */
  async handle(request: UploadRequest, authenticated?: { camera: string }): Promise<UploadOutcome> {
    const admission = await this.admit(request, authenticated);
    return 'admitted' in admission ? this.receive(admission, request.body) : admission;
  }

  /**
   * The entry point for every way in: camera `file.camera` sends a file. The same checks, key,
   * no-overwrite rule and answers as an HTTP upload; the caller has authenticated the camera.
   */
  async ingest(file: IncomingFile): Promise<UploadOutcome> {
    const admission = this.admitFile(file);
    return 'admitted' in admission ? this.receive(admission, file.body) : admission;
  }

  /**
   * Every check of an HTTP request that needs no body: method, token, content type, announced
   * size. A server calls it before answering `Expect: 100-continue`, so a refused camera never
   * sends the image. `authenticated`: the camera an adapter already checked the token of (the
   * Lambda authorizer's); the token is then not checked again.
   */
  async admit(request: UploadRequestHead, authenticated?: { camera: string }): Promise<AdmittedUpload | UploadOutcome> {
    const method = request.method.toUpperCase();
    if (method === 'GET' || method === 'HEAD') {
      return refusal(200, 'images-to-s3 receiver is ready. Cameras POST images here with ?accessToken=<token>.');
    }
    if (method !== 'POST') {
      return refusal(405, `Method ${method} is not allowed: cameras POST images here; GET and HEAD test the address.`, {}, { headers: { allow: 'GET, HEAD, POST' } });
    }

    let camera = authenticated?.camera;
    if (camera === undefined) {
      const presented = presentedToken(request.query.getAll('accessToken'));
      if ('problem' in presented) {
        return presented.problem === 'missing'
          ? refusal(401, 'No access token: add accessToken=<token> to the camera\'s "Custom CGI parameters".', {}, { tokenRefusal: 'missing' })
          : refusal(400, 'The accessToken parameter is given more than once with different values: give it once.');
      }
      try {
        camera = await this.tokens?.verify(presented.token);
      } catch (error) {
        // The registry could not be read (unreachable, damaged): nothing was stored, say so.
        return failure(error, {});
      }
      if (camera === undefined) {
        return refusal(
          403,
          'The access token is not valid (unknown or revoked). Check the camera\'s "Custom CGI parameters" against the tokens issued for it.',
          {},
          { tokenRefusal: 'invalid' },
        );
      }
    }

    const contentType = header(request.headers, 'content-type');
    if (contentType === undefined) {
      return refusal(415, `Content-Type none is not an accepted image type. Accepted: ${ACCEPTED_MEDIA_TYPES}.`, { camera });
    }

    // A length is only announced without chunked transfer encoding, which would override it.
    const contentLength = header(request.headers, 'transfer-encoding') === undefined ? header(request.headers, 'content-length') : undefined;
    const sizeGiven = contentLength !== undefined && /^\d+$/.test(contentLength.trim());
    const admission = this.admitFile({
      camera,
      contentType,
      filename: cameraFilename(header(request.headers, 'content-disposition')),
      size: sizeGiven ? Number(contentLength) : undefined,
    });
    if (!('admitted' in admission)) return admission;
    if (contentLength !== undefined && !sizeGiven) return refusal(400, 'The Content-Length header is not a number.', { camera });
    try {
      return { ...admission, expectedSha256: announcedSha256(header(request.headers, 'content-digest')) };
    } catch (error) {
      if (error instanceof UploadError) return refusal(error.status, error.message, { camera });
      throw error;
    }
  }

  /** The checks of a file that need no body: declared type and announced size. */
  private admitFile(file: Omit<IncomingFile, 'body'>): AdmittedUpload | UploadOutcome {
    const { camera } = file;
    let type: MediaType | undefined;
    if (file.contentType !== undefined) {
      type = mediaTypeForContentType(file.contentType);
      if (type === undefined) {
        return refusal(415, `Content-Type "${printable(file.contentType)}" is not an accepted image type. Accepted: ${ACCEPTED_MEDIA_TYPES}.`, { camera });
      }
    }
    if (file.size === 0) return refusal(400, emptyMessage, { camera });
    if (file.size !== undefined && file.size > this.maxBytes) return refusal(413, this.tooLargeMessage, { camera });
    return {
      admitted: true,
      camera,
      type,
      filename: file.filename,
      expectedSha256: file.sha256,
      announcedBytes: file.size,
      receivedAt: this.clock(),
    };
  }

  /** Reads, checks and stores the body of an admitted upload. */
  async receive(upload: AdmittedUpload, source: AsyncIterable<Uint8Array>): Promise<UploadOutcome> {
    const { camera, receivedAt, filename } = upload;
    const log: OutcomeFacts = { camera, ...(filename !== undefined && { filename: printable(filename) }) };
    // Hashing is a fifth of a minimal receiver's CPU per image: only when a client's digest or the store needs it.
    const hashed = upload.expectedSha256 !== undefined || this.store.needsSha256 === true;
    const body = new ImageBody(source, this.maxBytes, { sha256: hashed, expectedSha256: upload.expectedSha256, tooLargeMessage: this.tooLargeMessage });
    try {
      const head = await body.head(SIGNATURE_BYTES);
      if (head.byteLength === 0) return refusal(400, emptyMessage, log);
      const actual = mediaTypeForBytes(head);
      const type = upload.type ?? actual;
      if (type === undefined) {
        await body.cancel();
        return refusal(415, `The file is not an image of an accepted type (${ACCEPTED_MEDIA_TYPES}).`, log);
      }
      if (!type.matches(head)) {
        await body.cancel();
        const what = actual ? `are ${actual.mediaType}` : 'are not an image of an accepted type';
        return refusal(415, `Content-Type says ${type.mediaType} but the bytes ${what}.`, log);
      }

      const key = this.keyTemplate.keyFor({ camera, receivedAt, filename: storedFilename(filename, type, receivedAt) });
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

function failure(error: unknown, log: OutcomeFacts): UploadOutcome {
  if (error instanceof UploadError || error instanceof RequestBodyError) {
    return refusal(error.status, error.message, { ...log, cause: error.cause });
  }
  if (error instanceof StoreError) {
    return refusal(
      error.status,
      error.callerMessage ?? error.genericMessage,
      { ...log, error: error.message, cause: error.cause },
      {
        storeFailure: error.status === 507 ? 'full' : 'unavailable',
        ...(error.retryAfterSeconds !== undefined && { retryAfterSeconds: error.retryAfterSeconds }),
      },
    );
  }
  // Only client errors are explained to the caller; the details of anything else go to the log.
  return refusal(500, 'The receiver failed to store the image; see its log.', { ...log, error: String(error), cause: error }, { storeFailure: 'other' });
}

function header(headers: UploadRequestHead['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Header text made safe to echo in a message or log: no control characters, bounded. */
function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}]/gu, '?').slice(0, 200);
}
