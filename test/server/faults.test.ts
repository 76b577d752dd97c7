import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DiskStore } from '../../src/stores/disk.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { SAMPLE_JPEG, cameraUpload, request, startReceiver } from '../support/receiver.js';
import type { RunningReceiver } from '../support/receiver.js';
import { S3RVER_CREDENTIALS, startS3rver } from '../support/s3rver.js';
import { freePort } from '../support/ports.js';
import { onTmpfs } from '../support/tmpfs.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const credentials = S3RVER_CREDENTIALS;

/** Opens a connection, sends `head`, then nothing more until the server closes it; resolves with what it said and when. */
function holdOpen(port: number, head: string | Buffer, trickle?: { byte: string; everyMs: number }): Promise<{ reply: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let reply = '';
    const timer = trickle ? setInterval(() => socket.writable && socket.write(trickle.byte), trickle.everyMs) : undefined;
    socket.on('data', (data) => (reply += data.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ reply, closedAfterMs: Date.now() - started });
    });
    setTimeout(() => {
      socket.destroy();
      reject(new Error('the server kept a stalled connection open for 10 s'));
    }, 10_000).unref();
  });
}


describe('faults: the S3 store goes away and comes back', () => {
  it('answers 503 within the store timeout, /readyz says not ready, and it recovers by itself', async () => {
    const directory = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-s3rver-'));
    const port = await freePort();
    let { server: s3rver } = await startS3rver(directory, port);
    const client = createS3Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials, requestTimeoutMs: 1_000 });
    await client.send(new CreateBucketCommand({ Bucket: 'images' }));
    const receiver = await startReceiver({ store: new S3Store({ client, bucket: 'images', conditionalWrites: 'no' }) });
    try {
      assert.equal((await cameraUpload(receiver, { filename: 'before.jpg' })).status, 200);

      await s3rver.close();
      const started = Date.now();
      const down = await cameraUpload(receiver, { filename: 'during.jpg' });
      assert.equal(down.status, 503);
      assert.ok(Date.now() - started < 8_000, `503 took ${Date.now() - started} ms`);
      assert.equal((await request(`http://127.0.0.1:${receiver.port}/readyz`)).status, 503);
      assert.equal((await request(receiver.url)).status, 200, 'the Test button still answers');

      ({ server: s3rver } = await startS3rver(directory, port));
      assert.equal((await request(`http://127.0.0.1:${receiver.port}/readyz`)).status, 200);
      assert.equal((await cameraUpload(receiver, { filename: 'after.jpg' })).status, 200);
      const listed = await client.send(new ListObjectsV2Command({ Bucket: 'images' }));
      const keys = (listed.Contents ?? []).map((object) => path.basename(object.Key ?? ''));
      assert.deepEqual(keys.sort(), ['after.jpg', 'before.jpg']);
    } finally {
      await receiver.close();
      await s3rver.close().catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('answers 503 within the store timeout when the store accepts connections but never answers', async () => {
    const sockets: net.Socket[] = [];
    const hanging = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const { port } = hanging.address() as net.AddressInfo;
    const client = createS3Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials, requestTimeoutMs: 500 });
    const receiver = await startReceiver({ store: new (class extends S3Store {
      override open(): Promise<void> {
        return Promise.resolve();
      }
    })({ client, bucket: 'images', conditionalWrites: 'yes' }) });
    try {
      const started = Date.now();
      const response = await cameraUpload(receiver);
      assert.equal(response.status, 503);
      assert.ok(Date.now() - started < 5_000, `503 took ${Date.now() - started} ms`);
    } finally {
      await receiver.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });
});

describe('faults: the disk', () => {
  /** Runs `test` with a receiver whose disk store is on a tmpfs of `size` (skipped where none can be mounted). */
  async function onSmallDisk(t: TestContext, size: string, test: (disk: string, receiver: RunningReceiver) => Promise<void>): Promise<void> {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-tmpfs-'));
    try {
      await onTmpfs(t, folder, size, async (disk) => {
        await mkdir(path.join(disk, 'images'));
        const receiver = await startReceiver({ store: new DiskStore(path.join(disk, 'images'), 0) });
        try {
          await test(disk, receiver);
        } finally {
          await receiver.close();
        }
      });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }

  it('answers 507 when the disk is full, leaves no partial file, and keeps serving', (t) =>
    onSmallDisk(t, '1m', async (disk, receiver) => {
      const big = Buffer.concat([SAMPLE_JPEG, Buffer.alloc(2 * 1024 * 1024, 7)]);
      const full = await cameraUpload(receiver, { body: big, filename: 'big.jpg' });
      assert.equal(full.status, 507);
      assert.match(String(full.json.message), /full/);
      assert.deepEqual(await readdir(path.join(disk, 'images', '.incoming')), []);
      assert.equal((await request(receiver.url)).status, 200);
      assert.equal((await cameraUpload(receiver, { filename: 'small.jpg' })).status, 200);
    }));

  it('answers 503 while the disk is read-only, /readyz says not ready, and it recovers when writable again', (t) =>
    onSmallDisk(t, '8m', async (disk, receiver) => {
      execFileSync('mount', ['-o', 'remount,ro', disk]);
      const response = await cameraUpload(receiver, { filename: 'ro.jpg' });
      assert.equal(response.status, 503);
      assert.equal((await request(`http://127.0.0.1:${receiver.port}/readyz`)).status, 503);
      execFileSync('mount', ['-o', 'remount,rw', disk]);
      assert.equal((await request(`http://127.0.0.1:${receiver.port}/readyz`)).status, 200);
      assert.equal((await cameraUpload(receiver, { filename: 'rw.jpg' })).status, 200);
    }));
});

describe('faults: slow and vanishing clients', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  before(async () => {
    receiver = await startReceiver({ timeouts: { headersMs: 600, requestMs: 1_200, idleMs: 5_000 } });
  });
  after(() => receiver.close());

  const openDescriptors = async (): Promise<number> => (await readdir('/proc/self/fd')).length;

  it('closes a connection whose headers trickle in byte by byte after the headers timeout', async () => {
    const { reply, closedAfterMs } = await holdOpen(receiver.port, 'POST / HTTP/1.1\r\nHost: x\r\n', { byte: 'X', everyMs: 100 });
    assert.ok(closedAfterMs >= 500 && closedAfterMs < 4_000, `closed after ${closedAfterMs} ms`);
    assert.match(reply, /^HTTP\/1\.1 408 /);
  });

  it('closes an upload whose body trickles in after the request timeout, storing nothing and leaking nothing', async () => {
    const descriptorsBefore = await openDescriptors();
    const filesBefore = await receiver.files();
    const head = `POST /?accessToken=${receiver.token} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename="slow.jpg"\r\nContent-Length: ${SAMPLE_JPEG.length}\r\n\r\n`;
    const { reply, closedAfterMs } = await holdOpen(receiver.port, Buffer.concat([Buffer.from(head), SAMPLE_JPEG.subarray(0, 100)]), { byte: 'A', everyMs: 100 });
    assert.ok(closedAfterMs >= 1_000 && closedAfterMs < 5_000, `closed after ${closedAfterMs} ms`);
    // The camera is told why: the image bound, and the option that sets it.
    assert.match(reply, /^HTTP\/1\.1 408 [\s\S]*did not arrive within 1\.2 s \(--request-timeout/);
    for (let waited = 0; waited < 2_000 && !receiver.logs.some((line) => line.includes('slow.jpg')); waited += 50) await sleep(50);
    const stalled = receiver.logs.map((line) => JSON.parse(line) as { filename?: string; status?: number }).find((line) => line.filename === 'slow.jpg');
    assert.equal(stalled?.status, 408, 'the cut-off upload is logged as timed out');
    assert.deepEqual(await receiver.files(), filesBefore);
    assert.ok((await openDescriptors()) <= descriptorsBefore + 1, 'file descriptors leaked');
  });

  it('answers 503 with Retry-After beyond the in-flight cap, and takes uploads again once below it', async () => {
    const capped = await startReceiver({ limits: { maxInFlight: 2 } });
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const socket = net.connect(capped.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write(
          `POST /?accessToken=${capped.token} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename="held-${i}.jpg"\r\nContent-Length: ${SAMPLE_JPEG.length}\r\n\r\n`,
        );
        socket.write(SAMPLE_JPEG.subarray(0, 1000));
        held.push(socket);
      }
      await sleep(200);
      const busy = await cameraUpload(capped, { filename: 'third.jpg' });
      assert.equal(busy.status, 503);
      assert.equal(busy.headers['retry-after'], '5');
      assert.match(String(busy.json.message), /busy/);
      for (const socket of held) socket.destroy();
      await sleep(200);
      assert.equal((await cameraUpload(capped, { filename: 'fourth.jpg' })).status, 200);
    } finally {
      for (const socket of held) socket.destroy();
      await capped.close();
    }
  });
});
