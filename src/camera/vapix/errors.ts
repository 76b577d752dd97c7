/**
 * Errors raised while talking to a camera over VAPIX.
 *
 * Each one says what an installer can act on: which step failed and why (the SOAP fault
 * reason, the HTTP status, the network error). None ever contains a password, and the
 * camera's own words are passed through {@link redactSecrets} before they reach a message.
 *
 * @module
 */
import { isCertificateError } from '../../core/certificate-errors.js';

/** Base class of every error this module throws on purpose. */
export class CameraError extends Error {
  override readonly name: string = 'CameraError';
}

/** A camera address that cannot be used (not a URL, credentials in it, …). */
export class InvalidCameraAddressError extends CameraError {
  override readonly name = 'InvalidCameraAddressError';

  constructor(
    readonly address: string,
    problem: string,
  ) {
    super(`Camera address ${JSON.stringify(address)}: ${problem}`);
  }
}

/** No HTTP response arrived: refused, unreachable, timed out, TLS failure. */
export class CameraConnectionError extends CameraError {
  override readonly name = 'CameraConnectionError';

  /**
   * @param camera - the camera's URL origin, for the message.
   * @param code - Node's error code (`ECONNREFUSED`, `ETIMEDOUT`, `DEPTH_ZERO_SELF_SIGNED_CERT`, …).
   */
  constructor(
    readonly camera: string,
    readonly code: string | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`Cannot reach ${camera}: ${detail}${hintFor(code)}`, options);
  }
}

function hintFor(code: string | undefined): string {
  if (isCertificateError(code)) {
    return ' (the camera\'s certificate is not trusted; cameras ship self-signed ones: use --no-verify-cert, or install the CA)';
  }
  if (code === 'ECONNREFUSED') return ' (nothing listens there: check the address, the port and http vs https)';
  return '';
}

/** The camera refused the credentials (HTTP 401 after a correct authentication exchange). */
export class CameraAuthenticationError extends CameraError {
  override readonly name = 'CameraAuthenticationError';
  readonly status = 401;

  constructor(
    readonly camera: string,
    readonly user: string,
    detail = 'wrong user name or password, or the user is not an administrator',
  ) {
    super(`${camera} refused the credentials of user ${JSON.stringify(user)} (HTTP 401): ${detail}`);
  }
}

/** The camera asks for an authentication this client will not or cannot do. */
export class UnsupportedAuthenticationError extends CameraError {
  override readonly name = 'UnsupportedAuthenticationError';

  constructor(
    readonly camera: string,
    detail: string,
  ) {
    super(`${camera}: ${detail}`);
  }
}

/** The camera answered with an HTTP status that is neither success nor a SOAP fault. */
export class CameraHttpError extends CameraError {
  override readonly name = 'CameraHttpError';

  constructor(
    readonly camera: string,
    readonly status: number,
    detail: string,
  ) {
    super(`${camera} answered HTTP ${status}: ${detail}`);
  }
}

/** What a SOAP 1.2 (or 1.1) Fault says. */
export interface SoapFault {
  /** `Sender`, `Receiver`, … (the local part of the Code/Value QName). */
  code: string;
  /** Local parts of the Subcode values, outermost first, e.g. `InvalidConditionFilterFault`. */
  subcodes: string[];
  /** The human-readable Reason text, as the device wrote it. */
  reason: string;
  /** Text of the Detail element, if any. */
  detail?: string;
}

/** The camera answered an operation with a SOAP Fault. */
export class SoapFaultError extends CameraError {
  override readonly name = 'SoapFaultError';

  constructor(
    readonly operation: string,
    readonly status: number,
    readonly fault: SoapFault,
  ) {
    const kind = fault.subcodes.at(-1) ?? fault.code;
    const detail = fault.detail && fault.detail !== fault.reason ? ` (${fault.detail})` : '';
    super(`${operation}: SOAP fault ${kind}: ${fault.reason || 'no reason given'}${detail} (HTTP ${status})`);
  }
}

/** The camera's answer is not the XML this operation returns. */
export class VapixResponseError extends CameraError {
  override readonly name = 'VapixResponseError';

  constructor(
    readonly operation: string,
    problem: string,
  ) {
    super(`${operation}: unexpected answer from the camera: ${problem}`);
  }
}

/** The camera lacks something setup needs (a template, an operation). */
export class UnsupportedCameraError extends CameraError {
  override readonly name = 'UnsupportedCameraError';
}

/**
 * The event `--on` names cannot be used on this camera: the camera does not offer it, the
 * name fits several of its events, or the event does not suit the rule asked for (a momentary
 * event cannot keep a clip running).
 */
export class CameraEventError extends CameraError {
  override readonly name = 'CameraEventError';
}

/** One step of setup, status or remove failed; {@link CameraStepError.cause} says why. */
export class CameraStepError extends CameraError {
  override readonly name: string = 'CameraStepError';

  /**
   * @param step - what was being done, in words ("adding the send-images action").
   * @param cause - the underlying error (SOAP fault, HTTP status, network error).
   */
  constructor(
    readonly step: string,
    override readonly cause: Error,
    extra = '',
  ) {
    super(`${step} failed: ${cause.message}${extra}`, { cause });
  }
}

/** What the rollback after a failed setup did. */
export interface RollbackReport {
  /** What was removed again, e.g. `recipient 3`. */
  removed: string[];
  /** What could not be removed, and why. */
  failed: { what: string; error: Error }[];
}

/**
 * `camera setup` failed at {@link CameraStepError.step}. What this run had created was
 * removed again ({@link CameraSetupError.rollback}); the camera's previous configuration, if
 * any, is untouched.
 */
export class CameraSetupError extends CameraStepError {
  override readonly name = 'CameraSetupError';

  constructor(
    step: string,
    cause: Error,
    readonly rollback: RollbackReport,
  ) {
    super(step, cause, describeRollback(rollback));
  }
}

function describeRollback({ removed, failed }: RollbackReport): string {
  if (removed.length === 0 && failed.length === 0) return '; nothing had been changed on the camera';
  const parts: string[] = [];
  if (removed.length > 0) parts.push(`; rolled back: removed ${removed.join(', ')}`);
  if (failed.length > 0) {
    parts.push(
      `; ROLLBACK INCOMPLETE: could not remove ${failed.map(({ what, error }) => `${what} (${error.message})`).join(', ')}` +
        ' — remove them in the camera\'s web interface or run `camera remove` with the same --name',
    );
  }
  return parts.join('');
}

/**
 * Replaces every occurrence of each secret in `text` by a masked form, and masks any
 * `accessToken=` value. Used on everything a camera says before it goes into a message.
 * A secret is masked where it stands alone, not inside a longer word: a password `pass` leaves
 * "password" as it is.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    result = result.replace(new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'gu'), () => maskSecret(secret));
  }
  return result.replace(/(accessToken=)([^&\s"'<]+)/gi, (_, key: string, value: string) => `${key}${maskSecret(value)}`);
}

/**
 * A secret as it may be shown: its first three characters and an ellipsis, or only the
 * ellipsis for short values, so a reader can tell tokens apart without learning them.
 */
export function maskSecret(secret: string): string {
  if (secret.endsWith('…')) return secret;
  return secret.length >= 12 ? `${secret.slice(0, 3)}…` : '…';
}
