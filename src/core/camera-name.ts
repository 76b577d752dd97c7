/**
 * What a camera name may be: the one rule for the token registry (which stores names),
 * `camera setup` (which checks `--name` and makes names from addresses), the AWS stack's
 * settings, and the object keys (which use a valid name as the camera's folder as it is).
 *
 * @module
 */

/** The longest camera name, in characters. */
export const MAX_CAMERA_NAME_LENGTH = 63;

/** Characters a name may start with, and characters it may hold (as regular-expression classes). */
const FIRST = 'A-Za-z0-9';
const ALLOWED = `${FIRST}._-`;

/**
 * 1–63 characters of `[A-Za-z0-9._-]`, starting with a letter or digit: never `.`, `..` or a
 * hidden name, and a safe object-key segment without sanitising (which would fold `a__b` and
 * `a_` into `a_b` and `a`, and so put two cameras' images in one folder).
 */
const CAMERA_NAME_PATTERN = new RegExp(`^[${FIRST}][${ALLOWED}]{0,${MAX_CAMERA_NAME_LENGTH - 1}}$`);

/** The rule in words, for error messages and help. */
export const CAMERA_NAME_RULE =
  `a camera name must be 1–${MAX_CAMERA_NAME_LENGTH} characters of letters A–Z/a–z, digits 0–9, ".", "_" or "-", ` +
  'starting with a letter or digit (it becomes part of the storage key prefix).';

/** Whether `camera` is a camera name (see {@link CAMERA_NAME_PATTERN}). */
export function isValidCameraName(camera: unknown): camera is string {
  return typeof camera === 'string' && CAMERA_NAME_PATTERN.test(camera);
}

/**
 * A camera name made from any text: characters outside the rule become `-`, those that cannot
 * start a name are dropped from the front, and the rest is cut to {@link MAX_CAMERA_NAME_LENGTH}.
 * `''` when nothing usable is left; anything else passes {@link isValidCameraName}.
 */
export function cameraNameFrom(text: string): string {
  return text
    .replace(new RegExp(`[^${ALLOWED}]`, 'g'), '-')
    .replace(new RegExp(`^[^${FIRST}]+`), '')
    .slice(0, MAX_CAMERA_NAME_LENGTH);
}
