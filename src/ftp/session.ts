/**
 * One FTP session: a camera logs in with its name and one of its tokens and uploads files into its
 * write-only virtual folder. Each file goes through the contract (`ImageReceiver.ingest`) as it
 * arrives, and the reply that ends its transfer is the contract's outcome.
 *
 * @module
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { isValidCameraName } from '../core/camera-name.js';
import { RequestBodyError } from '../core/errors.js';
import { failureOutcome, outcomeLogRecord } from '../core/outcome.js';
import type { OutcomeRecorder, UploadOutcome } from '../core/outcome.js';
import type { ImageReceiver } from '../core/receiver.js';
import type { CameraLogin } from '../file-transfer/camera-login.js';
import { endChecked } from '../file-transfer/format-end.js';
import { absolute, ingestName, isTemporaryName, resolvePath } from '../file-transfer/virtual-folder.js';
import type { VirtualPath } from '../file-transfer/virtual-folder.js';
import { ControlChannel } from './control.js';
import type { HeldFile, HoldFolder } from '../file-transfer/hold-folder.js';
import { DataBytes, DataListener, plainAddress } from './passive.js';
import type { PassivePorts } from './passive.js';
import { fileReply, quotedPath, safeText } from './replies.js';
import type { FtpReply } from './replies.js';

/** Where the sessions' log lines go (pino's signature). */
export interface FtpLog {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** What every session of a server shares. */
export interface SessionSettings {
  receiver: ImageReceiver;
  login: CameraLogin;
  ports: PassivePorts;
  /** The IPv4 address `PASV` replies announce; unset, the address the client reached. */
  publicAddress: string | undefined;
  /** For `AUTH TLS`; unset, FTPS is off. */
  tls: tls.SecureContext | undefined;
  /** No log-in before `AUTH TLS`, no transfer before `PROT P`. */
  requireTls: boolean;
  /** A session without a command (outside transfers), or a transfer without data, for this long is closed. */
  idleTimeoutMs: number;
  holds: HoldFolder;
  log: FtpLog;
  metrics: OutcomeRecorder | undefined;
}

/** Commands waiting while one runs: more, and the client is not waiting for replies. */
const MAX_QUEUED_COMMANDS = 32;
/** How long a client has to make the data connection once a transfer was asked for. */
const DATA_CONNECT_TIMEOUT_MS = 30_000;
/** Files one session holds under temporary names at once; one more and the oldest is stored as it is. */
const MAX_HELD_PER_SESSION = 4;
/** Files stored in this session whose names a late RNFR may still name. */
const REMEMBERED_STORED = 64;

/** Commands answered before log-in. */
const BEFORE_LOGIN = new Set(['USER', 'PASS', 'AUTH', 'PBSZ', 'PROT', 'QUIT', 'NOOP', 'SYST', 'FEAT', 'HELP', 'OPTS', 'CLNT', 'ACCT']);
/** Commands answered before `AUTH TLS` when TLS is required: none of them carries a secret. */
const BEFORE_TLS = new Set(['AUTH', 'QUIT', 'NOOP', 'SYST', 'FEAT', 'HELP', 'OPTS', 'CLNT']);
/** Commands answered at once while a file arrives (after its `150`): they change nothing. */
const DURING_TRANSFER = new Set(['ABOR', 'SIZE', 'MDTM', 'STAT', 'NOOP']);

const ACTIVE_MODE_OFF =
  'Active mode (PORT/EPRT) is off: this receiver never connects to clients. Use passive mode (PASV/EPSV): in the camera, turn "passive mode" on.';

/** A file upload under way. */
interface Transfer {
  path: VirtualPath;
  startedAt: Date;
  bytes: number;
  /** Why it was cut short: ABOR, or the control connection went away. */
  aborted?: 'abor' | 'gone';
  /** The data connection broke (rather than closed). */
  broken?: boolean;
  socket: net.Socket;
}

/** A file held under a temporary name until it is renamed. */
interface Held extends HeldFile {
  path: VirtualPath;
  since: Date;
}

export class FtpSession {
  /** Resolves once the session is over and every file it held was dealt with. */
  readonly finished: Promise<void>;
  private readonly control: ControlChannel;
  private user: string | undefined;
  private camera: string | undefined;
  private password: string | undefined;
  private cwd: VirtualPath = [];
  private protectData = false;
  private epsvAll = false;
  private listener: DataListener | undefined;
  private renameFrom: { held: string } | { stored: string; key: string } | undefined;
  private readonly queue: string[] = [];
  private running: Promise<void> | undefined;
  private transfer: Transfer | undefined;
  private readonly held = new Map<string, Held>();
  private readonly stored = new Map<string, string>();
  private idleTimer: NodeJS.Timeout | undefined;
  private ending = false;
  private wrappingUp = false;
  private shuttingDown = false;
  private resolveFinished!: () => void;

  constructor(
    socket: net.Socket,
    private readonly settings: SessionSettings,
  ) {
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.control = new ControlChannel(socket, {
      line: (text) => this.received(text),
      misbehaved: (reason) => this.end({ code: 421, text: `Closing the session: ${reason}.` }),
      gone: () => this.gone(),
    });
    const tlsNote = settings.requireTls ? ' TLS is required: start with AUTH TLS (explicit FTPS).' : '';
    this.control.send({ code: 220, text: `images-to-s3 FTP receiver. Log in with the camera's name and one of its access tokens.${tlsNote}` });
    this.idle();
  }

  /** The client's address, as the failed-login limit and the logs know it. */
  get address(): string {
    return plainAddress(this.control.remoteAddress);
  }

  /** Ends the session for a shutdown: at once when idle, else after the command under way. */
  shutDown(): void {
    this.shuttingDown = true;
    if (this.running === undefined) this.end({ code: 421, text: 'The receiver is shutting down; try again shortly.' });
  }

  /** Closes the session at once, a transfer under way included (nothing of it is stored). */
  destroy(): void {
    this.control.destroy();
  }

  private received(line: string): void {
    if (this.ending) return;
    const { verb } = parse(line);
    if (this.transfer !== undefined && DURING_TRANSFER.has(verb)) return this.duringTransfer(line);
    if (this.queue.length >= MAX_QUEUED_COMMANDS) return this.end({ code: 421, text: 'Too many commands waiting for replies; closing the session.' });
    this.queue.push(line);
    this.running ??= this.work();
  }

  /** Runs the commands waiting, one after the other. */
  private async work(): Promise<void> {
    clearTimeout(this.idleTimer);
    try {
      while (this.queue.length > 0 && !this.ending && !this.shuttingDown) await this.execute(this.queue.shift()!);
    } catch (error) {
      this.settings.log.error({ err: error, remoteAddress: this.address, camera: this.camera }, 'ftp: a command failed');
      this.end({ code: 421, text: 'The receiver failed; see its log. Closing the session.' });
    } finally {
      this.running = undefined;
      if (this.shuttingDown) this.end({ code: 421, text: 'The receiver is shutting down; try again shortly.' });
      else if (!this.ending) this.idle();
    }
  }

  private idle(): void {
    clearTimeout(this.idleTimer);
    const seconds = Math.round(this.settings.idleTimeoutMs / 1000);
    this.idleTimer = setTimeout(() => this.end({ code: 421, text: `No command for ${seconds} s: closing the session.` }), this.settings.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private reply(code: number, text: string | readonly string[]): void {
    this.control.send({ code, text });
  }

  /** Ends the session with a last reply; the rest happens in {@link wrapUp}. */
  private end(reply: FtpReply): void {
    if (this.ending) return;
    this.ending = true;
    this.control.close(reply);
    this.wrapUp();
  }

  /** The client left, or the connection broke: a transfer under way is cut, and nothing of it is stored. */
  private gone(): void {
    this.ending = true;
    this.abortTransfer('gone');
    this.wrapUp();
  }

  /**
   * Once the command under way is done, stores the files still held under temporary names as they
   * are (they were acknowledged complete), and resolves {@link finished}.
   */
  private wrapUp(): void {
    if (this.wrappingUp) return;
    this.wrappingUp = true;
    clearTimeout(this.idleTimer);
    this.closeListener();
    void (async () => {
      try {
        await this.running;
        for (const held of this.held.values()) await this.storeAbandoned(held);
      } catch (error) {
        this.settings.log.error({ err: error, camera: this.camera, remoteAddress: this.address }, 'ftp: files held under temporary names could not be stored at the end of the session');
      } finally {
        this.held.clear();
        this.resolveFinished();
      }
    })();
  }

  private async execute(line: string): Promise<void> {
    const { verb, argument } = parse(line);
    const renameFrom = this.renameFrom;
    this.renameFrom = undefined;
    if (!this.control.secure && this.settings.requireTls && !BEFORE_TLS.has(verb)) {
      return this.reply(530, 'This receiver requires TLS: connect with explicit FTPS (AUTH TLS) before logging in. In the camera, turn FTPS (or "encryption") on.');
    }
    if (this.camera === undefined && !BEFORE_LOGIN.has(verb)) {
      return this.reply(530, "Log in first: the user name is the camera's name, the password one of its access tokens.");
    }
    switch (verb) {
      case 'USER':
        return this.userCommand(argument);
      case 'PASS':
        return this.passCommand(argument);
      case 'AUTH':
        return this.authCommand(argument);
      case 'PBSZ':
        return this.control.secure ? this.reply(200, 'PBSZ=0') : this.reply(503, 'PBSZ comes after AUTH TLS.');
      case 'PROT':
        return this.protCommand(argument);
      case 'CCC':
        return this.reply(534, 'The control connection stays protected.');
      case 'QUIT':
        return this.end({ code: 221, text: 'Goodbye.' });
      case 'NOOP':
        return this.reply(200, 'OK.');
      case 'SYST':
        return this.reply(215, 'UNIX Type: L8');
      case 'FEAT':
        return this.reply(211, ['Features:', ...(this.settings.tls ? ['AUTH TLS', 'PBSZ', 'PROT'] : []), 'EPSV', 'PASV', 'SIZE', 'MDTM', 'UTF8', 'End']);
      case 'OPTS':
        return /^utf8(\s+on)?$/i.test(argument.trim()) ? this.reply(200, 'UTF-8 is always on.') : this.reply(501, `Option not supported: ${safeText(argument)}`);
      case 'HELP':
        return this.reply(214, [
          'Upload files with STOR (passive mode: PASV or EPSV); folders are virtual, and nothing can be listed, read or deleted.',
          'Commands: USER PASS AUTH PBSZ PROT PASV EPSV STOR RNFR RNTO CWD CDUP PWD MKD LIST NLST SIZE MDTM TYPE MODE STRU ALLO REST NOOP STAT QUIT ABOR',
          'End',
        ]);
      case 'CLNT':
      case 'ACCT':
        return this.reply(202, 'Not needed.');
      case 'STAT':
        return this.reply(211, this.status());
      case 'TYPE':
        // Bytes are stored as they come: an image sent in ASCII mode is taken as it arrives.
        return /^(a|a n|i|l 8)$/i.test(argument.trim()) ? this.reply(200, `Type set to ${safeText(argument.trim().toUpperCase())}.`) : this.reply(504, 'Type not supported: use TYPE I.');
      case 'MODE':
        return /^s$/i.test(argument.trim()) ? this.reply(200, 'Mode S.') : this.reply(504, 'Only stream mode (MODE S).');
      case 'STRU':
        return /^f$/i.test(argument.trim()) ? this.reply(200, 'Structure F.') : this.reply(504, 'Only file structure (STRU F).');
      case 'ALLO':
        return this.reply(202, 'No allocation needed.');
      case 'REST':
        return /^0+$/.test(argument.trim()) ? this.reply(350, 'Restarting at 0.') : this.reply(504, 'Resuming is not possible: send the whole file again.');
      case 'PWD':
      case 'XPWD':
        return this.reply(257, `${quotedPath(absolute(this.cwd))} is the current folder.`);
      case 'CWD':
      case 'XCWD':
        return this.changeFolder(argument);
      case 'CDUP':
      case 'XCUP':
        return this.changeFolder('..');
      case 'MKD':
      case 'XMKD':
        return this.makeFolder(argument);
      case 'RMD':
      case 'XRMD':
        return this.reply(550, 'Nothing can be removed: this folder is write-only.');
      case 'DELE':
        return this.reply(550, 'Nothing can be deleted: files are stored as they arrive, and FTP cannot remove them.');
      case 'PASV':
        return this.passive(false, argument);
      case 'EPSV':
        return this.passive(true, argument);
      case 'PORT':
      case 'EPRT':
      case 'LPRT':
        return this.reply(502, ACTIVE_MODE_OFF);
      case 'LPSV':
        return this.reply(502, 'Use PASV or EPSV.');
      case 'LIST':
      case 'NLST':
      case 'MLSD':
        return this.emptyListing();
      case 'MLST':
        return this.reply(550, 'Nothing can be listed: this folder is write-only.');
      case 'RETR':
        this.closeListener();
        return this.reply(550, 'Nothing can be read back: this folder is write-only.');
      case 'STOR':
        return this.storeCommand(argument);
      case 'APPE':
        this.closeListener();
        return this.reply(550, 'Appending is not possible: each file is stored whole, once. Upload it with STOR.');
      case 'STOU':
        this.closeListener();
        return this.reply(502, 'STOU is not supported: upload with STOR and a name.');
      case 'RNFR':
        return this.renameFromCommand(argument);
      case 'RNTO':
        return this.renameToCommand(argument, renameFrom);
      case 'SIZE':
      case 'MDTM':
        return this.fileFacts(verb, argument);
      case 'ABOR':
        this.closeListener();
        return this.reply(225, 'No transfer to abort.');
      case 'SITE':
        return this.reply(502, 'SITE commands are not supported.');
      default:
        // RFC 959's reply to a command this server does not take (it takes what cameras send).
        return this.reply(502, `Unknown command: ${safeText(verb)}.`);
    }
  }

  private userCommand(name: string): void {
    if (this.camera !== undefined) return this.reply(503, `Already logged in as "${this.camera}".`);
    this.user = name;
    this.reply(331, "Password: one of the camera's access tokens.");
  }

  private async passCommand(password: string): Promise<void> {
    if (this.camera !== undefined) return this.reply(503, `Already logged in as "${this.camera}".`);
    const user = this.user;
    if (user === undefined) return this.reply(503, "Send USER first: the camera's name.");
    this.user = undefined;
    const result = await this.settings.login.check(user, password, this.address);
    if (result.outcome === 'accepted') {
      this.camera = result.camera;
      this.password = password;
      this.cwd = [];
      this.settings.log.debug({ camera: this.camera, remoteAddress: this.address, tls: this.control.secure }, 'ftp: logged in');
      return this.reply(230, `Logged in as camera "${result.camera}". Upload files here; they are stored under the camera's key.`);
    }
    // The password is never logged, nor a user name that is no camera name (it may be a token typed into the wrong field).
    const named = isValidCameraName(user) ? user : '(not a camera name)';
    this.settings.log.warn({ user: named, remoteAddress: this.address, reason: result.outcome }, 'ftp: log-in refused');
    if (result.outcome === 'refused') return this.reply(530, result.message);
    this.end({ code: 421, text: result.message });
  }

  private authCommand(mechanism: string): void {
    const { tls: context } = this.settings;
    if (!/^(tls|ssl|tls-c)$/i.test(mechanism.trim())) return this.reply(504, 'Only AUTH TLS.');
    if (context === undefined) return this.reply(502, 'FTPS is not set up on this receiver (serve --tls-cert and --tls-key turn it on): use plain FTP.');
    if (this.control.secure) return this.reply(503, 'TLS is on already.');
    if (this.camera !== undefined) return this.reply(503, 'AUTH TLS comes before log-in.');
    // Nothing sent in the clear before the switch counts afterwards.
    this.queue.length = 0;
    this.user = undefined;
    this.reply(234, 'Switching to TLS.');
    this.control.upgrade(context);
  }

  private protCommand(level: string): void {
    if (!this.control.secure) return this.reply(503, 'PROT comes after AUTH TLS and PBSZ.');
    switch (level.trim().toUpperCase()) {
      case 'P':
        this.protectData = true;
        return this.reply(200, 'Data connections are protected.');
      case 'C':
        if (this.settings.requireTls) return this.reply(534, 'Data connections must be protected on this receiver: PROT P.');
        this.protectData = false;
        return this.reply(200, 'Data connections are in the clear.');
      default:
        return this.reply(536, 'Only PROT P or PROT C.');
    }
  }

  private status(): string[] {
    return [
      'images-to-s3 FTP receiver',
      `Client ${this.address}, ${this.camera === undefined ? 'not logged in' : `logged in as camera "${this.camera}"`}`,
      `Control connection ${this.control.secure ? 'TLS' : 'in the clear'}, data connections ${this.protectData ? 'TLS' : 'in the clear'}, passive mode only`,
      'End',
    ];
  }

  private resolve(requested: string): VirtualPath | undefined {
    return resolvePath(requested, this.cwd);
  }

  private changeFolder(requested: string): void {
    const folder = this.resolve(requested);
    if (folder === undefined) return this.reply(550, `Not a folder name: ${safeText(requested)}`);
    this.cwd = folder;
    this.reply(250, `The current folder is ${absolute(folder)}.`);
  }

  private makeFolder(requested: string): void {
    const folder = this.resolve(requested);
    if (folder === undefined || folder.length === 0) return this.reply(550, `Not a folder name: ${safeText(requested)}`);
    this.reply(257, `${quotedPath(absolute(folder))} created (folders are part of the stored file's name).`);
  }

  private async passive(extended: boolean, argument: string): Promise<void> {
    if (extended && argument.trim().toUpperCase() === 'ALL') {
      this.epsvAll = true;
      return this.reply(200, 'EPSV ALL: only EPSV from now on.');
    }
    if (!extended && this.epsvAll) return this.reply(503, 'EPSV ALL was sent: use EPSV.');
    const address = this.settings.publicAddress ?? plainAddress(this.control.localAddress);
    if (!extended && !net.isIPv4(address)) return this.reply(425, 'PASV can only announce IPv4 addresses, and this connection is IPv6: use EPSV.');
    this.closeListener();
    let listener: DataListener;
    try {
      listener = await DataListener.open(this.settings.ports, this.control.localAddress, this.control.remoteAddress, (from) =>
        this.settings.log.warn({ camera: this.camera, remoteAddress: this.address, from }, 'ftp: data connection from another address refused'),
      );
    } catch (error) {
      this.settings.log.error({ err: error, remoteAddress: this.address }, 'ftp: cannot open a data port');
      return this.reply(425, `Cannot open a data port: ${(error as Error).message}.`);
    }
    // The session may have ended while the port was opened: nothing would close it then.
    if (this.ending) return listener.close();
    this.listener = listener;
    const { port } = listener;
    if (extended) return this.reply(229, `Entering Extended Passive Mode (|||${port}|).`);
    this.reply(227, `Entering Passive Mode (${address.replaceAll('.', ',')},${port >> 8},${port & 0xff}).`);
  }

  private closeListener(): void {
    this.listener?.close();
    this.listener = undefined;
  }

  /**
   * The data connection of a transfer, TLS-protected after `PROT P`; undefined, with the reply sent,
   * when there is none.
   */
  private async dataConnection(): Promise<net.Socket | undefined> {
    const listener = this.listener;
    if (listener === undefined) {
      this.reply(425, 'Use PASV or EPSV first: this receiver takes passive transfers only.');
      return undefined;
    }
    if (this.settings.requireTls && !this.protectData) {
      this.closeListener();
      this.reply(521, 'Data connections must be protected on this receiver: send PBSZ 0 and PROT P first.');
      return undefined;
    }
    let socket: net.Socket;
    try {
      socket = await listener.accept(Math.min(DATA_CONNECT_TIMEOUT_MS, this.settings.idleTimeoutMs));
    } catch (error) {
      this.reply(425, `No data connection: ${(error as Error).message}`);
      return undefined;
    } finally {
      // Still the session's listener while it waits, so that the end of the session closes it.
      this.closeListener();
    }
    const data = this.protectData && this.settings.tls !== undefined ? new tls.TLSSocket(socket, { isServer: true, secureContext: this.settings.tls }) : socket;
    if (data instanceof tls.TLSSocket) data.once('secure', () => handshaken.add(data));
    data.on('error', () => data.destroy());
    // A transfer whose data stops for the idle time is cut.
    data.setTimeout(this.settings.idleTimeoutMs, () => data.destroy(new Error('no data for the idle time')));
    return data;
  }

  /** `LIST`, `NLST`, `MLSD`: an empty listing over a data connection, whatever the folder. */
  private async emptyListing(): Promise<void> {
    const socket = await this.dataConnection();
    if (socket === undefined) return;
    this.reply(150, 'Here comes the listing: nothing (files are stored as they arrive, and cannot be listed).');
    await finish(socket, this.settings.idleTimeoutMs);
    this.reply(226, 'Listing done: 0 entries.');
  }

  /** `SIZE`, `MDTM`: known only of a file that is arriving, or held under a temporary name. */
  private fileFacts(verb: string, requested: string): void {
    const target = this.resolve(requested);
    const key = target === undefined ? undefined : absolute(target);
    const arriving = this.transfer !== undefined && absolute(this.transfer.path) === key ? this.transfer : undefined;
    const held = key === undefined ? undefined : this.held.get(key);
    const facts = arriving !== undefined ? { bytes: arriving.bytes, since: arriving.startedAt } : held !== undefined ? { bytes: held.bytes, since: held.since } : undefined;
    if (facts === undefined) return this.reply(550, `No such file: ${safeText(requested)} (stored files cannot be looked at).`);
    if (verb === 'SIZE') return this.reply(213, String(facts.bytes));
    this.reply(213, facts.since.toISOString().replace(/[-:T]/g, '').slice(0, 14));
  }

  /** What may be answered while a file arrives, at once: abort it, or facts of it. */
  private duringTransfer(line: string): void {
    const { verb, argument } = parse(line);
    switch (verb) {
      case 'ABOR':
        return this.abortTransfer('abor');
      case 'STAT':
        return this.reply(213, `Receiving ${absolute(this.transfer!.path)}: ${this.transfer!.bytes} bytes so far.`);
      case 'NOOP':
        return this.reply(200, 'OK.');
      default:
        return this.fileFacts(verb, argument);
    }
  }

  private abortTransfer(why: 'abor' | 'gone'): void {
    const transfer = this.transfer;
    if (transfer === undefined || transfer.aborted !== undefined) return;
    transfer.aborted = why;
    transfer.socket.destroy();
  }

  /** Checks again, before a file is stored, that the session's token was not revoked. */
  private async stillLoggedIn(): Promise<boolean> {
    const result = await this.settings.login.stillValid(this.camera!, this.password!);
    if (result.outcome === 'accepted') return true;
    if (result.outcome === 'unavailable') this.reply(451, result.message);
    else this.end({ code: 421, text: result.message });
    return false;
  }

  private async storeCommand(requested: string): Promise<void> {
    const target = this.resolve(requested);
    if (target === undefined || target.length === 0) {
      this.closeListener();
      return this.reply(553, `Not a file name: ${safeText(requested)}`);
    }
    if (!(await this.stillLoggedIn())) return this.closeListener();
    const socket = await this.dataConnection();
    if (socket === undefined) return;
    const transfer: Transfer = { path: target, startedAt: new Date(), bytes: 0, socket };
    socket.once('error', () => (transfer.broken = true));
    this.transfer = transfer;
    this.reply(150, `Ready for ${safeText(absolute(target))}.`);
    const started = performance.now();
    let reply: FtpReply;
    try {
      const body = endChecked(this.arriving(transfer));
      if (isTemporaryName(target)) {
        reply = await this.hold(target, body);
      } else {
        const outcome = await this.settings.receiver.ingest({ camera: this.camera!, filename: ingestName(target), body });
        this.logOutcome(outcome, started, absolute(target));
        if ('key' in outcome.body) this.remember(target, outcome.body.key);
        reply = fileReply(outcome, 226);
      }
    } finally {
      this.transfer = undefined;
      socket.destroy();
    }
    if (transfer.aborted === 'gone') return;
    if (transfer.aborted === 'abor') {
      this.reply(426, 'Transfer aborted; nothing was stored.');
      return this.reply(226, 'ABOR done.');
    }
    if (transfer.broken && reply.code >= 400) reply = { code: 426, text: 'The data connection broke before the file ended; nothing was stored.' };
    this.control.send(reply);
  }

  /**
   * The bytes of the data connection. Its clean close is the end of the file, unless the control
   * connection is gone by then (a client that died closes both): that is a drop, and nothing is
   * stored.
   */
  private async *arriving(transfer: Transfer): AsyncGenerator<Uint8Array> {
    yield* new DataBytes(transfer.socket, (bytes) => (transfer.bytes += bytes));
    // Both connections' ends may have arrived in the same turn of the event loop: let the other one be heard.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.control.gone || transfer.aborted !== undefined) {
      throw new RequestBodyError({ cause: new Error('the control connection closed before the transfer was acknowledged') });
    }
  }

  /** A file under a temporary name: held on disk until it is renamed (see {@link HoldFolder}). */
  private async hold(target: VirtualPath, body: AsyncIterable<Uint8Array>): Promise<FtpReply> {
    const key = absolute(target);
    // A new upload under the name of a held file replaces it: that one never became an image.
    const replaced = this.held.get(key);
    if (replaced !== undefined) {
      this.held.delete(key);
      await this.settings.holds.release(replaced);
    }
    try {
      const file = await this.settings.holds.hold(body, this.settings.receiver.sizeLimit(undefined));
      this.held.set(key, { ...file, path: target, since: new Date() });
      this.settings.log.debug({ camera: this.camera, filename: safeText(key), bytes: file.bytes, remoteAddress: this.address }, 'ftp: file held until renamed');
      if (this.held.size > MAX_HELD_PER_SESSION) {
        const [oldest] = this.held.values();
        this.held.delete(absolute(oldest!.path));
        await this.storeAbandoned(oldest!);
      }
      return { code: 226, text: `Received ${safeText(key)} (${file.bytes} bytes); it is stored when renamed to its final name.` };
    } catch (error) {
      const outcome = failureOutcome(error, { camera: this.camera!, filename: key });
      this.logOutcome(outcome, 0, key);
      return fileReply(outcome, 226);
    }
  }

  private renameFromCommand(requested: string): void {
    const source = this.resolve(requested);
    const key = source === undefined ? undefined : absolute(source);
    if (key !== undefined && this.held.has(key)) {
      this.renameFrom = { held: key };
      return this.reply(350, `Ready for the new name of ${safeText(key)}.`);
    }
    const stored = key === undefined ? undefined : this.stored.get(key);
    if (key !== undefined && stored !== undefined) {
      this.renameFrom = { stored: key, key: stored };
      return this.reply(350, `Ready for the new name of ${safeText(key)}.`);
    }
    this.reply(550, `No such file: ${safeText(requested)}.`);
  }

  private async renameToCommand(requested: string, from: FtpSession['renameFrom']): Promise<void> {
    if (from === undefined) return this.reply(503, 'Send RNFR first.');
    const target = this.resolve(requested);
    if (target === undefined || target.length === 0) return this.reply(553, `Not a file name: ${safeText(requested)}`);
    if ('stored' in from) {
      // Stored images are never moved or replaced: the rename is answered, the name kept.
      this.settings.log.warn({ camera: this.camera, from: safeText(from.stored), to: safeText(absolute(target)), key: from.key }, 'ftp: rename of a stored file; it keeps its name');
      return this.reply(250, `${safeText(from.stored)} was stored as ${from.key} when its upload ended; stored files keep the name they were uploaded with.`);
    }
    const held = this.held.get(from.held)!;
    this.held.delete(from.held);
    if (isTemporaryName(target)) {
      this.held.set(absolute(target), { ...held, path: target });
      return this.reply(250, `Renamed to ${safeText(absolute(target))}; it is stored when renamed to its final name.`);
    }
    if (!(await this.stillLoggedIn())) return this.settings.holds.release(held);
    const outcome = await this.storeHeld(held, target);
    this.control.send(fileReply(outcome, 250));
  }

  /** Stores a held file under `name` through the contract, and removes it. */
  private async storeHeld(held: Held, name: VirtualPath): Promise<UploadOutcome> {
    const started = performance.now();
    const outcome = await this.settings.holds.consume(held, (body) => this.settings.receiver.ingest({ camera: this.camera!, filename: ingestName(name), body, size: held.bytes }));
    this.logOutcome(outcome, started, absolute(name));
    if ('key' in outcome.body) this.remember(name, outcome.body.key);
    return outcome;
  }

  /**
   * A file held under a temporary name and never renamed (the session ended, or held too many): it
   * was acknowledged complete, so it is stored under the name it was uploaded with, not dropped.
   */
  private async storeAbandoned(held: Held): Promise<void> {
    this.settings.log.warn({ camera: this.camera, filename: safeText(absolute(held.path)), remoteAddress: this.address }, 'ftp: a file uploaded under a temporary name was never renamed; storing it under that name');
    await this.storeHeld(held, held.path);
  }

  private remember(path: VirtualPath, key: string): void {
    this.stored.set(absolute(path), key);
    if (this.stored.size > REMEMBERED_STORED) this.stored.delete(this.stored.keys().next().value!);
  }

  private logOutcome(outcome: UploadOutcome, started: number, filename: string): void {
    const durationMs = started === 0 ? 0 : performance.now() - started;
    this.settings.metrics?.record(outcome, durationMs / 1000);
    const record = outcomeLogRecord(outcome, durationMs, this.address);
    this.settings.log[record.level]({ ...record.fields, filename: safeText(filename), protocol: 'ftp', ...(record.level === 'error' && { err: record.cause }) }, record.message);
  }
}

/** TLS data connections whose handshake is done. */
const handshaken = new WeakSet<tls.TLSSocket>();

/** A command line's verb (upper case) and argument (the rest after one space, as it is: names may hold spaces). */
function parse(line: string): { verb: string; argument: string } {
  const space = line.indexOf(' ');
  return space === -1 ? { verb: line.trim().toUpperCase(), argument: '' } : { verb: line.slice(0, space).trim().toUpperCase(), argument: line.slice(space + 1) };
}

/**
 * Ends a data connection after sending nothing (once its TLS handshake is done, if it is TLS), and
 * waits until it is closed; at most `timeoutMs` in all.
 */
async function finish(socket: net.Socket, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve();
    }, timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (socket instanceof tls.TLSSocket && !handshaken.has(socket)) socket.once('secure', () => socket.end());
    else socket.end();
  });
}
