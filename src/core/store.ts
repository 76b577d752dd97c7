/** What the receiver hands a store for one image. */
export interface ImageWrite {
  /** The preferred key. */
  key: string;
  /** Another key to try when the preferred one (or the previous alternative) is taken. */
  alternateKey(): string;
  /**
   * The image bytes. A store reads it once, to the end; if reading fails, the store removes
   * whatever it had written and rethrows that same error.
   */
  body: AsyncIterable<Uint8Array>;
  /**
   * The SHA-256 of the whole body, lowercase hex, given when the store asks for it
   * ({@link ImageStore.needsSha256}) or the client sent a digest to check. Valid only once `body`
   * was read to its end; it may throw before that. A store that needs it hashes the body itself
   * when it is missing.
   */
  sha256?(): string;
  contentType: string;
  /** Facts to keep with the object where the store can (S3 user metadata). ASCII values. */
  metadata: Record<string, string>;
  /**
   * The body's length when it is known before reading it (the request's `Content-Length`, a
   * spooled file): a store can then reserve exactly the memory it needs for it.
   */
  size?: number;
  /**
   * Set when the image is a complete local file (a spooled image: bytes 0 to `size` - 1 of
   * `path`, whose SHA-256 is known): a store may then read the file, as often as it needs, instead
   * of `body`, e.g. to stream it in one request whose signature covers the hash.
   */
  file?: { path: string; size: number; sha256: string };
  /**
   * When the key is taken: whether the object there is this very image, stored by an earlier
   * attempt whose answer was lost (a crash, a timeout). The write then counts as done under that
   * key instead of storing a second copy under another.
   */
  isSameImage?(existing: ObjectFacts): boolean;
}

/** A store's state in words a monitoring check can match, with facts to show beside them. */
export interface StoreHealth {
  status: 'ready' | 'degraded';
  /** Why it is degraded, in plain words. */
  message?: string;
  [fact: string]: unknown;
}

/** An object in a store. */
export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

/** An object's facts, without its bytes. */
export interface ObjectFacts extends StoredObject {
  contentType: string;
  /** What the store keeps beside the object (S3 user metadata, lower-case names); empty where it keeps none. */
  metadata: Record<string, string>;
}

/** Bytes `start` to `end` of an object, both inclusive (as an HTTP `Range` counts them). */
export interface ByteRange {
  start: number;
  end: number;
}

/** An object opened for reading. */
export interface ObjectContent extends StoredObject {
  contentType: string;
  body: AsyncIterable<Uint8Array>;
  /**
   * Set when `body` holds only these bytes of the object (a read asked for a range and the store
   * gave just that part); `size` is still the whole object's. Unset, `body` is the whole object.
   */
  range?: ByteRange;
}

/**
 * Where images go. Every implementation guarantees: a write never replaces an existing object
 * (create-only, with a different key on a clash); an object is visible only once all its bytes
 * are stored durably; a failed write leaves nothing behind.
 */
export interface ImageStore {
  /** A human-readable location, e.g. `file:/srv/images` or `s3://bucket/prefix`. */
  readonly location: string;
  /**
   * The store uses the SHA-256 of each body (S3 signs a `PutObject` with it): the receiver then
   * hashes every body as it streams and gives the hash as {@link ImageWrite.sha256}. Stores that
   * need no hash leave it unset, and the receiver hashes only bodies that came with a digest.
   */
  readonly needsSha256?: boolean;
  /** Prepares the store (creates folders, probes capabilities). Called once before use. */
  open(): Promise<void>;
  /** Stores one image; resolves with the key actually used. */
  write(image: ImageWrite): Promise<{ key: string }>;
  /** Objects whose key starts with `prefix`, in key order. */
  list(prefix?: string): AsyncIterable<StoredObject>;
  /**
   * One object, or undefined when there is none under that key. With `range`, a store that can
   * read part of an object cheaply gives only those bytes (up to the object's end) and says so in
   * {@link ObjectContent.range}; any other gives the whole object, as without it.
   */
  read(key: string, range?: ByteRange): Promise<ObjectContent | undefined>;
  /**
   * The "folders" directly below `prefix` ('' or ending in '/'): the distinct next segments of the
   * keys below it that have more segments, in key order. Optional; the gallery uses it to walk a
   * camera/date layout without listing every object.
   */
  listFolders?(prefix: string): Promise<string[]>;
  /** One object's facts without its bytes, or undefined when there is none. Optional. */
  head?(key: string): Promise<ObjectFacts | undefined>;
  /** Throws StoreUnavailableError (or StoreFullError) when the store cannot take images now. */
  check(): Promise<void>;
  /**
   * How the store is doing beyond {@link check}, for `/readyz`. Optional; a spooled store answers
   * `degraded` while its remote store is unreachable and the spool still takes images.
   */
  health?(): Promise<StoreHealth>;
  close(): Promise<void>;
}

/**
 * How many keys a store tries for one image, the preferred one and then alternates, before it
 * gives up with StoreKeysTakenError.
 */
export const MAX_KEY_ATTEMPTS = 5;

/** The order of {@link ImageStore.list}: by UTF-8 bytes, as S3 lists keys. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The order of {@link ImageStore.listFolders}: that of the keys in the folders, so by the name and
 * its '/' (`front-door` before `front`, as "-" sorts before "/"), as S3 lists common prefixes.
 */
export function compareFolders(a: string, b: string): number {
  return compareKeys(`${a}/`, `${b}/`);
}
