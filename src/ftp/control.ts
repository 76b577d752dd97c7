/**
 * An FTP control connection: command lines in, replies out, and the switch to TLS (`AUTH TLS`).
 *
 * @module
 */
import type net from 'node:net';
import tls from 'node:tls';
import { formatReply } from './replies.js';
import type { FtpReply } from './replies.js';

/** Longest command line, in bytes: a command and the longest path accepted, with room to spare. */
export const MAX_LINE_BYTES = 8192;
/** Reply bytes a client may leave unread before it is taken for one that does not read them. */
const MAX_UNREAD_REPLY_BYTES = 64 * 1024;
/** How long a client has after the final reply to close the connection itself. */
const CLOSE_GRACE_MS = 2_000;

/** The events that end a control connection. */
const LOSS_EVENTS = ['end', 'close', 'error'] as const;

export interface ControlEvents {
  /** A command line, without its line end and Telnet commands. */
  line(text: string): void;
  /** A line longer than {@link MAX_LINE_BYTES}, or replies left unread: the session should end. */
  misbehaved(reason: string): void;
  /** The client closed the connection, or it broke. Heard once. */
  gone(): void;
}

export class ControlChannel {
  readonly remoteAddress: string;
  readonly localAddress: string;
  /** The connection is TLS-protected (after `AUTH TLS`). */
  secure = false;
  /** The client is gone: nothing more can be read or sent. */
  gone = false;
  private socket: net.Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private readonly onData = (chunk: Buffer): void => this.read(chunk);
  private readonly onLost = (): void => this.lost();

  constructor(
    socket: net.Socket,
    private readonly events: ControlEvents,
  ) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.localAddress = socket.localAddress ?? '';
    this.attach(socket);
  }

  /** Sends a reply (unless the client is gone). */
  send(reply: FtpReply): void {
    if (this.gone || !this.socket.writable) return;
    this.socket.write(formatReply(reply));
    if (this.socket.writableLength > MAX_UNREAD_REPLY_BYTES) this.events.misbehaved('it leaves the replies unread');
  }

  /** Sends a last reply, if any, and closes the connection. */
  close(reply?: FtpReply): void {
    if (reply) this.send(reply);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Closes the connection at once. */
  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Switches to TLS, as `AUTH TLS` asks once `234` was sent: called right after that reply, before
   * the client can send its handshake. Whatever the client sent after `AUTH TLS` in the clear is
   * dropped (it could be injected by anyone on the way).
   */
  upgrade(context: tls.SecureContext): void {
    const raw = this.socket;
    raw.off('data', this.onData);
    for (const event of LOSS_EVENTS) raw.off(event, this.onLost);
    raw.on('error', () => undefined);
    this.buffered = Buffer.alloc(0);
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    secure.once('secure', () => (this.secure = true));
    this.attach(secure);
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    socket.on('data', this.onData);
    for (const event of LOSS_EVENTS) socket.on(event, this.onLost);
  }

  private lost(): void {
    if (this.gone) return;
    this.gone = true;
    this.socket.destroy();
    this.events.gone();
  }

  /**
   * Splits what arrives into lines. CR alone ends a line too: a client that sends `ABOR` as urgent
   * data (Python's ftplib) loses its last byte, the LF, to TCP's urgent mark. Empty lines are
   * skipped, so CR LF split across two reads is one line end.
   */
  private read(chunk: Buffer): void {
    this.buffered = this.buffered.byteLength === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    let end: number;
    while (!this.gone && (end = lineEnd(this.buffered)) !== -1) {
      const line = this.buffered.subarray(0, end);
      this.buffered = this.buffered.subarray(end + 1);
      if (line.byteLength > MAX_LINE_BYTES) return this.events.misbehaved('it sent a command line that is too long');
      if (line.byteLength > 0) this.events.line(withoutTelnetCommands(line).toString('utf8'));
    }
    if (this.buffered.byteLength > MAX_LINE_BYTES) this.events.misbehaved('it sent a command line that is too long');
  }
}

/** Where the first line of `bytes` ends (its CR or LF), or -1. */
function lineEnd(bytes: Buffer): number {
  const lf = bytes.indexOf(0x0a);
  const cr = bytes.indexOf(0x0d);
  return lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
}

/**
 * A line without the Telnet commands some clients put before `ABOR` (IAC IP, IAC DM: `FF F4 FF F2`,
 * the DM often sent as urgent data, so that only `FF F4 FF` arrives). FF never occurs in UTF-8.
 */
function withoutTelnetCommands(line: Buffer): Buffer {
  if (!line.includes(0xff)) return line;
  const kept: number[] = [];
  for (let i = 0; i < line.byteLength; i++) {
    if (line[i] !== 0xff) kept.push(line[i]!);
    else if (line[i + 1]! >= 0xf0 && line[i + 1]! <= 0xfe) i++;
  }
  return Buffer.from(kept);
}
