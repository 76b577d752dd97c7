/**
 * Errors raised by the camera token registry.
 *
 * Messages are written for the person running the CLI or reading the server
 * log, and never contain a token: a token in a log is a leaked credential.
 */
import { CAMERA_NAME_RULE } from '../core/camera-name.js';

/** What a user-supplied token may look like, in words. */
export const TOKEN_RULE =
  'a token must be 16–256 characters of letters A–Z/a–z, digits 0–9, ".", "_", "~" or "-" ' +
  '(it is sent as the accessToken URL query parameter, so no other characters are allowed).';

/** Base class of every error the token registry throws on purpose. */
export class TokenRegistryError extends Error {
  override readonly name: string = 'TokenRegistryError';
}

/** A camera name does not follow {@link CAMERA_NAME_RULE}. */
export class InvalidCameraNameError extends TokenRegistryError {
  override readonly name = 'InvalidCameraNameError';

  /**
   * @param camera - the rejected name, quoted in the message (JSON-escaped so
   *   control characters cannot forge log lines).
   */
  constructor(readonly camera: string) {
    super(`Invalid camera name ${JSON.stringify(camera)}: ${CAMERA_NAME_RULE}`);
  }
}

/** A token supplied by the user does not follow {@link TOKEN_RULE}. */
export class InvalidTokenError extends TokenRegistryError {
  override readonly name = 'InvalidTokenError';

  /** @param length - length of the rejected token; the token itself is never echoed. */
  constructor(length: number) {
    super(`Invalid token (${length} characters): ${TOKEN_RULE}`);
  }
}

/** The token to register is already registered (its SHA-256 is in the file). */
export class DuplicateTokenError extends TokenRegistryError {
  override readonly name = 'DuplicateTokenError';

  constructor(
    readonly existingId: string,
    readonly existingCamera: string,
  ) {
    super(
      `This token is already registered as ${existingId} for camera "${existingCamera}"; ` +
        'revoke it first or use a different token.',
    );
  }
}

/**
 * The registry file cannot be read, is not valid JSON or does not have the
 * expected shape. Never treated as an empty registry: that would lock every
 * camera out, or silently bring revoked tokens back after the next write.
 */
export class RegistryFileError extends TokenRegistryError {
  override readonly name = 'RegistryFileError';

  constructor(
    readonly filePath: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`Token registry file ${filePath}: ${problem}`, options);
  }
}
