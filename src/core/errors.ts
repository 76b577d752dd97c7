/**
 * A request the receiver refuses, with the HTTP status and a message a camera installer can act on.
 * The message is shown to the caller: it never holds a token or internal details.
 */
export class UploadError extends Error {
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UploadError';
  }
}

/** How a store failure is explained to the caller, where the generic sentence would say too little. */
export interface StoreErrorOptions {
  cause?: unknown;
  /** Shown to the caller instead of the generic sentence; never holds a token or a secret. */
  callerMessage?: string;
  /** Seconds after which trying again may succeed (`Retry-After`). */
  retryAfterSeconds?: number;
}

/**
 * The store could not take the image. The message is for the log; the caller is told
 * {@link callerMessage}, or else the class's {@link genericMessage}, with {@link status}.
 */
export abstract class StoreError extends Error {
  abstract readonly status: 503 | 507;
  abstract readonly genericMessage: string;
  readonly callerMessage: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options: StoreErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.callerMessage = options.callerMessage;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The store cannot take the image now (unreachable, timing out, refusing): 503, worth retrying. */
export class StoreUnavailableError extends StoreError {
  readonly status = 503;
  readonly genericMessage = 'The image store is not available right now; the image was not stored.';
  override readonly retryAfterSeconds: number;
  constructor(message: string, options: StoreErrorOptions = {}) {
    super(message, options);
    this.name = 'StoreUnavailableError';
    this.retryAfterSeconds = options.retryAfterSeconds ?? 10;
  }
}

/** The store has no room left for the image (disk full, quota, a full spool): 507. */
export class StoreFullError extends StoreError {
  readonly status = 507;
  readonly genericMessage = 'The image store is full; the image was not stored.';
  constructor(message: string, options: StoreErrorOptions = {}) {
    super(message, options);
    this.name = 'StoreFullError';
  }
}

/** The request body ended early or the connection broke while it was being read. */
export class RequestBodyError extends Error {
  readonly status = 400;
  constructor(options?: { cause?: unknown }) {
    super('The image was not received completely: the connection broke before the body ended.', options);
    this.name = 'RequestBodyError';
  }
}
