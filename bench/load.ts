/**
 * The simulated cameras of `npm run bench`, in a process of their own: keep-alive HTTP/1.1
 * connections over loopback, each sending one image after another (or paced), written straight to
 * the socket so that the client costs as little CPU as possible on a 2-core machine. Mode `s3`
 * instead sends the same bytes as `PutObject`s with the AWS SDK (the S2 baseline).
 *
 * Mode `http` can go over TLS (`tls`) and open a new connection for every image (`close`: the
 * request says `Connection: close`; over TLS each connection is a full handshake, no session is
 * offered again). With `wrk` it runs wrk (a C load generator, bench/wrk.lua for the bodies and the
 * unique names) as a child process instead of sending itself, and reads its result.
 *
 * Mode `sftp`: each camera is one OpenSSH `sftp` client (a process, with its `ssh`) in batch mode
 * reading commands from a pipe, logged in before the clock starts; each image is a `put`, and a
 * `pwd` after it (answered by the client itself) tells when the put has ended. A failed put ends
 * the client (batch mode), which counts as a failure; the camera then logs in again.
 * Mode `ftp`: each camera is one FTP control connection (logged in, `TYPE I`, before the clock
 * starts); each image a `PASV`, a data connection, `STOR`, the bytes, the data connection closed,
 * and the transfer's final reply (2xx: stored), as Python's ftplib and curl do it.
 * The load generator's CPU includes its child processes' (the sftp and ssh clients).
 *
 * Reads one JSON {@link LoadPlan} from argv[2]; prints one JSON {@link LoadResult} on stdout.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { cpuSeconds, processTree } from './processes.js';

export interface LoadPlan {
  mode: 'http' | 's3' | 'sftp' | 'ftp';
  host: string;
  port: number;
  /** Connections (cameras) sending at once. */
  connections: number;
  /** Stop starting requests after this long… */
  durationMs?: number;
  /** …or after this many requests in all. */
  count?: number;
  /** A connection waits this long between its uploads (0: back to back). */
  pauseMs?: number;
  /** The image; `bodyBytes` larger than it repeats its bytes after the first copy. */
  imageFile: string;
  bodyBytes?: number;
  /** http: method and path; `{n}` becomes a unique request number. */
  method?: string;
  path?: string;
  /** http: send the Axis-style `Content-Disposition` with a unique filename. */
  contentDisposition?: boolean;
  /** http: over TLS (the server's certificate is not checked). */
  tls?: boolean;
  /** http: `Connection: close` on every request, so a new connection (over TLS, a full handshake) for every image. */
  close?: boolean;
  /**
   * http: wrk sends the requests (`binary`, with `script` bench/wrk.lua), for `durationMs` (whole
   * seconds, at least 1) without `count`, `pauseMs` or `bodyBytes`.
   */
  wrk?: { binary: string; script: string };
  /**
   * sftp: the `sftp` client's arguments before the destination (port, identity, options), the user,
   * extra environment (SSH_ASKPASS for a password), and the folder names are relative to.
   * ftp: user and password, and the folder names are relative to (`up/`).
   */
  user?: string;
  password?: string;
  sftpArgs?: string[];
  env?: Record<string, string>;
  folder?: string;
  /** s3: bucket and credentials. */
  bucket?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Tag in keys and filenames so that runs never collide. */
  tag: string;
}

export interface LoadResult {
  requests: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  seconds: number;
  bytes: number;
  /**
   * Milliseconds, sorted ascending, of the successful requests; with wrk, the 1st to the 100th
   * percentile of all requests (from wrk's histogram), so that the n-th percentile of this list is wrk's.
   */
  latencies: number[];
  /**
   * CPU time the load generator itself used (with its child processes), in milliseconds: in modes
   * `sftp` and `ftp` only while the clock ran (not the log-ins before it, nor the log-outs after).
   */
  cpuMs: number;
  firstError?: string;
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '{}') as LoadPlan;
  const image = await readFile(plan.imageFile);
  const body = expand(image, plan.bodyBytes ?? image.byteLength);
  const cpu = process.cpuUsage();
  const children = childrenCpuMs();
  const run: (plan: LoadPlan, body: Buffer) => Promise<Run> = { http: runHttp, s3: runS3, sftp: runSftp, ftp: runFtp }[plan.mode];
  const { windowCpuMs, ...result } = await run(plan, body);
  const used = process.cpuUsage(cpu);
  const cpuMs = windowCpuMs ?? (used.user + used.system) / 1000 + childrenCpuMs() - children;
  process.stdout.write(`${JSON.stringify({ ...result, cpuMs: Math.round(cpuMs) })}\n`);
}

type Run = Omit<LoadResult, 'cpuMs'> & { windowCpuMs?: number };

/** CPU time of this process's children that have ended (and been waited for), in milliseconds. */
function childrenCpuMs(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** The image, then its bytes again until `size` (the signature stays at the start). */
function expand(image: Buffer, size: number): Buffer {
  if (size === image.byteLength) return image;
  const body = Buffer.allocUnsafe(size);
  for (let offset = 0; offset < size; offset += image.byteLength) image.copy(body, offset, 0, Math.min(image.byteLength, size - offset));
  return body;
}

interface Tally {
  requests: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  bytes: number;
  latencies: number[];
  firstError?: string;
}

function newTally(): Tally {
  return { requests: 0, ok: 0, failed: 0, statuses: {}, bytes: 0, latencies: [] };
}

/** Counts one upload's outcome: `error` undefined when it was stored. */
function count(tally: Tally, bytes: number, begun: number, error?: string): void {
  tally.requests++;
  if (error === undefined) {
    tally.ok++;
    tally.bytes += bytes;
    tally.latencies.push(performance.now() - begun);
    tally.statuses.ok = (tally.statuses.ok ?? 0) + 1;
  } else {
    tally.failed++;
    tally.statuses.error = (tally.statuses.error ?? 0) + 1;
    tally.firstError ??= error;
  }
}

/**
 * Runs `worker` on every connection until the plan's duration or count is used up. With `window`
 * (sessions logged in before the clock starts), says when the clock starts and stops (see
 * {@link mark}), so that the bench reads the server's CPU over the same span, and measures this
 * process's CPU with its children's over it.
 */
async function drive(plan: LoadPlan, tally: Tally, send: (connection: number, n: number) => Promise<void>, window?: { cpuMs: number }): Promise<number> {
  const cpuBefore = window ? cpuSeconds(processTree(process.pid)) : 0;
  if (window) await mark('started');
  const started = performance.now();
  const deadline = plan.durationMs !== undefined ? started + plan.durationMs : Infinity;
  const limit = plan.count ?? Infinity;
  let issued = 0;
  const loop = async (connection: number): Promise<void> => {
    // Spread the first uploads of paced cameras over their pause, as real cameras would be.
    if (plan.pauseMs) await sleep((plan.pauseMs * connection) / plan.connections);
    while (issued < limit && performance.now() < deadline) {
      const n = issued++;
      const begun = performance.now();
      await send(connection, n);
      if (plan.pauseMs) await sleep(Math.max(0, plan.pauseMs - (performance.now() - begun)));
    }
  };
  await Promise.all(Array.from({ length: plan.connections }, (_, connection) => loop(connection)));
  const seconds = (performance.now() - started) / 1000;
  if (window) {
    window.cpuMs = (cpuSeconds(processTree(process.pid)) - cpuBefore) * 1000;
    await mark('stopped');
  }
  tally.latencies.sort((a, b) => a - b);
  return seconds;
}

let input = '';
let inputWaiting: (() => void) | undefined;

/**
 * Prints `clock started` or `clock stopped` and waits for the bench's answer (a line on stdin):
 * it reads the servers' CPU before the clock starts and before the sessions log out (sshd's and
 * vsftpd's per-session processes end then, and the CPU of one whose parent ended first would be
 * lost to the count).
 */
function mark(name: 'started' | 'stopped'): Promise<void> {
  if (inputWaiting === undefined && input === '') {
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      input += chunk;
      if (input.includes('\n')) inputWaiting?.();
    });
    process.stdin.on('end', () => {
      input += '\n';
      inputWaiting?.();
    });
  }
  process.stdout.write(`clock ${name}\n`);
  return new Promise((resolve) => {
    const answered = (): void => {
      inputWaiting = undefined;
      input = input.slice(input.indexOf('\n') + 1);
      process.stdin.pause();
      resolve();
    };
    inputWaiting = answered;
    process.stdin.resume();
    if (input.includes('\n')) answered();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function runHttp(plan: LoadPlan, body: Buffer): Promise<Omit<LoadResult, 'cpuMs'>> {
  if (plan.wrk) return runWrk(plan, plan.wrk, body);
  const tally = newTally();
  const connections = Array.from({ length: plan.connections }, () => new Connection(plan.host, plan.port, plan.tls === true));
  const method = plan.method ?? 'POST';
  const seconds = await drive(plan, tally, async (index, n) => {
    const name = `${plan.tag}-${n}.jpg`;
    const path = (plan.path ?? '/').replaceAll('{n}', `${plan.tag}-${n}`);
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: ${plan.host}:${plan.port}\r\nContent-Type: image/jpeg\r\nContent-Length: ${body.byteLength}\r\n` +
      (plan.contentDisposition ? `Content-Disposition: attachment; filename="${name}"\r\n` : '') +
      (plan.close ? 'Connection: close\r\n' : '') +
      '\r\n';
    const begun = performance.now();
    tally.requests++;
    try {
      const status = await connections[index]!.request(head, body);
      tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) {
        tally.ok++;
        tally.bytes += body.byteLength;
        tally.latencies.push(performance.now() - begun);
      } else {
        tally.failed++;
        tally.firstError ??= `HTTP ${status}`;
      }
    } catch (error) {
      tally.failed++;
      tally.statuses.error = (tally.statuses.error ?? 0) + 1;
      tally.firstError ??= String(error);
      await sleep(50);
    }
  });
  for (const connection of connections) connection.close();
  return { ...tally, seconds };
}

/**
 * wrk's figures for a run: it sends for the plan's duration (whole seconds), with as many threads
 * as there are cores (at most one per connection); requests still under way when it stops do not
 * count. The bench's CPU figure for the client is wrk's (a child this process has waited for).
 */
async function runWrk(plan: LoadPlan, wrk: { binary: string; script: string }, body: Buffer): Promise<Omit<LoadResult, 'cpuMs'>> {
  if (plan.durationMs === undefined || plan.count !== undefined || plan.pauseMs || body.byteLength !== (plan.bodyBytes ?? body.byteLength)) {
    throw new Error('wrk: only runs of a duration, back to back, with the image as the body');
  }
  const threads = Math.max(1, Math.min(plan.connections, availableParallelism()));
  const url = `${plan.tls ? 'https' : 'http'}://${plan.host}:${plan.port}/`;
  const args = [
    '-t', String(threads),
    '-c', String(plan.connections),
    '-d', `${Math.max(1, Math.round(plan.durationMs / 1000))}s`,
    '--timeout', '30s',
    '-s', wrk.script,
    url,
    '--',
    plan.method ?? 'POST',
    plan.path ?? '/',
    plan.imageFile,
    plan.tag,
    plan.contentDisposition ? '1' : '0',
    plan.close ? '1' : '0',
  ];
  const child = spawn(wrk.binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  const line = output.split('\n').find((each) => each.startsWith('wrk-result '));
  if (code !== 0 || !line) throw new Error(`wrk exited with ${code}: ${output.trim()}`);
  const result = JSON.parse(line.slice('wrk-result '.length)) as { requests: number; durationUs: number; connect: number; read: number; write: number; status: number; timeout: number; latencies: number[] };
  const ok = result.requests - result.status;
  const socketErrors = result.connect + result.read + result.write;
  const errors = Object.entries({ 'answers > 399': result.status, 'connect errors': result.connect, 'read errors': result.read, 'write errors': result.write, timeouts: result.timeout }).filter(([, n]) => n > 0);
  return {
    requests: result.requests + socketErrors,
    ok,
    failed: result.status + socketErrors + result.timeout,
    statuses: { '2xx/3xx': ok, ...Object.fromEntries(errors) },
    seconds: result.durationUs / 1e6,
    bytes: ok * body.byteLength,
    latencies: result.latencies,
    ...(errors.length > 0 && { firstError: `wrk: ${errors.map(([kind, n]) => `${n} ${kind}`).join(', ')}` }),
  };
}

/**
 * One keep-alive HTTP/1.1 connection (over TLS with `tls`): writes a request head and body, reads
 * the status line, the headers and a Content-Length (or chunked) body, reconnects after
 * `Connection: close`. A TLS connection never offers an earlier session: each is a full handshake.
 */
class Connection {
  private socket: net.Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { resolve(status: number): void; reject(error: Error): void } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly secure = false,
  ) {}

  async request(head: string, body: Buffer): Promise<number> {
    const socket = this.socket ?? (await this.connect());
    const answered = new Promise<number>((resolve, reject) => (this.waiting = { resolve, reject }));
    socket.cork();
    socket.write(head, 'latin1');
    socket.write(body);
    socket.uncork();
    return answered;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket: net.Socket = this.secure ? tls.connect({ host: this.host, port: this.port, rejectUnauthorized: false }) : net.connect({ host: this.host, port: this.port, noDelay: true });
      if (this.secure) socket.setNoDelay(true);
      socket.once(this.secure ? 'secureConnect' : 'connect', () => {
        socket.off('error', reject);
        this.socket = socket;
        this.buffer = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => this.onData(chunk));
        socket.on('error', (error: Error) => this.fail(error));
        socket.on('close', () => {
          if (this.socket === socket) this.socket = undefined;
          this.fail(new Error('connection closed before the answer'));
        });
        resolve(socket);
      });
      socket.once('error', reject);
    });
  }

  private fail(error: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.byteLength === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end === -1) return;
    const head = this.buffer.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    const chunked = /\r\ntransfer-encoding: *chunked/i.test(head);
    let total: number;
    if (length) total = end + 4 + Number(length[1]);
    else if (chunked) {
      const last = this.buffer.indexOf('\r\n0\r\n\r\n', end);
      if (last === -1) return;
      total = last + 7;
    } else total = end + 4;
    if (this.buffer.byteLength < total) return;
    this.buffer = this.buffer.subarray(total);
    if (/\r\nconnection: *close/i.test(head)) {
      const socket = this.socket;
      this.socket = undefined;
      socket?.removeAllListeners('close');
      socket?.destroy();
    }
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve(status);
  }
}

async function runS3(plan: LoadPlan, body: Buffer): Promise<Omit<LoadResult, 'cpuMs'>> {
  const { PutObjectCommand, S3Client } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: `http://${plan.host}:${plan.port}`,
    region: plan.region ?? 'us-east-1',
    forcePathStyle: true,
    ...(plan.credentials && { credentials: plan.credentials }),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  // What the receiver's S3 store sends for a small image: the same headers and metadata.
  const tally = newTally();
  const seconds = await drive(plan, tally, async (_connection, n) => {
    const begun = performance.now();
    tally.requests++;
    const name = `${plan.tag}-${n}.jpg`;
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: plan.bucket,
          Key: `direct/${name}`,
          Body: body,
          ContentLength: body.byteLength,
          ContentType: 'image/jpeg',
          Metadata: { camera: 'bench', 'received-at': new Date().toISOString(), 'camera-filename': name },
        }),
      );
      tally.ok++;
      tally.bytes += body.byteLength;
      tally.latencies.push(performance.now() - begun);
      tally.statuses['200'] = (tally.statuses['200'] ?? 0) + 1;
    } catch (error) {
      tally.failed++;
      tally.statuses.error = (tally.statuses.error ?? 0) + 1;
      tally.firstError ??= String(error);
    }
  });
  client.destroy();
  return { ...tally, seconds };
}

async function runSftp(plan: LoadPlan, body: Buffer): Promise<Run> {
  const tally = newTally();
  const clients = Array.from({ length: plan.connections }, () => new SftpClient(plan));
  const window = { cpuMs: 0 };
  // Logged in before the clock starts, as cameras that keep their session.
  await Promise.all(clients.map((client) => client.open()));
  const seconds = await drive(plan, tally, async (index, n) => {
    const begun = performance.now();
    try {
      await clients[index]!.put(`${plan.folder ?? ''}${plan.tag}-${n}.jpg`);
      count(tally, body.byteLength, begun);
    } catch (error) {
      count(tally, 0, begun, String(error));
      await sleep(50);
    }
  }, window);
  await Promise.all(clients.map((client) => client.close()));
  return { ...tally, seconds, windowCpuMs: window.cpuMs };
}

/**
 * One OpenSSH `sftp` client in batch mode (`-b -`), fed commands through a pipe: `put`, then
 * `pwd`, which the client answers itself (`Remote working directory: …`, line-buffered) once the
 * put has ended. In batch mode a failed put ends the client.
 */
class SftpClient {
  private child: ChildProcessWithoutNullStreams | undefined;
  private output = '';
  private errors = '';
  private waiting: { resolve(): void; reject(error: Error): void } | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly plan: LoadPlan) {}

  /** Starts the client; resolves once it is logged in and answers. */
  async open(): Promise<void> {
    const child = spawn('sftp', [...(this.plan.sftpArgs ?? []), '-b', '-', `${this.plan.user}@${this.plan.host}`], { env: { ...process.env, ...this.plan.env }, stdio: 'pipe' });
    this.child = child;
    this.output = '';
    this.errors = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text: string) => this.onOutput(text));
    child.stderr.on('data', (text: string) => {
      if (this.errors.length < 4000) this.errors += text;
    });
    child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) =>
      child.once('close', (code) => {
        if (this.child === child) this.child = undefined;
        this.fail(new Error(`sftp exited with ${code}: ${this.errors.trim().split('\n').at(-1) ?? ''}`));
        resolve();
      }),
    );
    await this.send('pwd');
  }

  async put(name: string): Promise<void> {
    if (!this.child) await this.open();
    await this.send(`put "${this.plan.imageFile}" "${name}"\npwd`);
  }

  async close(): Promise<void> {
    this.child?.stdin.end();
    await this.exited;
  }

  private send(lines: string): Promise<void> {
    const child = this.child;
    if (!child) return Promise.reject(new Error('sftp is not running'));
    const answered = new Promise<void>((resolve, reject) => (this.waiting = { resolve, reject }));
    child.stdin.write(`${lines}\n`);
    return answered;
  }

  private onOutput(text: string): void {
    this.output += text;
    for (let end = this.output.indexOf('\n'); end !== -1; end = this.output.indexOf('\n')) {
      const line = this.output.slice(0, end);
      this.output = this.output.slice(end + 1);
      if (line.startsWith('Remote working directory:')) {
        const waiting = this.waiting;
        this.waiting = undefined;
        waiting?.resolve();
      }
    }
  }

  private fail(error: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error);
  }
}

async function runFtp(plan: LoadPlan, body: Buffer): Promise<Run> {
  const tally = newTally();
  const sessions = Array.from({ length: plan.connections }, () => new FtpSession(plan));
  const window = { cpuMs: 0 };
  // Logged in before the clock starts, as cameras that keep their session.
  await Promise.all(sessions.map((session) => session.open()));
  const seconds = await drive(plan, tally, async (index, n) => {
    const begun = performance.now();
    try {
      await sessions[index]!.store(`${plan.folder ?? ''}${plan.tag}-${n}.jpg`, body);
      count(tally, body.byteLength, begun);
    } catch (error) {
      count(tally, 0, begun, String(error));
      await sleep(50);
    }
  }, window);
  await Promise.all(sessions.map((session) => session.close()));
  return { ...tally, seconds, windowCpuMs: window.cpuMs };
}

interface FtpReply {
  code: number;
  text: string;
}

/** One FTP session (plain FTP, passive mode, binary), as ftplib's `storbinary` drives it. */
class FtpSession {
  private socket: net.Socket | undefined;
  private text = '';
  private lines: string[] = [];
  private replies: FtpReply[] = [];
  private waiting: { resolve(reply: FtpReply): void; reject(error: Error): void } | undefined;

  constructor(private readonly plan: LoadPlan) {}

  async open(): Promise<void> {
    const socket = await connect(this.plan.host, this.plan.port);
    this.socket = socket;
    this.text = '';
    this.lines = [];
    this.replies = [];
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.fail(new Error('control connection closed'));
    });
    await this.expect(undefined, 220);
    const user = await this.expect(`USER ${this.plan.user ?? 'anonymous'}`, 230, 331);
    if (user.code === 331) await this.expect(`PASS ${this.plan.password ?? ''}`, 230);
    await this.expect('TYPE I', 200);
  }

  async store(name: string, body: Buffer): Promise<void> {
    if (!this.socket) await this.open();
    const passive = await this.expect('PASV', 227);
    const address = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(passive.text);
    if (!address) throw new Error(`PASV: ${passive.text}`);
    const data = await connect(`${address[1]}.${address[2]}.${address[3]}.${address[4]}`, Number(address[5]) * 256 + Number(address[6]));
    try {
      data.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => data.once('close', () => resolve()));
      await this.expect(`STOR ${name}`, 150, 125);
      data.end(body);
      await closed;
      await this.expect(undefined, 226, 250);
    } finally {
      data.destroy();
    }
  }

  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    await this.expect('QUIT', 221).catch(() => undefined);
    socket.destroy();
  }

  /** Sends a command (or none) and reads the next reply, which must have one of `codes`. */
  private async expect(command: string | undefined, ...codes: number[]): Promise<FtpReply> {
    if (command !== undefined) {
      if (!this.socket) throw new Error('control connection closed');
      this.socket.write(`${command}\r\n`, 'latin1');
    }
    const reply = this.replies.shift() ?? (await new Promise<FtpReply>((resolve, reject) => (this.waiting = { resolve, reject })));
    if (!codes.includes(reply.code)) throw new Error(`${command?.split(' ')[0] ?? 'greeting'}: ${reply.code} ${reply.text}`);
    return reply;
  }

  private onData(chunk: string): void {
    this.text += chunk;
    for (let end = this.text.indexOf('\r\n'); end !== -1; end = this.text.indexOf('\r\n')) {
      const line = this.text.slice(0, end);
      this.text = this.text.slice(end + 2);
      this.lines.push(line);
      // A reply ends with a line of its code and a space (a multi-line one starts with code and '-').
      if (/^\d{3}(?: |$)/.test(line) && (this.lines.length === 1 || line.startsWith(this.lines[0]!.slice(0, 3)))) {
        const reply = { code: Number(line.slice(0, 3)), text: this.lines.join('\n') };
        this.lines = [];
        const waiting = this.waiting;
        this.waiting = undefined;
        if (waiting) waiting.resolve(reply);
        else this.replies.push(reply);
      }
    }
  }

  private fail(error: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error);
  }
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

await main();
