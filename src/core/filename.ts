import contentDisposition from 'content-disposition';
import type { MediaType } from './media-types.js';
import { MAX_SEGMENT_LENGTH, sanitiseSegment, truncate } from './key-segment.js';

/**
 * The filename a camera sent in `Content-Disposition` (`attachment; filename="…"`, unquoted or
 * `filename*=UTF-8''…`), or undefined when the header is missing or cannot be parsed.
 * A malformed header is not an error: the image is still stored, under a generated name.
 */
export function cameraFilename(header: string | undefined): string | undefined {
  if (!header) return undefined;
  try {
    const name = contentDisposition.parse(utf8FromLatin1(header)).parameters.filename;
    return typeof name === 'string' && name.length > 0 ? name : undefined;
  } catch {
    return undefined;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Node reads header bytes as Latin-1, so a filename a camera sends as UTF-8 arrives as mojibake
 * (`Küche.jpg` as `KÃ¼che.jpg`). When the bytes form valid UTF-8 they are read as such; anything
 * else (plain ASCII, real Latin-1, text already decoded) is left as it is.
 */
function utf8FromLatin1(header: string): string {
  if (!/[\u0080-\u00ff]/.test(header) || /[\u0100-\uffff]/.test(header)) return header;
  try {
    return UTF8.decode(Buffer.from(header, 'latin1'));
  } catch {
    return header;
  }
}

/**
 * A safe filename for the stored image: the camera's name with every path part but the last
 * folded into it (`a/b.jpg` → `a_b.jpg`, `../../x.jpg` → `x.jpg`), unsafe characters replaced,
 * the length bounded, and an extension that matches the file's type (appended when the camera's
 * name has none, or the wrong one, so `x.php` sent as JPEG becomes `x.php.jpg`).
 * Returns undefined when nothing usable remains.
 */
export function safeFilename(name: string, type: MediaType): string | undefined {
  const joined = name
    .split(/[/\\]+/)
    .filter((part) => part !== '' && part !== '.' && part !== '..')
    .join('_');
  const cleaned = sanitiseSegment(joined, Number.MAX_SAFE_INTEGER);
  if (cleaned === '') return undefined;

  const dot = cleaned.lastIndexOf('.');
  const extension = dot > 0 ? cleaned.slice(dot).toLowerCase() : '';
  const hasTypeExtension = type.extensions.includes(extension);
  const stem = hasTypeExtension ? cleaned.slice(0, dot) : cleaned;
  const finalExtension = hasTypeExtension ? extension : type.extensions[0]!;
  const boundedStem = truncate(stem, MAX_SEGMENT_LENGTH - finalExtension.length).replace(/[._]+$/, '');
  return boundedStem === '' ? undefined : boundedStem + finalExtension;
}

/** A name for a file that came without a usable filename: its kind and UTC receive time (`clip-2026-…Z.mkv`). */
export function generatedFilename(receivedAt: Date, type: MediaType): string {
  const stamp = receivedAt.toISOString().replace(/[:.]/g, '-');
  return `${type.kind}-${stamp}${type.extensions[0]!}`;
}

/** The stored filename: the one the camera sent, made safe, or a generated one. */
export function storedFilename(sent: string | undefined, type: MediaType, receivedAt: Date): string {
  return (sent !== undefined ? safeFilename(sent, type) : undefined) ?? generatedFilename(receivedAt, type);
}
