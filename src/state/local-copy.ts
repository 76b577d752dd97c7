/**
 * A remote document with a local copy of what was read last, so a receiver restarted while its
 * store is unreachable still knows its cameras' tokens.
 *
 * @module
 */
import { writeFileAtomically } from '../files/durable.js';
import { FileDocument } from './file-document.js';
import { DocumentUnreachableError, UNCHANGED } from './document.js';
import type { CONFLICT, DocumentVersion, SharedDocument, WriteProtection } from './document.js';

/**
 * Reads and writes go to `remote`; each version read is also written to `file` (mode 0600, with
 * its tag). Until the remote has answered once in this process, a read it cannot answer
 * ({@link DocumentUnreachableError}) is answered from the copy instead, with the remote's tag, so
 * the first conditional read once the remote is back costs no more than any other.
 */
export class LocallyCopiedDocument implements SharedDocument {
  readonly location: string;
  private readonly copy: FileDocument;
  private answered = false;
  private copiedTag: string | undefined;
  /** Whether the last read came from the copy: the remote could not be reached. */
  fromCopy = false;

  constructor(
    private readonly remote: SharedDocument,
    readonly file: string,
  ) {
    this.location = remote.location;
    this.copy = new FileDocument(file);
  }

  async read(): Promise<DocumentVersion | undefined> {
    return this.answer(() => this.remote.read()) as Promise<DocumentVersion | undefined>;
  }

  readIfChanged(tag: string | undefined): Promise<DocumentVersion | undefined | typeof UNCHANGED> {
    return this.answer(() => this.remote.readIfChanged(tag));
  }

  write(text: string, expectedTag: string | undefined): Promise<string | typeof CONFLICT> {
    return this.remote.write(text, expectedTag);
  }

  protection(): Promise<WriteProtection> {
    return this.remote.protection();
  }

  private async answer(read: () => Promise<DocumentVersion | undefined | typeof UNCHANGED>): Promise<DocumentVersion | undefined | typeof UNCHANGED> {
    let found;
    try {
      found = await read();
    } catch (error) {
      if (this.answered || !(error instanceof DocumentUnreachableError)) throw error;
      const copied = await this.readCopy();
      if (copied === undefined) throw error;
      this.fromCopy = true;
      return copied;
    }
    this.answered = true;
    this.fromCopy = false;
    if (found !== UNCHANGED && found !== undefined && found.tag !== this.copiedTag) {
      await writeFileAtomically(this.file, `${JSON.stringify({ tag: found.tag, text: found.text })}\n`);
      this.copiedTag = found.tag;
    }
    return found;
  }

  private async readCopy(): Promise<DocumentVersion | undefined> {
    const copied = await this.copy.read();
    if (copied === undefined) return undefined;
    const { tag, text } = JSON.parse(copied.text) as Partial<DocumentVersion>;
    if (typeof tag !== 'string' || typeof text !== 'string') throw new Error(`${this.file} is not a copy of ${this.location}; delete it.`);
    this.copiedTag = tag;
    return { tag, text };
  }
}
