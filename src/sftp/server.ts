/**
 * The SFTP receiver: cameras that push files over SFTP (Axis' SFTP recipient, and any SFTP
 * client) log in with their camera name and one of its tokens, and write into a write-only
 * virtual folder of their own (see session.ts); each file goes through the same contract as an
 * HTTP upload.
 *
 * SSH itself (key exchange, encryption, framing) is ssh2's; this module decides who may log in
 * (the file-transfer log-in FTP uses too: camera name and token, failed log-ins counted per client
 * address), refuses everything but the SFTP subsystem (shell, exec, other subsystems, port
 * forwarding, agent and X11 forwarding are refused by ssh2, as nothing here accepts them), and
 * bounds what a client can hold: connections at once, the time to log in, idle sessions, one
 * session channel per connection.
 *
 * @module
 */
import type { OutcomeRecorder } from '../core/outcome.js';
import net from 'node:net';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AuthContext, Connection, Session } from 'ssh2';
import ssh2 from 'ssh2';
import { isValidCameraName } from '../core/camera-name.js';
import type { CameraLogin } from '../file-transfer/camera-login.js';
import { HoldFolder } from '../file-transfer/hold-folder.js';
import type { HostKey } from './host-keys.js';
import { SftpSession } from './session.js';
import type { Ingest, SftpLog } from './session.js';

/** Bounds that keep many, slow or hostile clients from taking the receiver down. */
export interface SftpLimits {
  /** Connections at once, logged in or not; more are refused at once. */
  maxSessions: number;
  /** A logged-in connection with no request for this long is closed. */
  idleMs: number;
  /** A connection not logged in within this time is closed. */
  loginMs: number;
  /** How long a file closed under a temporary name waits for its rename before it is stored under that name. */
  renameWindowMs: number;
}

export const DEFAULT_SFTP_LIMITS: SftpLimits = { maxSessions: 64, idleMs: 120_000, loginMs: 30_000, renameWindowMs: 30_000 };

/** Failed logins one connection may make before it is closed (OpenSSH allows 6). */
const MAX_FAILED_LOGINS_PER_CONNECTION = 3;
/** The software name sent in SSH's identification string, instead of ssh2's own name and version. */
const IDENT = 'images-to-s3';
/** Refused connections are logged at most this often (a flood must not flood the log). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export interface SftpServerOptions {
  receiver: Ingest;
  login: CameraLogin;
  /** The host keys to present (all of them, or only the RSA one). */
  hostKeys: readonly HostKey[];
  /** A local folder for files uploaded under temporary names until they are renamed (cleared of earlier ones at start). */
  holdFolder: string;
  log: SftpLog;
  limits?: Partial<SftpLimits>;
  /** Counts each file's outcome with the HTTP uploads' (`/metrics`). */
  metrics?: OutcomeRecorder | undefined;
}

/** A running SFTP receiver. */
export class SftpServer {
  private readonly ssh: ssh2.Server;
  private readonly listener: net.Server;
  private readonly connections = new Set<CameraConnection>();
  /** Connections injected into ssh2, until it reports them (after the client's identification). */
  private readonly arriving = new Map<string, CameraConnection>();
  private readonly work = new Set<Promise<unknown>>();
  private readonly limits: SftpLimits;
  private refusals = { count: 0, loggedAt: -Infinity };
  private closing = false;
  private readonly destroyed: Promise<void>;
  private markDestroyed!: () => void;

  private constructor(
    private readonly options: SftpServerOptions,
    private readonly holds: HoldFolder,
  ) {
    this.limits = { ...DEFAULT_SFTP_LIMITS, ...options.limits };
    this.destroyed = new Promise((resolve) => (this.markDestroyed = resolve));
    this.ssh = new ssh2.Server({ hostKeys: options.hostKeys.map((key) => key.privateKey), ident: IDENT });
    this.ssh.on('connection', (client: Connection, info: { ip: string; port: number }) => {
      const connection = this.arriving.get(addressKey(info.ip, info.port));
      if (connection === undefined) {
        client.on('error', () => undefined);
        client.end();
        return;
      }
      this.arriving.delete(addressKey(info.ip, info.port));
      connection.attach(client);
    });
    this.ssh.on('error', (error: Error) => options.log.error({ err: error }, 'sftp: server error'));
    // Replies go out at once: with Nagle's algorithm a CLOSE's status waits ~40 ms for a delayed ACK.
    this.listener = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** Starts listening on `host`:`port` (0: any free port). */
  static async start(options: SftpServerOptions & { host: string; port: number }): Promise<SftpServer> {
    const holds = new HoldFolder(options.holdFolder);
    await holds.open();
    const server = new SftpServer(options, holds);
    await new Promise<void>((resolve, reject) => {
      server.listener.once('error', reject);
      // exclusive: under `serve --workers`, this worker's own listener, not one node:cluster would share.
      server.listener.listen({ host: options.host, port: options.port, exclusive: true }, () => {
        server.listener.off('error', reject);
        resolve();
      });
    });
    server.listener.on('error', (error) => options.log.error({ err: error }, 'sftp: listener error'));
    return server;
  }

  /** The port listened on. */
  get port(): number {
    const address = this.listener.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Connections open now. */
  get sessions(): number {
    return this.connections.size;
  }

  /**
   * Stops taking connections and ends the open ones as soon as they have no request in progress
   * (a file being stored is finished and answered first); resolves once they are all gone and
   * every file waiting for a rename is stored, or once {@link destroy} gave up waiting.
   */
  async close(): Promise<void> {
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    const drained = (async () => {
      await Promise.all([...this.connections].map((connection) => connection.endWhenIdle()));
      while (this.work.size > 0) await Promise.allSettled([...this.work]);
    })();
    await Promise.race([drained, this.destroyed]);
    await stopped;
  }

  /** Cuts every connection at once and stops waiting for the work in progress (after a shutdown deadline). */
  destroy(): void {
    this.closing = true;
    for (const connection of this.connections) connection.socket.destroy();
    this.markDestroyed();
  }

  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.closing || this.connections.size >= this.limits.maxSessions) {
      socket.destroy();
      this.logRefusal(socket.remoteAddress ?? 'unknown');
      return;
    }
    const connection = new CameraConnection(socket, this.options, this.limits, this.holds, (work) => this.track(work));
    this.connections.add(connection);
    const key = addressKey(socket.remoteAddress ?? '', socket.remotePort ?? 0);
    this.arriving.set(key, connection);
    socket.once('close', () => {
      this.connections.delete(connection);
      if (this.arriving.get(key) === connection) this.arriving.delete(key);
      connection.closed();
    });
    this.ssh.injectSocket(socket);
  }

  private logRefusal(remoteAddress: string): void {
    this.refusals.count++;
    const now = performance.now();
    if (now - this.refusals.loggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    this.options.log.warn(
      { remoteAddress, refused: this.refusals.count, maxSessions: this.limits.maxSessions },
      this.closing ? 'sftp: connection refused: shutting down' : 'sftp: connection refused: the most sessions allowed at once are open (--sftp-max-sessions)',
    );
    this.refusals = { count: 0, loggedAt: now };
  }

  private track(work: Promise<unknown>): void {
    const settled = work.catch((error: unknown) => this.options.log.error({ err: error }, 'sftp: storing a file after its session ended failed'));
    this.work.add(settled);
    void settled.finally(() => this.work.delete(settled));
  }
}

function addressKey(ip: string, port: number): string {
  return `${ip}|${port}`;
}

/** One client's connection: its login, its (one) SFTP session, its timers. */
class CameraConnection {
  private client: Connection | undefined;
  private camera: string | undefined;
  private password = '';
  private session: SftpSession | undefined;
  private failedLogins = 0;
  private timer: NodeJS.Timeout;
  private ending = false;
  /** The socket is corked until the end of this turn (see {@link gatherWrites}). */
  private gathering = false;
  private readonly remoteAddress: string;
  private readonly connectedAt = performance.now();
  private idleSince = performance.now();

  constructor(
    readonly socket: Socket,
    private readonly options: SftpServerOptions,
    private readonly limits: SftpLimits,
    private readonly holds: HoldFolder,
    private readonly track: (work: Promise<unknown>) => void,
  ) {
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    this.timer = setTimeout(() => this.checkTime(), this.limits.loginMs).unref();
  }

  attach(client: Connection): void {
    this.client = client;
    client.on('error', (error: Error) => this.options.log.debug({ err: error, remoteAddress: this.remoteAddress, camera: this.camera }, 'sftp: connection error'));
    client.on('authentication', (context: AuthContext) => {
      void this.authenticate(context).catch((error: unknown) => {
        this.options.log.error({ err: error, remoteAddress: this.remoteAddress }, 'sftp: log-in failed');
        context.reject();
      });
    });
    client.on('ready', () => {
      this.idleSince = performance.now();
      this.rearm();
    });
    client.on('session', (accept: () => Session, reject: () => void) => this.openSession(accept, reject));
  }

  /** The socket closed: the session is over. */
  closed(): void {
    clearTimeout(this.timer);
    this.session?.end();
  }

  /** Ends the connection once no request is in progress (shutdown). */
  endWhenIdle(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      const attempt = (): void => {
        if (this.session === undefined || this.session.idleMs() > 0) this.end();
        else setTimeout(attempt, 50).unref();
      };
      attempt();
    });
  }

  private async authenticate(context: AuthContext): Promise<void> {
    const methods: Array<'password' | 'keyboard-interactive'> = ['password', 'keyboard-interactive'];
    let password: string;
    if (context.method === 'password') {
      password = context.password;
    } else if (context.method === 'keyboard-interactive') {
      password = await new Promise<string>((resolve) => context.prompt([{ prompt: 'Password: ', echo: false }], (answers) => resolve(answers[0] ?? '')));
    } else {
      // `none` (what a client asks first, to learn the methods), keys: not a failed login.
      context.reject(methods);
      return;
    }
    const user = context.username;
    const result = await this.options.login.check(user, password, this.remoteAddress);
    // The password is never logged (it is a token, or a typo of one), nor a user name that is not a
    // camera's name (it may be a token typed into the wrong field).
    const facts = { remoteAddress: this.remoteAddress, ...(isValidCameraName(user) && { user }), protocol: 'sftp' };
    if (result.outcome === 'accepted') {
      this.camera = result.camera;
      this.password = password;
      context.accept();
      this.options.log.debug({ ...facts, camera: result.camera }, 'sftp: logged in');
      return;
    }
    context.reject(methods);
    if (result.outcome === 'unavailable') {
      // Not the client's fault, so not counted against it.
      this.options.log.error(facts, 'sftp: log-in refused: the token registry cannot be read');
      return;
    }
    this.failedLogins++;
    if (result.outcome === 'rate-limited') {
      this.options.log.warn({ ...facts, retryAfterSeconds: result.retryAfterSeconds }, 'sftp: log-in refused: too many failed log-ins from this address (--failed-auth-limit a minute); connection closed');
      return this.end();
    }
    this.options.log.warn(facts, 'sftp: log-in refused: the user is not a camera, or the password is not one of its tokens');
    if (this.failedLogins >= MAX_FAILED_LOGINS_PER_CONNECTION) this.end();
  }

  private openSession(accept: () => Session, reject: () => void): void {
    if (this.camera === undefined || this.session !== undefined) {
      // One SFTP session per connection is all a camera needs.
      reject();
      return;
    }
    const channel = accept();
    channel.on('error', () => undefined);
    channel.on('sftp', (acceptSftp: () => ssh2.SFTPWrapper) => {
      if (this.session !== undefined || this.camera === undefined) return;
      this.session = new SftpSession(acceptSftp(), {
        camera: this.camera,
        password: this.password,
        remoteAddress: this.remoteAddress,
        receiver: this.options.receiver,
        login: this.options.login,
        holds: this.holds,
        log: this.options.log,
        metrics: this.options.metrics,
        renameWindowMs: this.limits.renameWindowMs,
        abort: (reason) => {
          this.options.log.warn({ camera: this.camera, remoteAddress: this.remoteAddress, reason, protocol: 'sftp' }, "sftp: connection closed: the client broke the protocol's rules");
          this.socket.destroy();
        },
        track: this.track,
        gatherAnswers: () => this.gatherWrites(),
      });
    });
    channel.on('close', () => {
      const session = this.session;
      session?.end();
      // A later channel may open another session once this one is gone.
      if (this.session === session) this.session = undefined;
    });
  }

  /**
   * Holds the socket's writes back until the current turn's callbacks and promise reactions are
   * done, then sends them in one `writev`: a read from the socket usually brings two or more
   * `WRITE`s, each answered with a packet of its own (half the system calls, and half the
   * wake-ups of the client).
   */
  private gatherWrites(): void {
    if (this.gathering) return;
    this.gathering = true;
    this.socket.cork();
    process.nextTick(() => {
      this.gathering = false;
      this.socket.uncork();
    });
  }

  /** Closes idle or unauthenticated connections when their time is up. */
  private checkTime(): void {
    if (this.ending) return;
    const now = performance.now();
    if (this.camera === undefined) {
      if (now - this.connectedAt >= this.limits.loginMs) {
        this.options.log.debug({ remoteAddress: this.remoteAddress }, 'sftp: connection closed: no log-in in time');
        this.socket.destroy();
        return;
      }
    } else {
      const idleMs = this.session ? this.session.idleMs() : now - this.idleSince;
      if (idleMs >= this.limits.idleMs) {
        this.options.log.info({ camera: this.camera, remoteAddress: this.remoteAddress, idleSeconds: Math.round(idleMs / 1000) }, 'sftp: idle session closed');
        this.end();
        return;
      }
    }
    this.rearm();
  }

  private rearm(): void {
    clearTimeout(this.timer);
    const wait = this.camera === undefined ? this.limits.loginMs : Math.min(this.limits.idleMs, 1_000);
    this.timer = setTimeout(() => this.checkTime(), wait).unref();
  }

  /** Ends the connection politely, and for good a moment later if the client does not go. */
  private end(): void {
    if (this.ending) return;
    this.ending = true;
    clearTimeout(this.timer);
    if (this.client) this.client.end();
    else this.socket.end();
    setTimeout(() => this.socket.destroy(), 2_000).unref();
  }
}
