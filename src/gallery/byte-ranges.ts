/**
 * Parts of stored objects: what an HTTP `Range` header asks for, and reading just those bytes
 * from a store, so that a browser can seek in a clip without the receiver reading it whole.
 *
 * A store that reads ranges itself (the disk store from an offset, S3 with a ranged `GetObject`)
 * gives only the bytes asked for; with any other, the bytes before the range are read and passed
 * over, and reading stops at its end. Either way only a chunk at a time is held in memory.
 *
 * @module
 */
import type { ByteRange, ImageStore, ObjectContent } from '../core/store.js';

/** What a request's `Range` header means for an object of a given size. */
export type RangeRequest = { kind: 'whole' } | { kind: 'part'; range: ByteRange } | { kind: 'unsatisfiable' };

/**
 * What `header` (a request's `Range`) asks of an object of `size` bytes: one range of bytes
 * (`bytes=0-499`, `bytes=500-`, `bytes=-500`), clamped to the object; `unsatisfiable` when it
 * starts past the end; and the whole object for no header, a malformed one, another unit, or
 * several ranges (which HTTP allows a server to answer with the whole).
 */
export function rangeRequest(header: string | undefined, size: number): RangeRequest {
  const match = header === undefined ? null : /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i.exec(header);
  if (!match) return { kind: 'whole' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'whole' };
  if (first === '') {
    // The last n bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'part', range: { start: Math.max(0, size - length), end: size - 1 } };
  }
  const start = Number(first);
  // A last byte before the first makes the header invalid, which HTTP says to ignore.
  if (last !== '' && Number(last) < start) return { kind: 'whole' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'part', range: { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) } };
}

/**
 * Bytes `range.start` to `range.end` (clamped to the object's end) of the object under `key`, or
 * undefined when there is none. `body` holds just those bytes; `range` says which they are, and
 * `ranged` whether the store read only them (false: it read from the start and passed over the rest).
 */
export async function readRange(
  store: ImageStore,
  key: string,
  range: ByteRange,
): Promise<(ObjectContent & { range: ByteRange; ranged: boolean }) | undefined> {
  const content = await store.read(key, range);
  if (!content) return undefined;
  if (content.range?.start === range.start && content.range.end <= range.end) return { ...content, range: content.range, ranged: true };
  // The store gave another part (or the whole object): the part asked for, cut out of it.
  const from = content.range?.start ?? 0;
  const end = Math.min(range.end, content.size - 1);
  if (range.start < from) {
    await stopReading(content.body);
    throw new Error(`The store gave bytes from ${from} of ${key} when asked for them from ${range.start}`);
  }
  return { ...content, body: sliceBody(content.body, range.start - from, end - from), range: { start: range.start, end }, ranged: false };
}

/** Bytes `start` to `end` (both inclusive) of `body`; stops reading `body` once they are through. */
export async function* sliceBody(body: AsyncIterable<Uint8Array>, start: number, end: number): AsyncGenerator<Uint8Array> {
  if (end < start) {
    await stopReading(body);
    return;
  }
  let offset = 0;
  // Leaving the loop early ends `body` (a stream is destroyed, its file closed or its request aborted).
  for await (const chunk of body) {
    const next = offset + chunk.byteLength;
    if (next > start) {
      const from = Math.max(0, start - offset);
      const to = Math.min(chunk.byteLength, end + 1 - offset);
      if (to > from) yield chunk.subarray(from, to);
    }
    offset = next;
    if (offset > end) return;
  }
}

/** Ends a body that will not be read (a stream is destroyed, so its file or connection is let go). */
export async function stopReading(body: AsyncIterable<Uint8Array>): Promise<void> {
  const iterator = body[Symbol.asyncIterator]();
  await iterator.return?.();
}
