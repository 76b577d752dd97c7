/**
 * The log-in of file-transfer protocols (FTP, SFTP): the user name is the camera's name, the
 * password one of that camera's access tokens, checked against the same registry as HTTP uploads
 * (a revoked token stops at once) and under the same limit of failed attempts per client address.
 *
 * @module
 */
import type { TokenVerifier } from '../core/receiver.js';
import { StoreError } from '../core/errors.js';
import type { FailedAuthLimiter } from '../server/failed-auth-limiter.js';

/** How a log-in went; `message` is for the client (it never holds the password). */
export type LoginResult =
  | { outcome: 'accepted'; camera: string }
  /** The name or the token is wrong (which of the two is not said). */
  | { outcome: 'refused'; message: string }
  /** Too many failed log-ins from this address: the session should end. */
  | { outcome: 'rate-limited'; message: string; retryAfterSeconds: number }
  /** The registry cannot be read now: try again later. */
  | { outcome: 'unavailable'; message: string };

export class CameraLogin {
  constructor(
    private readonly tokens: TokenVerifier,
    /**
     * Counts failed log-ins per client address (`--failed-auth-limit` a minute). One limiter can
     * serve several protocols, so that failures by FTP and SFTP from one address add up.
     */
    private readonly failures: FailedAuthLimiter,
  ) {}

  /**
   * Checks that `password` is a token of the camera named `user`. A token of another camera is
   * refused like an unknown one. Failures count against `address`; a valid log-in is never refused
   * by the limit (a camera behind the same NAT as a misconfigured one keeps working).
   */
  async check(user: string, password: string, address: string): Promise<LoginResult> {
    const camera = await this.cameraFor(password);
    if (typeof camera === 'object') return camera;
    if (camera !== undefined && camera === user) return { outcome: 'accepted', camera };
    const retryAfterSeconds = this.failures.fail(address);
    if (retryAfterSeconds !== undefined) {
      return {
        outcome: 'rate-limited',
        retryAfterSeconds,
        message: `Too many failed log-ins from ${address}; wait ${retryAfterSeconds} s, and check the camera's user name and password.`,
      };
    }
    return { outcome: 'refused', message: loginRefusedMessage };
  }

  /**
   * Whether `password`, accepted at log-in, is still a token of `camera`: checked again before each
   * file, so a token revoked during a session stops it at once.
   */
  async stillValid(camera: string, password: string): Promise<LoginResult> {
    const current = await this.cameraFor(password);
    if (typeof current === 'object') return current;
    return current === camera ? { outcome: 'accepted', camera } : { outcome: 'refused', message: revokedMessage };
  }

  /** The camera of a token, undefined for none, or why the registry could not tell. */
  private async cameraFor(password: string): Promise<string | undefined | LoginResult> {
    if (password === '') return undefined;
    try {
      return await this.tokens.verify(password);
    } catch (error) {
      const message = error instanceof StoreError && error.callerMessage !== undefined ? error.callerMessage : 'The receiver cannot check access tokens right now.';
      return { outcome: 'unavailable', message: `${message} Try again later.` };
    }
  }
}

const loginRefusedMessage =
  "Login incorrect: the user name is the camera's name and the password one of its access tokens (images-to-s3 token create <camera> makes one).";

const revokedMessage = "The camera's access token was revoked during this session: log in again with a valid one.";
