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

/** The `Retry-After` of a 503 from the store, in seconds. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 10;

/** The store cannot take the image now (unreachable, timing out, refusing): 503, worth retrying. */
export class StoreUnavailableError extends StoreError {
  readonly status = 503;
  readonly genericMessage = 'The image store is not available right now; the image was not stored.';
  override readonly retryAfterSeconds: number;
  constructor(message: string, options: StoreErrorOptions = {}) {
    super(message, options);
    this.name = 'StoreUnavailableError';
    this.retryAfterSeconds = options.retryAfterSeconds ?? UNAVAILABLE_RETRY_AFTER_SECONDS;
  }
}

/**
 * The store answered that every key tried for the image is taken (the preferred one, then
 * alternates, up to `MAX_KEY_ATTEMPTS` of store.ts): 503, as for a store that refuses the image.
 *
 * Alternate keys are random (see `alternateKey`), so no camera setting, not even one filename for
 * every image, makes them all clash: a store that reports them all taken is misreporting what it
 * holds (a proxy answering every request, a store that refuses every conditional write). Not a
 * 4xx, which would send the installer to the camera's settings; not a 500, which says the receiver
 * failed. A retry draws new keys, so `Retry-After` is given as for any 503.
 */
export class StoreKeysTakenError extends StoreError {
  readonly status = 503;
  readonly genericMessage =
    'The image store answered that every key tried for this image is already taken, so the image was not stored. Keys after the first are random, so the camera\'s settings are not the cause: check the store, or a proxy in front of it (details in the receiver\'s log).';
  override readonly retryAfterSeconds: number;
  /** `key` is the preferred key; `attempts` the number of keys tried. */
  constructor(key: string, attempts: number, options: StoreErrorOptions = {}) {
    super(`No free key for ${key}: all ${attempts} keys tried are taken`, options);
    this.name = 'StoreKeysTakenError';
    this.retryAfterSeconds = options.retryAfterSeconds ?? UNAVAILABLE_RETRY_AFTER_SECONDS;
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
