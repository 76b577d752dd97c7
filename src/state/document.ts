/**
 * A small shared document (the token registry, the gallery's access settings) that several
 * receivers and the CLI read and change: a local file, an object in the bucket, or the AWS
 * stack's secret. Each backend answers the same four questions, and every change goes through
 * {@link updateDocument}, a compare-and-swap loop, so two edits made at once both survive.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';

/** One version of a document: its text and a tag that changes with every write (ETag, version id…). */
export interface DocumentVersion {
  readonly text: string;
  readonly tag: string;
}

/** {@link SharedDocument.readIfChanged}: the document still has the tag given. */
export const UNCHANGED = Symbol('unchanged');
/** {@link SharedDocument.write}: the document changed since it was read; read it again. */
export const CONFLICT = Symbol('conflict');

/**
 * How a backend keeps two writers from losing each other's change:
 * - `compare-and-swap`: a write names the version it replaces and fails if that is gone;
 * - `last-writer-wins`: the backend cannot tell (an S3 server that ignores `If-Match`); edits are
 *   safe one at a time only.
 */
export type WriteProtection = 'compare-and-swap' | 'last-writer-wins';

export interface SharedDocument {
  /** Where the document is, for messages: a path, `s3://bucket/key`, `aws-secretsmanager:name`. */
  readonly location: string;
  /** The document now; `undefined` when there is none yet. */
  read(): Promise<DocumentVersion | undefined>;
  /** The document if its tag is no longer `tag` ({@link UNCHANGED} otherwise): one cheap request when nothing changed. */
  readIfChanged(tag: string | undefined): Promise<DocumentVersion | undefined | typeof UNCHANGED>;
  /**
   * Replaces the document if it is still at `expectedTag` (`undefined`: creates it if there is
   * none). Returns the new tag, or {@link CONFLICT} when it changed meanwhile.
   */
  write(text: string, expectedTag: string | undefined): Promise<string | typeof CONFLICT>;
  /** How writes are protected; known once {@link write} has run (a backend may have to find out). */
  protection(): Promise<WriteProtection>;
}

/**
 * The document's backend could not be reached (network, timeout, the store's 5xx). Unlike a
 * malformed document, a reader may go on with what it read before.
 */
export class DocumentUnreachableError extends Error {
  override readonly name = 'DocumentUnreachableError';

  constructor(
    readonly location: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`Cannot reach ${location}: ${problem}`, options);
  }
}

/** The document kept changing under an update: more writers than retries. */
export class DocumentBusyError extends Error {
  override readonly name = 'DocumentBusyError';

  constructor(location: string, attempts: number) {
    super(`${location} changed under each of ${attempts} attempts to update it; try again.`);
  }
}

/** What a change makes of the current document: a new text to write (or none), and a result. */
export interface DocumentChange<R> {
  /** The new text; `undefined` leaves the document as it is. */
  text?: string;
  result: R;
}

/** Attempts of one {@link updateDocument} before it gives up with {@link DocumentBusyError}. */
export const MAX_UPDATE_ATTEMPTS = 10;

/**
 * Reads the document, lets `change` decide what to write, and writes it only if nobody wrote
 * meanwhile; otherwise reads again and re-applies `change` (which must therefore depend only on
 * what it is given). Returns `change`'s result of the attempt that was written.
 */
export function updateDocument<R>(document: SharedDocument, change: (current: DocumentVersion | undefined) => DocumentChange<R>): Promise<R> {
  // One update at a time per document in this process: conflicts are left to other processes.
  return serialised(document.location, () => updateOnce(document, change));
}

async function updateOnce<R>(document: SharedDocument, change: (current: DocumentVersion | undefined) => DocumentChange<R>): Promise<R> {
  for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt++) {
    const current = await document.read();
    const { text, result } = change(current);
    if (text === undefined) return result;
    if ((await document.write(text, current?.tag)) !== CONFLICT) return result;
    // Another writer won this round: step aside a little, more each time, so two do not collide forever.
    await delay(Math.random() * 20 * attempt);
  }
  throw new DocumentBusyError(document.location, MAX_UPDATE_ATTEMPTS);
}

const queues = new Map<string, Promise<unknown>>();

/** Runs the tasks given for one key one at a time, in order, within this process. */
export function serialised<T>(key: string, task: () => Promise<T>): Promise<T> {
  const result = (queues.get(key) ?? Promise.resolve()).then(task);
  const settled = result.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, settled);
  // Drop the queue once idle so the map does not grow with every key ever used.
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return result;
}
