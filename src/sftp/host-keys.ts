/**
 * The SFTP server's host keys: made at the first start, kept in a shared document beside the
 * token registry (see `stateFor`), so every receiver of a fleet presents the same keys and a
 * camera that pinned one fingerprint can reach any of them.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { DocumentUnreachableError, updateDocument } from '../state/document.js';
import type { DocumentVersion, SharedDocument } from '../state/document.js';

/**
 * The key types made: RSA, because Axis' SFTP client accepts only RSA (or DSA) host keys, and
 * Ed25519, what current clients prefer.
 */
export const HOST_KEY_TYPES = ['ssh-rsa', 'ssh-ed25519'] as const;
export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

/** The RSA key's size: OpenSSH's default, which every client since 2001 can check. */
export const RSA_KEY_BITS = 3072;

const DOCUMENT_VERSION = 1;

/** One host key, with the fingerprints a client is told to pin. */
export interface HostKey {
  type: HostKeyType;
  /** The private key in OpenSSH's format, unencrypted (the document is kept as privately as the token registry). */
  privateKey: string;
  /** When it was made (ISO 8601). */
  createdAt: string;
  /** The public key in SSH's wire format (as in a known_hosts line, base64-encoded). */
  publicKey: Buffer;
  /** OpenSSH's form: `SHA256:` and the base64 of the public key's SHA-256, without padding. */
  sha256: string;
  /** The MD5 of the public key as hex pairs with colons, e.g. `4f:1a:…`. */
  md5: string;
}

/** What {@link openHostKeys} found. */
export interface OpenedHostKeys {
  keys: HostKey[];
  /** Whether this call made (some of) them: a first start. */
  created: boolean;
  /** Where they are kept. */
  location: string;
}

/** The host keys' document names what it is not. */
export class HostKeyDocumentError extends Error {
  override readonly name = 'HostKeyDocumentError';

  constructor(location: string, problem: string) {
    super(
      `${location} is not a valid SFTP host key document (${problem}). Restore it from a backup: removing it makes new host keys, whose fingerprints every camera must then be given.`,
    );
  }
}

const generate = promisify(ssh2.utils.generateKeyPair) as (type: 'rsa' | 'ed25519', options: { bits?: number }) => Promise<{ private: string; public: string }>;

/**
 * The host keys in `document`, making the ones missing (all of them on a first start). Of several
 * receivers starting at once on a store without keys, one makes them and the others use those
 * (the write is a compare-and-swap, see {@link updateDocument}).
 */
export async function openHostKeys(document: SharedDocument): Promise<OpenedHostKeys> {
  let read: DocumentVersion | undefined;
  try {
    read = await document.read();
  } catch (error) {
    if (!(error instanceof DocumentUnreachableError)) throw error;
    // Keys made here now could differ from the ones the other receivers present.
    throw new Error(`The SFTP host keys cannot be read (${error.message}), and this receiver has no copy of them; no new ones are made while the store is unreachable. Start again once it is, or without --sftp-port.`, { cause: error });
  }
  const existing = parseHostKeys(read, document.location);
  const missing = HOST_KEY_TYPES.filter((type) => !existing.some((key) => key.type === type));
  if (missing.length === 0) return { keys: ordered(existing), created: false, location: document.location };
  // Made before the update: its change must not wait for key generation between its read and its write.
  const made = await Promise.all(missing.map(makeHostKey));
  const outcome = await updateDocument(document, (current) => {
    const keys = parseHostKeys(current, document.location);
    const added = made.filter((key) => !keys.some((present) => present.type === key.type));
    if (added.length === 0) return { result: { keys, created: false } };
    const all = [...keys, ...added];
    return { text: hostKeysText(all), result: { keys: all, created: true } };
  });
  return { keys: ordered(outcome.keys), created: outcome.created, location: document.location };
}

/**
 * A new host key of `type`. ssh2 (1.17) writes an Ed25519 key whose public half starts with a zero
 * byte without that byte (it strips every leading zero where it means to strip one), so about one
 * Ed25519 key in 256 comes out damaged: such a key is made again.
 */
async function makeHostKey(type: HostKeyType): Promise<HostKey> {
  for (let attempt = 1; ; attempt++) {
    const pair = type === 'ssh-rsa' ? await generate('rsa', { bits: RSA_KEY_BITS }) : await generate('ed25519', {});
    try {
      return hostKey(type, pair.private, new Date().toISOString(), 'a key made just now');
    } catch (error) {
      if (attempt >= 8) throw error;
    }
  }
}

/** RSA first, as the banner lists them (the one Axis cameras pin). */
function ordered(keys: HostKey[]): HostKey[] {
  return [...keys].sort((a, b) => HOST_KEY_TYPES.indexOf(a.type) - HOST_KEY_TYPES.indexOf(b.type));
}

function hostKeysText(keys: HostKey[]): string {
  const entries = keys.map(({ type, privateKey, createdAt }) => ({ type, createdAt, privateKey }));
  return `${JSON.stringify({ version: DOCUMENT_VERSION, keys: entries }, null, 2)}\n`;
}

function parseHostKeys(version: DocumentVersion | undefined, location: string): HostKey[] {
  if (version === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(version.text);
  } catch {
    throw new HostKeyDocumentError(location, 'not JSON');
  }
  const { version: format, keys } = (parsed ?? {}) as { version?: unknown; keys?: unknown };
  if (format !== DOCUMENT_VERSION) throw new HostKeyDocumentError(location, `unsupported version ${JSON.stringify(format)}`);
  if (!Array.isArray(keys)) throw new HostKeyDocumentError(location, '"keys" must be an array');
  const seen = new Set<string>();
  return keys.map((raw: unknown, index) => {
    const { type, privateKey, createdAt } = (raw ?? {}) as Record<string, unknown>;
    const where = `keys[${index}]`;
    if (!HOST_KEY_TYPES.includes(type as HostKeyType)) throw new HostKeyDocumentError(location, `${where}: "type" must be one of ${HOST_KEY_TYPES.join(', ')}`);
    if (seen.has(type as string)) throw new HostKeyDocumentError(location, `${where}: a second ${String(type)} key`);
    seen.add(type as string);
    if (typeof privateKey !== 'string' || typeof createdAt !== 'string') throw new HostKeyDocumentError(location, `${where}: "privateKey" and "createdAt" must be strings`);
    return hostKey(type as HostKeyType, privateKey, createdAt, `${location} ${where}`);
  });
}

/** A host key with its fingerprints, from its private key; `source` names it in errors. */
function hostKey(type: HostKeyType, privateKey: string, createdAt: string, source: string): HostKey {
  const parsed = ssh2.utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? (parsed[0] as ssh2.ParsedKey | undefined) : parsed;
  if (key === undefined || key instanceof Error || key.type !== type || !key.isPrivateKey()) {
    throw new Error(`${source}: not an unencrypted ${type} private key in OpenSSH's format.`);
  }
  const publicKey = key.getPublicSSH();
  return { type, privateKey, createdAt, publicKey, ...fingerprints(publicKey) };
}

/** The SHA-256 (OpenSSH's `SHA256:…`) and MD5 (`aa:bb:…`) fingerprints of a public key in SSH's wire format. */
export function fingerprints(publicKey: Buffer): { sha256: string; md5: string } {
  const sha256 = createHash('sha256').update(publicKey).digest('base64').replace(/=+$/, '');
  const md5 = createHash('md5').update(publicKey).digest('hex').replace(/(..)(?!$)/g, '$1:');
  return { sha256: `SHA256:${sha256}`, md5 };
}
