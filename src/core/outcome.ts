/**
 * What an upload came to, whatever carried it in (the HTTP server, the Lambda function, a file
 * transfer): the answer (status, message, headers), its kind for metrics, and the one log record
 * every runtime writes. Adapters turn an outcome into their protocol's answer; they do not make
 * their own.
 *
 * @module
 */
import { RequestBodyError, StoreError, UploadError } from './errors.js';
import type { MediaKind } from './media-types.js';

/** What the caller is told, what metrics count, and what the log says (never a token). */
export interface UploadOutcome {
  status: number;
  body: { message: string; stored?: PushImageReceipt[] } | StoredImageReceipt | StoredPushReceipt;
  headers: Record<string, string>;
  /** Why a token was not accepted, when that is why the upload was refused. */
  tokenRefusal?: TokenRefusal;
  /** Why the image could not be stored, when the store (or the receiver) failed. */
  storeFailure?: StoreFailure;
  log: OutcomeFacts;
}

/** The facts of one upload the log line carries. */
export interface OutcomeFacts {
  camera?: string;
  key?: string;
  bytes?: number;
  /** What was stored: an image or a clip. */
  kind?: MediaKind;
  filename?: string;
  /** A push's stored keys, in the order of its parts (also those stored before a part failed). */
  keys?: string[];
  /** A push's event type, as its event part names it. */
  eventType?: string;
  error?: string;
  cause?: unknown;
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

/** One image of a camera's push, as stored. */
export interface PushImageReceipt {
  key: string;
  bytes: number;
  /** As in {@link StoredImageReceipt}. */
  sha256?: string;
}

/**
 * The JSON body of a 200 for a camera's push (an event part and its images): every image, in the
 * order of its parts, and the facts of the event kept with each of them.
 */
export interface StoredPushReceipt {
  camera: string;
  images: PushImageReceipt[];
  /** The event's facts (type, state, channel, time, plate, …), as kept in each image's metadata, decoded. */
  event: Record<string, string>;
}

/** `missing`: no token (401); `invalid`: unknown or revoked (403); `rate_limited`: too many failures (429). */
export type TokenRefusal = 'missing' | 'invalid' | 'rate_limited';

/** `unavailable` (503), `full` (507), or `other` (an unexpected error, 500). */
export type StoreFailure = 'unavailable' | 'full' | 'other';

/** `stored` (2xx), `rejected` (the request's fault, 4xx) or `failed` (the receiver's or store's, 5xx). */
export type OutcomeKind = 'stored' | 'rejected' | 'failed';

export function outcomeKind(status: number): OutcomeKind {
  return status < 300 ? 'stored' : status < 500 ? 'rejected' : 'failed';
}

/** A refusal with a message a camera installer can act on. */
export function refusal(
  status: number,
  message: string,
  facts: OutcomeFacts = {},
  extra: { retryAfterSeconds?: number; tokenRefusal?: TokenRefusal; storeFailure?: StoreFailure; headers?: Record<string, string> } = {},
): UploadOutcome {
  return {
    status,
    body: { message },
    headers: { ...extra.headers, ...(extra.retryAfterSeconds !== undefined && { 'retry-after': String(extra.retryAfterSeconds) }) },
    ...(extra.tokenRefusal && { tokenRefusal: extra.tokenRefusal }),
    ...(extra.storeFailure && { storeFailure: extra.storeFailure }),
    log: { ...facts, error: facts.error ?? message },
  };
}

/** Every upload slot is taken: 503, try again shortly. */
export function busyRefusal(): UploadOutcome {
  return refusal(503, 'The receiver is busy with other uploads; the image was not stored. Try again shortly.', {}, { retryAfterSeconds: 5 });
}

/** A client address made too many uploads with a missing or invalid token: 429. */
export function tooManyTokenFailures(address: string, retryAfterSeconds: number): UploadOutcome {
  return refusal(
    429,
    `Too many uploads with a missing or invalid access token from ${address}; wait a minute and check the camera's "Custom CGI parameters".`,
    {},
    { retryAfterSeconds, tokenRefusal: 'rate_limited' },
  );
}

/** Where every way in reports each finished upload, beside its log line (the receiver's metrics). */
export interface OutcomeRecorder {
  record(outcome: UploadOutcome, seconds: number): void;
}

/** One log record per upload: its level, message and fields. The token is never among them. */
export interface OutcomeLogRecord {
  level: 'info' | 'warn' | 'error';
  message: 'image stored' | 'clip stored' | 'push stored' | 'upload rejected' | 'upload failed';
  fields: Omit<OutcomeFacts, 'cause'> & { status: number; durationMs: number; remoteAddress: string };
  /** The underlying error of a failure, for the logger's error serialiser. */
  cause?: unknown;
}

export function outcomeLogRecord(outcome: UploadOutcome, durationMs: number, remoteAddress: string): OutcomeLogRecord {
  const { cause, ...facts } = outcome.log;
  const fields = { ...facts, status: outcome.status, durationMs: Math.round(durationMs * 10) / 10, remoteAddress };
  const kind = outcomeKind(outcome.status);
  if (kind === 'stored') return { level: 'info', message: facts.keys !== undefined ? 'push stored' : facts.kind === 'clip' ? 'clip stored' : 'image stored', fields };
  if (kind === 'rejected') return { level: 'warn', message: 'upload rejected', fields };
  return { level: 'error', message: 'upload failed', fields, ...(cause !== undefined && { cause }) };
}

/**
 * The access token a request presents in its `accessToken` query parameters: the one value, or
 * why there is none to check (`missing`: absent or empty; `conflicting`: different values).
 */
export function presentedToken(values: readonly string[]): { token: string } | { problem: 'missing' | 'conflicting' } {
  const distinct = [...new Set(values.filter((value) => value !== ''))];
  if (distinct.length === 0) return { problem: 'missing' };
  if (distinct.length > 1) return { problem: 'conflicting' };
  return { token: distinct[0]! };
}

/**
 * What an error met while taking an upload comes to: the client's own (an `UploadError`, a broken
 * body) with its status and message; the store's with its status, a message that tells no
 * internals and `Retry-After` where trying again may help; anything else a 500 whose details go
 * only to the log.
 */
export function failureOutcome(error: unknown, facts: OutcomeFacts): UploadOutcome {
  if (error instanceof UploadError || error instanceof RequestBodyError) {
    return refusal(error.status, error.message, { ...facts, cause: error.cause });
  }
  if (error instanceof StoreError) {
    return refusal(
      error.status,
      error.callerMessage ?? error.genericMessage,
      { ...facts, error: error.message, cause: error.cause },
      {
        storeFailure: error.status === 507 ? 'full' : 'unavailable',
        ...(error.retryAfterSeconds !== undefined && { retryAfterSeconds: error.retryAfterSeconds }),
      },
    );
  }
  return refusal(500, 'The receiver failed to store the upload; see its log.', { ...facts, error: String(error), cause: error }, { storeFailure: 'other' });
}
