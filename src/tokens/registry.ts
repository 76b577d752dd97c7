/**
 * Per-camera access tokens, kept as SHA-256 hashes in a JSON document: a local file, an object in
 * the images' bucket, or the AWS stack's secret (see {@link SharedDocument}).
 *
 * The CLI edits the document (create / revoke) while long-running receivers hold a
 * {@link TokenRegistry} on the same document and call {@link TokenRegistry.verify} for every
 * upload; they notice edits within about a second, without a restart.
 *
 * @module
 */

import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { isValidCameraName } from '../core/camera-name.js';
import { StoreUnavailableError } from '../core/errors.js';
import { DocumentUnreachableError, UNCHANGED, updateDocument } from '../state/document.js';
import type { DocumentVersion, SharedDocument } from '../state/document.js';
import { FileDocument } from '../state/file-document.js';

import {
  DuplicateTokenError,
  InvalidCameraNameError,
  InvalidTokenError,
  RegistryFileError,
} from './errors.js';

export {
  DuplicateTokenError,
  InvalidCameraNameError,
  InvalidTokenError,
  RegistryFileError,
  TOKEN_RULE,
  TokenRegistryError,
} from './errors.js';

/** Tokens a user brings along (e.g. the shared secret of Axis' AWS reference stack). */
export const REGISTERED_TOKEN_PATTERN = /^[A-Za-z0-9._~-]{16,256}$/;

/** The camera the AWS stack's shared `accessToken` (the reference stack's single token) stands for, unless the stack was told otherwise. */
export const DEFAULT_SHARED_TOKEN_CAMERA = 'camera';

/** Length of generated tokens: 32 × log2(62) ≈ 190 bits. */
export const GENERATED_TOKEN_LENGTH = 32;

/** Version written to, and the only one accepted from, the registry file. */
export const REGISTRY_FILE_VERSION = 1;

/** How long a running receiver may take to see a change another process made to the registry. */
export const DEFAULT_RECHECK_MS = 1_000;

/** A watching registry that meets an unknown token looks again, at most this often. */
const MISS_RECHECK_MS = 250;

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
  /** What made it, when not a person with `token create`: `camera setup` (which replaces and removes its own). */
  createdBy?: string;
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
  /** See {@link TokenInfo.createdBy}. */
  createdBy?: string;
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

/** A stored entry as shown to users: no hash. */
export function toInfo({ id, camera, createdAt, createdBy }: StoredToken): TokenInfo {
  return { id, camera, createdAt, ...(createdBy !== undefined && { createdBy }) };
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
    const { id, camera, sha256: hash, createdAt, createdBy } = raw as Record<string, unknown>;
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
    if (createdBy !== undefined && (typeof createdBy !== 'string' || !/^[a-z][a-z -]{0,39}$/.test(createdBy))) throw bad('"createdBy" must be a short lowercase label');
    return { id, camera, sha256: hash, createdAt, ...(createdBy !== undefined && { createdBy }) };
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
 * A registry document as read: its tokens, the seed's shared `accessToken` where there is one (the
 * AWS stack's secret), and every other key, kept as it was when the document is written back.
 */
export interface RegistryContent {
  document: Record<string, unknown>;
  tokens: StoredToken[];
  sharedToken?: string;
}

/**
 * Parses a registry document's text. A document with neither `version` nor `tokens` (a seed-shaped
 * secret, `{"accessToken":"…"}`) has no tokens yet; `source` names it in error messages, which never
 * quote the text (a secret's may hold a token).
 *
 * @throws {@link RegistryFileError} for a document that is not of this format.
 */
export function parseRegistryText(text: string, source: string): RegistryContent {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new RegistryFileError(source, 'not valid JSON; fix or restore it');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new RegistryFileError(source, 'expected a JSON object with "version" and "tokens"');
  }
  const fields = document as Record<string, unknown>;
  const { accessToken } = fields;
  if (accessToken !== undefined && typeof accessToken !== 'string') throw new RegistryFileError(source, '"accessToken" must be a string');
  const tokens = fields.version === undefined && fields.tokens === undefined ? [] : parseRegistryDocument(document, source);
  return { document: fields, tokens, ...(accessToken && { sharedToken: accessToken }) };
}

/** The text of a registry document with these tokens, every other key kept. */
function registryText(content: RegistryContent, tokens: StoredToken[]): string {
  return `${JSON.stringify({ ...content.document, version: REGISTRY_FILE_VERSION, tokens }, null, 2)}\n`;
}

/** Entries for {@link cameraForToken}: the registered tokens, and the shared token for `sharedTokenCamera` when given. */
export function registryEntries(content: RegistryContent, sharedTokenCamera: string | undefined): VerifierEntry[] {
  const entries = verifierEntries(content.tokens);
  if (sharedTokenCamera !== undefined && content.sharedToken) entries.push({ camera: sharedTokenCamera, digest: sha256(content.sharedToken) });
  return entries;
}

const EMPTY: RegistryContent = { document: {}, tokens: [] };

export interface TokenRegistryOptions {
  /** See {@link TokenRegistry.recheckMs}; default {@link DEFAULT_RECHECK_MS}. */
  recheckMs?: number;
  /** The document's `accessToken` (the AWS stack's shared token) stands for this camera; unset, it is not accepted. */
  sharedTokenCamera?: string;
}

/** What a watching registry reports: the document could not be read, and what it goes on with. */
export interface RegistryTrouble {
  error: Error;
  /** Whether verification goes on with the tokens last read (the backend is unreachable), rather than failing. */
  usingLastRead: boolean;
}

/**
 * Per-camera access tokens in a JSON document.
 *
 * Document format (UTF-8 JSON; a file is mode 0600 and replaced atomically on every change):
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
 * - A camera may have several tokens at once, so tokens can be rotated without downtime.
 * - A missing document is an empty registry. An unreadable or malformed one is a
 *   {@link RegistryFileError}, never an empty registry. Other keys are kept as they are.
 * - Every change is a compare-and-swap on the document ({@link updateDocument}): edits made at
 *   the same moment by other processes or receivers are kept.
 */
export class TokenRegistry {
  readonly document: SharedDocument;

  /** How long {@link verify} trusts what it last read before it checks the document again. */
  readonly recheckMs: number;

  readonly sharedTokenCamera: string | undefined;

  /** What was read last: its tag (`undefined`: there was no document) and entries. */
  #read: { tag: string | undefined; entries: VerifierEntry[] } | undefined;
  /** The last check (or the one running), shared by the calls made meanwhile. */
  #checked: { at: number; entries: Promise<VerifierEntry[]> } | undefined;
  #watching = false;
  #watch: {
    startedAt: number;
    running?: Promise<void> | undefined;
    /** A check waiting to start, for tokens found unknown (see #checkStartedAfter). */
    next?: Promise<void> | undefined;
    onCheck?: (trouble: RegistryTrouble | undefined) => void;
  } = { startedAt: -Infinity };
  /** What went wrong at the watch's last check, if anything. */
  #trouble: Error | undefined;

  /**
   * @param source - a {@link SharedDocument}, or the path of a registry file (resolved now).
   */
  constructor(source: SharedDocument | string, options: TokenRegistryOptions = {}) {
    this.document = typeof source === 'string' ? new FileDocument(source) : source;
    this.recheckMs = options.recheckMs ?? DEFAULT_RECHECK_MS;
    this.sharedTokenCamera = options.sharedTokenCamera;
  }

  /** Where the registry is: a path, `s3://…` or `aws-secretsmanager:…`. */
  get location(): string {
    return this.document.location;
  }

  /**
   * Register a token for `camera`: a new random one, or `options.token`.
   *
   * @returns the entry including the token, which cannot be retrieved later.
   * @throws {@link InvalidCameraNameError}, {@link InvalidTokenError},
   *   {@link DuplicateTokenError} (the token's hash is already registered),
   *   {@link RegistryFileError}.
   */
  async create(camera: string, options: CreateTokenOptions = {}): Promise<CreatedToken> {
    const created = await this.#create(camera, options, () => true);
    return created!;
  }

  /**
   * Register a new token for `camera` only if the registry has no token at all: what a first start
   * does. Of several receivers starting at once on an empty registry, one creates it.
   *
   * @returns the new token, or `undefined` when the registry had tokens.
   */
  async createFirst(camera: string): Promise<CreatedToken | undefined> {
    const created = await this.#create(camera, {}, (content) => content.tokens.length === 0 && content.sharedToken === undefined);
    // On a store that cannot protect writes, another first start may have had the last word: a
    // token is shown only if the registry holds it.
    if (created === undefined || (await this.list()).some((entry) => entry.id === created.id)) return created;
    return undefined;
  }

  async #create(camera: string, options: CreateTokenOptions, wanted: (content: RegistryContent) => boolean): Promise<CreatedToken | undefined> {
    if (!isValidCameraName(camera)) throw new InvalidCameraNameError(String(camera));
    const token = options.token ?? generateToken();
    if (!isValidRegisteredToken(token)) throw new InvalidTokenError(String(token).length);
    const hash = sha256(token).toString('hex');
    const createdAt = new Date().toISOString();

    const created = await updateDocument(this.document, (current) => {
      const content = this.#parse(current);
      if (!wanted(content)) return { result: undefined };
      const existing = content.tokens.find((entry) => entry.sha256 === hash);
      if (existing) throw new DuplicateTokenError(existing.id, existing.camera);
      let id = newTokenId();
      while (content.tokens.some((entry) => entry.id === id)) id = newTokenId();
      const entry: StoredToken = { id, camera, sha256: hash, createdAt, ...(options.createdBy !== undefined && { createdBy: options.createdBy }) };
      return { text: registryText(content, [...content.tokens, entry]), result: entry };
    });
    this.#forget();
    return created && { ...toInfo(created), token };
  }

  /** All registered tokens in creation order, without tokens or hashes. */
  async list(): Promise<TokenInfo[]> {
    return (await this.content()).tokens.map(toInfo);
  }

  /**
   * The cameras that have a token. While watched, from what the watch read last (no request to
   * the backend); otherwise as {@link list} finds them.
   */
  async cameras(): Promise<string[]> {
    const entries = this.#watching && this.#read !== undefined ? this.#read.entries : await this.list();
    return [...new Set(entries.map((entry) => entry.camera))];
  }

  /** The document as it is now, parsed. */
  async content(): Promise<RegistryContent> {
    return this.#parse(await this.document.read());
  }

  /**
   * Revoke by token id (one token) or by camera name (all its tokens). An id wins over a camera of
   * the same spelling.
   *
   * @returns the revoked entries; empty when nothing matched (document untouched).
   */
  async revoke(cameraOrId: string): Promise<TokenInfo[]> {
    return this.#revoke((tokens) => {
      const byId = tokens.some((entry) => entry.id === cameraOrId);
      return (entry) => (byId ? entry.id : entry.camera) === cameraOrId;
    });
  }

  /** Revoke every token `match` picks (e.g. those `camera setup` made for one camera); the revoked entries. */
  revokeWhere(match: (entry: TokenInfo) => boolean): Promise<TokenInfo[]> {
    return this.#revoke(() => (entry) => match(toInfo(entry)));
  }

  async #revoke(select: (tokens: StoredToken[]) => (entry: StoredToken) => boolean): Promise<TokenInfo[]> {
    const removed = await updateDocument(this.document, (current) => {
      const content = this.#parse(current);
      const matches = select(content.tokens);
      const revoked = content.tokens.filter(matches);
      if (revoked.length === 0) return { result: revoked };
      return { text: registryText(content, content.tokens.filter((entry) => !matches(entry))), result: revoked };
    });
    this.#forget();
    return removed.map(toInfo);
  }

  /**
   * The camera a token belongs to, or `undefined` if it is not registered.
   *
   * Without {@link watch}, checks the document (a `stat` or a conditional GET, a re-read only when
   * it changed) at most once per {@link recheckMs}, so a token revoked elsewhere stops working
   * within that time, and a change made through this instance applies to the next call. While
   * watched, uses what the watch read last, which is at most {@link recheckMs} old. The
   * candidate's SHA-256 is compared with every entry in constant time, so timing reveals neither
   * which entry matched nor anything about the stored hashes.
   *
   * @throws {@link RegistryFileError} if the document is malformed: failing closed and loudly
   *   beats serving a stale or empty list. While the backend is unreachable, the tokens read last
   *   still count (a revocation cannot be written there meanwhile either).
   */
  async verify(token: string): Promise<string | undefined> {
    try {
      if (!this.#watching) return cameraForToken(await this.#recentEntries(), token);
      const arrived = performance.now();
      const camera = cameraForToken(this.#watchedEntries(), token);
      if (camera !== undefined) return camera;
      // An unknown token may be one created a moment ago: look again before refusing.
      await this.#checkStartedAfter(arrived);
      return cameraForToken(this.#watchedEntries(), token);
    } catch (error) {
      if (!(error instanceof DocumentUnreachableError)) throw error;
      throw new StoreUnavailableError(`Token registry: ${error.message}`, {
        cause: error,
        callerMessage: 'The receiver cannot reach its token registry right now, so the access token could not be checked; the image was not stored.',
      });
    }
  }

  /**
   * Reads the document now and then every {@link recheckMs} in the background, so no upload waits
   * for a check and an idle receiver still learns of a revocation in time. `onCheck` hears how
   * each check went: `undefined`, or what went wrong (a malformed document fails verification
   * until it is fixed; an unreachable backend leaves the tokens read last in force).
   */
  async watch(onCheck: (trouble: RegistryTrouble | undefined) => void): Promise<{ stop(): void }> {
    this.#watch.onCheck = onCheck;
    await this.#watchCheck();
    this.#watching = true;
    const timer = setInterval(() => void this.#watchCheck(), this.recheckMs).unref();
    return {
      stop: () => {
        clearInterval(timer);
        this.#watching = false;
      },
    };
  }

  /**
   * A check of the watch that started at `moment` or later, so it sees what was written before.
   * Checks made for this start at most every {@link MISS_RECHECK_MS}, shared by every caller
   * meanwhile: unknown tokens cannot make a request each.
   */
  #checkStartedAfter(moment: number): Promise<void> {
    const watch = this.#watch;
    if (watch.running !== undefined && watch.startedAt >= moment) return watch.running;
    watch.next ??= (async () => {
      await delay(Math.max(0, watch.startedAt + MISS_RECHECK_MS - performance.now()));
      await watch.running;
      watch.next = undefined;
      // Any check running from here on started after `moment`.
      await this.#watchCheck();
    })();
    return watch.next;
  }

  /** One check of the watch (or the one running), which records and reports how it went. */
  #watchCheck(): Promise<void> {
    const watch = this.#watch;
    watch.running ??= (async () => {
      watch.startedAt = performance.now();
      try {
        await this.#check();
        this.#trouble = undefined;
      } catch (error) {
        this.#trouble = error instanceof Error ? error : new Error(String(error));
      } finally {
        watch.running = undefined;
      }
      const trouble = this.#trouble;
      watch.onCheck?.(trouble && { error: trouble, usingLastRead: trouble instanceof DocumentUnreachableError && this.#read !== undefined });
    })();
    return watch.running;
  }

  /** What the watch read last; what went wrong instead, where that leaves nothing to go on with. */
  #watchedEntries(): VerifierEntry[] {
    const trouble = this.#trouble;
    if (trouble !== undefined && !(trouble instanceof DocumentUnreachableError)) throw trouble;
    if (this.#read === undefined) throw trouble ?? new DocumentUnreachableError(this.location, 'not read yet');
    return this.#read.entries;
  }

  /** Entries as found by a check at most {@link recheckMs} ago (see bench/RESULTS.md for why not a check per upload). */
  #recentEntries(): Promise<VerifierEntry[]> {
    const now = performance.now();
    if (this.#checked === undefined || now - this.#checked.at >= this.recheckMs) {
      const entries = this.#check().catch((error: unknown) => {
        // Unreachable: go on with what was read before, if anything was.
        if (error instanceof DocumentUnreachableError && this.#read !== undefined) return this.#read.entries;
        throw error;
      });
      const checked = { at: now, entries };
      this.#checked = checked;
      // A failed check is not trusted for later calls: the next one checks again.
      entries.catch(() => {
        if (this.#checked === checked) this.#checked = undefined;
      });
    }
    return this.#checked.entries;
  }

  /** Reads the document if it changed since the last read, and keeps its entries. */
  async #check(): Promise<VerifierEntry[]> {
    const previous = this.#read;
    const found = previous === undefined ? await this.document.read() : await this.document.readIfChanged(previous.tag);
    if (found === UNCHANGED) return previous!.entries;
    const entries = registryEntries(this.#parse(found), this.sharedTokenCamera);
    this.#read = { tag: found?.tag, entries };
    return entries;
  }

  /** Changes made here apply to the next verify: its check finds the document's new tag. */
  #forget(): void {
    this.#checked = undefined;
  }

  #parse(version: DocumentVersion | undefined): RegistryContent {
    return version === undefined ? EMPTY : parseRegistryText(version.text, this.location);
  }
}
