/**
 * One camera's SFTP session: a write-only virtual folder (see file-transfer/virtual-folder.ts) on
 * top of ssh2's SFTP server channel.
 *
 * What a camera does before and around writing works: `REALPATH`, `STAT`/`LSTAT`/`FSTAT`,
 * `MKDIR` (folders are virtual: nothing is made, the folders fold into the file name as HTTP
 * folds them), `OPENDIR`/`READDIR` (always an empty listing), `SETSTAT` (ignored), `OPEN` for
 * writing, sequential `WRITE`s, `CLOSE`, and `RENAME` of a temporary name onto the final one.
 * Nothing can be read back or listed, not even the camera's own files, and no path leaves the
 * camera's space. Links are not supported.
 *
 * A file opened under its final name goes through the same contract as an HTTP upload while it
 * is written: its bytes stream into the contract as they arrive (see write-pipe.ts), so a file
 * that is not an image is refused at the write that shows it, and one too large at the write that
 * crosses the limit; the `CLOSE` ends the body and is answered with the contract's outcome: OK
 * once the image is stored durably, a failure with the contract's message otherwise.
 *
 * A file opened under a temporary name (`x.jpg.part`, `x_tmp.jpg`, …) cannot be named yet, and the
 * contract names an image as soon as it has read its first bytes: it is held on local disk (see
 * file-transfer/hold-folder.ts), its `CLOSE` answered once it is all there, and the `RENAME` onto the final
 * name hands it to the contract and is answered with the outcome, so the temporary name leaves
 * nothing behind. One never renamed is stored under its temporary name when the session ends, when
 * the rename window passes, or when the session holds too many.
 *
 * Either way a file must end as its format does (see file-transfer/format-end.ts), writes must be
 * sequential (as every client sends them), and a session that ends before a file is closed stores
 * nothing of it. The camera's token is checked again before each file: a token revoked during a
 * session stops it.
 *
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { Attributes, SFTPWrapper } from 'ssh2';
import ssh2 from 'ssh2';
import { UploadError } from '../core/errors.js';
import { mediaTypeForName } from '../core/media-types.js';
import { failureOutcome, outcomeLogRecord } from '../core/outcome.js';
import type { OutcomeRecorder, UploadOutcome } from '../core/outcome.js';
import type { ImageReceiver } from '../core/receiver.js';
import type { CameraLogin } from '../file-transfer/camera-login.js';
import { endChecked } from '../file-transfer/format-end.js';
import { absolute, ingestName, isTemporaryName, resolvePath } from '../file-transfer/virtual-folder.js';
import type { VirtualPath } from '../file-transfer/virtual-folder.js';
import type { HeldFile, HoldFolder } from '../file-transfer/hold-folder.js';
import { WritePipe } from './write-pipe.js';

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp;

/** The part of the contract a session uses. */
export type Ingest = Pick<ImageReceiver, 'ingest' | 'sizeLimit'>;

/** Where the SFTP server writes its lines: a pino-like logger (the receiver's). */
export interface SftpLog {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Files and folders one session may hold open at once. */
export const MAX_OPEN_HANDLES = 32;
/**
 * Bytes of writes a session may have waiting for their answers. OpenSSH's client keeps at most 64
 * requests of 32 KB in flight (2 MB), libssh2's far less; a client that sends more without waiting
 * for the answers is not uploading a file, and its connection is ended.
 */
export const MAX_PENDING_WRITE_BYTES = 16 * 1024 * 1024;
/** Files one session holds under temporary names at once; one more and the oldest is stored as it is (as FTP does). */
const MAX_HELD_PER_SESSION = 4;
/** Paths remembered per session (folders made, files stored), so a client's checks after the fact hold. */
const MAX_REMEMBERED_PATHS = 1024;

export interface SessionSettings {
  camera: string;
  /** The token the camera logged in with, checked again before each file. */
  password: string;
  remoteAddress: string;
  receiver: Ingest;
  login: CameraLogin;
  /** Where files under temporary names wait for their rename. */
  holds: HoldFolder;
  log: SftpLog;
  metrics: OutcomeRecorder | undefined;
  /** How long a file closed under a temporary name waits for its rename before it is stored as it is. */
  renameWindowMs: number;
  /** Ends the whole connection, with the reason logged: the client broke the rules. */
  abort(reason: string): void;
  /** Work that outlives the session (storing a held file when it ends): the server waits for it at shutdown. */
  track(work: Promise<unknown>): void;
  /**
   * Called before each answer: the connection may hold its answers back until the end of the
   * current turn of the event loop and send them together, in one write (the answers to the
   * `WRITE`s of one read from the socket, say).
   */
  gatherAnswers?(): void;
}

/** A file open for writing: its bytes go through `pipe`, to the contract or to the hold folder. */
interface OpenFile {
  kind: 'file';
  path: VirtualPath;
  openedAt: number;
  /** Bytes written so far: the offset the next write must start at. */
  size: number;
  pipe: WritePipe;
  /**
   * What became of the bytes once the body ended or stopped being read: the contract's outcome
   * (the file had its final name), or the held file (a temporary name), or why it could not be held.
   */
  result: Promise<UploadOutcome | HeldFile>;
}

interface OpenFolder {
  kind: 'folder';
  path: VirtualPath;
}

/** A file closed under a temporary name, waiting for its rename. */
interface AwaitingRename {
  path: VirtualPath;
  held: HeldFile;
  timer: NodeJS.Timeout;
}

const FOLDER_MODE = 0o040_755;
const FILE_MODE = 0o100_600;
const READ_ONLY_REFUSAL = 'This SFTP server only receives files: nothing can be read or listed, not even what this camera sent.';
const SESSION_ENDED = 'The session ended before the file was closed: nothing of it was stored.';

/** Serves one SFTP channel of a logged-in camera. */
export class SftpSession {
  private readonly handles = new Map<number, OpenFile | OpenFolder>();
  private nextHandle = 1;
  private readonly awaitingRename = new Map<string, AwaitingRename>();
  /** Files stored in this session, with their sizes. */
  private readonly stored = new Map<string, number>();
  private readonly madeFolders = new Set<string>();
  private pendingWriteBytes = 0;
  /** Requests being worked on (a write on its way, a close storing its image). */
  private working = 0;
  private lastActivity = performance.now();
  private ended = false;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly settings: SessionSettings,
  ) {
    this.serve();
  }

  /** Milliseconds since the last request was answered, or 0 while one is being worked on. */
  idleMs(): number {
    return this.working > 0 ? 0 : performance.now() - this.lastActivity;
  }

  /**
   * The session is over (its channel or connection closed): files still open are dropped (nothing
   * stored; the contract's refusal logged), files waiting for a rename are stored under their own
   * names.
   */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const open of this.handles.values()) {
      if (open.kind !== 'file') continue;
      // The contract's read (or the hold's) fails, so nothing of the file is kept.
      open.pipe.fail(new UploadError(400, SESSION_ENDED));
      this.settings.track(open.result.then((result) => (isOutcome(result) ? undefined : this.settings.holds.release(result))));
    }
    this.handles.clear();
    for (const waiting of this.awaitingRename.values()) {
      clearTimeout(waiting.timer);
      this.settings.track(this.storeAbandoned(waiting.path, waiting.held));
    }
    this.awaitingRename.clear();
  }

  private serve(): void {
    const sftp = this.sftp;
    // A malformed packet ends the channel inside ssh2 and is reported here; the server goes on.
    sftp.on('error', (error: Error) => this.settings.log.debug({ err: error, camera: this.settings.camera, remoteAddress: this.settings.remoteAddress }, 'sftp: channel error'));
    sftp.on('close', () => this.end());
    // The client has nothing more to send: close the channel (as OpenSSH's client waits for),
    // once the requests in progress are answered.
    sftp.on('end', () => this.afterWork(() => sftp.end()));
    this.on('REALPATH', (id, requested: string) => this.realpath(id, requested));
    this.on('STAT', (id, requested: string) => this.stat(id, requested));
    this.on('LSTAT', (id, requested: string) => this.stat(id, requested));
    this.on('FSTAT', (id, handle: Buffer) => this.fstat(id, handle));
    this.on('SETSTAT', (id, requested: string) => this.withPath(id, requested, () => this.ok(id)));
    this.on('FSETSTAT', (id, handle: Buffer) => (this.handles.has(handleNumber(handle)) ? this.ok(id) : this.badHandle(id)));
    this.on('OPEN', (id, requested: string, flags: number) => this.open(id, requested, flags));
    this.on('WRITE', (id, handle: Buffer, offset: number, data: Buffer) => this.write(id, handle, offset, data));
    this.on('READ', (id) => this.status(id, STATUS_CODE.PERMISSION_DENIED, READ_ONLY_REFUSAL));
    this.on('CLOSE', (id, handle: Buffer) => this.close(id, handle));
    this.on('OPENDIR', (id, requested: string) => this.opendir(id, requested));
    this.on('READDIR', (id, handle: Buffer) => (this.handles.get(handleNumber(handle))?.kind === 'folder' ? this.status(id, STATUS_CODE.EOF) : this.badHandle(id)));
    this.on('MKDIR', (id, requested: string) => this.mkdir(id, requested));
    this.on('RMDIR', (id, requested: string) => this.rmdir(id, requested));
    this.on('REMOVE', (id, requested: string) => this.remove(id, requested));
    this.on('RENAME', (id, from: string, to: string) => this.rename(id, from, to));
    this.on('READLINK', (id) => this.status(id, STATUS_CODE.OP_UNSUPPORTED, 'Links are not supported.'));
    this.on('SYMLINK', (id) => this.status(id, STATUS_CODE.OP_UNSUPPORTED, 'Links are not supported.'));
    this.on('EXTENDED', (id) => this.status(id, STATUS_CODE.OP_UNSUPPORTED));
  }

  /**
   * Handles one kind of request: marks the session busy while the handler works, and turns
   * anything it throws into a failure status and a log line, so no request can take the server down.
   */
  private on<A extends unknown[]>(request: string, handler: (id: number, ...args: A) => void | Promise<void>): void {
    this.sftp.on(request, (id: number, ...args: A) => {
      this.working++;
      const fail = (error: unknown): void => {
        this.settings.log.error({ err: error, request, camera: this.settings.camera, remoteAddress: this.settings.remoteAddress }, 'sftp: request failed');
        this.status(id, STATUS_CODE.FAILURE, 'The receiver failed to handle this request; see its log.');
      };
      const done = (): void => {
        this.working--;
        this.lastActivity = performance.now();
      };
      try {
        const result = handler(id, ...args);
        if (result instanceof Promise) void result.catch(fail).finally(done);
        else done();
      } catch (error) {
        fail(error);
        done();
      }
    });
  }

  /** Runs `then` once no request is being worked on. */
  private afterWork(then: () => void): void {
    if (this.working === 0) then();
    else setTimeout(() => this.afterWork(then), 20).unref();
  }

  private realpath(id: number, requested: string): void {
    this.withPath(id, requested, (path) => {
      const name = absolute(path);
      this.sftp.name(id, [{ filename: name, longname: name, attrs: this.attributesOf(path) ?? folderAttributes() }]);
    });
  }

  private stat(id: number, requested: string): void {
    this.withPath(id, requested, (path) => {
      const attributes = this.attributesOf(path);
      if (attributes) this.sftp.attrs(id, attributes);
      else this.status(id, STATUS_CODE.NO_SUCH_FILE, `No such file: ${absolute(path)}.`);
    });
  }

  private fstat(id: number, handle: Buffer): void {
    const open = this.handles.get(handleNumber(handle));
    if (open === undefined) return this.badHandle(id);
    this.sftp.attrs(id, open.kind === 'folder' ? folderAttributes() : fileAttributes(open.size));
  }

  /**
   * What a path is to the client: a file being written, waiting for its rename or stored in this
   * session (with its size); a folder (the root, one made, or any path not named like a file); or
   * nothing (undefined).
   */
  private attributesOf(path: VirtualPath): Attributes | undefined {
    const key = absolute(path);
    const open = this.openFileAt(key);
    if (open) return fileAttributes(open.size);
    const waiting = this.awaitingRename.get(key);
    if (waiting) return fileAttributes(waiting.held.bytes);
    const stored = this.stored.get(key);
    if (stored !== undefined) return fileAttributes(stored);
    if (path.length === 0 || this.madeFolders.has(key) || !looksLikeFile(path)) return folderAttributes();
    return undefined;
  }

  private async open(id: number, requested: string, flags: number): Promise<void> {
    const path = resolvePath(requested);
    if (path === undefined) return this.invalidPath(id);
    if ((flags & OPEN_MODE.READ) !== 0 || (flags & OPEN_MODE.WRITE) === 0) return this.status(id, STATUS_CODE.PERMISSION_DENIED, READ_ONLY_REFUSAL);
    if ((flags & OPEN_MODE.APPEND) !== 0) return this.status(id, STATUS_CODE.PERMISSION_DENIED, 'Files cannot be appended to: send each file whole, as a new file.');
    const key = absolute(path);
    if (path.length === 0 || this.madeFolders.has(key)) return this.status(id, STATUS_CODE.FAILURE, `${key} is a folder.`);
    if (this.openFileAt(key)) return this.status(id, STATUS_CODE.FAILURE, `${key} is already open for writing in this session.`);
    if (this.handles.size >= MAX_OPEN_HANDLES) return this.status(id, STATUS_CODE.FAILURE, `At most ${MAX_OPEN_HANDLES} files and folders can be open at once.`);
    const login = await this.settings.login.stillValid(this.settings.camera, this.settings.password);
    if (login.outcome !== 'accepted') {
      return this.status(id, login.outcome === 'unavailable' ? STATUS_CODE.FAILURE : STATUS_CODE.PERMISSION_DENIED, 'message' in login ? login.message : undefined);
    }
    if (this.ended) return;
    // Written again before its rename: the new file replaces the one waiting, which never became an image.
    await this.dropAwaiting(key);

    const openedAt = performance.now();
    const pipe = new WritePipe();
    const body = endChecked(pipe);
    const result: Promise<UploadOutcome | HeldFile> = isTemporaryName(path)
      ? this.settings.holds.hold(body, this.settings.receiver.sizeLimit(undefined)).catch((error: unknown) => failureOutcome(error, { camera: this.settings.camera, filename: ingestName(path) }))
      : this.settings.receiver.ingest({ camera: this.settings.camera, filename: ingestName(path), body });
    const file: OpenFile = { kind: 'file', path, openedAt, size: 0, pipe, result };
    void result.then((settled) => {
      // Whatever made the reading stop (a refusal, a store error), writes still waiting are refused.
      pipe.stop();
      if (!isOutcome(settled)) return;
      this.logOutcome(settled, openedAt);
      if (settled.status < 300) this.remember(this.stored, key, file.size);
    });
    const handle = this.nextHandle++;
    this.handles.set(handle, file);
    this.sftp.handle(id, handleBuffer(handle));
  }

  /** A write: answered once the contract (or the hold folder) moved past it, or with the refusal that stopped it. */
  private async write(id: number, handle: Buffer, offset: number, data: Buffer): Promise<void> {
    const open = this.handles.get(handleNumber(handle));
    if (open === undefined || open.kind === 'folder') return this.badHandle(id);
    if (offset !== open.size) {
      open.pipe.fail(new UploadError(400, `Writes must be sequential: this one starts at byte ${offset}, the file has ${open.size}. Nothing of the file was stored.`));
      return this.refuse(id, await open.result);
    }
    if (data.byteLength === 0) return this.ok(id);
    this.pendingWriteBytes += data.byteLength;
    if (this.pendingWriteBytes > MAX_PENDING_WRITE_BYTES) {
      this.settings.abort(`more than ${MAX_PENDING_WRITE_BYTES} bytes of writes sent without waiting for their answers`);
      return;
    }
    open.size += data.byteLength;
    let taken: boolean;
    try {
      taken = await open.pipe.push(data);
    } finally {
      this.pendingWriteBytes -= data.byteLength;
    }
    if (taken) this.ok(id);
    else this.refuse(id, await open.result);
  }

  private async close(id: number, handle: Buffer): Promise<void> {
    const number = handleNumber(handle);
    const open = this.handles.get(number);
    if (open === undefined) return this.badHandle(id);
    this.handles.delete(number);
    if (open.kind === 'folder') return this.ok(id);
    open.pipe.end();
    const result = await open.result;
    if (isOutcome(result)) return this.answer(id, result);
    if (this.ended) return this.settings.track(this.storeAbandoned(open.path, result));
    // Held under a temporary name: the client renames it next.
    this.awaitRename(open.path, result);
    this.ok(id);
  }

  /** Keeps a held file until it is renamed, the rename window passes, or the session holds too many. */
  private awaitRename(path: VirtualPath, held: HeldFile): void {
    const key = absolute(path);
    const timer = setTimeout(() => {
      const waiting = this.awaitingRename.get(key);
      if (waiting?.held !== held) return;
      this.awaitingRename.delete(key);
      this.settings.track(this.storeAbandoned(path, held));
    }, this.settings.renameWindowMs);
    timer.unref();
    this.awaitingRename.set(key, { path, held, timer });
    if (this.awaitingRename.size > MAX_HELD_PER_SESSION) {
      const [oldestKey, oldest] = this.awaitingRename.entries().next().value!;
      clearTimeout(oldest.timer);
      this.awaitingRename.delete(oldestKey);
      this.settings.track(this.storeAbandoned(oldest.path, oldest.held));
    }
  }

  /** A held file that was never renamed: it was closed complete, so it is stored under its own name rather than dropped. */
  private async storeAbandoned(path: VirtualPath, held: HeldFile): Promise<void> {
    this.settings.log.warn(
      { camera: this.settings.camera, filename: ingestName(path), remoteAddress: this.settings.remoteAddress, protocol: 'sftp' },
      'sftp: a file uploaded under a temporary name was never renamed; storing it under that name',
    );
    await this.storeHeld(held, path);
  }

  private async dropAwaiting(key: string): Promise<void> {
    const waiting = this.awaitingRename.get(key);
    if (waiting === undefined) return;
    clearTimeout(waiting.timer);
    this.awaitingRename.delete(key);
    await this.settings.holds.release(waiting.held);
  }

  /** Hands a held file to the contract under `path`'s name, removes it, and logs and returns the outcome. */
  private async storeHeld(held: HeldFile, path: VirtualPath): Promise<UploadOutcome> {
    const started = performance.now();
    const outcome = await this.settings.holds.consume(held, (body) => this.settings.receiver.ingest({ camera: this.settings.camera, filename: ingestName(path), size: held.bytes, body }));
    this.logOutcome(outcome, started);
    if (outcome.status < 300) this.remember(this.stored, absolute(path), held.bytes);
    return outcome;
  }

  private opendir(id: number, requested: string): void {
    this.withPath(id, requested, (path) => {
      const attributes = this.attributesOf(path);
      if (attributes?.mode !== FOLDER_MODE) return this.status(id, STATUS_CODE.NO_SUCH_FILE, `No such folder: ${absolute(path)}.`);
      if (this.handles.size >= MAX_OPEN_HANDLES) return this.status(id, STATUS_CODE.FAILURE, `At most ${MAX_OPEN_HANDLES} files and folders can be open at once.`);
      const handle = this.nextHandle++;
      this.handles.set(handle, { kind: 'folder', path });
      this.sftp.handle(id, handleBuffer(handle));
    });
  }

  private mkdir(id: number, requested: string): void {
    this.withPath(id, requested, (path) => {
      const key = absolute(path);
      if (path.length === 0 || this.madeFolders.has(key)) return this.status(id, STATUS_CODE.FAILURE, `${key} exists already.`);
      if (this.attributesOf(path)?.mode === FILE_MODE) return this.status(id, STATUS_CODE.FAILURE, `${key} is a file.`);
      this.remember(this.madeFolders, key);
      this.ok(id);
    });
  }

  private rmdir(id: number, requested: string): void {
    this.withPath(id, requested, (path) => {
      const key = absolute(path);
      if (path.length === 0) return this.status(id, STATUS_CODE.PERMISSION_DENIED, "The camera's own folder cannot be removed.");
      if (this.madeFolders.delete(key) || !looksLikeFile(path)) return this.ok(id);
      this.status(id, STATUS_CODE.NO_SUCH_FILE, `No such folder: ${key}.`);
    });
  }

  private async remove(id: number, requested: string): Promise<void> {
    const path = resolvePath(requested);
    if (path === undefined) return this.invalidPath(id);
    const key = absolute(path);
    if (this.awaitingRename.has(key)) {
      // The client gave up on the upload before renaming it: nothing is stored.
      await this.dropAwaiting(key);
      return this.ok(id);
    }
    if (this.openFileAt(key)) return this.status(id, STATUS_CODE.FAILURE, `${key} is open for writing: close it first.`);
    if (this.stored.has(key)) return this.status(id, STATUS_CODE.PERMISSION_DENIED, 'Stored files cannot be removed.');
    this.status(id, STATUS_CODE.NO_SUCH_FILE, `No such file: ${key}.`);
  }

  private async rename(id: number, from: string, to: string): Promise<void> {
    const source = resolvePath(from);
    const target = resolvePath(to);
    if (source === undefined || target === undefined) return this.invalidPath(id);
    const sourceKey = absolute(source);
    const targetKey = absolute(target);
    if (target.length === 0 || this.madeFolders.has(targetKey)) return this.status(id, STATUS_CODE.FAILURE, `${targetKey} is a folder.`);
    const waiting = this.awaitingRename.get(sourceKey);
    if (waiting) {
      clearTimeout(waiting.timer);
      this.awaitingRename.delete(sourceKey);
      if (isTemporaryName(target)) {
        // Onto another temporary name: still not final.
        await this.dropAwaiting(targetKey);
        this.awaitRename(target, waiting.held);
        return this.ok(id);
      }
      const login = await this.settings.login.stillValid(this.settings.camera, this.settings.password);
      if (login.outcome !== 'accepted') {
        await this.settings.holds.release(waiting.held);
        return this.status(id, login.outcome === 'unavailable' ? STATUS_CODE.FAILURE : STATUS_CODE.PERMISSION_DENIED, 'message' in login ? login.message : undefined);
      }
      return this.answer(id, await this.storeHeld(waiting.held, target));
    }
    if (this.openFileAt(sourceKey)) return this.status(id, STATUS_CODE.FAILURE, `${sourceKey} is open for writing: close it before renaming it.`);
    const stored = this.stored.get(sourceKey);
    if (stored !== undefined) {
      // Stored when it was closed, under the name it had then: stored files are never moved or
      // replaced, so the rename is answered and the name kept (as FTP does).
      this.stored.delete(sourceKey);
      this.remember(this.stored, targetKey, stored);
      this.settings.log.warn(
        { camera: this.settings.camera, from: ingestName(source), to: ingestName(target), remoteAddress: this.settings.remoteAddress, protocol: 'sftp' },
        'sftp: rename of a stored file; it keeps its name',
      );
      return this.ok(id);
    }
    if (this.madeFolders.delete(sourceKey)) {
      this.remember(this.madeFolders, targetKey);
      return this.ok(id);
    }
    this.status(id, STATUS_CODE.NO_SUCH_FILE, `No such file: ${sourceKey}.`);
  }

  private openFileAt(key: string): OpenFile | undefined {
    for (const open of this.handles.values()) {
      if (open.kind === 'file' && absolute(open.path) === key) return open;
    }
    return undefined;
  }

  /** Runs `then` with the resolved path, or answers that the path is invalid. */
  private withPath(id: number, requested: string, then: (path: VirtualPath) => void): void {
    const path = resolvePath(requested);
    if (path === undefined) this.invalidPath(id);
    else then(path);
  }

  /** The one log line of a file's outcome, as every way in writes it. */
  private logOutcome(outcome: UploadOutcome, startedAt: number): void {
    const durationMs = performance.now() - startedAt;
    this.settings.metrics?.record(outcome, durationMs / 1000);
    const record = outcomeLogRecord(outcome, durationMs, this.settings.remoteAddress);
    this.settings.log[record.level]({ ...record.fields, protocol: 'sftp', ...(record.level === 'error' && { err: record.cause }) }, record.message);
  }

  /** Answers a request with an outcome: OK for a stored file, a failure with the contract's message otherwise. */
  private answer(id: number, outcome: UploadOutcome): void {
    if (outcome.status < 300) this.ok(id);
    else this.refuse(id, outcome);
  }

  /** A failure status with the refusal's message (a held file here means a write came after the end: a failure too). */
  private refuse(id: number, result: UploadOutcome | HeldFile): void {
    const message = isOutcome(result) && 'message' in result.body ? result.body.message : 'The file was not stored.';
    this.status(id, STATUS_CODE.FAILURE, message);
  }

  private remember<T>(collection: Map<string, T> | Set<string>, key: string, value?: T): void {
    if (collection instanceof Map) collection.set(key, value as T);
    else collection.add(key);
    if (collection.size > MAX_REMEMBERED_PATHS) {
      const oldest = collection.keys().next().value;
      if (oldest !== undefined) collection.delete(oldest);
    }
  }

  private ok(id: number): void {
    this.status(id, STATUS_CODE.OK);
  }

  private badHandle(id: number): void {
    this.status(id, STATUS_CODE.FAILURE, 'No such handle.');
  }

  private invalidPath(id: number): void {
    this.status(id, STATUS_CODE.NO_SUCH_FILE, 'Not a valid path (too long, too deep, or with a control character).');
  }

  /** Sends a status, unless the session is over (its channel is gone). */
  private status(id: number, code: number, message?: string): void {
    if (this.ended) return;
    this.settings.gatherAnswers?.();
    this.sftp.status(id, code, message);
  }
}

/**
 * Whether the path names a file rather than a folder, by its name alone: an accepted media type's
 * extension (`.jpg`, `.mkv`, …) or a temporary name. Every other path is a folder, which exists as
 * soon as it is named: a camera may `cd` into its upload folder without making it, and a client that
 * asks whether `x.jpg` is a folder before uploading to it (OpenSSH's `put`) learns that it is not.
 */
function looksLikeFile(path: VirtualPath): boolean {
  const name = path.at(-1);
  return name !== undefined && (mediaTypeForName(name) !== undefined || isTemporaryName(path));
}

function isOutcome(result: UploadOutcome | HeldFile): result is UploadOutcome {
  return 'status' in result;
}

function handleBuffer(handle: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(handle);
  return buffer;
}

function handleNumber(handle: Buffer): number {
  return handle.length === 4 ? handle.readUInt32BE(0) : 0;
}

function folderAttributes(): Attributes {
  const now = Math.floor(Date.now() / 1000);
  return { mode: FOLDER_MODE, uid: 0, gid: 0, size: 0, atime: now, mtime: now };
}

function fileAttributes(size: number): Attributes {
  const now = Math.floor(Date.now() / 1000);
  return { mode: FILE_MODE, uid: 0, gid: 0, size, atime: now, mtime: now };
}
