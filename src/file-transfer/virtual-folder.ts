/**
 * A camera's write-only virtual folder, as file-transfer protocols (FTP, SFTP) see it: one folder
 * per camera, with no way out of it, and nothing in it that can be read back.
 *
 * Every path a client sends is resolved here, before anything else looks at it: `/` and `\` both
 * separate parts, `.` and empty parts are dropped, `..` goes up but never above the camera's root,
 * and an absolute path is taken from that root. So `../../etc/passwd`, `/etc/passwd` and
 * `..\..\etc\passwd` all name `/etc/passwd` inside the camera's space, which stores an image as
 * `etc_passwd.jpg` under the camera's key, as HTTP folds folders into the file name. No path is
 * ever joined to a path of the receiver's own file system.
 *
 * @module
 */

/** Longest path accepted, in characters; longer ones are refused (the key bounds the name anyway). */
export const MAX_PATH_LENGTH = 4096;
/** Most parts a path may have. */
const MAX_PATH_PARTS = 64;

/** A path inside a camera's space: its parts, none of them `''`, `.` or `..`. `[]` is the root. */
export type VirtualPath = readonly string[];

/**
 * The path a client means by `requested`, resolved inside the camera's space from the folder it is
 * in (`from`; an absolute path starts at the root instead). Undefined for text that cannot be a path
 * (too long, too deep, holding a NUL or another control character).
 */
export function resolvePath(requested: string, from: VirtualPath = []): VirtualPath | undefined {
  if (requested.length > MAX_PATH_LENGTH || /[\p{Cc}]/u.test(requested)) return undefined;
  const parts = /^[/\\]/.test(requested) ? [] : [...from];
  for (const part of requested.split(/[/\\]/)) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.length > MAX_PATH_PARTS ? undefined : parts;
}

/** The path as the client sees it: absolute, from the camera's root. */
export function absolute(path: VirtualPath): string {
  return `/${path.join('/')}`;
}

/** The name handed to the contract: the path from the camera's root, folders and all (the contract folds them into the name). */
export function ingestName(path: VirtualPath): string {
  return path.join('/');
}

/**
 * Extensions of names that clients give a file while it is being uploaded, before they rename it to
 * its real name: `.tmp`, `.temp`, `.part`, `.partial` (many), `.filepart` (WinSCP), `.upload`.
 */
const TEMPORARY_EXTENSIONS = new Set(['.tmp', '.temp', '.part', '.partial', '.filepart', '.upload']);

/**
 * Whether the file name is one clients use while uploading, to rename the file once it is
 * complete: a temporary extension (`x.jpg.tmp`), a hidden name (lftp's `.in.x.jpg.`, rsync's
 * `.x.jpg.Ab12Cd`), or `tmp` as a word of the name (`camera_tmp.jpg`, `tmp-0001.jpg`, the pattern
 * of cameras whose "rename" option uploads `<name>_tmp.jpg`). Such a file is held until it is
 * renamed, not stored under this name. (`temp` alone is not taken for a word of it: thermal
 * cameras name images by temperature.)
 */
export function isTemporaryName(path: VirtualPath): boolean {
  const name = path.at(-1);
  if (name === undefined) return false;
  if (name.startsWith('.')) return true;
  const dot = name.lastIndexOf('.');
  if (dot > 0 && TEMPORARY_EXTENSIONS.has(name.slice(dot).toLowerCase())) return true;
  return name.toLowerCase().split(/[^a-z0-9]+/).includes('tmp');
}
