/**
 * The simulated cameras of `npm run bench`, in a process of their own: keep-alive HTTP/1.1
 * connections over loopback, each sending one image after another (or paced), written straight to
 * the socket so that the client costs as little CPU as possible on a 2-core machine. Mode `s3`
 * instead sends the same bytes as `PutObject`s with the AWS SDK (the S2 baseline).
 *
 * Reads one JSON {@link LoadPlan} from argv[2]; prints one JSON {@link LoadResult} on stdout.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface LoadPlan {
  mode: 'http' | 's3';
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
  /** Milliseconds, sorted ascending, of the successful requests. */
  latencies: number[];
  /** CPU time the load generator itself used, in milliseconds. */
  cpuMs: number;
  firstError?: string;
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '{}') as LoadPlan;
  const image = await readFile(plan.imageFile);
  const body = expand(image, plan.bodyBytes ?? image.byteLength);
  const cpu = process.cpuUsage();
  const result = plan.mode === 's3' ? await runS3(plan, body) : await runHttp(plan, body);
  const used = process.cpuUsage(cpu);
  process.stdout.write(`${JSON.stringify({ ...result, cpuMs: Math.round((used.user + used.system) / 1000) })}\n`);
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

/** Runs `worker` on every connection until the plan's duration or count is used up. */
async function drive(plan: LoadPlan, tally: Tally, send: (connection: number, n: number) => Promise<void>): Promise<number> {
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
  tally.latencies.sort((a, b) => a - b);
  return (performance.now() - started) / 1000;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function runHttp(plan: LoadPlan, body: Buffer): Promise<Omit<LoadResult, 'cpuMs'>> {
  const tally = newTally();
  const connections = Array.from({ length: plan.connections }, () => new Connection(plan.host, plan.port));
  const method = plan.method ?? 'POST';
  const seconds = await drive(plan, tally, async (index, n) => {
    const name = `${plan.tag}-${n}.jpg`;
    const path = (plan.path ?? '/').replaceAll('{n}', `${plan.tag}-${n}`);
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: ${plan.host}:${plan.port}\r\nContent-Type: image/jpeg\r\nContent-Length: ${body.byteLength}\r\n` +
      (plan.contentDisposition ? `Content-Disposition: attachment; filename="${name}"\r\n` : '') +
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
 * One keep-alive HTTP/1.1 connection: writes a request head and body, reads the status line,
 * the headers and a Content-Length (or chunked) body, reconnects after `Connection: close`.
 */
class Connection {
  private socket: net.Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { resolve(status: number): void; reject(error: Error): void } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
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
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        this.socket = socket;
        this.buffer = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => this.onData(chunk));
        socket.on('error', (error) => this.fail(error));
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

await main();
