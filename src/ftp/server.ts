/**
 * The FTP and explicit FTPS receiver (`serve --ftp-port`): a thin adapter over the upload contract,
 * written on Node's `net` and `tls` rather than the `ftp-srv` package (see the README's "FTP and
 * FTPS" section for why). Sessions are capped, idle ones closed, and a shutdown lets the files
 * under way finish.
 *
 * @module
 */
import type { OutcomeRecorder } from '../core/outcome.js';
import net from 'node:net';
import tls from 'node:tls';
import type { ImageReceiver } from '../core/receiver.js';
import type { CameraLogin } from '../file-transfer/camera-login.js';
import { HoldFolder } from '../file-transfer/hold-folder.js';
import { PassivePorts } from './passive.js';
import type { PortRange } from './passive.js';
import { formatReply } from './replies.js';
import { FtpSession } from './session.js';
import type { FtpLog } from './session.js';

export interface FtpServerOptions {
  receiver: ImageReceiver;
  login: CameraLogin;
  host: string;
  /** 0: any free port. */
  port: number;
  /** The ports passive data connections listen on; unset, any free port. */
  passivePorts?: PortRange | undefined;
  /** The IPv4 address `PASV` replies announce (the receiver's address as cameras reach it through NAT); unset, the address the client reached. */
  publicAddress?: string | undefined;
  /** Certificate and key for explicit FTPS (`AUTH TLS`); unset, plain FTP only. */
  tls?: Required<Pick<tls.SecureContextOptions, 'cert' | 'key'>> | undefined;
  /** Refuse log-in before `AUTH TLS`, and transfers before `PROT P`. */
  requireTls?: boolean;
  /** Sessions at once; more are answered `421` and closed. */
  maxSessions?: number;
  /** A session silent for this long (outside transfers), or a transfer without data for this long, is closed. */
  idleTimeoutMs?: number;
  /** Where files uploaded under temporary names wait for their rename (cleared of earlier ones at start). */
  holdFolder: string;
  log: FtpLog;
  /** Counts each file's outcome with the HTTP uploads' (`/metrics`). */
  metrics?: OutcomeRecorder | undefined;
}

export const DEFAULT_FTP_MAX_SESSIONS = 128;
export const DEFAULT_FTP_IDLE_TIMEOUT_MS = 60_000;

export class FtpServer {
  private readonly sessions = new Set<FtpSession>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    /** FTPS (`AUTH TLS`) is offered. */
    readonly tls: boolean,
  ) {}

  /** Starts listening. (`checkFtpOptions` in start.ts checks what `serve` gives it.) */
  static async start(options: FtpServerOptions): Promise<FtpServer> {
    const holds = new HoldFolder(options.holdFolder);
    await holds.open();
    const maxSessions = options.maxSessions ?? DEFAULT_FTP_MAX_SESSIONS;
    const settings = {
      receiver: options.receiver,
      login: options.login,
      ports: new PassivePorts(options.passivePorts),
      publicAddress: options.publicAddress,
      tls: options.tls === undefined ? undefined : tls.createSecureContext(options.tls),
      requireTls: options.requireTls ?? false,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_FTP_IDLE_TIMEOUT_MS,
      holds,
      log: options.log,
      metrics: options.metrics,
    };
    // Replies go out at once: with Nagle's algorithm a 226 waits ~40 ms for the client's delayed ACK.
    const server = net.createServer({ noDelay: true });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      // exclusive: under `serve --workers`, this worker's own listener, not one node:cluster would share.
      server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
    const ftp = new FtpServer(server, port, settings.tls !== undefined);
    server.on('error', (error) => options.log.error({ err: error }, 'ftp: server error'));
    server.on('connection', (socket) => {
      socket.on('error', () => socket.destroy());
      if (ftp.sessions.size >= maxSessions) {
        options.log.warn({ remoteAddress: socket.remoteAddress, sessions: ftp.sessions.size }, 'ftp: too many sessions; connection refused');
        socket.end(formatReply({ code: 421, text: `Too many sessions (${maxSessions} at once); try again shortly.` }));
        setTimeout(() => socket.destroy(), 2_000).unref();
        return;
      }
      const session = new FtpSession(socket, settings);
      ftp.sessions.add(session);
      void session.finished.then(() => ftp.sessions.delete(session));
    });
    return ftp;
  }

  /** Sessions open now. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Stops taking sessions and ends the idle ones; those in a transfer end after it. Resolves once
   * every session is over ({@link destroy} cuts those that take too long).
   */
  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.sessions) session.shutDown();
    await Promise.all([...this.sessions].map((session) => session.finished));
    await stopped;
  }

  /** Cuts every session at once, transfers under way included (nothing of those is stored). */
  destroy(): void {
    for (const session of this.sessions) session.destroy();
  }
}
