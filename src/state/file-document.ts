/**
 * A shared document kept in a local file: for a disk store, or one machine.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { link, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { CONFLICT, UNCHANGED, serialised } from './document.js';
import type { DocumentVersion, SharedDocument, WriteProtection } from './document.js';

/**
 * A document in a file (UTF-8, mode 0600 in a 0700 folder made when missing).
 *
 * Its tag is the file's identity (device, inode, size, change times): every write replaces the file
 * by a rename, so every write changes it. Writes are compare-and-swap among the writers of this
 * process; between processes on one machine the check and the rename are a few microseconds
 * apart, which `token` commands typed by hand never hit. Creating the file is atomic everywhere
 * (a hard link fails when the name exists).
 */
export class FileDocument implements SharedDocument {
  readonly location: string;

  /** @param file - resolved against the current directory now. */
  constructor(file: string) {
    this.location = path.resolve(file);
  }

  async read(): Promise<DocumentVersion | undefined> {
    let handle;
    try {
      handle = await open(this.location, 'r');
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    try {
      // Tag and text from one open file, so they belong to the same version even during a rename.
      const tag = tagOf(await handle.stat({ bigint: true }));
      return { tag, text: await handle.readFile('utf8') };
    } finally {
      await handle.close();
    }
  }

  async readIfChanged(tag: string | undefined): Promise<DocumentVersion | undefined | typeof UNCHANGED> {
    const now = await this.currentTag();
    if (now === tag) return UNCHANGED;
    return now === undefined ? undefined : this.read();
  }

  write(text: string, expectedTag: string | undefined): Promise<string | typeof CONFLICT> {
    return serialised(`file:${this.location}`, async () => {
      if ((await this.currentTag()) !== expectedTag) return CONFLICT;
      const temporary = await writeTemporary(this.location, text);
      try {
        if (expectedTag === undefined) {
          try {
            await link(temporary, this.location);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'EEXIST') return CONFLICT;
            throw error;
          }
        } else {
          await rename(temporary, this.location);
        }
      } finally {
        await unlink(temporary).catch(() => undefined);
      }
      await syncFolder(path.dirname(this.location));
      return (await this.currentTag()) ?? CONFLICT;
    });
  }

  protection(): Promise<WriteProtection> {
    return Promise.resolve('compare-and-swap');
  }

  private async currentTag(): Promise<string | undefined> {
    try {
      return tagOf(await stat(this.location, { bigint: true }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}

/**
 * Writes `text` to `file` atomically: a temporary file in the same folder (0600), fsynced, renamed
 * over `file`, and the folder fsynced. A reader sees the old text or the new, never a mix.
 */
export async function writeFileAtomically(file: string, text: string): Promise<void> {
  const temporary = await writeTemporary(file, text);
  try {
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncFolder(path.dirname(file));
}

async function writeTemporary(file: string, text: string): Promise<string> {
  const folder = path.dirname(file);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const temporary = path.join(folder, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    // The umask can only clear bits, but make the mode exact regardless.
    await handle.chmod(0o600);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  return temporary;
}

/** Makes a rename durable; not supported everywhere (e.g. Windows), hence best effort. */
async function syncFolder(folder: string): Promise<void> {
  try {
    const handle = await open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Durability of the folder entry is a bonus; the data itself is fsynced.
  }
}

function tagOf(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
