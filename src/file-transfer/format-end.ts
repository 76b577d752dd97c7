/**
 * Whether a file that arrived "whole" holds a whole image or clip. In FTP (and SFTP) a clean close
 * of the connection is the end of the file, so a transfer cut off by a camera that lost power or
 * a network that failed looks complete. The formats themselves say where they end, and that is
 * what is checked, as the bytes pass (nothing is held beyond a header of a few bytes):
 *
 * | type | whole when |
 * |---|---|
 * | JPEG | its end-of-image marker (FF D9) came: segments are skipped by their lengths and the scan data searched for markers, so the end marker of an EXIF thumbnail does not count. A stream that does not follow the segment layout is whole when its last two bytes are FF D9 |
 * | PNG | its IEND chunk came, CRC and all |
 * | GIF | its trailer (3B) came, after its blocks were walked |
 * | WebP | the bytes its RIFF header announces came |
 * | BMP | the file size its header announces came |
 * | MP4 | it ends at a box boundary and held a `moov` box; a box "to the end of the file" (size 0) cannot be checked |
 * | Matroska, WebM | it ends at an element boundary after its Segment; a Segment of unknown size (a live recording) cannot be checked |
 *
 * Bytes after the end (padding, data some cameras append) are allowed. Other files are not checked
 * here: the contract refuses what is not an accepted type.
 *
 * @module
 */
import { UploadError } from '../core/errors.js';
import { SIGNATURE_BYTES, mediaTypeForBytes } from '../core/media-types.js';

/** Follows a file's bytes as they arrive and tells, at its end, whether its format ended too. */
export interface EndCheck {
  /** The format in words: "JPEG image". */
  readonly what: string;
  update(chunk: Uint8Array): void;
  /** Undefined when the bytes so far make a whole file (or cannot tell); else what is missing, in words. */
  missing(): string | undefined;
}

/** The check for a file that starts with `head` (its first {@link SIGNATURE_BYTES} bytes, or all of a shorter file); undefined for a format not checked. */
export function endCheckFor(head: Uint8Array): EndCheck | undefined {
  switch (mediaTypeForBytes(head)?.mediaType) {
    case 'image/jpeg':
      return new JpegEnd();
    case 'image/png':
      return pngEnd();
    case 'image/gif':
      return gifEnd();
    case 'image/webp':
      return webpEnd();
    case 'image/bmp':
      return bmpEnd();
    case 'video/mp4':
      return mp4End();
    case 'video/x-matroska':
      return matroskaEnd('Matroska clip');
    case 'video/webm':
      return matroskaEnd('WebM clip');
    default:
      return undefined;
  }
}

/**
 * The bytes of `source`, unchanged; when it ends before the format of its first bytes does, fails
 * with 400 before its end reaches the reader, so a store keeps nothing of it.
 */
export async function* endChecked(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let check: EndCheck | undefined;
  let known = false;
  const decide = (): void => {
    known = true;
    check = endCheckFor(head.length === 1 ? head[0]! : Buffer.concat(head));
    for (const chunk of head) check?.update(chunk);
  };
  for await (const chunk of source) {
    if (known) {
      check?.update(chunk);
      yield chunk;
      continue;
    }
    head.push(chunk);
    headBytes += chunk.byteLength;
    if (headBytes >= SIGNATURE_BYTES) {
      decide();
      yield* head.splice(0);
    }
  }
  if (!known) {
    decide();
    yield* head.splice(0);
  }
  const missing = check?.missing();
  if (check !== undefined && missing !== undefined) {
    throw new UploadError(400, `The file ended before its ${check.what} did (${missing}): the transfer was cut off, so nothing was stored. Send it again.`);
  }
}

/**
 * Walks a format made of headers and payloads of announced lengths: a header of `n` bytes is asked
 * for ({@link need}, collected across chunks), payloads are skipped ({@link skip}) without a copy.
 */
class Walker {
  private skipping = 0;
  private wanted = 0;
  private collected: Uint8Array[] = [];
  private collectedBytes = 0;
  private onHeader: ((header: Buffer) => void) | undefined;
  private endPending = false;
  /** The bytes do not follow the format: its end cannot be told from them. */
  lost = false;

  /** Asks for the next `count` bytes (at least 1) as a header, handed to `then`. */
  need(count: number, then: (header: Buffer) => void): void {
    this.wanted = count;
    this.onHeader = then;
  }

  /** Skips the next `count` bytes. */
  skip(count: number): void {
    this.skipping += count;
  }

  /** The format ends once what is being skipped is passed; what follows is ignored. */
  end(): void {
    this.endPending = true;
  }

  lose(): void {
    this.lost = true;
  }

  /** Whether the format's end was passed. */
  get ended(): boolean {
    return this.endPending && this.skipping === 0;
  }

  /** Between two parts: nothing left to skip, no header begun. */
  get atBoundary(): boolean {
    return this.skipping === 0 && this.collectedBytes === 0;
  }

  feed(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.byteLength && !this.ended && !this.lost) {
      if (this.skipping > 0) {
        const skipped = Math.min(this.skipping, chunk.byteLength - offset);
        this.skipping -= skipped;
        offset += skipped;
        continue;
      }
      const then = this.onHeader;
      if (then === undefined) {
        this.lost = true;
        return;
      }
      const taken = Math.min(this.wanted - this.collectedBytes, chunk.byteLength - offset);
      this.collected.push(chunk.subarray(offset, offset + taken));
      this.collectedBytes += taken;
      offset += taken;
      if (this.collectedBytes === this.wanted) {
        const header = Buffer.concat(this.collected);
        this.collected = [];
        this.collectedBytes = 0;
        this.onHeader = undefined;
        then(header);
      }
    }
  }
}

/** An {@link EndCheck} over a {@link Walker}: whole when `whole` says so, or when the walk was lost. */
function walked(what: string, walker: Walker, whole: () => boolean, missing: string): EndCheck {
  return {
    what,
    update: (chunk) => walker.feed(chunk),
    missing: () => (walker.lost || whole() ? undefined : missing),
  };
}

/** PNG: the signature, then chunks of length, type, data and CRC, up to IEND. */
function pngEnd(): EndCheck {
  const walker = new Walker();
  const chunk = (header: Buffer): void => {
    walker.skip(header.readUInt32BE(0) + 4);
    if (header.toString('latin1', 4, 8) === 'IEND') walker.end();
    else walker.need(8, chunk);
  };
  walker.skip(8);
  walker.need(8, chunk);
  return walked('PNG image', walker, () => walker.ended, 'its IEND chunk never came');
}

/** GIF: header, screen descriptor, colour table, then image and extension blocks up to the trailer. */
function gifEnd(): EndCheck {
  const walker = new Walker();
  const colourTable = (packed: number): number => ((packed & 0x80) === 0 ? 0 : 3 * 2 ** ((packed & 7) + 1));
  const subBlocks = (then: () => void): void => {
    const size = (header: Buffer): void => {
      if (header[0] === 0) return then();
      walker.skip(header[0]!);
      walker.need(1, size);
    };
    walker.need(1, size);
  };
  const nextBlock = (): void => walker.need(1, block);
  const block = (header: Buffer): void => {
    switch (header[0]) {
      case 0x2c: // image descriptor: position, size, packed field; colour table; LZW code size; data
        return walker.need(9, (descriptor) => {
          walker.skip(colourTable(descriptor[8]!));
          walker.need(1, () => subBlocks(nextBlock));
        });
      case 0x21: // extension: label, then data
        return walker.need(1, () => subBlocks(nextBlock));
      case 0x3b:
        return walker.end();
      default:
        return walker.lose();
    }
  };
  walker.need(13, (header) => {
    walker.skip(colourTable(header[10]!));
    nextBlock();
  });
  return walked('GIF image', walker, () => walker.ended, 'its trailer never came');
}

/** WebP: a RIFF file, whose size is in its header. */
function webpEnd(): EndCheck {
  const walker = new Walker();
  walker.need(12, (header) => {
    // The size counts from "WEBP" on, which is part of the 12 bytes read.
    walker.skip(header.readUInt32LE(4) - 4);
    walker.end();
  });
  return walked('WebP image', walker, () => walker.ended, 'fewer bytes than its RIFF header announces');
}

/** BMP: the file size is in its header (a writer that left it 0 cannot be checked). */
function bmpEnd(): EndCheck {
  const walker = new Walker();
  walker.need(6, (header) => {
    const size = header.readUInt32LE(2);
    // 14 bytes of file header and 12 of the smallest info header: anything less is not a size.
    if (size < 26) return walker.lose();
    walker.skip(size - 6);
    walker.end();
  });
  return walked('BMP image', walker, () => walker.ended, 'fewer bytes than its header announces');
}

/** MP4 (ISO BMFF): top-level boxes of size and type, one of them `moov`. */
function mp4End(): EndCheck {
  const walker = new Walker();
  let moov = false;
  const box = (header: Buffer): void => {
    const size = header.readUInt32BE(0);
    if (header.toString('latin1', 4, 8) === 'moov') moov = true;
    if (size === 1) {
      return walker.need(8, (large) => {
        const length = large.readBigUInt64BE(0);
        if (length < 16n || length > BigInt(Number.MAX_SAFE_INTEGER)) return walker.lose();
        walker.skip(Number(length) - 16);
        walker.need(8, box);
      });
    }
    // 0: the box runs to the end of the file, whatever that is.
    if (size < 8) return walker.lose();
    walker.skip(size - 8);
    walker.need(8, box);
  };
  walker.need(8, box);
  return {
    what: 'MP4 clip',
    update: (chunk) => walker.feed(chunk),
    missing: () => {
      if (walker.lost) return undefined;
      if (!walker.atBoundary) return 'it ends inside a box';
      return moov ? undefined : 'it has no moov box';
    },
  };
}

/** Matroska and WebM: top-level EBML elements of ID and size: the EBML header, then the Segment. */
function matroskaEnd(what: string): EndCheck {
  const walker = new Walker();
  let segment = false;
  /** The length of a variable-size integer from its first byte (1 for 1xxxxxxx …), 0 if none. */
  const vintLength = (first: number): number => (first === 0 ? 0 : Math.clz32(first) - 23);
  const element = (): void =>
    walker.need(1, (idFirst) => {
      const idLength = vintLength(idFirst[0]!);
      if (idLength === 0 || idLength > 4) return walker.lose();
      const id = (rest: Buffer): void => {
        segment ||= Buffer.concat([idFirst, rest]).equals(SEGMENT_ID);
        walker.need(1, size);
      };
      if (idLength === 1) id(Buffer.alloc(0));
      else walker.need(idLength - 1, id);
    });
  const size = (sizeFirst: Buffer): void => {
    const length = vintLength(sizeFirst[0]!);
    if (length === 0) return walker.lose();
    const value = (rest: Buffer): void => {
      let bytes = BigInt(sizeFirst[0]! & (0xff >> length));
      for (const byte of rest) bytes = (bytes << 8n) | BigInt(byte);
      // Every value bit set: the size is unknown (a live recording), so the rest cannot be walked.
      if (bytes === (1n << BigInt(7 * length)) - 1n || bytes > BigInt(Number.MAX_SAFE_INTEGER)) return walker.lose();
      walker.skip(Number(bytes));
      element();
    };
    if (length === 1) value(Buffer.alloc(0));
    else walker.need(length - 1, value);
  };
  element();
  return walked(what, walker, () => walker.atBoundary && segment, 'it ends inside an element');
}

const SEGMENT_ID = Buffer.from([0x18, 0x53, 0x80, 0x67]);

/** JPEG: marker segments by their lengths, scan data searched for the markers in it, up to EOI. */
class JpegEnd implements EndCheck {
  readonly what = 'JPEG image';
  private state: 'marker' | 'code' | 'length' | 'skip' | 'scan' | 'scan-ff' = 'marker';
  private skipping = 0;
  private afterSkip: 'marker' | 'scan' = 'marker';
  private lengthHigh = -1;
  private segment = 0;
  private ended = false;
  /** The bytes did not follow the segment layout: the last two bytes decide. */
  private lost = false;
  /** The last two bytes seen. */
  private tail = 0;

  update(chunk: Uint8Array): void {
    const length = chunk.byteLength;
    if (length >= 2) this.tail = (chunk[length - 2]! << 8) | chunk[length - 1]!;
    else if (length === 1) this.tail = ((this.tail << 8) | chunk[0]!) & 0xffff;
    let i = 0;
    while (i < length && !this.ended && !this.lost) {
      switch (this.state) {
        case 'skip': {
          const skipped = Math.min(this.skipping, length - i);
          this.skipping -= skipped;
          i += skipped;
          if (this.skipping === 0) this.state = this.afterSkip;
          break;
        }
        case 'scan': {
          // Scan data: only FF starts something (stuffing, a restart marker, or the next marker).
          // Stuffing (FF 00) and restart markers (FF D0–D7), a thousand or more in a 500 KB image,
          // are passed over here rather than one turn of the state machine each.
          let ff = chunk.indexOf(0xff, i);
          while (ff !== -1 && ff + 1 < length) {
            const next = chunk[ff + 1]!;
            if (next !== 0x00 && (next < 0xd0 || next > 0xd7)) break;
            ff = chunk.indexOf(0xff, ff + 2);
          }
          i = ff === -1 ? length : ff + 1;
          if (ff !== -1) this.state = 'scan-ff';
          break;
        }
        case 'scan-ff': {
          const byte = chunk[i++]!;
          if (byte === 0x00 || (byte >= 0xd0 && byte <= 0xd7)) this.state = 'scan';
          else if (byte !== 0xff) this.marker(byte);
          break;
        }
        case 'marker':
          if (chunk[i++] === 0xff) this.state = 'code';
          else this.lost = true;
          break;
        case 'code': {
          const byte = chunk[i++]!;
          if (byte !== 0xff) this.marker(byte);
          break;
        }
        case 'length': {
          const byte = chunk[i++]!;
          if (this.lengthHigh < 0) {
            this.lengthHigh = byte;
            break;
          }
          const segmentLength = (this.lengthHigh << 8) | byte;
          this.lengthHigh = -1;
          if (segmentLength < 2) {
            this.lost = true;
            break;
          }
          // After the start-of-scan header comes scan data.
          this.afterSkip = this.segment === 0xda ? 'scan' : 'marker';
          this.skipping = segmentLength - 2;
          this.state = this.skipping > 0 ? 'skip' : this.afterSkip;
          break;
        }
      }
    }
  }

  missing(): string | undefined {
    if (this.ended || (this.lost && this.tail === 0xffd9)) return undefined;
    return 'no end-of-image marker FF D9';
  }

  private marker(code: number): void {
    if (code === 0xd9) {
      this.ended = true;
    } else if (code === 0xd8 || code === 0x01 || (code >= 0xd0 && code <= 0xd7)) {
      // Markers without a segment: start of image, TEM, restart.
      this.state = 'marker';
    } else {
      this.segment = code;
      this.state = 'length';
    }
  }
}
