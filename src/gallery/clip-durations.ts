/**
 * How long a clip plays, read from its container's first bytes, never by decoding it:
 *
 * - MP4 (ISO BMFF): the movie header (`moov/mvhd`: duration over timescale), or for a fragmented
 *   file whose header gives none, `moov/mvex/mehd`. A file written for streaming (`+faststart`)
 *   has `moov` near its start; many have it at the end, after the media data (`mdat`). Then, where
 *   the store reads ranges (disk, S3), a few small reads follow the top-level boxes to it; where
 *   it does not, the clip has no duration shown.
 * - Matroska and WebM: `Segment/Info/Duration`, in units of `TimecodeScale` (1 ms unless given),
 *   which muxers write in the first few hundred bytes. A live recording that was never finished
 *   has none.
 *
 * Each clip costs one bounded read of its first {@link HEAD_BYTES} (and for an MP4 with `moov` at
 * the end, up to {@link MAX_HOPS} reads of {@link HOP_BYTES}); the answer is kept for good, as a
 * key's bytes never change.
 *
 * @module
 */
import type { ImageStore } from '../core/store.js';
import { readRange } from './byte-ranges.js';
import { ExpiringCache, TaskLimiter } from './cache.js';

/** How much of a clip's start is read. */
export const HEAD_BYTES = 64 * 1024;
/** Reads, at most, that follow an MP4's top-level boxes past its start to find `moov`. */
const MAX_HOPS = 4;
/** How much each of those reads takes: a box header, and `moov`'s first child, `mvhd`. */
const HOP_BYTES = 4096;
/** Clips whose duration is remembered (a few dozen bytes each). */
const REMEMBERED = 20_000;
/** Reads at once: a day's page of clips must not mean a hundred requests to the store at the same moment. */
const CONCURRENCY = 4;

export class ClipDurations {
  private readonly known = new ExpiringCache<number | undefined>(REMEMBERED);
  private readonly io = new TaskLimiter(CONCURRENCY);

  constructor(private readonly store: ImageStore) {}

  /**
   * How long the clip under `key` plays, in milliseconds; undefined when its container does not
   * say so within the bytes read, or it cannot be read now (then a later call tries again).
   */
  async of(key: string): Promise<number | undefined> {
    try {
      return await this.known.get(key, Number.POSITIVE_INFINITY, () => this.io.run(() => this.read(key)));
    } catch {
      return undefined;
    }
  }

  /** The durations of `keys` that are known or can be read, by key. */
  async ofAll(keys: Iterable<string>): Promise<Map<string, number>> {
    const found = await Promise.all([...keys].map(async (key) => [key, await this.of(key)] as const));
    return new Map(found.filter((entry): entry is readonly [string, number] => entry[1] !== undefined));
  }

  private async read(key: string): Promise<number | undefined> {
    const head = await this.bytes(key, 0, HEAD_BYTES);
    if (!head) return undefined;
    if (isMatroska(head.bytes)) return parsed(() => matroskaDuration(head.bytes));
    if (!isMp4(head.bytes)) return undefined;
    let scan = parsed(() => scanMp4(head.bytes, 0, 0)) ?? { nothing: true };
    for (let hop = 0; 'continueAt' in scan && hop < MAX_HOPS && head.ranged && scan.continueAt < head.size; hop++) {
      const at = scan.continueAt;
      const part = await this.bytes(key, at, HOP_BYTES);
      if (!part?.ranged) return undefined;
      scan = parsed(() => scanMp4(part.bytes, at, at)) ?? { nothing: true };
    }
    return 'durationMs' in scan ? scan.durationMs : undefined;
  }

  /** `length` bytes from `start` (fewer at the end), whether the store read only those, and the clip's size. */
  private async bytes(key: string, start: number, length: number): Promise<{ bytes: Uint8Array; ranged: boolean; size: number } | undefined> {
    const content = await readRange(this.store, key, { start, end: start + length - 1 });
    if (!content) return undefined;
    const chunks: Uint8Array[] = [];
    for await (const chunk of content.body) chunks.push(chunk);
    return { bytes: Buffer.concat(chunks), ranged: content.ranged, size: content.size };
  }
}

/** What `parse` finds, or undefined where the bytes are damaged (a box or element that claims bytes it does not have). */
function parsed<T>(parse: () => T | undefined): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

function isMatroska(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3;
}

function isMp4(bytes: Uint8Array): boolean {
  return fourCc(bytes, 4) === 'ftyp';
}

function fourCc(bytes: Uint8Array, at: number): string {
  return at + 4 <= bytes.length ? String.fromCharCode(...bytes.subarray(at, at + 4)) : '';
}

/** What the top-level boxes in some bytes of an MP4 say: its duration, where to read on, or nothing. */
export type Mp4Scan = { durationMs: number } | { continueAt: number } | { nothing: true };

/**
 * Follows the top-level boxes of an MP4 from file position `from`, in `bytes`, which hold the file
 * from position `at`: the duration when `moov` is among them, else the position of the first box
 * whose start (or whose `mvhd`) these bytes do not hold.
 */
export function scanMp4(bytes: Uint8Array, at: number, from: number): Mp4Scan {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let position = from;
  for (;;) {
    const i = position - at;
    if (i + 8 > bytes.length) return { continueAt: position };
    let size = view.getUint32(i);
    const type = fourCc(bytes, i + 4);
    let header = 8;
    if (size === 1) {
      if (i + 16 > bytes.length) return { continueAt: position };
      size = Number(view.getBigUint64(i + 8));
      header = 16;
    } else if (size === 0) {
      // The box runs to the end of the file: only a `moov` there is of use.
      size = Number.POSITIVE_INFINITY;
    }
    if (size < header) return { nothing: true };
    if (type === 'moov') {
      const whole = i + size <= bytes.length;
      const found = movieDuration(view, i + header, Math.min(bytes.length, i + size));
      if (found !== undefined) return { durationMs: found };
      // Read again from the start of `moov`, unless these bytes already started there.
      return whole || i === 0 ? { nothing: true } : { continueAt: position };
    }
    if (!Number.isFinite(size)) return { nothing: true };
    position += size;
  }
}

/** The duration `moov`'s children between `start` and `end` give, if they do. */
function movieDuration(view: DataView, start: number, end: number): number | undefined {
  let timescale: number | undefined;
  let duration: number | undefined;
  for (const child of boxes(view, start, end)) {
    if (child.type === 'mvhd') {
      if (child.end > end) return undefined;
      const version = view.getUint8(child.body);
      // version, flags, creation and modification times; then timescale and duration.
      const at = child.body + (version === 1 ? 20 : 12);
      timescale = view.getUint32(at);
      duration = version === 1 ? readUint64(view, at + 4) : readUint32(view, at + 4);
    } else if (child.type === 'mvex' && timescale !== undefined && duration === undefined) {
      for (const grandchild of boxes(view, child.body, Math.min(child.end, end))) {
        if (grandchild.type !== 'mehd' || grandchild.end > end) continue;
        const version = view.getUint8(grandchild.body);
        duration = version === 1 ? readUint64(view, grandchild.body + 4) : readUint32(view, grandchild.body + 4);
      }
    }
    if (timescale !== undefined && duration !== undefined) break;
  }
  if (!timescale || duration === undefined) return undefined;
  return (duration / timescale) * 1000;
}

/** `mvhd`'s duration; undefined for 0 or all ones, which mean "unknown" (as in a fragmented file). */
function readUint32(view: DataView, at: number): number | undefined {
  const value = view.getUint32(at);
  return value === 0 || value === 0xffffffff ? undefined : value;
}

function readUint64(view: DataView, at: number): number | undefined {
  const value = view.getBigUint64(at);
  return value === 0n || value === 0xffffffffffffffffn ? undefined : Number(value);
}

/** The boxes between `start` and `end` (the last may reach past `end`: its `end` says so). */
function* boxes(view: DataView, start: number, end: number): Generator<{ type: string; body: number; end: number }> {
  let i = start;
  while (i + 8 <= end) {
    let size = view.getUint32(i);
    let header = 8;
    if (size === 1) {
      if (i + 16 > end) return;
      size = Number(view.getBigUint64(i + 8));
      header = 16;
    }
    if (size < header) return;
    const type = String.fromCharCode(view.getUint8(i + 4), view.getUint8(i + 5), view.getUint8(i + 6), view.getUint8(i + 7));
    yield { type, body: i + header, end: i + size };
    i += size;
  }
}

const EBML = 0x1a45dfa3;
const SEGMENT = 0x18538067;
const INFO = 0x1549a966;
const CLUSTER = 0x1f43b675;
const TIMECODE_SCALE = 0x2ad7b1;
const DURATION = 0x4489;

/** A Matroska (or WebM) file's duration in milliseconds, from `bytes` that hold its start. */
export function matroskaDuration(bytes: Uint8Array): number | undefined {
  const header = ebmlElement(bytes, 0);
  if (header?.id !== EBML || header.size === undefined) return undefined;
  const segment = ebmlElement(bytes, header.data + header.size);
  if (segment?.id !== SEGMENT) return undefined;
  // A live recording's Segment has an unknown size: it runs to the end of the file.
  const end = segment.size === undefined ? bytes.length : Math.min(bytes.length, segment.data + segment.size);
  let i = segment.data;
  while (i < end) {
    const child = ebmlElement(bytes, i);
    if (!child || child.size === undefined || child.id === CLUSTER) return undefined;
    if (child.id === INFO) return child.data + child.size <= bytes.length ? infoDuration(bytes, child.data, child.data + child.size) : undefined;
    i = child.data + child.size;
  }
  return undefined;
}

function infoDuration(bytes: Uint8Array, start: number, end: number): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let scale = 1_000_000;
  let duration: number | undefined;
  for (let i = start; i < end; ) {
    const child = ebmlElement(bytes, i);
    if (!child || child.size === undefined || child.data + child.size > end) return undefined;
    if (child.id === TIMECODE_SCALE && child.size >= 1 && child.size <= 6) {
      scale = 0;
      for (let b = 0; b < child.size; b++) scale = scale * 256 + bytes[child.data + b]!;
    } else if (child.id === DURATION && (child.size === 4 || child.size === 8)) {
      duration = child.size === 4 ? view.getFloat32(child.data) : view.getFloat64(child.data);
    }
    i = child.data + child.size;
  }
  if (duration === undefined || !scale) return undefined;
  const ms = (duration * scale) / 1_000_000;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/**
 * The EBML element at `at`: its ID (with its length marker, as the spec writes IDs), where its
 * data starts, and its size (undefined: unknown, all ones); undefined when `bytes` end before its data.
 */
function ebmlElement(bytes: Uint8Array, at: number): { id: number; data: number; size: number | undefined } | undefined {
  const idLength = vintLength(bytes[at]);
  if (idLength === undefined || idLength > 4 || at + idLength > bytes.length) return undefined;
  let id = 0;
  for (let b = 0; b < idLength; b++) id = id * 256 + bytes[at + b]!;
  const sizeAt = at + idLength;
  const sizeLength = vintLength(bytes[sizeAt]);
  if (sizeLength === undefined || sizeAt + sizeLength > bytes.length) return undefined;
  let size = bytes[sizeAt]! & (0xff >> sizeLength);
  let allOnes = size === 0xff >> sizeLength;
  for (let b = 1; b < sizeLength; b++) {
    const byte = bytes[sizeAt + b]!;
    size = size * 256 + byte;
    allOnes &&= byte === 0xff;
  }
  return { id, data: sizeAt + sizeLength, size: allOnes ? undefined : size };
}

/** How many bytes a variable-length integer takes, from its first byte (its leading zeros + 1). */
function vintLength(first: number | undefined): number | undefined {
  if (first === undefined || first === 0) return undefined;
  return Math.clz32(first) - 23;
}
