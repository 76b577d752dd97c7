import { eventMetadata, readCameraEvent } from './camera-event.js';
import type { CameraEventFacts } from './camera-event.js';
import { announcedSha256 } from './content-digest.js';
import { UploadError } from './errors.js';
import { cameraFilename, storedFilename } from './filename.js';
import { ImageBody, tooLargeMessage } from './image-body.js';
import type { SizeLimit } from './image-body.js';
import { ACCEPTED_MEDIA_TYPES, SIGNATURE_BYTES, UNNAMED_BINARY_TYPE, leavesTypeToBytes, mediaTypeForBytes, mediaTypeForContentType } from './media-types.js';
import type { MediaKind, MediaType } from './media-types.js';
import { MULTIPART_FRAMING_BYTES, isMultipartForm, openMultipartForm } from './multipart.js';
import type { MultipartFile, MultipartPush, MultipartUpload } from './multipart.js';
import { KeyTemplate, alternateKey } from './object-key.js';
import { failureOutcome, presentedToken, refusal } from './outcome.js';
import type { OutcomeFacts, PushImageReceipt, StoredImageReceipt, StoredPushReceipt, UploadOutcome } from './outcome.js';
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
  /** The camera's name for the file, as it sent it (a multipart body's part may give another). */
  filename: string | undefined;
  /** The request's `Content-Type` when the body is `multipart/form-data`: its one file part is the upload. */
  multipart: string | undefined;
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
  /** Largest accepted clip in bytes; 0: no clip is taken, whatever its size (413). */
  maxClipBytes?: number;
  /** What a 413 says, where the runtime has its own advice (the default names --max-bytes or --max-clip-bytes). */
  tooLargeMessage?: (kind: MediaKind, maxBytes: number) => string;
  /** Told of the key of each image stored (`serve --workers` tells the other workers, whose galleries then list it). */
  stored?: (key: string) => void;
  clock?: () => Date;
}

/** What the caller of {@link ImageReceiver.receive} wants to hear about while the body arrives. */
export interface ReceiveEvents {
  /**
   * The upload is known to be an image or a clip: from its declared type at once, else from its
   * first bytes. (The HTTP server gives a clip more time to arrive than an image.)
   */
  kindKnown?(kind: MediaKind): void;
}

export const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
/**
 * 512 MiB: a 60 s clip at 8 Mbit/s (1080p at a high bit rate) is 60 MB; this leaves room for
 * "unlimited" clips, which record as long as their event lasts (about 9 minutes at 8 Mbit/s).
 */
export const DEFAULT_MAX_CLIP_BYTES = 512 * 1024 * 1024;

/**
 * The upload contract, free of any HTTP framework or cloud SDK: the self-hosted server and the
 * Lambda handler both call it, so they answer the same request the same way.
 *
 * `GET`/`HEAD` → 200 (the camera's Test button, no token); `POST` → store one image or video
 * clip, as a raw body or the one file part of a `multipart/form-data` body, or each image of a
 * camera's push (a form whose first part is an event: see {@link ImageReceiver.receive}); other
 * methods → 405.
 * Missing token → 401, unknown → 403; unaccepted `Content-Type` or bytes that do not match it →
 * 415; empty body → 400; over the size limit of its kind (image or clip) → 413; store down → 503,
 * full → 507.
 */
export class ImageReceiver {
  /** Largest accepted image in bytes. */
  readonly maxBytes: number;
  /** Largest accepted clip in bytes (0: none). */
  readonly maxClipBytes: number;
  private readonly tokens: TokenVerifier | undefined;
  private readonly store: ImageStore;
  private readonly keyTemplate: KeyTemplate;
  private readonly tooLargeMessage: (kind: MediaKind, maxBytes: number) => string;
  private readonly clock: () => Date;
  private readonly stored: ((key: string) => void) | undefined;

  constructor(options: ImageReceiverOptions) {
    this.tokens = options.tokens;
    this.store = options.store;
    this.keyTemplate = options.keyTemplate ?? new KeyTemplate();
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxClipBytes = options.maxClipBytes ?? DEFAULT_MAX_CLIP_BYTES;
    this.tooLargeMessage = options.tooLargeMessage ?? tooLargeMessage;
    this.clock = options.clock ?? (() => new Date());
    this.stored = options.stored;
  }

  /**
   * The size limit of an image or a clip; before the kind is known (a body whose bytes decide),
   * the larger of the two, until its first bytes tell.
   */
  sizeLimit(kind: MediaKind | undefined): SizeLimit {
    const chosen = kind ?? (this.maxClipBytes > this.maxBytes ? 'clip' : 'image');
    const maxBytes = chosen === 'clip' ? this.maxClipBytes : this.maxBytes;
    return { maxBytes, message: this.tooLargeMessage(chosen, maxBytes) };
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
      return refusal(200, 'images-to-s3 receiver is ready. Cameras POST images and clips here with ?accessToken=<token>.');
    }
    if (method !== 'POST') {
      return refusal(405, `Method ${method} is not allowed: cameras POST images and clips here; GET and HEAD test the address.`, {}, { headers: { allow: 'GET, HEAD, POST' } });
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
        return failureOutcome(error, {});
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

    // Cameras name the type of what they send; a request without one is refused rather than guessed.
    const contentType = header(request.headers, 'content-type');
    if (contentType === undefined) return refusal(415, unacceptedTypeMessage('none'), { camera });

    // A length is only announced without chunked transfer encoding, which would override it.
    const contentLength = header(request.headers, 'transfer-encoding') === undefined ? header(request.headers, 'content-length') : undefined;
    const sizeGiven = contentLength !== undefined && /^\d+$/.test(contentLength.trim());
    const size = sizeGiven ? Number(contentLength) : undefined;
    const filename = cameraFilename(header(request.headers, 'content-disposition'));
    const multipart = isMultipartForm(contentType);
    const admission = multipart ? this.admitMultipart(camera, contentType, filename, size) : this.admitFile({ camera, contentType, filename, size });
    if (!('admitted' in admission)) return admission;
    if (contentLength !== undefined && !sizeGiven) return refusal(400, 'The Content-Length header is not a number.', { camera });
    const digest = header(request.headers, 'content-digest');
    if (multipart && digest !== undefined) {
      // The digest would be of the whole form, not of the file that is stored.
      return refusal(400, 'A Content-Digest is checked against a raw body only, not a multipart form: send the file as the raw body, or leave the digest out.', { camera });
    }
    try {
      return { ...admission, expectedSha256: announcedSha256(digest) };
    } catch (error) {
      if (error instanceof UploadError) return refusal(error.status, error.message, { camera });
      throw error;
    }
  }

  /**
   * The checks of a file that need no body: declared type and announced size. A type that names no
   * format (`application/octet-stream`), or none, leaves the type to the bytes, and the size to the
   * larger limit until they tell.
   */
  private admitFile(file: Omit<IncomingFile, 'body'>): AdmittedUpload | UploadOutcome {
    const { camera } = file;
    const declared = declaredType(file.contentType);
    if (declared === 'unaccepted') return refusal(415, unacceptedTypeMessage(`"${printable(file.contentType!)}"`), { camera });
    if (file.size === 0) return refusal(400, emptyMessage, { camera });
    const limit = this.sizeLimit(declared?.kind);
    if (file.size !== undefined && file.size > limit.maxBytes) return refusal(413, limit.message, { camera });
    return {
      admitted: true,
      camera,
      type: declared,
      filename: file.filename,
      multipart: undefined,
      expectedSha256: file.sha256,
      announcedBytes: file.size,
      receivedAt: this.clock(),
    };
  }

  /**
   * A `multipart/form-data` request: its file part's type and size are known only from the body.
   * The announced length counts the form's framing too, so it is held to the larger limit plus
   * what the framing may take.
   */
  private admitMultipart(camera: string, contentType: string, filename: string | undefined, size: number | undefined): AdmittedUpload | UploadOutcome {
    if (size === 0) return refusal(400, emptyMessage, { camera });
    const limit = this.multipartLimit();
    if (size !== undefined && size > limit.maxBytes) return refusal(413, limit.message, { camera });
    return { admitted: true, camera, type: undefined, filename, multipart: contentType, expectedSha256: undefined, announcedBytes: undefined, receivedAt: this.clock() };
  }

  /** The bound on a whole multipart body: the larger file limit, plus the form's framing. */
  private multipartLimit(): SizeLimit {
    const limit = this.sizeLimit(undefined);
    return { maxBytes: limit.maxBytes + MULTIPART_FRAMING_BYTES, message: limit.message };
  }

  /**
   * Reads, checks and stores the body of an admitted upload: a raw body, the file part of a
   * multipart one, or each image of a camera's push (a multipart body whose first part is an
   * event). `events.kindKnown` hears as soon as it is known whether it is an image or a clip.
   */
  async receive(upload: AdmittedUpload, source: AsyncIterable<Uint8Array>, events: ReceiveEvents = {}): Promise<UploadOutcome> {
    if (upload.multipart === undefined) return this.receiveFile(upload, { filename: upload.filename, type: upload.type, body: source }, events);
    const { camera } = upload;
    let form: MultipartUpload;
    try {
      form = await openMultipartForm(upload.multipart, source, this.multipartLimit());
    } catch (error) {
      return failureOutcome(error, { camera, ...(upload.filename !== undefined && { filename: printable(upload.filename) }) });
    }
    if (form.kind === 'push') return this.receivePush(upload, form.push, events);
    const { file } = form;
    const filename = file.filename ?? upload.filename;
    const declared = declaredType(file.contentType);
    if (declared === 'unaccepted') {
      file.discard();
      return refusal(415, unacceptedTypeMessage(`"${printable(file.contentType!)}" (of the multipart body's file part)`), {
        camera,
        ...(filename !== undefined && { filename: printable(filename) }),
      });
    }
    return this.receiveFile(upload, { filename, type: declared, body: file.body }, events);
  }

  /**
   * A camera's push: its event part is read (refused, with nothing stored, when it cannot be), then
   * each image part goes through the contract in turn, as one upload would, with the event's facts
   * in its metadata; each is stored (durably) before the next part is read. 200 lists them all.
   * The first part that fails ends the push: the answer is that part's (its status, `Retry-After`,
   * message), saying which part it was and what was stored before it (`stored`); nothing of that
   * part or any after it is kept.
   */
  private async receivePush(upload: AdmittedUpload, push: MultipartPush, events: ReceiveEvents): Promise<UploadOutcome> {
    const { camera } = upload;
    let facts: CameraEventFacts;
    try {
      facts = await readCameraEvent(push.event.format, push.event.text);
    } catch (error) {
      push.stop();
      return failureOutcome(error, { camera });
    }
    const metadata = eventMetadata(facts);
    const event = Object.fromEntries(Object.entries(facts));
    const stored: PushImageReceipt[] = [];
    const pushFacts = (): OutcomeFacts => ({
      camera,
      keys: stored.map((image) => image.key),
      bytes: stored.reduce((sum, image) => sum + image.bytes, 0),
      kind: 'image',
      ...(facts.type !== undefined && { eventType: facts.type }),
    });
    for (;;) {
      let part: MultipartFile | undefined;
      let outcome: UploadOutcome;
      try {
        part = await push.nextImage();
      } catch (error) {
        outcome = failureOutcome(error, {});
        return pushFailure(outcome, stored, pushFacts(), undefined);
      }
      if (part === undefined) break;
      const declared = declaredType(part.contentType);
      if (declared === 'unaccepted') {
        push.stop();
        outcome = refusal(415, unacceptedTypeMessage(`"${printable(part.contentType!)}" (of an image part of the push)`));
      } else {
        outcome = await this.receiveFile(upload, { filename: part.filename, type: declared, body: part.body }, events, metadata);
      }
      if (outcome.status !== 200 || !('key' in outcome.body)) {
        push.stop();
        return pushFailure(outcome, stored, pushFacts(), { index: stored.length + 1, filename: part.filename });
      }
      const { key, bytes, sha256 } = outcome.body;
      stored.push({ key, bytes, ...(sha256 !== undefined && { sha256 }) });
    }
    if (stored.length === 0) {
      return refusal(400, 'The push has an event part but no image part; nothing was stored. Send events with their pictures to this receiver, and picture-less events elsewhere.', pushFacts());
    }
    const receipt: StoredPushReceipt = { camera, images: stored, event };
    return { status: 200, body: receipt, headers: {}, log: pushFacts() };
  }

  /**
   * Reads, checks and stores one file: a raw body, a multipart body's file, an image of a push
   * (with the event's facts as `extraMetadata`).
   */
  private async receiveFile(
    upload: AdmittedUpload,
    file: { filename: string | undefined; type: MediaType | undefined; body: AsyncIterable<Uint8Array> },
    events: ReceiveEvents,
    extraMetadata: Record<string, string> = {},
  ): Promise<UploadOutcome> {
    const { camera, receivedAt } = upload;
    const { filename } = file;
    let { type } = file;
    const facts = (): OutcomeFacts => ({ camera, ...(filename !== undefined && { filename: printable(filename) }) });
    let body: ImageBody | undefined;
    try {
      if (type) events.kindKnown?.(type.kind);

      // Hashing is a fifth of a minimal receiver's CPU per image: only when a client's digest or the store needs it.
      const hashed = upload.expectedSha256 !== undefined || this.store.needsSha256 === true;
      const limit = this.sizeLimit(type?.kind);
      const reading = new ImageBody(file.body, limit.maxBytes, { sha256: hashed, expectedSha256: upload.expectedSha256, tooLargeMessage: limit.message });
      body = reading;
      const head = await body.head(SIGNATURE_BYTES);
      if (head.byteLength === 0) return refusal(400, emptyMessage, facts());
      const actual = mediaTypeForBytes(head);
      if (type === undefined) {
        if (actual === undefined) {
          await body.cancel();
          return refusal(415, `The bytes are not an image or clip of an accepted type (${ACCEPTED_MEDIA_TYPES}).`, facts());
        }
        // The bytes told what it is: from now on the limit of its kind holds, an announced size included.
        type = actual;
        events.kindKnown?.(type.kind);
        const own = this.sizeLimit(type.kind);
        if (upload.announcedBytes !== undefined && upload.announcedBytes > own.maxBytes) throw new UploadError(413, own.message);
        body.restrict(own);
      } else if (!type.matches(head)) {
        await body.cancel();
        const what = actual ? `are ${actual.mediaType}` : 'are not an image or clip of an accepted type';
        return refusal(415, `Content-Type says ${type.mediaType} but the bytes ${what}.`, facts());
      }

      const key = this.keyTemplate.keyFor({ camera, receivedAt, filename: storedFilename(filename, type, receivedAt) });
      const stored = await this.store.write({
        key,
        alternateKey: () => alternateKey(key, receivedAt),
        body: body.stream(),
        ...(upload.announcedBytes !== undefined && { size: upload.announcedBytes }),
        ...(hashed && { sha256: () => reading.sha256() }),
        contentType: type.mediaType,
        metadata: {
          camera,
          'received-at': receivedAt.toISOString(),
          ...(filename !== undefined && { 'camera-filename': encodeURIComponent(filename) }),
          ...extraMetadata,
        },
      });
      this.stored?.(stored.key);
      const receipt: StoredImageReceipt = { key: stored.key, bytes: body.bytes, ...(hashed && { sha256: body.sha256() }), camera };
      return { status: 200, body: receipt, headers: {}, log: { ...facts(), key: stored.key, bytes: body.bytes, kind: type.kind } };
    } catch (error) {
      await body?.cancel().catch(() => undefined);
      return failureOutcome(error, facts());
    }
  }
}

/**
 * A push that failed at a part (`part`: its place and filename; undefined when the form itself
 * failed between parts): that failure's status, headers and message, with what was stored before
 * it, in the message and as `stored`.
 */
function pushFailure(outcome: UploadOutcome, stored: PushImageReceipt[], facts: OutcomeFacts, part: { index: number; filename: string | undefined } | undefined): UploadOutcome {
  const original = 'message' in outcome.body ? outcome.body.message : 'The push was not stored.';
  const which = part === undefined ? '' : ` This was image part ${part.index} of the push${part.filename === undefined ? '' : ` ("${printable(part.filename)}")`}.`;
  const before = stored.length === 0 ? ' Nothing of the push was stored.' : ` Stored before the failure: ${stored.map((image) => image.key).join(', ')}; nothing after it.`;
  const message = `${original}${which}${before}`;
  return {
    ...outcome,
    body: { message, stored },
    log: { ...outcome.log, ...facts, error: outcome.log.error ?? original },
  };
}

const emptyMessage = 'The request has no image or clip: the body is empty.';

/** A 415 for a content type that is not accepted (`what`: the type, quoted, or "none"). */
function unacceptedTypeMessage(what: string): string {
  return `Content-Type ${what} is not an accepted image or clip type. Accepted: ${ACCEPTED_MEDIA_TYPES}, or ${UNNAMED_BINARY_TYPE} for any of them (the bytes then tell which).`;
}

/**
 * The accepted type a declared content type names; undefined when it leaves the type to the bytes
 * (none declared, or {@link UNNAMED_BINARY_TYPE}); `unaccepted` for any other.
 */
function declaredType(contentType: string | undefined): MediaType | 'unaccepted' | undefined {
  if (contentType === undefined || leavesTypeToBytes(contentType)) return undefined;
  return mediaTypeForContentType(contentType) ?? 'unaccepted';
}

function header(headers: UploadRequestHead['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Header text made safe to echo in a message or log: no control characters, bounded. */
function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}]/gu, '?').slice(0, 200);
}
