import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SpooledStore } from '../../src/spool/spooled-store.js';
import { DiskStore } from '../../src/stores/disk.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { startLocalS3 } from '../support/local-s3.js';
import { SAMPLE_JPEG, cameraUpload, request, startReceiver } from '../support/receiver.js';
import type { Response, RunningReceiver } from '../support/receiver.js';
import { freePort } from '../support/ports.js';
import { onTmpfs } from '../support/tmpfs.js';

/*
 * What an operator sees of the receiver: the Prometheus metrics at /metrics (README, "Metrics"),
 * the one JSON log line per upload (README, "Logs"), and what the server says about the
 * connection after refusing an upload. Everything here goes through HTTP on loopback and the log
 * stream the server writes, so it holds whatever the code behind those surfaces looks like.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const today = (): string => new Date().toISOString().slice(0, 10).replaceAll('-', '/');
const CAMERA = 'camera-1';

// ---------------------------------------------------------------------------------------------
// Reading /metrics

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  text: string;
  /** `# TYPE` of each metric family. */
  types: Map<string, string>;
  samples: Sample[];
}

/** GET /metrics, parsed from the Prometheus text format. */
async function scrape(receiver: RunningReceiver): Promise<Scrape> {
  const response = await request(`http://127.0.0.1:${receiver.port}/metrics`);
  assert.equal(response.status, 200);
  assert.match(String(response.headers['content-type']), /^text\/plain/);
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of response.body.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { text: response.body, types, samples };
}

const sameLabels = (a: Record<string, string>, b: Record<string, string>): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([key, value]) => a[key] === value);

/** The sample with exactly these labels, or undefined when the series does not exist (yet). */
function sample(scrape: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = scrape.samples.filter((s) => s.name === name && sameLabels(s.labels, labels));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} appears ${found.length} times`);
  return found[0]?.value;
}

/** Every series of a metric, as "label=value,…" → value, for exact comparison. */
function series(scrape: Scrape, name: string): Record<string, number> {
  const result: Record<string, number> = {};
  for (const s of scrape.samples.filter((s) => s.name === name)) {
    const key = Object.keys(s.labels)
      .sort()
      .map((label) => `${label}=${s.labels[label]}`)
      .join(',');
    result[key] = s.value;
  }
  return result;
}

interface HistogramSeries {
  count: number;
  sum: number;
  /** Cumulative bucket counts by upper bound, +Inf last. */
  buckets: Array<[le: number, count: number]>;
}

/** One outcome's series of the upload duration histogram (undefined when nothing was observed for it). */
function durations(scrape: Scrape, outcome: string): HistogramSeries | undefined {
  const name = 'images_to_s3_upload_duration_seconds';
  const count = sample(scrape, `${name}_count`, { outcome });
  const sum = sample(scrape, `${name}_sum`, { outcome });
  if (count === undefined && sum === undefined) return undefined;
  const buckets = scrape.samples
    .filter((s) => s.name === `${name}_bucket` && s.labels.outcome === outcome)
    .map((s): [number, number] => [s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
  assert.ok(count !== undefined && sum !== undefined, `${outcome}: _count and _sum go together`);
  return { count, sum, buckets };
}

/**
 * Checks that `n` observations, each between `minSeconds` and `maxSeconds`, were made for `outcome`:
 * the count, the sum within the bounds, and every bucket (none below `minSeconds`, all from `maxSeconds`).
 */
function assertObserved(scrape: Scrape, outcome: string, n: number, minSeconds: number, maxSeconds: number): void {
  const histogram = durations(scrape, outcome);
  assert.ok(histogram, `no duration observed for outcome="${outcome}"`);
  assert.equal(histogram.count, n, `count of outcome="${outcome}"`);
  assert.ok(histogram.sum >= n * minSeconds && histogram.sum <= n * maxSeconds, `sum ${histogram.sum} s of ${n} observations is outside [${minSeconds}, ${maxSeconds}] s each`);
  assert.ok(histogram.buckets.length >= 2, 'buckets are exposed');
  const last = histogram.buckets.at(-1)!;
  assert.deepEqual(last, [Infinity, n], 'the +Inf bucket holds every observation');
  let previous = 0;
  for (const [le, count] of histogram.buckets) {
    assert.ok(count >= previous, 'bucket counts are cumulative');
    previous = count;
    if (le < minSeconds) assert.equal(count, 0, `bucket le=${le} counts an observation shorter than the ${minSeconds} s it took`);
    if (le >= maxSeconds) assert.equal(count, n, `bucket le=${le} misses an observation though none took over ${maxSeconds} s`);
  }
}

/** GETs /metrics until `condition` holds (for what the spool forwarder does in the background). */
async function scrapeUntil(receiver: RunningReceiver, condition: (scrape: Scrape) => boolean, what: string, timeoutMs = 15_000): Promise<Scrape> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await scrape(receiver);
    if (condition(current)) return current;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last scrape:\n${current.text}`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------------------------------------
// Making uploads and failing stores

/** An S3 store on a port nobody listens on: every write fails to connect (503). `open` is skipped, since it would fail too. */
async function unreachableS3Store(): Promise<S3Store> {
  const port = await freePort();
  return new (class extends S3Store {
    override open(): Promise<void> {
      return Promise.resolve();
    }
  })({
    client: createS3Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, requestTimeoutMs: 1_000 }),
    bucket: 'images',
    conditionalWrites: 'yes',
  });
}

/**
 * A disk store whose writes fail, once `failing` is set, with an error that is neither "unavailable"
 * nor "full" (a fault nobody classified): the 500 case. A double rather than a broken folder, since
 * which errno codes count as "unavailable" is the stores' business and may grow.
 */
class FaultyDiskStore extends DiskStore {
  failing = false;
  override write(...args: Parameters<DiskStore['write']>): ReturnType<DiskStore['write']> {
    if (this.failing) return Promise.reject(new Error('FAULT: the disk store broke in a way nobody foresaw'));
    return super.write(...args);
  }
}

async function faultyReceiver(): Promise<{ receiver: RunningReceiver; store: FaultyDiskStore; close: () => Promise<void> }> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-faulty-'));
  const store = new FaultyDiskStore(path.join(folder, 'images'));
  const receiver = await startReceiver({ store });
  return {
    receiver,
    store,
    close: async () => {
      await receiver.close();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** A JPEG of `size` bytes: the sample, padded (only its start is checked). */
const jpegOfSize = (size: number): Buffer => Buffer.concat([SAMPLE_JPEG, Buffer.alloc(Math.max(0, size - SAMPLE_JPEG.length), 0x20)]).subarray(0, size);

/**
 * A camera upload whose body arrives in two parts `pauseMs` apart, so the upload takes at least
 * that long; resolves with the answer and the time the client saw from request to answer.
 */
function slowUpload(receiver: RunningReceiver, filename: string, pauseMs: number): Promise<{ status: number; json: Record<string, unknown>; elapsedMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const outgoing = http.request(`${receiver.url}?accessToken=${receiver.token}`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'image/jpeg', 'content-length': SAMPLE_JPEG.length, 'content-disposition': `attachment; filename="${filename}"` },
    });
    outgoing.on('response', (incoming) => {
      let body = '';
      incoming.on('data', (chunk: Buffer) => (body += chunk.toString()));
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, json: JSON.parse(body) as Record<string, unknown>, elapsedMs: performance.now() - started }));
    });
    outgoing.on('error', reject);
    outgoing.write(SAMPLE_JPEG.subarray(0, 1000));
    setTimeout(() => outgoing.end(SAMPLE_JPEG.subarray(1000)), pauseMs);
  });
}

/** `cameraUpload`, timed from request to answer as the client saw it. */
async function timed<T>(send: () => Promise<T>): Promise<{ response: T; elapsedMs: number }> {
  const started = performance.now();
  const response = await send();
  return { response, elapsedMs: performance.now() - started };
}

// ---------------------------------------------------------------------------------------------
// Reading the log

type LogLine = Record<string, unknown>;

/** pino's own fields on every line, and Fastify's request id: not the upload's facts. */
const ENVELOPE = new Set(['level', 'time', 'pid', 'hostname', 'reqId', 'msg']);
const PINO_LEVEL = { info: 30, warn: 40, error: 50 } as const;

/**
 * The one log line about the upload answered after the log had `since` lines (a line with a
 * `status`); fails if there is none or more than one.
 */
async function uploadLine(receiver: RunningReceiver, since: number): Promise<LogLine> {
  const lines = (): LogLine[] =>
    receiver.logs
      .slice(since)
      .map((line) => JSON.parse(line) as LogLine)
      .filter((line) => line.status !== undefined);
  for (let waited = 0; waited < 2_000 && lines().length === 0; waited += 10) await sleep(10);
  // A second line for the same upload would come at once.
  await sleep(20);
  const found = lines();
  assert.equal(found.length, 1, `expected one log line for the upload, got ${found.length}:\n${receiver.logs.slice(since).join('')}`);
  return found[0]!;
}

/** The upload's own fields (without pino's envelope), sorted. */
const factNames = (line: LogLine): string[] => Object.keys(line).filter((key) => !ENVELOPE.has(key)).sort();

/** The duration a log line gives: milliseconds, rounded to a tenth, within what the client measured. */
function assertDuration(line: LogLine, minMs: number, maxMs: number): void {
  const duration = line.durationMs;
  assert.equal(typeof duration, 'number', 'durationMs is a number');
  assert.ok((duration as number) >= minMs && (duration as number) <= maxMs, `durationMs ${String(duration)} is outside [${minMs}, ${maxMs}]`);
  assert.equal(Math.round((duration as number) * 10) / 10, duration, 'durationMs is rounded to a tenth of a millisecond');
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1, so that what the server says about the connection is tested (Node's client adds its own Connection header)

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

class RawConnection {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed = false;
  private readonly closing: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (data: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, data]);
      this.wake?.();
    });
    // The server may close (even reset) while the rest of a refused body is still being sent.
    socket.on('error', () => undefined);
    this.closing = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.wake?.();
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  send(...chunks: Array<string | Buffer>): void {
    for (const chunk of chunks) if (!this.socket.destroyed) this.socket.write(chunk);
  }

  /** The next whole response on the connection (its body by Content-Length). */
  async response(timeoutMs = 5_000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end !== -1) {
        const [statusLine, ...headerLines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of headerLines) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (this.buffer.length >= end + 4 + length) {
          const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
          this.buffer = this.buffer.subarray(end + 4 + length);
          return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0), headers, body };
        }
      }
      if (this.closed) throw new Error(`the connection closed before a whole response: ${this.buffer.toString('latin1').slice(0, 300)}`);
      if (Date.now() > deadline) throw new Error('no whole response in time');
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  /** Whether the server closed the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    await Promise.race([this.closing, sleep(ms)]);
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const uploadHead = (options: { token?: string; contentType?: string; length: number; filename?: string }): string =>
  `POST /${options.token === undefined ? '' : `?accessToken=${options.token}`} HTTP/1.1\r\nHost: x\r\n` +
  `Content-Type: ${options.contentType ?? 'image/jpeg'}\r\nContent-Disposition: attachment; filename="${options.filename ?? 'raw.jpg'}"\r\n` +
  `Content-Length: ${options.length}\r\n\r\n`;

// =============================================================================================

describe('metrics (GET /metrics): every metric the README lists moves as the uploads say', () => {
  it('exposes each listed metric with its Prometheus type, and the process metrics, with no spool metrics without a spool', async () => {
    const receiver = await startReceiver();
    try {
      const metrics = await scrape(receiver);
      const expected: Record<string, string> = {
        images_to_s3_uploads_total: 'counter',
        images_to_s3_stored_bytes_total: 'counter',
        images_to_s3_upload_duration_seconds: 'histogram',
        images_to_s3_uploads_in_flight: 'gauge',
        images_to_s3_store_errors_total: 'counter',
        images_to_s3_auth_failures_total: 'counter',
      };
      for (const [name, type] of Object.entries(expected)) assert.equal(metrics.types.get(name), type, `# TYPE of ${name}`);
      assert.equal(sample(metrics, 'images_to_s3_uploads_in_flight'), 0);
      assert.ok(
        metrics.samples.some((s) => s.name.startsWith('images_to_s3_process_') && Number.isFinite(s.value)),
        'process metrics (images_to_s3_process_*)',
      );
      assert.ok(
        metrics.samples.some((s) => s.name.startsWith('images_to_s3_nodejs_') && Number.isFinite(s.value)),
        'Node.js metrics (images_to_s3_nodejs_*)',
      );
      assert.ok(!metrics.text.includes('images_to_s3_spool_'), 'spool metrics only with a spool');
      assert.ok(!metrics.text.includes('images_to_s3_forward'), 'forwarder metrics only with a spool');
    } finally {
      await receiver.close();
    }
  });

  it('counts a stored upload under its camera and status 200, adds exactly its bytes, and observes its duration in seconds as "stored"', async () => {
    const receiver = await startReceiver();
    try {
      const before = await scrape(receiver);
      assert.deepEqual(series(before, 'images_to_s3_uploads_total'), {}, 'no upload counted before any');

      // One upload that takes about 400 ms (its body arrives in two parts), one of another size at full speed.
      const slow = await slowUpload(receiver, 'slow.jpg', 400);
      assert.equal(slow.status, 200);
      const bigger = jpegOfSize(70_000);
      const fast = await timed(() => cameraUpload(receiver, { body: bigger, filename: 'fast.jpg' }));
      assert.equal(fast.response.status, 200);
      assert.equal(fast.response.json.bytes, 70_000);

      const metrics = await scrape(receiver);
      assert.deepEqual(series(metrics, 'images_to_s3_uploads_total'), { [`camera=${CAMERA},status=200`]: 2 });
      assert.deepEqual(series(metrics, 'images_to_s3_stored_bytes_total'), { [`camera=${CAMERA}`]: SAMPLE_JPEG.length + 70_000 });
      // Each observation lies between nothing and the longest the client saw; the slow one is in seconds, over 0.25
      // (the server's clock starts once the headers are in, a little after the client's).
      const longest = Math.max(slow.elapsedMs, fast.elapsedMs) / 1000;
      assertObserved(metrics, 'stored', 2, 0, longest);
      const histogram = durations(metrics, 'stored')!;
      assert.ok(histogram.sum >= 0.35, `the 400 ms upload is in the sum, in seconds (${histogram.sum} s)`);
      assert.equal(histogram.buckets.find(([le]) => le === 0.25)?.[1] ?? 0, fast.elapsedMs <= 250 ? 1 : 0, 'only the fast upload is under 0.25 s');
      assert.equal(durations(metrics, 'rejected'), undefined);
      assert.equal(durations(metrics, 'failed'), undefined);
      assert.deepEqual(series(metrics, 'images_to_s3_auth_failures_total'), {});
      assert.deepEqual(series(metrics, 'images_to_s3_store_errors_total'), {});
      assert.equal(sample(metrics, 'images_to_s3_uploads_in_flight'), 0);
    } finally {
      await receiver.close();
    }
  });

  it('counts refusals under their status (no camera before the token is known), token refusals by reason missing/invalid/rate_limited, and never GET, HEAD or other methods', async () => {
    const receiver = await startReceiver({ maxBytes: 256 * 1024, limits: { failedAuthPerMinute: 2 } });
    try {
      const statuses: number[] = [];
      const { elapsedMs } = await timed(async () => {
        statuses.push((await cameraUpload(receiver, { token: null })).status);
        statuses.push((await cameraUpload(receiver, { token: 'not-a-token-not-a-token' })).status);
        statuses.push((await cameraUpload(receiver, { token: 'not-a-token-not-a-token' })).status);
        statuses.push((await cameraUpload(receiver, { contentType: 'text/plain' })).status);
        statuses.push((await cameraUpload(receiver, { body: jpegOfSize(300 * 1024), filename: 'big.jpg' })).status);
        statuses.push((await cameraUpload(receiver, { body: Buffer.alloc(0) })).status);
        // The camera's Test button and other methods are not uploads.
        statuses.push((await request(receiver.url)).status);
        statuses.push((await request(receiver.url, { method: 'HEAD' })).status);
        statuses.push((await request(`${receiver.url}?accessToken=${receiver.token}`, { method: 'PUT', body: SAMPLE_JPEG })).status);
      });
      assert.deepEqual(statuses, [401, 403, 429, 415, 413, 400, 200, 200, 405]);

      const metrics = await scrape(receiver);
      assert.deepEqual(series(metrics, 'images_to_s3_uploads_total'), {
        'camera=,status=401': 1,
        'camera=,status=403': 1,
        'camera=,status=429': 1,
        [`camera=${CAMERA},status=415`]: 1,
        [`camera=${CAMERA},status=413`]: 1,
        [`camera=${CAMERA},status=400`]: 1,
      });
      assert.deepEqual(series(metrics, 'images_to_s3_auth_failures_total'), { 'reason=missing': 1, 'reason=invalid': 1, 'reason=rate_limited': 1 });
      assert.deepEqual(series(metrics, 'images_to_s3_store_errors_total'), {}, 'a refusal is no store error');
      assert.deepEqual(series(metrics, 'images_to_s3_stored_bytes_total'), {}, 'nothing was stored');
      assertObserved(metrics, 'rejected', 6, 0, elapsedMs / 1000);
      assert.equal(durations(metrics, 'stored'), undefined);
      assert.equal(durations(metrics, 'failed'), undefined);
      assert.equal(sample(metrics, 'images_to_s3_uploads_in_flight'), 0);
    } finally {
      await receiver.close();
    }
  });

  it('counts an unreachable store as store_errors{kind="unavailable"} and a 503 under the camera, observed as "failed"', async () => {
    const receiver = await startReceiver({ store: await unreachableS3Store() });
    try {
      const { response, elapsedMs } = await timed(() => cameraUpload(receiver, { filename: 'down.jpg' }));
      assert.equal(response.status, 503);
      const metrics = await scrape(receiver);
      assert.deepEqual(series(metrics, 'images_to_s3_store_errors_total'), { 'kind=unavailable': 1 });
      assert.deepEqual(series(metrics, 'images_to_s3_uploads_total'), { [`camera=${CAMERA},status=503`]: 1 });
      assert.deepEqual(series(metrics, 'images_to_s3_stored_bytes_total'), {});
      assert.deepEqual(series(metrics, 'images_to_s3_auth_failures_total'), {});
      assertObserved(metrics, 'failed', 1, 0, elapsedMs / 1000);
      assert.equal(durations(metrics, 'stored'), undefined);
      assert.equal(durations(metrics, 'rejected'), undefined);
    } finally {
      await receiver.close();
    }
  });

  it('counts a store failure that is neither unavailable nor full as store_errors{kind="other"} and a 500', async () => {
    const { receiver, store, close } = await faultyReceiver();
    try {
      assert.equal((await cameraUpload(receiver, { filename: 'ok.jpg' })).status, 200);
      store.failing = true;
      const { response, elapsedMs } = await timed(() => cameraUpload(receiver, { filename: 'broken.jpg' }));
      assert.equal(response.status, 500);
      const metrics = await scrape(receiver);
      assert.deepEqual(series(metrics, 'images_to_s3_store_errors_total'), { 'kind=other': 1 });
      assert.deepEqual(series(metrics, 'images_to_s3_uploads_total'), { [`camera=${CAMERA},status=200`]: 1, [`camera=${CAMERA},status=500`]: 1 });
      assert.deepEqual(series(metrics, 'images_to_s3_stored_bytes_total'), { [`camera=${CAMERA}`]: SAMPLE_JPEG.length }, 'the failed upload adds no bytes');
      assertObserved(metrics, 'failed', 1, 0, elapsedMs / 1000);
    } finally {
      await close();
    }
  });

  it('counts a full store as store_errors{kind="full"} and a 507', async (t) => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-tmpfs-'));
    try {
      await onTmpfs(t, folder, '1m', async (disk) => {
        const receiver = await startReceiver({ store: new DiskStore(path.join(disk, 'images'), 0) });
        try {
          const { response, elapsedMs } = await timed(() => cameraUpload(receiver, { body: jpegOfSize(2 * 1024 * 1024), filename: 'big.jpg' }));
          assert.equal(response.status, 507);
          const metrics = await scrape(receiver);
          assert.deepEqual(series(metrics, 'images_to_s3_store_errors_total'), { 'kind=full': 1 });
          assert.deepEqual(series(metrics, 'images_to_s3_uploads_total'), { [`camera=${CAMERA},status=507`]: 1 });
          assert.deepEqual(series(metrics, 'images_to_s3_stored_bytes_total'), {});
          assertObserved(metrics, 'failed', 1, 0, elapsedMs / 1000);
        } finally {
          await receiver.close();
        }
      });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('shows an upload being received in images_to_s3_uploads_in_flight, and 0 again once it ended', async () => {
    const receiver = await startReceiver();
    const held: RawConnection[] = [];
    try {
      for (let n = 0; n < 2; n++) {
        const connection = await RawConnection.open(receiver.port);
        connection.send(uploadHead({ token: receiver.token, length: SAMPLE_JPEG.length, filename: `held-${n}.jpg` }), SAMPLE_JPEG.subarray(0, 1000));
        held.push(connection);
      }
      const during = await scrapeUntil(receiver, (s) => sample(s, 'images_to_s3_uploads_in_flight') === 2, 'two uploads in flight', 3_000);
      assert.equal(sample(during, 'images_to_s3_uploads_in_flight'), 2);
      // The first ends well, the second is cut off.
      held[0]!.send(SAMPLE_JPEG.subarray(1000));
      assert.equal((await held[0]!.response()).status, 200);
      assert.equal(sample(await scrape(receiver), 'images_to_s3_uploads_in_flight'), 1);
      held[1]!.destroy();
      const afterwards = await scrapeUntil(receiver, (s) => sample(s, 'images_to_s3_uploads_in_flight') === 0, 'no upload in flight', 3_000);
      assert.deepEqual(series(afterwards, 'images_to_s3_uploads_total'), { [`camera=${CAMERA},status=200`]: 1, [`camera=${CAMERA},status=400`]: 1 });
    } finally {
      for (const connection of held) connection.destroy();
      await receiver.close();
    }
  });

  describe('with a spool in front of an S3 store', () => {
    let s3: Awaited<ReturnType<typeof startLocalS3>>;
    let spoolFolder: string;
    before(async () => {
      s3 = await startLocalS3();
      spoolFolder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-spool-'));
    });
    after(async () => {
      await s3.stop();
      await rm(spoolFolder, { recursive: true, force: true });
    });

    it('tells the spooled images and bytes, their age, the store down then up, attempts, failures, forwarded and rekeyed images', async () => {
      // A different object already has the key the second image will get: it is forwarded under another key.
      const clashKey = `${CAMERA}/${today()}/clash.jpg`;
      const admin = createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials });
      await admin.send(new PutObjectCommand({ Bucket: s3.bucket, Key: clashKey, Body: Buffer.from('someone else') }));
      admin.destroy();
      await s3.down();

      const client = createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, requestTimeoutMs: 2_000 });
      const store = new SpooledStore(new S3Store({ client, bucket: s3.bucket }), {
        folder: spoolFolder,
        maxBytes: 64 * 1024 * 1024,
        forwardConcurrency: 2,
        backoff: { initialMs: 50, maxMs: 200 },
      });
      const receiver = await startReceiver({ store });
      try {
        const first = jpegOfSize(60_000);
        const second = jpegOfSize(61_000);
        const receivedFrom = Date.now();
        const one: Response = await cameraUpload(receiver, { body: first, filename: 'one.jpg' });
        const two: Response = await cameraUpload(receiver, { body: second, filename: 'clash.jpg' });
        assert.equal(one.status, 200, one.body);
        assert.equal(two.status, 200, two.body);
        assert.equal(two.json.key, clashKey);

        const down = await scrapeUntil(
          receiver,
          (s) => sample(s, 'images_to_s3_store_reachable') === 0 && (sample(s, 'images_to_s3_forward_failures_total') ?? 0) >= 1,
          'the forwarder to find the store down',
        );
        const downAt = Date.now();
        for (const name of ['images_to_s3_spool_images', 'images_to_s3_spool_bytes', 'images_to_s3_spool_oldest_age_seconds', 'images_to_s3_store_reachable']) {
          assert.equal(down.types.get(name), 'gauge', `# TYPE of ${name}`);
        }
        for (const name of ['images_to_s3_forward_attempts_total', 'images_to_s3_forward_failures_total', 'images_to_s3_forwarded_total', 'images_to_s3_forward_rekeyed_total']) {
          assert.equal(down.types.get(name), 'counter', `# TYPE of ${name}`);
        }
        assert.equal(sample(down, 'images_to_s3_spool_images'), 2);
        assert.equal(sample(down, 'images_to_s3_spool_bytes'), 60_000 + 61_000);
        const age = sample(down, 'images_to_s3_spool_oldest_age_seconds')!;
        assert.ok(age > 0 && age <= (downAt - receivedFrom) / 1000 + 0.05, `oldest age ${age} s, received ${(downAt - receivedFrom) / 1000} s ago at most`);
        const failuresDown = sample(down, 'images_to_s3_forward_failures_total')!;
        assert.ok(sample(down, 'images_to_s3_forward_attempts_total')! >= failuresDown, 'every failure was an attempt');
        assert.equal(sample(down, 'images_to_s3_forwarded_total'), 0);
        assert.equal(sample(down, 'images_to_s3_forward_rekeyed_total'), 0);
        // Spooled images count as stored for the upload metrics: the camera got its 200.
        assert.deepEqual(series(down, 'images_to_s3_uploads_total'), { [`camera=${CAMERA},status=200`]: 2 });
        assert.deepEqual(series(down, 'images_to_s3_stored_bytes_total'), { [`camera=${CAMERA}`]: 121_000 });
        assert.deepEqual(series(down, 'images_to_s3_store_errors_total'), {}, 'a store that is down while spooling is no upload error');

        await s3.up();
        const up = await scrapeUntil(receiver, (s) => sample(s, 'images_to_s3_forwarded_total') === 2 && sample(s, 'images_to_s3_spool_images') === 0, 'the spool to drain');
        assert.equal(sample(up, 'images_to_s3_spool_bytes'), 0);
        assert.equal(sample(up, 'images_to_s3_spool_oldest_age_seconds'), 0);
        assert.equal(sample(up, 'images_to_s3_store_reachable'), 1);
        assert.equal(sample(up, 'images_to_s3_forward_rekeyed_total'), 1);
        const failuresUp = sample(up, 'images_to_s3_forward_failures_total')!;
        assert.ok(failuresUp >= failuresDown, 'a counter never goes down');
        // The clash costs one refused attempt; the rest succeeded.
        assert.ok(sample(up, 'images_to_s3_forward_attempts_total')! >= failuresUp + 2, 'the two forwards were attempts');
        assert.equal((await s3.keys()).length, 3, 'the object that had the key, and both images');
      } finally {
        await receiver.close();
      }
    });
  });
});

// =============================================================================================

describe('log: one JSON line per upload, with the facts of its outcome, never the token', () => {
  let receiver: RunningReceiver;
  before(async () => {
    receiver = await startReceiver({ maxBytes: 256 * 1024 });
  });
  after(() => receiver.close());

  it('a stored image: info "image stored" with camera, filename, key, bytes, kind, status, durationMs and remoteAddress', async () => {
    const since = receiver.logs.length;
    const slow = await slowUpload(receiver, 'logged.jpg', 200);
    assert.equal(slow.status, 200);
    const line = await uploadLine(receiver, since);
    assert.equal(line.level, PINO_LEVEL.info);
    assert.equal(line.msg, 'image stored');
    assert.deepEqual(factNames(line), ['bytes', 'camera', 'durationMs', 'filename', 'key', 'kind', 'remoteAddress', 'status']);
    assert.equal(line.kind, 'image');
    assert.equal(line.camera, CAMERA);
    assert.equal(line.filename, 'logged.jpg');
    assert.equal(line.key, slow.json.key);
    assert.equal(line.key, `${CAMERA}/${today()}/logged.jpg`);
    assert.equal(line.bytes, SAMPLE_JPEG.length);
    assert.equal(line.status, 200);
    assert.equal(line.remoteAddress, '127.0.0.1');
    // The server's clock starts once the headers are in, a little after the client's.
    assertDuration(line, 150, slow.elapsedMs);
    assert.equal(typeof line.time, 'number');
  });

  const refusals: Array<{ status: number; send: (receiver: RunningReceiver) => Promise<Response>; facts: string[]; camera?: string; filename?: string }> = [
    { status: 401, send: (r) => cameraUpload(r, { token: null, filename: 'no-token.jpg' }), facts: ['durationMs', 'error', 'remoteAddress', 'status'] },
    { status: 403, send: (r) => cameraUpload(r, { token: 'not-a-token-not-a-token', filename: 'bad-token.jpg' }), facts: ['durationMs', 'error', 'remoteAddress', 'status'] },
    {
      status: 415,
      send: (r) => cameraUpload(r, { contentType: 'text/plain', filename: 'text.jpg' }),
      // Refused from the headers alone: the body (and so the filename) was never read.
      facts: ['camera', 'durationMs', 'error', 'remoteAddress', 'status'],
      camera: CAMERA,
    },
    {
      status: 415,
      send: (r) => cameraUpload(r, { contentType: 'image/png', filename: 'lying.png' }),
      facts: ['camera', 'durationMs', 'error', 'filename', 'remoteAddress', 'status'],
      camera: CAMERA,
      filename: 'lying.png',
    },
    {
      status: 413,
      send: (r) => cameraUpload(r, { body: jpegOfSize(300 * 1024), filename: 'too-big.jpg' }),
      facts: ['camera', 'durationMs', 'error', 'filename', 'remoteAddress', 'status'],
      camera: CAMERA,
      filename: 'too-big.jpg',
    },
  ];
  for (const refusal of refusals) {
    it(`a ${refusal.status}: warn "upload rejected" with ${refusal.facts.join(', ')}, the error being the message the camera got`, async () => {
      const since = receiver.logs.length;
      const { response, elapsedMs } = await timed(() => refusal.send(receiver));
      assert.equal(response.status, refusal.status, response.body);
      const line = await uploadLine(receiver, since);
      assert.equal(line.level, PINO_LEVEL.warn);
      assert.equal(line.msg, 'upload rejected');
      assert.deepEqual(factNames(line), refusal.facts);
      assert.equal(line.status, refusal.status);
      assert.equal(line.error, response.json.message);
      assert.equal(line.camera, refusal.camera);
      assert.equal(line.filename, refusal.filename);
      assert.equal(line.remoteAddress, '127.0.0.1');
      assertDuration(line, 0, elapsedMs);
    });
  }

  it('a 413 announced by Content-Length (refused before the body): the camera and the error, no filename since the body was never read', async () => {
    const since = receiver.logs.length;
    const connection = await RawConnection.open(receiver.port);
    try {
      connection.send(uploadHead({ token: receiver.token, length: 1024 * 1024, filename: 'announced.jpg' }), SAMPLE_JPEG.subarray(0, 1000));
      const response = await connection.response();
      assert.equal(response.status, 413);
      const line = await uploadLine(receiver, since);
      assert.equal(line.level, PINO_LEVEL.warn);
      assert.deepEqual(factNames(line), ['camera', 'durationMs', 'error', 'remoteAddress', 'status']);
      assert.equal(line.camera, CAMERA);
      assert.equal(line.status, 413);
      assert.equal(line.error, (JSON.parse(response.body) as { message: string }).message);
    } finally {
      connection.destroy();
    }
  });

  it('a store failure: error "upload failed" with camera, filename, error, status, durationMs, remoteAddress and the cause in err', async () => {
    const failing = await startReceiver({ store: await unreachableS3Store() });
    try {
      const { response, elapsedMs } = await timed(() => cameraUpload(failing, { filename: 'store-down.jpg' }));
      assert.equal(response.status, 503);
      const line = await uploadLine(failing, 0);
      assert.equal(line.level, PINO_LEVEL.error);
      assert.equal(line.msg, 'upload failed');
      assert.deepEqual(factNames(line), ['camera', 'durationMs', 'err', 'error', 'filename', 'remoteAddress', 'status']);
      assert.equal(line.camera, CAMERA);
      assert.equal(line.filename, 'store-down.jpg');
      assert.equal(line.status, 503);
      assert.equal(line.remoteAddress, '127.0.0.1');
      assert.equal(typeof line.error, 'string');
      assert.ok((line.error as string).length > 0);
      const err = line.err as { type?: unknown; message?: unknown; stack?: unknown } | undefined;
      assert.equal(typeof err, 'object', 'the cause is logged as err');
      assert.match(String(err?.message), /ECONNREFUSED/, 'err says why the store failed');
      assert.equal(typeof err?.stack, 'string');
      assertDuration(line, 0, elapsedMs);
      assert.equal(line.key, undefined, 'no key: nothing was stored');
      assert.equal(line.bytes, undefined);
    } finally {
      await failing.close();
    }
  });

  it('a store failure of another kind (500) is logged the same way, with the cause in err', async () => {
    const { receiver: broken, store, close } = await faultyReceiver();
    try {
      store.failing = true;
      const since = broken.logs.length;
      const response = await cameraUpload(broken, { filename: 'broken.jpg' });
      assert.equal(response.status, 500);
      const line = await uploadLine(broken, since);
      assert.equal(line.level, PINO_LEVEL.error);
      assert.equal(line.msg, 'upload failed');
      assert.deepEqual(factNames(line), ['camera', 'durationMs', 'err', 'error', 'filename', 'remoteAddress', 'status']);
      assert.equal(line.status, 500);
      assert.equal(line.filename, 'broken.jpg');
      assert.match(String((line.err as { message?: unknown } | undefined)?.message), /FAULT: the disk store broke/);
    } finally {
      await close();
    }
  });

  it('no line holds a token or a query string: the token in the query (stored, refused, wrong) or in headers', async () => {
    const logged = await startReceiver({ maxBytes: 256 * 1024 });
    const wrong = 'wrong-token-WRONG-token-0123456789';
    try {
      const since = logged.logs.length;
      const statuses = [
        (await cameraUpload(logged, { filename: 'with-token.jpg' })).status,
        (await cameraUpload(logged, { contentType: 'text/plain' })).status,
        (await cameraUpload(logged, { body: jpegOfSize(300 * 1024) })).status,
        (await cameraUpload(logged, { token: wrong })).status,
        (await cameraUpload(logged, { token: null, headers: { authorization: `Bearer ${logged.token}`, 'x-access-token': logged.token, cookie: `accessToken=${logged.token}` } })).status,
        (await cameraUpload(logged, { token: null, query: `?camera=front&accessToken=${logged.token}&x=1`, filename: 'middle.jpg' })).status,
        (await request(`${logged.url}?accessToken=${logged.token}`)).status,
      ];
      assert.deepEqual(statuses, [200, 415, 413, 403, 401, 200, 200]);
      for (let waited = 0; waited < 1_000 && logged.logs.slice(since).filter((line) => line.includes('"status"')).length < 6; waited += 10) await sleep(10);
      const lines = logged.logs.slice(since);
      assert.equal(lines.map((line) => JSON.parse(line) as LogLine).filter((line) => line.status !== undefined && line.remoteAddress !== undefined).length, 6, 'one line per upload');
      const all = lines.join('\n');
      assert.ok(!all.includes(logged.token), 'a log line holds the camera token');
      assert.ok(!all.includes(wrong), 'a log line holds the wrong token that was sent');
      // The 401 message tells the installer to add "accessToken=<token>": that placeholder is all there may be.
      assert.ok(!/accessToken=(?!<token>)/i.test(all), 'a log line holds the query string or the token parameter');
      assert.ok(!all.includes('camera=front'), 'a log line holds the query string');
    } finally {
      await logged.close();
    }
  });
});

// =============================================================================================

describe('Connection: close after a refused upload, keep-alive after a stored one', () => {
  let receiver: RunningReceiver;
  before(async () => {
    receiver = await startReceiver({ maxBytes: 256 * 1024, limits: { failedAuthPerMinute: 0 } });
  });
  after(() => receiver.close());

  const refused: Array<{ name: string; status: number; send: (receiver: RunningReceiver, connection: RawConnection) => void }> = [
    {
      name: 'a 401 (no token) with its whole body sent',
      status: 401,
      send: (_r, c) => c.send(uploadHead({ length: SAMPLE_JPEG.length }), SAMPLE_JPEG),
    },
    {
      name: 'a 403 (unknown token) with its whole body sent',
      status: 403,
      send: (_r, c) => c.send(uploadHead({ token: 'not-a-token-not-a-token', length: SAMPLE_JPEG.length }), SAMPLE_JPEG),
    },
    {
      name: 'a 415 (not an image type) with its whole body sent',
      status: 415,
      send: (r, c) => c.send(uploadHead({ token: r.token, contentType: 'text/plain', length: SAMPLE_JPEG.length }), SAMPLE_JPEG),
    },
    {
      name: 'a 415 (bytes not of the announced type) with its whole body sent',
      status: 415,
      send: (r, c) => c.send(uploadHead({ token: r.token, contentType: 'image/png', length: SAMPLE_JPEG.length }), SAMPLE_JPEG),
    },
    {
      name: 'a 413 announced by Content-Length, with the start of its body',
      status: 413,
      send: (r, c) => c.send(uploadHead({ token: r.token, length: 1024 * 1024 }), SAMPLE_JPEG),
    },
  ];
  for (const refusal of refused) {
    it(`${refusal.name}: answered with Connection: close, and the server closes the connection`, async () => {
      const connection = await RawConnection.open(receiver.port);
      try {
        refusal.send(receiver, connection);
        const response = await connection.response();
        assert.equal(response.status, refusal.status, response.body);
        assert.equal(response.headers.connection?.toLowerCase(), 'close');
        assert.ok(await connection.closedWithin(3_000), 'the server kept the connection open after a refused upload');
      } finally {
        connection.destroy();
      }
    });
  }

  it('a stored upload keeps the connection alive: a second upload on it is stored too', async () => {
    const connection = await RawConnection.open(receiver.port);
    try {
      for (const name of ['first.jpg', 'second.jpg']) {
        connection.send(uploadHead({ token: receiver.token, length: SAMPLE_JPEG.length, filename: name }), SAMPLE_JPEG);
        const response = await connection.response();
        assert.equal(response.status, 200, response.body);
        assert.notEqual(response.headers.connection?.toLowerCase(), 'close');
        assert.equal((JSON.parse(response.body) as { key: string }).key, `${CAMERA}/${today()}/${name}`);
      }
      assert.ok(!(await connection.closedWithin(300)), 'the server closed a connection after stored uploads');
    } finally {
      connection.destroy();
    }
  });

  it('the Test button (GET) keeps the connection alive too', async () => {
    const connection = await RawConnection.open(receiver.port);
    try {
      connection.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      const response = await connection.response();
      assert.equal(response.status, 200);
      assert.notEqual(response.headers.connection?.toLowerCase(), 'close');
      assert.ok(!(await connection.closedWithin(300)));
    } finally {
      connection.destroy();
    }
  });
});
