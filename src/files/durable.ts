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
import type { FileHandle } from 'node:fs/promises';
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

/** A folder that writes under way will fsync: see {@link SharedFolders}. */
interface SharedFolder {
  folder: string;
  /** Writes under way that will fsync it. */
  users: number;
  /** Opened by the first fsync, once a name was made in it. */
  handle: Promise<FileHandle> | undefined;
  /** The folder at that path was made anew: this handle may be of the one it replaced. */
  replaced: boolean;
}

/** A write's hold on a folder it will fsync (see {@link SharedFolders.hold}). */
export interface FolderHold {
  readonly folder: string;
  /** fsyncs the folder, so that names just made in it survive a power cut. */
  sync(): Promise<void>;
  /** The write is done with the folder: the last one closes its handle (and waits for that). */
  release(): Promise<void>;
}

/**
 * fsyncs of the folders that writes under way make names in, through one handle per folder while
 * writes into it overlap: a folder busy with uploads (one camera's, several at once) is opened
 * once for many fsyncs instead of opened and closed around each (two round trips through the
 * thread pool). The last write to be done with a folder closes its handle, so none stays open
 * once the writes are done.
 *
 * A handle is opened only once a name was made in its folder, so the folder is not empty while
 * writes share it, and retention (which removes only empty folders) cannot replace it meanwhile. A
 * folder made anew under the same path must be {@link replaced}: writes fsync it without the old
 * handle then.
 */
export class SharedFolders {
  private readonly folders = new Map<string, SharedFolder>();

  /** Holds `folder` for a write that will fsync it: until released, fsyncs of it share a handle. */
  hold(folder: string): FolderHold {
    let shared = this.folders.get(folder);
    if (shared === undefined) {
      shared = { folder, users: 0, handle: undefined, replaced: false };
      this.folders.set(folder, shared);
    }
    shared.users++;
    const entry = shared;
    let released = false;
    return {
      folder,
      sync: () => this.sync(entry),
      release: async () => {
        if (released) return;
        released = true;
        await this.release(entry);
      },
    };
  }

  /** The folder at `folder` was made anew: the handle writes share may be of the one it replaced. */
  replaced(folder: string): void {
    const shared = this.folders.get(folder);
    if (shared === undefined) return;
    shared.replaced = true;
    this.folders.delete(folder);
  }

  private async sync(shared: SharedFolder): Promise<void> {
    if (shared.replaced) return syncFolder(shared.folder);
    if (shared.handle === undefined) {
      shared.handle = open(shared.folder, 'r');
      // Awaited by the fsyncs; a failed open is theirs to report.
      shared.handle.catch(() => undefined);
    }
    const handle = shared.handle;
    try {
      await (await handle).sync();
    } catch (error) {
      // The next fsync opens the folder again rather than inherit what failed.
      if (shared.handle === handle) {
        shared.handle = undefined;
        void handle.then((opened) => opened.close()).catch(() => undefined);
      }
      throw error;
    }
  }

  private async release(shared: SharedFolder): Promise<void> {
    shared.users--;
    if (shared.users > 0) return;
    if (this.folders.get(shared.folder) === shared) this.folders.delete(shared.folder);
    const handle = shared.handle;
    shared.handle = undefined;
    await handle?.then((opened) => opened.close()).catch(() => undefined);
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
