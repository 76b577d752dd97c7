/**
 * The options of `images-to-s3 camera setup|status|remove|events`, as commander hands them over: defined
 * as flags in ./camera.ts, taken by the commands' actions in ./camera-actions.ts. Here so that
 * neither of those two modules has to import the other's types (only camera.ts loads
 * camera-actions.ts, when a camera command runs).
 *
 * @module
 */

import type { PulseInterval } from '../camera/vapix/pulse.js';
import type { RecipientProtocol } from '../camera/vapix/recipients.js';
import type { SendKind } from '../camera/vapix/setup.js';

/** Options every `camera` subcommand takes. */
export interface ConnectionOptions {
  camera?: string;
  cameras?: string;
  user?: string;
  password?: string;
  name?: string;
  verifyCert: boolean;
  concurrency: number;
  timeout: number;
  json?: boolean;
}

export interface SetupCommandOptions extends ConnectionOptions {
  recipient: string;
  /** Absent: the --recipient URL's scheme. */
  protocol?: RecipientProtocol;
  /** SFTP: the receiver's RSA host key fingerprint; absent, read from the receiver's state (--store/--tokens). */
  sftpFingerprint?: string;
  token?: string;
  createToken?: boolean;
  store: string;
  tokens?: string;
  /** The event that starts the action; a pulse schedule when absent. */
  on?: string;
  /** Absent: every minute (and not allowed with --on). */
  every?: PulseInterval;
  send: SendKind;
  /** Milliseconds before and after the event; the defaults depend on --send. */
  pre?: number;
  post?: number;
  clipWhileActive?: boolean;
  /** Absent: the default pattern for --send. */
  filename?: string;
  /** Absent: 1 (and not allowed with --send clip). */
  maxImages?: number;
  validateRecipientCert: boolean;
  /** Configure a loopback or unspecified recipient all the same. */
  force?: boolean;
}

export interface RemoveCommandOptions extends ConnectionOptions {
  store: string;
  tokens?: string;
  keepToken?: boolean;
}
