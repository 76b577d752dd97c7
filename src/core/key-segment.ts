/**
 * Turning untrusted text (a camera's filename, a camera name) into one safe object-key segment.
 *
 * Kept: Unicode letters and digits, `.`, `_` and `-`. Everything else (path separators, spaces,
 * `:`, control and format characters such as right-to-left overrides, combining marks) becomes
 * `_`. Leading dots are dropped, so no segment is `.`, `..` or a hidden name.
 */
const UNSAFE = /[^\p{L}\p{N}._-]+/gu;

/** The longest segment produced, in characters (S3 keys allow 1024 bytes in all). */
export const MAX_SEGMENT_LENGTH = 100;

export function sanitiseSegment(value: string, maxLength = MAX_SEGMENT_LENGTH): string {
  return truncate(
    value
      .normalize('NFC')
      .replace(UNSAFE, '_')
      .replace(/_{2,}/g, '_')
      .replace(/^[._]+/, '')
      .replace(/_+$/, ''),
    maxLength,
  );
}

/** Shortens by code points, so no surrogate pair is cut in half. */
export function truncate(value: string, maxLength: number): string {
  const codePoints = [...value];
  return codePoints.length <= maxLength ? value : codePoints.slice(0, maxLength).join('');
}
