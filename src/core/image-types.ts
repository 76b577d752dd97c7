/** An image format the receiver accepts: its media type, aliases, file extensions and signature. */
export interface ImageType {
  readonly mediaType: string;
  readonly aliases: readonly string[];
  /** Lower-case extensions, the first is used for generated names. */
  readonly extensions: readonly string[];
  matches(head: Uint8Array): boolean;
}

/** How many leading bytes are needed to recognise every accepted format. */
export const SIGNATURE_BYTES = 12;

const startsWith = (head: Uint8Array, signature: readonly number[], offset = 0): boolean =>
  head.length >= offset + signature.length && signature.every((byte, i) => head[offset + i] === byte);

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

export const IMAGE_TYPES: readonly ImageType[] = [
  {
    mediaType: 'image/jpeg',
    aliases: ['image/jpg', 'image/pjpeg'],
    extensions: ['.jpg', '.jpeg', '.jpe', '.jfif'],
    matches: (head) => startsWith(head, [0xff, 0xd8, 0xff]),
  },
  {
    mediaType: 'image/png',
    aliases: ['image/x-png'],
    extensions: ['.png'],
    matches: (head) => startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  },
  {
    mediaType: 'image/gif',
    aliases: [],
    extensions: ['.gif'],
    matches: (head) => startsWith(head, ascii('GIF87a')) || startsWith(head, ascii('GIF89a')),
  },
  {
    mediaType: 'image/webp',
    aliases: [],
    extensions: ['.webp'],
    matches: (head) => startsWith(head, ascii('RIFF')) && startsWith(head, ascii('WEBP'), 8),
  },
  {
    mediaType: 'image/bmp',
    aliases: ['image/x-bmp', 'image/x-ms-bmp'],
    extensions: ['.bmp'],
    // "BM", the file size, then four reserved bytes that are zero.
    matches: (head) => startsWith(head, ascii('BM')) && startsWith(head, [0, 0, 0, 0], 6),
  },
];

/** The list shown in 415 messages. */
export const ACCEPTED_MEDIA_TYPES = IMAGE_TYPES.map((type) => type.mediaType).join(', ');

/**
 * The accepted image type named by a `Content-Type` header value (parameters and case ignored),
 * or undefined.
 */
export function imageTypeForContentType(contentType: string | undefined): ImageType | undefined {
  if (!contentType) return undefined;
  const essence = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return IMAGE_TYPES.find((type) => type.mediaType === essence || type.aliases.includes(essence));
}

/** The accepted image type whose signature the bytes carry, or undefined. */
export function imageTypeForBytes(head: Uint8Array): ImageType | undefined {
  return IMAGE_TYPES.find((type) => type.matches(head));
}
