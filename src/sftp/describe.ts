/**
 * What `serve` and `images-to-s3 sftp fingerprints` print about the SFTP receiver: its addresses
 * and the host key fingerprints a camera is given when its SFTP recipient is created.
 *
 * @module
 */
import type { HostKey, HostKeyType, OpenedHostKeys } from './host-keys.js';

const LABELS: Record<HostKeyType, string> = { 'ssh-rsa': 'RSA', 'ssh-ed25519': 'Ed25519' };

/** The key types `serve` presents: all of them, or the RSA key alone (`--sftp-rsa-only`). */
export function presentedKeys(keys: readonly HostKey[], rsaOnly: boolean): HostKey[] {
  return keys.filter((key) => !rsaOnly || key.type === 'ssh-rsa');
}

/** One line per key: its type, then its SHA-256 and MD5 fingerprints. */
export function fingerprintLines(keys: readonly HostKey[]): string[] {
  return keys.map((key) => `${LABELS[key.type].padEnd(8)} ${key.sha256}   MD5 ${key.md5}`);
}

/** The fingerprints as JSON: both forms, and the SHA-256 in hex too, for clients that want it so. */
export function fingerprintsJson(keys: readonly HostKey[]): Array<{ type: HostKeyType; sha256: string; sha256Hex: string; md5: string; createdAt: string }> {
  return keys.map((key) => ({
    type: key.type,
    sha256: key.sha256,
    sha256Hex: Buffer.from(key.sha256.slice('SHA256:'.length), 'base64').toString('hex').replace(/(..)(?!$)/g, '$1:'),
    md5: key.md5,
    createdAt: key.createdAt,
  }));
}

/** The SFTP lines of `serve`'s start-up banner. */
export function sftpBannerLines(urls: readonly string[], hostKeys: OpenedHostKeys, presented: readonly HostKey[]): string[] {
  const lines = [
    '  SFTP, for cameras that send files (Axis: recipient type SFTP; user: the camera\'s name, password: one of its tokens):',
    ...urls.map((url) => `    ${url}`),
    `  SFTP host key fingerprints (Axis cameras pin the RSA key${presented.length > 1 ? '; other clients may pick the Ed25519 one' : ''}):`,
    ...fingerprintLines(presented).map((line) => `    ${line}`),
  ];
  if (hostKeys.created) lines.push(`  Made new SFTP host keys, kept in ${hostKeys.location} (every receiver on this store presents them).`);
  return lines;
}
