/**
 * A `multipart/form-data` upload (RFC 7578) with one file part, streamed: what a client that posts
 * an HTML-form-style upload sends instead of a raw body. The part's filename and content type are
 * used as a raw body's `Content-Disposition` filename and `Content-Type` are.
 *
 * Parsed with busboy (the parser @fastify/multipart uses), which hands the file part on as a stream
 * with backpressure: memory does not grow with the file's size.
 *
 * @module
 */
import busboy from 'busboy';
import type { Busboy } from 'busboy';
import { RequestBodyError, UploadError } from './errors.js';
import { essenceOf } from './media-types.js';

/** The content type of a body this module reads. */
export const MULTIPART_FORM_DATA = 'multipart/form-data';

/**
 * Bytes a multipart body may hold beyond its file: boundaries, part headers, small text fields. An
 * announced `Content-Length` (which counts them) is checked against the file limit plus this.
 */
export const MULTIPART_FRAMING_BYTES = 64 * 1024;

/** Text fields beside the file are allowed (and ignored) up to these bounds. */
const MAX_FIELDS = 16;
const MAX_FIELD_BYTES = 16 * 1024;
const MAX_PARTS = MAX_FIELDS + 2;
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
   * The file's bytes. It ends only once the whole multipart body was read and found to hold this
   * one file: with a second file, or a body that ends early or is malformed, it fails (400) instead,
   * so a store keeps nothing of it.
   */
  body: AsyncIterable<Uint8Array>;
  /** Stops reading the form without reading `body` (a refusal from the part's headers). */
  discard(): void;
}

/** A bound on the whole multipart body: its size, and what the 413 says when it is crossed. */
export interface MultipartLimit {
  maxBytes: number;
  message: string;
}

const HOW_TO_SEND =
  'Send one file part (Content-Disposition: form-data; name="file"; filename="…", with its Content-Type), or the file as the raw body.';

/**
 * Reads `source`, a `multipart/form-data` body with the request's `contentType` (its boundary),
 * up to the headers of its file part, and resolves with that part; fails with 400 when the body
 * has no file part or cannot be parsed, with 413 when it grows over `limit`.
 */
export async function openMultipartFile(contentType: string, source: AsyncIterable<Uint8Array>, limit: MultipartLimit): Promise<MultipartFile> {
  let parser: Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      // The receiver folds a path into the name itself, as for a raw body's filename.
      preservePath: true,
      // Cameras and clients send a non-ASCII filename as UTF-8 bytes.
      defParamCharset: 'utf8',
      limits: { files: 1, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, parts: MAX_PARTS, headerPairs: MAX_PART_HEADERS },
    });
  } catch (error) {
    throw new UploadError(400, `The multipart body cannot be read (${(error as Error).message}). ${HOW_TO_SEND}`);
  }
  const form = new MultipartForm(parser, limit);
  void form.pump(source);
  return form.file();
}

/** One multipart body being parsed: its first file part, and whatever goes wrong after it. */
class MultipartForm {
  /** The first thing that went wrong; every later failure reports this one. */
  private problem: UploadError | RequestBodyError | undefined;
  /** The form was parsed to its closing boundary, every part consumed. */
  private complete = false;
  private readonly closed: Promise<void>;
  private readonly firstFile: Promise<{ stream: AsyncIterable<Uint8Array>; filename: string | undefined; mimeType: string }>;

  constructor(
    private readonly parser: Busboy,
    private readonly limit: MultipartLimit,
  ) {
    this.closed = new Promise((resolve) => parser.once('close', resolve));
    parser.on('error', (error: unknown) => this.fail(error));
    parser.on('finish', () => (this.complete = true));
    parser.on('filesLimit', () => this.fail(new UploadError(400, `The multipart body holds more than one file; nothing was stored. ${HOW_TO_SEND}`)));
    parser.on('partsLimit', () => this.fail(new UploadError(400, `The multipart body has more than ${MAX_PARTS} parts; nothing was stored. ${HOW_TO_SEND}`)));
    parser.on('fieldsLimit', () => this.fail(new UploadError(400, `The multipart body has more than ${MAX_FIELDS} text fields; nothing was stored. ${HOW_TO_SEND}`)));
    parser.on('field', (_name, _value, info) => {
      // busboy takes a part for a file only when it has a filename (or is application/octet-stream).
      if (essenceOf(info.mimeType) !== 'text/plain') {
        this.fail(new UploadError(400, `The multipart body has a part of type ${info.mimeType} without a filename; nothing was stored. ${HOW_TO_SEND}`));
      }
    });
    this.firstFile = new Promise((resolve, reject) => {
      parser.once('file', (_name, stream, info) => resolve({ stream, filename: info.filename, mimeType: info.mimeType }));
      void this.closed.then(() => reject(this.problem ?? new UploadError(400, `The multipart body has no file part; nothing was stored. ${HOW_TO_SEND}`)));
    });
    this.firstFile.catch(() => undefined);
  }

  /** Feeds the request body to the parser, at the pace the file part is read. */
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

  async file(): Promise<MultipartFile> {
    const { stream, filename, mimeType } = await this.firstFile;
    const essence = essenceOf(mimeType);
    const named = essence !== 'text/plain' && essence !== 'application/octet-stream';
    return { filename, contentType: named ? mimeType : undefined, body: this.body(stream), discard: () => this.parser.destroy() };
  }

  /** The file part's bytes; after its last, the rest of the form must parse, with no second file. */
  private async *body(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of stream) yield chunk;
      await this.closed;
    } catch (error) {
      throw this.problem ?? error;
    } finally {
      // Stopped early (a refusal, a failed store) or done: the parser is not needed any more.
      if (!this.parser.destroyed) this.parser.destroy();
    }
    if (this.problem) throw this.problem;
    if (!this.complete) throw new RequestBodyError();
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

  /** Records the first problem and stops parsing; the file part's reader then fails with it. */
  private fail(error: unknown): void {
    this.problem ??=
      error instanceof UploadError || error instanceof RequestBodyError
        ? error
        : new UploadError(400, `The multipart body is malformed (${(error as Error).message}); nothing was stored. ${HOW_TO_SEND}`);
    if (!this.parser.destroyed) this.parser.destroy();
  }
}
