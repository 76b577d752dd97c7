/** What a file is to the receiver: a still image, or a video clip (each has its own size limit). */
export type MediaKind = 'image' | 'clip';

/**
 * A format the receiver accepts, an image or a video clip: its media type, aliases, file
 * extensions and signature.
 */
export interface MediaType {
  readonly kind: MediaKind;
  readonly mediaType: string;
  readonly aliases: readonly string[];
  /** Lower-case extensions, the first is used for generated names. */
  readonly extensions: readonly string[];
  matches(head: Uint8Array): boolean;
}

/** How many leading bytes are needed to recognise every accepted format (Matroska names its DocType within the first few dozen). */
export const SIGNATURE_BYTES = 64;

const startsWith = (head: Uint8Array, signature: readonly number[], offset = 0): boolean =>
  head.length >= offset + signature.length && signature.every((byte, i) => head[offset + i] === byte);

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

export const IMAGE_TYPES: readonly MediaType[] = [
  {
    kind: 'image',
    mediaType: 'image/jpeg',
    aliases: ['image/jpg', 'image/pjpeg'],
    extensions: ['.jpg', '.jpeg', '.jpe', '.jfif'],
    matches: (head) => startsWith(head, [0xff, 0xd8, 0xff]),
  },
  {
    kind: 'image',
    mediaType: 'image/png',
    aliases: ['image/x-png'],
    extensions: ['.png'],
    matches: (head) => startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  },
  {
    kind: 'image',
    mediaType: 'image/gif',
    aliases: [],
    extensions: ['.gif'],
    matches: (head) => startsWith(head, ascii('GIF87a')) || startsWith(head, ascii('GIF89a')),
  },
  {
    kind: 'image',
    mediaType: 'image/webp',
    aliases: [],
    extensions: ['.webp'],
    matches: (head) => startsWith(head, ascii('RIFF')) && startsWith(head, ascii('WEBP'), 8),
  },
  {
    kind: 'image',
    mediaType: 'image/bmp',
    aliases: ['image/x-bmp', 'image/x-ms-bmp'],
    extensions: ['.bmp'],
    // "BM", the file size, then four reserved bytes that are zero.
    matches: (head) => startsWith(head, ascii('BM')) && startsWith(head, [0, 0, 0, 0], 6),
  },
];

/**
 * The EBML DocType of a Matroska-family file (`matroska` or `webm`), read from the EBML header at
 * its start: magic 1A 45 DF A3, then elements, among them DocType (ID 42 82, a size, the text).
 */
function ebmlDocType(head: Uint8Array): string | undefined {
  if (!startsWith(head, [0x1a, 0x45, 0xdf, 0xa3])) return undefined;
  for (let i = 4; i + 3 < head.length; i++) {
    if (head[i] !== 0x42 || head[i + 1] !== 0x82) continue;
    // A one-byte size (1xxxxxxx) is what every muxer writes for a DocType this short.
    const size = head[i + 2]! & 0x7f;
    if ((head[i + 2]! & 0x80) === 0 || i + 3 + size > head.length) return undefined;
    return String.fromCharCode(...head.subarray(i + 3, i + 3 + size));
  }
  return undefined;
}

/**
 * Major brands of ISO BMFF files that are still images, not video: HEIF/HEIC (Apple's photos) and
 * AVIF. They start with a `ftyp` box as MP4 does, and must not be stored as clips.
 */
const IMAGE_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1', 'avif', 'avis']);

/** ISO BMFF (MP4): a `ftyp` box first (its size in the first four bytes), of a brand that is not a still image. */
const isIsoBmff = (head: Uint8Array): boolean =>
  startsWith(head, ascii('ftyp'), 4) && head.length >= 12 && !IMAGE_BRANDS.has(String.fromCharCode(...head.subarray(8, 12)));

export const CLIP_TYPES: readonly MediaType[] = [
  {
    kind: 'clip',
    mediaType: 'video/x-matroska',
    aliases: ['video/matroska', 'video/mkv'],
    extensions: ['.mkv'],
    matches: (head) => ebmlDocType(head) === 'matroska',
  },
  {
    kind: 'clip',
    mediaType: 'video/webm',
    aliases: [],
    extensions: ['.webm'],
    matches: (head) => ebmlDocType(head) === 'webm',
  },
  {
    kind: 'clip',
    mediaType: 'video/mp4',
    aliases: ['video/x-m4v', 'application/mp4'],
    extensions: ['.mp4', '.m4v'],
    matches: isIsoBmff,
  },
];

/** Every accepted format, images first. */
export const MEDIA_TYPES: readonly MediaType[] = [...IMAGE_TYPES, ...CLIP_TYPES];

/** The list shown in 415 messages. */
export const ACCEPTED_MEDIA_TYPES = MEDIA_TYPES.map((type) => type.mediaType).join(', ');

/** The content type that names no format: a file declared with it is recognised by its bytes. */
export const UNNAMED_BINARY_TYPE = 'application/octet-stream';

/** Whether a `Content-Type` header value leaves the format to the bytes ({@link UNNAMED_BINARY_TYPE}). */
export function leavesTypeToBytes(contentType: string): boolean {
  return essenceOf(contentType) === UNNAMED_BINARY_TYPE;
}

/** A content type's `type/subtype`, lower case, without parameters. */
export function essenceOf(contentType: string): string {
  return contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
}

/**
 * The accepted type named by a `Content-Type` header value (parameters and case ignored), or
 * undefined.
 */
export function mediaTypeForContentType(contentType: string | undefined): MediaType | undefined {
  if (!contentType) return undefined;
  const essence = essenceOf(contentType);
  return MEDIA_TYPES.find((type) => type.mediaType === essence || type.aliases.includes(essence));
}

/** The accepted type whose signature the bytes carry, or undefined. */
export function mediaTypeForBytes(head: Uint8Array): MediaType | undefined {
  return MEDIA_TYPES.find((type) => type.matches(head));
}

/** The accepted type a file name's extension names (`x.MKV` → Matroska), or undefined. */
export function mediaTypeForName(name: string): MediaType | undefined {
  const dot = name.lastIndexOf('.');
  const extension = dot === -1 ? '' : name.slice(dot).toLowerCase();
  return MEDIA_TYPES.find((type) => type.extensions.includes(extension));
}
