/**
 * A shared document kept in a local file: for a disk store, or one machine.
 *
 * @module
 */
import type { BigIntStats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { createFileAtomically, writeFileAtomically } from '../files/durable.js';
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
      if (expectedTag === undefined) {
        if (!(await createFileAtomically(this.location, text))) return CONFLICT;
      } else {
        await writeFileAtomically(this.location, text);
      }
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

function tagOf(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
