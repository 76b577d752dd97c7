/**
 * Durable local files, for every part that writes them: the disk store and the spool (which fsync
 * the folders of their images), the shared documents in files (token registry, gallery access)
 * and their local copies, and the gallery's thumbnail cache.
 *
 * Outside `stores/` and `state/` because all of them import it and it needs none of them.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

/** fsyncs a folder, so that names just made or removed in it survive a power cut. */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` (a string as UTF-8) to `file` atomically and durably: into a temporary file in the
 * same folder (mode 0600; the folder made 0700 when missing), fsynced, renamed over `file`, and the
 * folder fsynced. A reader sees the old content or the new, never a mix, and after a power cut the
 * file holds one of them, never nothing.
 *
 * Every file written this way is the receiver's own (tokens' hashes, the gallery's password hash
 * and session secret, thumbnails of the images), so it is readable by the owner only.
 */
export async function writeFileAtomically(file: string, data: string | Uint8Array): Promise<void> {
  await placeFile(file, data, (temporary) => rename(temporary, file));
}

/**
 * {@link writeFileAtomically}, but only when `file` does not exist yet: a hard link of the
 * temporary file, which fails when the name is taken, on every filesystem and between processes.
 *
 * @returns false, and nothing written, when `file` already exists.
 */
export async function createFileAtomically(file: string, data: string | Uint8Array): Promise<boolean> {
  let created = true;
  await placeFile(file, data, async (temporary) => {
    try {
      await link(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      created = false;
    }
  });
  return created;
}

/** Writes a synced temporary file beside `file`, lets `place` give it its name, then syncs the folder. */
async function placeFile(file: string, data: string | Uint8Array, place: (temporary: string) => Promise<void>): Promise<void> {
  const folder = path.dirname(file);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const temporary = path.join(folder, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    try {
      // The umask can only clear bits, but make the mode exact regardless.
      await handle.chmod(0o600);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await place(temporary);
  } finally {
    // After a rename the name is gone already; after a link or a failure it is removed here.
    await unlink(temporary).catch(() => undefined);
  }
  try {
    await syncFolder(folder);
  } catch {
    // Not supported everywhere (e.g. Windows): the data itself is fsynced, the new name is a bonus.
  }
}
