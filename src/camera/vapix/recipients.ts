/**
 * The recipient a setup creates, by protocol: HTTP(S) (`upload_url` and the token as
 * `accessToken=` in the action's custom parameters), or SFTP and FTP (host, port and folder, the
 * camera's name as the user and its token as the password), as VAPIX documents the
 * `com.axis.recipient.*` templates. Also reads a recipient back into the URL it stands for, which
 * is how `camera status` shows it and compares the action with the recipient.
 *
 * Pure, and without the VAPIX client: the CLI's option help reads the protocols from here.
 *
 * @module
 */

/** What `--protocol` takes: the scheme of a `--recipient` URL. */
export const RECIPIENT_PROTOCOLS = ['https', 'http', 'sftp', 'ftp'] as const;
export type RecipientProtocol = (typeof RECIPIENT_PROTOCOLS)[number];

/** The protocols whose recipient logs in with a user and password (the camera's name and token). */
export type FileProtocol = Extract<RecipientProtocol, 'sftp' | 'ftp'>;

/** The ports VAPIX documents as the recipients' defaults, used when the URL names none. */
export const DEFAULT_FILE_PORTS: Record<FileProtocol, number> = { sftp: 22, ftp: 21 };

/** Where SFTP and FTP recipients keep the host key fingerprints. */
export const MD5_FINGERPRINT_PARAMETER = 'ssh_host_pub_key_md5';
export const SHA256_FINGERPRINT_PARAMETER = 'ssh_host_pub_key_sha256';

/** `ssh_auth_type=2`: password authentication; 1 (public key) is documented as not supported, and fails with a misleading error. */
export const SSH_PASSWORD_AUTHENTICATION = '2';

/** A recipient URL, its protocol or the host key fingerprint that cannot be used: nothing was sent to a camera. */
export class InvalidRecipientError extends Error {
  override readonly name = 'InvalidRecipientError';
}

export function isRecipientProtocol(value: unknown): value is RecipientProtocol {
  return typeof value === 'string' && (RECIPIENT_PROTOCOLS as readonly string[]).includes(value);
}

export function isFileProtocol(protocol: RecipientProtocol | undefined): protocol is FileProtocol {
  return protocol === 'sftp' || protocol === 'ftp';
}

/**
 * The recipient URL of `--recipient` and `--protocol`: a URL whose scheme is one of
 * {@link RECIPIENT_PROTOCOLS}; with `protocol`, also `host[:port][/path]` without a scheme, and a
 * URL must then be of that protocol.
 *
 * @throws {@link InvalidRecipientError}
 */
export function recipientUrl(recipient: string, protocol?: RecipientProtocol): URL {
  const text = protocol !== undefined && !/^[a-z][a-z0-9+.-]*:\/\//i.test(recipient.trim()) ? `${protocol}://${recipient.trim()}` : recipient.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidRecipientError(`--recipient ${JSON.stringify(recipient)} is not a URL; use the receiver's address: https://…, sftp://host:port/ or ftp://host:port/`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme === 'ftps') {
    throw new InvalidRecipientError(
      "--recipient must not be ftps://: Axis' FTP recipient has no TLS setting (VAPIX documents none). Use sftp://host:port/ for an encrypted upload, or ftp://host:port/",
    );
  }
  if (!isRecipientProtocol(scheme)) throw new InvalidRecipientError(`--recipient must be an https://, http://, sftp:// or ftp:// URL, not ${url.protocol}`);
  if (protocol !== undefined && scheme !== protocol) {
    throw new InvalidRecipientError(`--protocol ${protocol} does not go with --recipient ${recipient}: give ${protocol}://host:port/, or leave --protocol out`);
  }
  return url;
}

/** Where an SFTP or FTP recipient sends: host (an IPv6 address without brackets), port, folder. */
export interface FileDestination {
  protocol: FileProtocol;
  host: string;
  port: number;
  /** The recipient's `upload_path`: the URL's path without its trailing `/` (`''` for `/`). */
  uploadPath: string;
}

/**
 * The destination of an `sftp://` or `ftp://` recipient URL. The user and password are the
 * camera's name and token, which setup fills in: a URL carrying either is refused, as is a query.
 *
 * @throws {@link InvalidRecipientError}
 */
export function fileDestination(url: URL): FileDestination {
  const protocol = url.protocol.slice(0, -1).toLowerCase();
  if (!isFileProtocol(protocol as RecipientProtocol)) throw new InvalidRecipientError(`not an sftp:// or ftp:// URL: ${url.href}`);
  const fileProtocol = protocol as FileProtocol;
  if (url.username !== '' || url.password !== '') {
    throw new InvalidRecipientError(`--recipient must not contain a user or password: the camera logs in with its name as the user and its access token as the password, which setup sets`);
  }
  if (url.search !== '' || url.hash !== '') throw new InvalidRecipientError(`--recipient ${url.href}: an ${fileProtocol}:// recipient has no query or fragment`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new InvalidRecipientError(`--recipient ${url.href} names no host`);
  const port = url.port === '' ? DEFAULT_FILE_PORTS[fileProtocol] : Number(url.port);
  if (!Number.isSafeInteger(port) || port < 1 || port > 65535) throw new InvalidRecipientError(`--recipient ${url.href}: the port must be 1–65535`);
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new InvalidRecipientError(`--recipient ${url.href}: the path is not valid percent-encoding`);
  }
  const uploadPath = path.replace(/\/+$/, '');
  return { protocol: fileProtocol, host, port, uploadPath };
}

/** A host key fingerprint, in the form each recipient parameter takes. */
export type HostKeyFingerprint =
  /** 32 lowercase hex digits, without colons: VAPIX's form for `ssh_host_pub_key_md5`. */
  | { md5: string; sha256?: undefined }
  /** The 43 base64 characters of OpenSSH's `SHA256:…`, without the prefix. */
  | { sha256: string; md5?: undefined };

const FINGERPRINT_HELP =
  'give the RSA host key\'s fingerprint as `images-to-s3 sftp fingerprints` prints it: SHA256:… (43 base64 characters), or its MD5 (aa:bb:… or 32 hex digits)';

/**
 * Reads `--sftp-fingerprint`: `SHA256:<base64>` (OpenSSH), the SHA-256 as 64 hex digits (with or
 * without colons, as `sftp fingerprints --json` gives it), or the MD5 as 16 hex pairs with colons or
 * 32 hex digits, each with or without an `MD5:`/`MD5 ` prefix.
 *
 * @throws {@link InvalidRecipientError}
 */
export function parseHostKeyFingerprint(text: string): HostKeyFingerprint {
  const trimmed = text.trim();
  const md5 = /^(?:MD5[:\s]\s*)?((?:[0-9a-f]{2}:){15}[0-9a-f]{2}|[0-9a-f]{32})$/i.exec(trimmed)?.[1];
  if (md5 !== undefined) return { md5: md5.replace(/:/g, '').toLowerCase() };
  const base64 = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(trimmed)?.[1];
  if (base64 !== undefined) return { sha256: base64 };
  const hex = /^(?:SHA256[:\s]\s*)?((?:[0-9a-f]{2}:){31}[0-9a-f]{2}|[0-9a-f]{64})$/i.exec(trimmed)?.[1];
  if (hex !== undefined) return { sha256: Buffer.from(hex.replace(/:/g, ''), 'hex').toString('base64').replace(/=+$/, '') };
  throw new InvalidRecipientError(`--sftp-fingerprint ${JSON.stringify(text)}: ${FINGERPRINT_HELP}`);
}

/** A fingerprint as `sftp fingerprints` prints it: `MD5 aa:bb:…` or `SHA256:…`. */
export function describeFingerprint(fingerprint: { md5?: string; sha256?: string }): string {
  if (fingerprint.md5) return `MD5 ${fingerprint.md5.toLowerCase().replace(/(..)(?!$)/g, '$1:')}`;
  if (fingerprint.sha256) return `SHA256:${fingerprint.sha256}`;
  return 'none';
}

/** What an SFTP or FTP recipient is given besides its destination. */
export interface FileLogin {
  /** The camera's name: the receiver's user name for it. */
  login: string;
  /** One of its access tokens. */
  password: string;
}

/** What an SFTP and an FTP recipient share, first in VAPIX's order: where to, and who logs in. */
function fileRecipientBase(destination: FileDestination, login: FileLogin): Record<string, string> {
  return {
    host: destination.host,
    upload_path: destination.uploadPath,
    port: String(destination.port),
    login: login.login,
    password: login.password,
  };
}

/**
 * The parameters of a `com.axis.recipient.sftp` recipient, in VAPIX's order: password
 * authentication (`ssh_auth_type=2`), the host key pinned by one fingerprint (the other empty,
 * as VAPIX allows), the public-key fields empty (documented as not supported), `temporary=0`
 * (documented as not supported for SFTP).
 */
export function sftpRecipientParameters(destination: FileDestination, login: FileLogin, fingerprint: HostKeyFingerprint): Record<string, string> {
  return {
    ...fileRecipientBase(destination, login),
    [MD5_FINGERPRINT_PARAMETER]: fingerprint.md5 ?? '',
    [SHA256_FINGERPRINT_PARAMETER]: fingerprint.sha256 ?? '',
    ssh_auth_type: SSH_PASSWORD_AUTHENTICATION,
    ssh_public_key: '',
    ssh_private_key: '',
    ssh_private_key_passphrase: '',
    temporary: '0',
    qos: '0',
  };
}

/**
 * The parameters of a `com.axis.recipient.ftp` recipient, in VAPIX's order: passive mode (the
 * receiver refuses active mode), and `temporary=1` (upload under a temporary name, then rename:
 * the receiver stores the file once, under its final name).
 */
export function ftpRecipientParameters(destination: FileDestination, login: FileLogin): Record<string, string> {
  return {
    ...fileRecipientBase(destination, login),
    passive: '1',
    temporary: '1',
    qos: '0',
  };
}

/** The protocol of a recipient or action template (`com.axis.recipient.sftp`, `….send_images.https`), from its last part. */
export function protocolOfTemplate(templateToken: string): RecipientProtocol | undefined {
  const last = templateToken.slice(templateToken.lastIndexOf('.') + 1);
  return isRecipientProtocol(last) ? last : undefined;
}

/**
 * Where a recipient, or an action that repeats its parameters, sends, as a URL: `upload_url` for
 * HTTP(S), `sftp://host:port/path/` or `ftp://…` made from the parameters for the file
 * protocols. Never holds a user or password.
 */
export function destinationOf(templateToken: string, parameters: Record<string, string>): string {
  const protocol = protocolOfTemplate(templateToken);
  if (!isFileProtocol(protocol)) return parameters.upload_url ?? '';
  const rawHost = parameters.host ?? '';
  const host = rawHost.includes(':') && !rawHost.startsWith('[') ? `[${rawHost}]` : rawHost;
  const port = parameters.port ?? '';
  const path = (parameters.upload_path ?? '').replace(/^\/+|\/+$/g, '');
  return `${protocol}://${host}${port === '' ? '' : `:${port}`}/${path === '' ? '' : `${path}/`}`;
}
