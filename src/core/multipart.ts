/**
 * A `multipart/form-data` upload (RFC 7578), streamed. Two shapes are taken:
 *
 * - a plain upload: one file part (what a client that posts an HTML-form-style upload sends
 *   instead of a raw body), whose filename and content type are used as a raw body's
 *   `Content-Disposition` filename and `Content-Type` are;
 * - a camera's push: an event part first (XML or JSON: Hikvision's `EventNotificationAlert`, a
 *   Dahua event), then one or more image parts, handed on one after the other.
 *
 * Parsed with busboy (the parser @fastify/multipart uses), which hands each file part on as a
 * stream with backpressure: memory does not grow with a file's size. Up to 16 small text fields
 * are ignored in both shapes.
 *
 * @module
 */
import busboy from 'busboy';
import type { Busboy } from 'busboy';
import { eventFormatOf, looksLikeXmlEvent } from './camera-event.js';
import type { EventFormat } from './camera-event.js';
import { RequestBodyError, UploadError } from './errors.js';
import { essenceOf } from './media-types.js';

/** The content type of a body this module reads. */
export const MULTIPART_FORM_DATA = 'multipart/form-data';

/**
 * Bytes a multipart body may hold beyond its file: boundaries, part headers, small text fields. An
 * announced `Content-Length` (which counts them) is checked against the file limit plus this.
 */
export const MULTIPART_FRAMING_BYTES = 64 * 1024;

/** Text fields beside the file are allowed (and ignored), up to this many (each read up to the event bound below, the rest dropped). */
const MAX_FIELDS = 16;
/** The largest event part of a push (Hikvision's ANPR `EventNotificationAlert` is about 4 KB). */
export const MAX_EVENT_PART_BYTES = 64 * 1024;
/** The most image parts one push may hold (a Hikvision ANPR camera sends up to three). */
export const MAX_PUSH_IMAGES = 8;
/** Files busboy hands on: a push's images, and its event part when it has a filename. */
const MAX_FILES = MAX_PUSH_IMAGES + 1;
const MAX_PARTS = MAX_FIELDS + MAX_FILES + 1;
const MAX_PART_HEADERS = 32;

/** Whether a `Content-Type` header value names a multipart form. */
export function isMultipartForm(contentType: string): boolean {
  return essenceOf(contentType) === MULTIPART_FORM_DATA;
}

/** The file part of a multipart body, as the raw body's headers would describe it. */
export interface MultipartFile {
  /** The part's `filename`, as sent (a path included: the receiver folds it, as for a raw body). */
  filename: string | undefined;
  /**
   * The part's `Content-Type`; undefined when it has none, or names no format
   * (`application/octet-stream`, or `text/plain`, which busboy reports for a part without one):
   * the bytes then decide.
   */
  contentType: string | undefined;
  /**
   * The file's bytes. For a plain upload it ends only once the whole multipart body was read and
   * found to hold this one file: with a second file, or a body that ends early or is malformed, it
   * fails (400) instead, so a store keeps nothing of it. For an image of a push it ends with the
   * part (its closing delimiter read: the part is whole), and fails if the body breaks before.
   */
  body: AsyncIterable<Uint8Array>;
  /** Stops reading the form without reading `body` (a refusal from the part's headers). */
  discard(): void;
}

/** The event part of a push: its format and text (at most {@link MAX_EVENT_PART_BYTES}). */
export interface MultipartEvent {
  format: EventFormat;
  text: string;
  /** The part's filename or field name, for messages. */
  name: string | undefined;
}

/** A camera's push: its event part, then its image parts one at a time. */
export interface MultipartPush {
  event: MultipartEvent;
  /**
   * The next image part, once the previous one's body was read to its end; undefined when the form
   * ended cleanly. Fails (400, 413) when the form breaks, is malformed, or holds what a push may not
   * (a second event part, more than {@link MAX_PUSH_IMAGES} images).
   */
  nextImage(): Promise<MultipartFile | undefined>;
  /** Stops reading the form (a refused image, a failed store). */
  stop(): void;
}

/** What a multipart body turned out to be, from its first file or event part. */
export type MultipartUpload = { kind: 'file'; file: MultipartFile } | { kind: 'push'; push: MultipartPush };

/** A bound on the whole multipart body: its size, and what the 413 says when it is crossed. */
export interface MultipartLimit {
  maxBytes: number;
  message: string;
}

const HOW_TO_SEND =
  'Send one file part (Content-Disposition: form-data; name="file"; filename="…", with its Content-Type), or the file as the raw body.';
const HOW_TO_PUSH = `A push sends its event part (XML or JSON) first, then up to ${MAX_PUSH_IMAGES} image parts, each with a filename.`;

/**
 * Reads `source`, a `multipart/form-data` body with the request's `contentType` (its boundary),
 * up to its first file or event part: a file part first makes it a plain upload (that one file),
 * an event part first makes it a camera's push. Fails with 400 when the body has neither or
 * cannot be parsed, with 413 when it grows over `limit`.
 */
export async function openMultipartForm(contentType: string, source: AsyncIterable<Uint8Array>, limit: MultipartLimit): Promise<MultipartUpload> {
  let parser: Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      // The receiver folds a path into the name itself, as for a raw body's filename.
      preservePath: true,
      // Cameras and clients send a non-ASCII filename as UTF-8 bytes.
      defParamCharset: 'utf8',
      // One byte over the event bound, so that an event part over it is told from one just at it.
      limits: { files: MAX_FILES, fields: MAX_FIELDS, fieldSize: MAX_EVENT_PART_BYTES + 1, parts: MAX_PARTS, headerPairs: MAX_PART_HEADERS },
    });
  } catch (error) {
    throw new UploadError(400, `The multipart body cannot be read (${(error as Error).message}). ${HOW_TO_SEND}`);
  }
  const form = new MultipartForm(parser, limit);
  void form.pump(source);
  return form.open();
}

/** A part as busboy handed it on: a file's stream, or an event read whole. */
type FormPart = { kind: 'file'; stream: AsyncIterable<Uint8Array>; filename: string | undefined; mimeType: string } | { kind: 'event'; event: MultipartEvent };

/**
 * One multipart body being parsed: its file and event parts in order, and whatever goes wrong.
 * The first of them decides what the form is: a plain upload (`single`: no other file or event
 * part may follow) or a push (`push`: images follow, no second event).
 */
class MultipartForm {
  /** The first thing that went wrong; every later failure reports this one. */
  private problem: UploadError | RequestBodyError | undefined;
  /** The form was parsed to its closing boundary, every part consumed. */
  private complete = false;
  private ended = false;
  private readonly closed: Promise<void>;
  private mode: 'undecided' | 'single' | 'push' = 'undecided';
  private images = 0;
  /** Parts in the order they came, each settled once it is read (an event part is read whole first). */
  private readonly parts: Array<Promise<FormPart>> = [];
  private wake: (() => void) | undefined;

  constructor(
    private readonly parser: Busboy,
    private readonly limit: MultipartLimit,
  ) {
    this.closed = new Promise((resolve) => parser.once('close', resolve));
    void this.closed.then(() => {
      this.ended = true;
      this.notify();
    });
    parser.on('error', (error: unknown) => this.fail(error));
    parser.on('finish', () => (this.complete = true));
    parser.on('filesLimit', () => this.fail(new UploadError(400, `The push holds more than ${MAX_PUSH_IMAGES} images; ${this.notStored()}. ${HOW_TO_PUSH}`)));
    parser.on('partsLimit', () => this.fail(new UploadError(400, `The multipart body has more than ${MAX_PARTS} parts; ${this.notStored()}. ${this.howTo()}`)));
    parser.on('fieldsLimit', () => this.fail(new UploadError(400, `The multipart body has more than ${MAX_FIELDS} text fields; ${this.notStored()}. ${this.howTo()}`)));
    parser.on('field', (name, value, info) => {
      const format = eventFormatOf({ contentType: info.mimeType, name }) ?? (essenceOf(info.mimeType) === 'text/plain' && looksLikeXmlEvent(value) ? 'xml' : undefined);
      if (format !== undefined) {
        if (info.valueTruncated) {
          this.fail(new UploadError(413, `The push's event part is larger than ${MAX_EVENT_PART_BYTES / 1024} KB; ${this.notStored()}.`));
          return;
        }
        this.add({ kind: 'event', event: { format, text: value, name } });
        return;
      }
      // busboy takes a part for a file only when it has a filename (or is application/octet-stream).
      if (essenceOf(info.mimeType) !== 'text/plain') {
        this.fail(new UploadError(400, `The multipart body has a part of type ${info.mimeType} without a filename; ${this.notStored()}. ${this.howTo()}`));
      }
    });
    parser.on('file', (name, stream, info) => {
      // A part that is not read (refused, or after a refusal) is destroyed with the parser: its
      // error is the form's, reported through `problem`, never an unhandled 'error' event.
      stream.on('error', () => undefined);
      const format = eventFormatOf({ contentType: info.mimeType, filename: info.filename, name });
      if (format === undefined) {
        this.add({ kind: 'file', stream, filename: info.filename, mimeType: info.mimeType });
        return;
      }
      this.add(
        readWhole(stream, MAX_EVENT_PART_BYTES).then(
          (text) => ({ kind: 'event', event: { format, text, name: info.filename ?? name } }),
          (error: unknown) => {
            const problem = error instanceof UploadError ? new UploadError(413, `The push's event part is larger than ${MAX_EVENT_PART_BYTES / 1024} KB; ${this.notStored()}.`) : error;
            this.fail(problem);
            throw this.problem ?? problem;
          },
        ),
      );
    });
  }

  /** Feeds the request body to the parser, at the pace the file parts are read. */
  async pump(source: AsyncIterable<Uint8Array>): Promise<void> {
    const iterator = source[Symbol.asyncIterator]();
    let bytes = 0;
    try {
      // Checked before each read, so that a form given up (a refusal, a failed store) reads no more.
      while (!this.parser.destroyed) {
        const next = await iterator.next();
        if (next.done) {
          if (!this.parser.destroyed) this.parser.end();
          return;
        }
        bytes += next.value.byteLength;
        if (bytes > this.limit.maxBytes) throw new UploadError(413, this.limit.message);
        if (!this.parser.write(next.value)) await this.drained();
      }
      await iterator.return?.();
    } catch (error) {
      this.fail(error instanceof UploadError || error instanceof RequestBodyError ? error : new RequestBodyError({ cause: error }));
      await Promise.resolve(iterator.return?.()).catch(() => undefined);
    }
  }

  /** The form's first file or event part, and so what the form is. */
  async open(): Promise<MultipartUpload> {
    const first = await this.next();
    if (first === undefined) throw new UploadError(400, `The multipart body has no file part; nothing was stored. ${HOW_TO_SEND}`);
    if (first.kind === 'file') return { kind: 'file', file: this.fileOf(first, this.soleBody(first.stream)) };
    return {
      kind: 'push',
      push: {
        event: first.event,
        nextImage: async () => {
          const part = await this.next();
          if (part?.kind === 'event') throw new UploadError(400, 'unreachable: a second event part is refused as it comes');
          return part === undefined ? undefined : this.fileOf(part, this.partBody(part.stream));
        },
        stop: () => this.stop(),
      },
    };
  }

  /** Records a part as it comes; the first file or event part decides what the form is. */
  private add(part: FormPart | Promise<FormPart>): void {
    const settled = Promise.resolve(part);
    // A part refused below is never read: its failure is the form's.
    settled.catch(() => undefined);
    // busboy may hand on parts of a chunk it was parsing when the form failed: they are not the form's.
    if (this.problem !== undefined) return;
    const kind = part instanceof Promise ? 'event' : part.kind;
    if (this.mode === 'undecided') {
      this.mode = kind === 'event' ? 'push' : 'single';
    } else if (this.mode === 'single') {
      this.fail(
        new UploadError(
          400,
          kind === 'file'
            ? `The multipart body holds more than one file; nothing was stored. ${HOW_TO_SEND}`
            : `The multipart body has an event part after its file; nothing was stored. ${HOW_TO_PUSH}`,
        ),
      );
      return;
    } else if (kind === 'event') {
      this.fail(new UploadError(400, `The push holds more than one event part; ${this.notStored()}. ${HOW_TO_PUSH}`));
      return;
    } else if (++this.images > MAX_PUSH_IMAGES) {
      this.fail(new UploadError(400, `The push holds more than ${MAX_PUSH_IMAGES} images; ${this.notStored()}. ${HOW_TO_PUSH}`));
      return;
    }
    this.parts.push(settled);
    this.notify();
  }

  /** The next part in order; undefined once the form ended cleanly; the problem once it failed. */
  private async next(): Promise<FormPart | undefined> {
    for (;;) {
      const part = this.parts.shift();
      if (part !== undefined) return part;
      if (this.problem) throw this.problem;
      if (this.ended) {
        if (!this.complete) throw new RequestBodyError();
        return undefined;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private fileOf(part: Extract<FormPart, { kind: 'file' }>, body: AsyncIterable<Uint8Array>): MultipartFile {
    const essence = essenceOf(part.mimeType);
    const named = essence !== 'text/plain' && essence !== 'application/octet-stream';
    return { filename: part.filename, contentType: named ? part.mimeType : undefined, body, discard: () => this.stop() };
  }

  /** A plain upload's file: after its last byte, the rest of the form must parse, with no second file. */
  private async *soleBody(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of stream) yield chunk;
      await this.closed;
    } catch (error) {
      throw this.problem ?? error;
    } finally {
      // Stopped early (a refusal, a failed store) or done: the parser is not needed any more.
      this.stop();
    }
    if (this.problem) throw this.problem;
    if (!this.complete) throw new RequestBodyError();
  }

  /**
   * An image of a push: its bytes up to its closing delimiter (busboy ends the part's stream only
   * there; a body that breaks before fails it). What comes after it in the form does not change it.
   */
  private async *partBody(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    let whole = false;
    try {
      for await (const chunk of stream) yield chunk;
      whole = true;
    } catch (error) {
      throw this.problem ?? error;
    } finally {
      // Stopped before its end (a refusal, a failed store): the rest of the form is not read.
      if (!whole) this.stop();
    }
  }

  private stop(): void {
    if (!this.parser.destroyed) this.parser.destroy();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.parser.off('drain', done);
        this.parser.off('close', done);
        resolve();
      };
      this.parser.on('drain', done);
      this.parser.on('close', done);
    });
  }

  /** How much of the body a refusal leaves unstored: all of it, or (in a push) what follows. */
  private notStored(): string {
    return this.mode === 'push' ? 'what follows it was not stored' : 'nothing was stored';
  }

  private howTo(): string {
    return this.mode === 'push' ? HOW_TO_PUSH : HOW_TO_SEND;
  }

  /** Records the first problem and stops parsing; the part readers then fail with it. */
  private fail(error: unknown): void {
    this.problem ??=
      error instanceof UploadError || error instanceof RequestBodyError
        ? error
        : new UploadError(400, `The multipart body is malformed (${(error as Error).message}); ${this.notStored()}. ${this.howTo()}`);
    this.stop();
    this.notify();
  }
}

/** A part's stream read whole, as UTF-8 text; fails with 413 past `maxBytes`. */
async function readWhole(stream: AsyncIterable<Uint8Array>, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += chunk.byteLength;
    if (bytes > maxBytes) throw new UploadError(413, 'too large');
    chunks.push(chunk);
  }
  return new TextDecoder('utf-8').decode(Buffer.concat(chunks));
}
