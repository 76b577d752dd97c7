/**
 * Per-camera access tokens, kept as SHA-256 hashes in a JSON file.
 *
 * The CLI edits the file (create / revoke) while a long-running receiver
 * holds a {@link TokenRegistry} on the same file and calls
 * {@link TokenRegistry.verify} for every upload; the receiver notices edits on
 * its next verify, without a restart.
 *
 * @module
 */

import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

import {
  DuplicateTokenError,
  InvalidCameraNameError,
  InvalidTokenError,
  RegistryFileError,
} from './errors.js';

export {
  CAMERA_NAME_RULE,
  DuplicateTokenError,
  InvalidCameraNameError,
  InvalidTokenError,
  RegistryFileError,
  TOKEN_RULE,
  TokenRegistryError,
} from './errors.js';

/** Camera names become an object key prefix, so they are kept to a conservative set. */
export const CAMERA_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Tokens a user brings along (e.g. the shared secret of Axis' AWS reference stack). */
export const REGISTERED_TOKEN_PATTERN = /^[A-Za-z0-9._~-]{16,256}$/;

/** Length of generated tokens: 32 × log2(62) ≈ 190 bits. */
export const GENERATED_TOKEN_LENGTH = 32;

/** Version written to, and the only one accepted from, the registry file. */
export const REGISTRY_FILE_VERSION = 1;

/** How long a running receiver may take to see a change another process made to the file. */
export const DEFAULT_RECHECK_MS = 1_000;

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const TOKEN_ID_PATTERN = /^tok_[0-9a-f]{10}$/;
const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/;

/** A registered token as shown to users: never the token, never its hash. */
export interface TokenInfo {
  /** Stable handle for revocation, `tok_` + 10 hex characters. */
  id: string;
  camera: string;
  /** ISO 8601 timestamp. */
  createdAt: string;
}

/** The result of {@link TokenRegistry.create}: the only time the token is available. */
export interface CreatedToken extends TokenInfo {
  token: string;
}

/** Options of {@link TokenRegistry.create}. */
export interface CreateTokenOptions {
  /**
   * Register this existing token instead of generating one; must match
   * {@link REGISTERED_TOKEN_PATTERN}.
   */
  token?: string;
}

/** One entry of the registry file (and of the AWS stack's token secret, which uses the same format). */
export interface StoredToken extends TokenInfo {
  sha256: string;
}

/** In-memory form used by verify: digests decoded once per reload. */
export interface VerifierEntry {
  camera: string;
  digest: Buffer;
}

/** Identity of one version of the file: an atomic rename always changes ino or ctime. */
interface FileSignature {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/**
 * Whether `camera` is an acceptable camera name: 1–63 characters of
 * `[A-Za-z0-9._-]`, starting with a letter or digit (so never `.` or `..`).
 */
export function isValidCameraName(camera: unknown): camera is string {
  return typeof camera === 'string' && CAMERA_NAME_PATTERN.test(camera);
}

/** Whether `token` may be registered with {@link CreateTokenOptions.token}. */
export function isValidRegisteredToken(token: unknown): token is string {
  return typeof token === 'string' && REGISTERED_TOKEN_PATTERN.test(token);
}

/**
 * A new random token of {@link GENERATED_TOKEN_LENGTH} characters of
 * `[A-Za-z0-9]`, safe in a URL query and in Axis "Custom CGI parameters".
 */
export function generateToken(): string {
  let token = '';
  for (let i = 0; i < GENERATED_TOKEN_LENGTH; i++) {
    // randomInt rejects biased samples, so every character is uniform.
    token += TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)];
  }
  return token;
}

function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function newTokenId(): string {
  return `tok_${randomBytes(5).toString('hex')}`;
}

function signatureOf(stats: BigIntStats): FileSignature {
  return { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs };
}

function sameSignature(a: FileSignature, b: FileSignature): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function toInfo({ id, camera, createdAt }: StoredToken): TokenInfo {
  return { id, camera, createdAt };
}

/**
 * The entries of a registry document (`{"version":1,"tokens":[…]}`, already parsed from JSON),
 * validated. Other keys are ignored, so the format can be embedded in a larger document, as the
 * AWS stack's token secret does. `source` names the document in error messages.
 *
 * @throws {@link RegistryFileError} for a document that is not of this format.
 */
export function parseRegistryDocument(document: unknown, source: string): StoredToken[] {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new RegistryFileError(source, 'expected a JSON object with "version" and "tokens"');
  }
  const { version, tokens } = document as { version?: unknown; tokens?: unknown };
  if (version !== REGISTRY_FILE_VERSION) {
    throw new RegistryFileError(
      source,
      `unsupported version ${JSON.stringify(version)} (expected ${REGISTRY_FILE_VERSION})`,
    );
  }
  if (!Array.isArray(tokens)) throw new RegistryFileError(source, '"tokens" must be an array');

  const ids = new Set<string>();
  return tokens.map((raw: unknown, index): StoredToken => {
    const bad = (problem: string): RegistryFileError =>
      new RegistryFileError(source, `tokens[${index}]: ${problem}`);
    if (typeof raw !== 'object' || raw === null) throw bad('expected an object');
    const { id, camera, sha256: hash, createdAt } = raw as Record<string, unknown>;
    if (typeof id !== 'string' || !TOKEN_ID_PATTERN.test(id)) throw bad('"id" must look like tok_0123456789');
    if (ids.has(id)) throw bad(`duplicate id ${id}`);
    ids.add(id);
    if (!isValidCameraName(camera)) throw bad(`invalid "camera": ${JSON.stringify(camera)}`);
    if (typeof hash !== 'string' || !SHA256_HEX_PATTERN.test(hash)) {
      throw bad('"sha256" must be 64 lowercase hex digits');
    }
    if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt))) {
      throw bad('"createdAt" must be an ISO 8601 timestamp');
    }
    return { id, camera, sha256: hash, createdAt };
  });
}

/** Digests decoded once, for {@link cameraForToken}. */
export function verifierEntries(tokens: readonly StoredToken[]): VerifierEntry[] {
  return tokens.map(({ camera, sha256: hex }) => ({ camera, digest: Buffer.from(hex, 'hex') }));
}

/**
 * The camera whose token hashes to the same SHA-256 as `token`, or `undefined`. Every entry is
 * compared in constant time, so timing reveals neither which entry matched nor the stored hashes.
 */
export function cameraForToken(entries: readonly VerifierEntry[], token: string): string | undefined {
  if (typeof token !== 'string') return undefined;
  const candidate = sha256(token);
  let camera: string | undefined;
  for (const entry of entries) {
    // No early exit: every entry is compared whatever matched before.
    const equal = timingSafeEqual(candidate, entry.digest);
    if (equal && camera === undefined) camera = entry.camera;
  }
  return camera;
}

/**
 * Write queues per resolved file path, shared by every instance in this
 * process so two registries on one file cannot lose each other's updates.
 */
const writeQueues = new Map<string, Promise<unknown>>();

/**
 * Per-camera access tokens stored in a JSON file.
 *
 * File format (UTF-8 JSON, mode 0600, replaced atomically on every change):
 *
 * ```json
 * {
 *   "version": 1,
 *   "tokens": [
 *     {
 *       "id": "tok_3f9a0c12be",
 *       "camera": "front-door",
 *       "sha256": "<64 lowercase hex digits: SHA-256 of the UTF-8 token>",
 *       "createdAt": "2025-01-31T12:00:00.000Z"
 *     }
 *   ]
 * }
 * ```
 *
 * - Only hashes are stored; a token is shown once, by {@link TokenRegistry.create}.
 * - A camera may have several tokens at once, so tokens can be rotated
 *   without downtime.
 * - A missing file is an empty registry. An unreadable or malformed file is a
 *   {@link RegistryFileError}, never an empty registry.
 * - Writes go to a temporary file in the same directory (mode 0600), are
 *   fsynced and renamed over the file; the directory is created if missing.
 * - Writes are serialised within this process and re-read the file each time,
 *   so edits made meanwhile by another process are kept. Two processes
 *   writing at the very same moment are not coordinated (last rename wins).
 */
export class TokenRegistry {
  /** Absolute path of the registry file. */
  readonly filePath: string;

  /** How long {@link verify} trusts what it last found in the file before it checks the file again. */
  readonly recheckMs: number;

  #cache: { signature: FileSignature; entries: VerifierEntry[] } | undefined;
  /** The last check of the file (or the one running), shared by the calls made meanwhile. */
  #checked: { at: number; entries: Promise<VerifierEntry[]> } | undefined;

  /**
   * @param filePath - the JSON file; resolved against the current directory now.
   * @param options.recheckMs - see {@link recheckMs}; default {@link DEFAULT_RECHECK_MS}.
   */
  constructor(filePath: string, options: { recheckMs?: number } = {}) {
    this.filePath = path.resolve(filePath);
    this.recheckMs = options.recheckMs ?? DEFAULT_RECHECK_MS;
  }

  /**
   * Register a token for `camera`: a new random one, or `options.token`.
   *
   * @returns the entry including the token, which cannot be retrieved later.
   * @throws {@link InvalidCameraNameError}, {@link InvalidTokenError},
   *   {@link DuplicateTokenError} (the token's hash is already in the file),
   *   {@link RegistryFileError}.
   */
  async create(camera: string, options: CreateTokenOptions = {}): Promise<CreatedToken> {
    if (!isValidCameraName(camera)) throw new InvalidCameraNameError(String(camera));
    const token = options.token ?? generateToken();
    if (!isValidRegisteredToken(token)) throw new InvalidTokenError(String(token).length);
    const hash = sha256(token).toString('hex');

    return this.#serialise(async () => {
      const tokens = await this.#readStored();
      const existing = tokens.find((entry) => entry.sha256 === hash);
      if (existing) throw new DuplicateTokenError(existing.id, existing.camera);

      let id = newTokenId();
      while (tokens.some((entry) => entry.id === id)) id = newTokenId();
      const entry: StoredToken = { id, camera, sha256: hash, createdAt: new Date().toISOString() };
      await this.#write([...tokens, entry]);
      return { ...toInfo(entry), token };
    });
  }

  /** All registered tokens in creation order, without tokens or hashes. */
  async list(): Promise<TokenInfo[]> {
    return (await this.#readStored()).map(toInfo);
  }

  /**
   * Revoke by token id (one token) or by camera name (all its tokens). An id
   * wins over a camera of the same spelling.
   *
   * @returns the revoked entries; empty when nothing matched (file untouched).
   */
  async revoke(cameraOrId: string): Promise<TokenInfo[]> {
    return this.#serialise(async () => {
      const tokens = await this.#readStored();
      const byId = tokens.some((entry) => entry.id === cameraOrId);
      const matches = (entry: StoredToken): boolean => (byId ? entry.id : entry.camera) === cameraOrId;
      const removed = tokens.filter(matches);
      if (removed.length > 0) await this.#write(tokens.filter((entry) => !matches(entry)));
      return removed.map(toInfo);
    });
  }

  /**
   * The camera a token belongs to, or `undefined` if it is not registered.
   *
   * Checks the file (one `stat`, a re-read only when it changed) at most once
   * per {@link recheckMs}, so a token revoked by another process (e.g. `token
   * revoke`) stops working within that time, and a change made through this
   * instance applies to the next call. The candidate's
   * SHA-256 is compared with every entry in constant time, so timing reveals
   * neither which entry matched nor anything about the stored hashes.
   *
   * @throws {@link RegistryFileError} if the file is unreadable or malformed:
   *   failing closed and loudly beats serving a stale or empty list.
   */
  async verify(token: string): Promise<string | undefined> {
    return cameraForToken(await this.#recentEntries(), token);
  }

  /**
   * Entries as found by a check of the file at most {@link recheckMs} ago. Not a `stat` per
   * upload: under load the thread pool is busy with the uploads' writes and fsyncs, and a `stat`
   * queued behind them held every upload back (the receiver's core stored 11–15 % fewer images per
   * second with it, in alternating runs; see bench/RESULTS.md).
   */
  #recentEntries(): Promise<VerifierEntry[]> {
    const now = performance.now();
    if (this.#checked === undefined || now - this.#checked.at >= this.recheckMs) {
      const entries = this.#currentEntries();
      const checked = { at: now, entries };
      this.#checked = checked;
      // A failed check is not trusted for later calls: the next one checks again.
      entries.catch(() => {
        if (this.#checked === checked) this.#checked = undefined;
      });
    }
    return this.#checked.entries;
  }

  /** Entries for verify, reloaded when the file's identity changed. */
  async #currentEntries(): Promise<VerifierEntry[]> {
    let current: FileSignature;
    try {
      current = signatureOf(await stat(this.filePath, { bigint: true }));
    } catch (error) {
      if (isNotFound(error)) {
        this.#cache = undefined;
        return [];
      }
      throw new RegistryFileError(this.filePath, `cannot stat: ${errorText(error)}`, { cause: error });
    }
    if (this.#cache && sameSignature(this.#cache.signature, current)) return this.#cache.entries;

    const snapshot = await this.#readSnapshot();
    if (!snapshot) {
      this.#cache = undefined;
      return [];
    }
    const entries = verifierEntries(snapshot.tokens);
    // Keyed by what was actually read (fstat of the open file), so a rename
    // between our stat and open just causes one more reload later.
    this.#cache = { signature: snapshot.signature, entries };
    return entries;
  }

  async #readStored(): Promise<StoredToken[]> {
    return (await this.#readSnapshot())?.tokens ?? [];
  }

  /**
   * Read and validate the file through one open descriptor, so content and
   * signature belong to the same version even during a concurrent rename.
   * `undefined` when the file does not exist.
   */
  async #readSnapshot(): Promise<{ signature: FileSignature; tokens: StoredToken[] } | undefined> {
    let text: string;
    let signature: FileSignature;
    try {
      const handle = await open(this.filePath, 'r');
      try {
        signature = signatureOf(await handle.stat({ bigint: true }));
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw new RegistryFileError(this.filePath, `cannot read: ${errorText(error)}`, { cause: error });
    }
    return { signature, tokens: this.#parse(text) };
  }

  #parse(text: string): StoredToken[] {
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new RegistryFileError(this.filePath, `not valid JSON (${errorText(error)}); fix or restore it`, {
        cause: error,
      });
    }
    return parseRegistryDocument(document, this.filePath);
  }

  /** Replace the file atomically: temp file (0600) in the same dir, fsync, rename. */
  async #write(tokens: StoredToken[]): Promise<void> {
    const directory = path.dirname(this.filePath);
    const text = `${JSON.stringify({ version: REGISTRY_FILE_VERSION, tokens }, null, 2)}\n`;
    const tempPath = path.join(
      directory,
      `.${path.basename(this.filePath)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
    );
    try {
      await mkdir(directory, { recursive: true, mode: 0o700 });
      const handle = await open(tempPath, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
      try {
        // The umask can only clear bits, but make the mode exact regardless.
        await handle.chmod(0o600);
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tempPath, this.filePath);
    } catch (error) {
      await unlink(tempPath).catch(() => undefined);
      throw new RegistryFileError(this.filePath, `cannot write: ${errorText(error)}`, { cause: error });
    }
    await syncDirectory(directory);
    // The next verify reloads from disk rather than trusting a guessed signature.
    this.#cache = undefined;
    this.#checked = undefined;
  }

  #serialise<T>(task: () => Promise<T>): Promise<T> {
    const previous = writeQueues.get(this.filePath) ?? Promise.resolve();
    const result = previous.then(task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    writeQueues.set(this.filePath, settled);
    // Drop the queue once idle so the map does not grow with every path ever used.
    void settled.then(() => {
      if (writeQueues.get(this.filePath) === settled) writeQueues.delete(this.filePath);
    });
    return result;
  }
}

/** Make the rename durable; not supported everywhere (e.g. Windows), hence best effort. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Durability of the directory entry is a bonus; the data itself is fsynced.
  }
}
