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

/** The store cannot take the image now (unreachable, timing out, refusing): 503, worth retrying. */
export class StoreUnavailableError extends Error {
  readonly status = 503;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** The store has no room left for the image (disk full, quota): 507. */
export class StoreFullError extends Error {
  readonly status = 507;
  constructor(message: string, options?: { cause?: unknown }) {
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
