import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MAX_KEY_ATTEMPTS } from '../../src/core/store.js';
import { forwardingAlternateKey } from '../../src/spool/forwarder.js';
import { SpooledStore } from '../../src/spool/spooled-store.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import { SAMPLE_JPEG, cameraUpload, request, startReceiver } from '../support/receiver.js';
import type { RunningReceiver } from '../support/receiver.js';
import { distinctJpeg as jpeg, until } from './helpers.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Files of this process open under `folder`. */
async function openFilesUnder(folder: string): Promise<number> {
  let count = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(`${folder}/`)) count++;
  }
  return count;
}

async function spoolFiles(folder: string): Promise<string[]> {
  return (await readdir(path.join(folder, 'ready')).catch(() => [])).sort();
}

describe('spool in front of an S3 store', () => {
  let s3: LocalS3;
  let receiver: RunningReceiver;
  let store: SpooledStore;
  let spoolFolder: string;
  const folders: string[] = [];

  async function start(options: { maxBytes?: number; concurrency?: number } = {}): Promise<void> {
    spoolFolder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-spool-'));
    folders.push(spoolFolder);
    const client = createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, requestTimeoutMs: 2_000 });
    store = new SpooledStore(new S3Store({ client, bucket: s3.bucket }), {
      folder: spoolFolder,
      maxBytes: options.maxBytes ?? 64 * 1024 * 1024,
      forwardConcurrency: options.concurrency ?? 4,
      backoff: { initialMs: 50, maxMs: 400 },
    });
    receiver = await startReceiver({ store });
    store.forwarder.log = receiver.app.log;
  }

  /** A camera's upload, with the Content-Length a camera sends. */
  function upload(body: Buffer, filename: string): ReturnType<typeof cameraUpload> {
    return cameraUpload(receiver, { body, filename, headers: { 'content-length': String(body.length) } });
  }

  /** The store's first attempt (open, with its conditional-write probe) succeeded. */
  // Opened: the start-up probe's DELETE was seen, and a readiness check probed the store again
  // (which it does only once the forwarder has opened it; the DELETE's answer alone may still be on its way).
  const storeOpened = (): Promise<void> =>
    until(async () => {
      if (!s3.requests.some((r) => r.method === 'DELETE')) return false;
      await store.health();
      return store.report().forwarder.attempts > 1 && store.report().forwarder.failures === 0;
    }, 'the store to open');
  const storeSeenDown = (): Promise<void> => until(() => !store.report().forwarder.storeReachable, 'the forwarder to find the store down');

  /** Every object in the bucket whose bytes are `bytes`, by key. */
  async function keysHolding(bytes: Buffer): Promise<string[]> {
    const found: string[] = [];
    for (const key of await s3.keys()) if ((await s3.object(key))?.equals(bytes)) found.push(key);
    return found;
  }

  beforeEach(async () => {
    s3 = await startLocalS3();
  });
  afterEach(async () => {
    await receiver.close();
    await s3.stop();
  });
  after(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it('answers 200 while the store is down, and forwards every image exactly once when it is back', async () => {
    await s3.down();
    await start();
    const images = Array.from({ length: 5 }, (_, n) => jpeg(n));
    const receipts: string[] = [];
    for (const [n, body] of images.entries()) {
      const response = await cameraUpload(receiver, { body, filename: `image-${n}.jpg` });
      assert.equal(response.status, 200, response.body);
      assert.equal(response.json.sha256, sha256(body));
      receipts.push(String(response.json.key));
    }
    assert.equal((await spoolFiles(spoolFolder)).length, 5);

    await until(async () => (await request(`${receiver.url}readyz`)).json.storeState === 'unreachable', 'readyz to see the store down');
    const ready = await request(`${receiver.url}readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.json.status, 'degraded');
    assert.equal(ready.json.spooled, 5);
    assert.match(String(ready.json.message), /unreachable since/);
    const metrics = (await request(`${receiver.url}metrics`)).body;
    assert.match(metrics, /^images_to_s3_spool_images 5$/m);
    assert.match(metrics, /^images_to_s3_store_reachable 0$/m);
    // Attempts that never reached the store leave no spool file open.
    await until(() => store.report().forwarder.failures >= 4, 'a few more attempts');
    assert.ok((await openFilesUnder(spoolFolder)) <= 1, 'at most the attempt in flight holds a spooled file');

    // Listed while the store is unreachable (the spool's alone, and said so), and viewable: the receipt's key reads the spooled bytes.
    const listed: string[] = [];
    for await (const object of store.list('')) listed.push(object.key);
    assert.deepEqual(listed, [...receipts].sort());
    assert.match(store.listingNotice() ?? '', /unreachable since .* only the 5 images received/);
    const spooled = await store.read(receipts[0]!);
    assert.ok(spooled);
    const chunks: Buffer[] = [];
    for await (const chunk of spooled.body) chunks.push(Buffer.from(chunk));
    assert.deepEqual(Buffer.concat(chunks), images[0]);

    await s3.up();
    await until(async () => (await spoolFiles(spoolFolder)).length === 0, 'the spool to drain');
    assert.deepEqual(await s3.keys(), [...receipts].sort());
    for (const [n, body] of images.entries()) assert.deepEqual(await keysHolding(body), [receipts[n]]);
    assert.equal(store.listingNotice(), undefined);
    const after = await request(`${receiver.url}readyz`);
    assert.equal(after.json.status, 'ready');
    assert.equal(after.json.spooled, 0);
    assert.match((await request(`${receiver.url}metrics`)).body, /^images_to_s3_forwarded_total 5$/m);
  });

  it('tells in /readyz when the store of an idle receiver goes away and comes back, with nothing waiting', async () => {
    await start();
    await storeOpened();
    assert.equal((await request(`${receiver.url}readyz`)).json.storeState, 'reachable');
    await s3.down();
    const down = await request(`${receiver.url}readyz`);
    assert.equal(down.status, 200);
    assert.equal(down.json.status, 'degraded');
    assert.equal(down.json.storeState, 'unreachable');
    assert.equal(down.json.spooled, 0);
    await s3.up();
    // The breaker probes the store by itself, though no image waits to probe it with.
    await until(async () => (await request(`${receiver.url}readyz`)).json.status === 'ready', 'readyz to see the store back');
  });

  it('costs a dead store one request per backoff, not one per image (circuit breaker)', async () => {
    await start();
    await storeOpened();
    s3.failWith = 503;
    for (let n = 0; n < 30; n++) assert.equal((await cameraUpload(receiver, { body: jpeg(n), filename: `slow-${n}.jpg` })).status, 200);
    s3.requests.length = 0;
    await new Promise((resolve) => setTimeout(resolve, 600));
    // 600 ms with backoff from 50 ms up to 400 ms: a handful of probes, far fewer than 30 images.
    assert.ok(s3.requests.length <= 8, `${s3.requests.length} requests to a store answering 503 SlowDown`);
    assert.equal(store.report().spool.images, 30);

    s3.failWith = undefined;
    await until(() => store.report().spool.images === 0, 'the spool to drain');
    assert.equal((await s3.keys()).length, 30);
  });

  it('loses and duplicates nothing when the store goes away in the middle of forwarding', async () => {
    await start({ concurrency: 2 });
    await storeOpened();
    s3.failWith = 500;
    const images = Array.from({ length: 40 }, (_, n) => jpeg(n));
    await Promise.all(images.map(async (body, n) => assert.equal((await cameraUpload(receiver, { body, filename: `cut-${n}.jpg` })).status, 200)));
    s3.failWith = undefined;
    await until(() => store.report().forwarder.forwarded >= 5, 'forwarding to start');
    await s3.down();
    const forwardedBefore = store.report().forwarder.forwarded;
    assert.ok(forwardedBefore < 40, 'the outage began before the spool drained');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await s3.up();
    await until(() => store.report().spool.images === 0, 'the spool to drain');
    const keys = await s3.keys();
    assert.equal(keys.length, 40, `keys: ${keys.join(" ")}`);
    for (const body of images) assert.equal((await keysHolding(body)).length, 1);
  });

  it('counts an image already in the store with the same bytes as forwarded, and gives a different one another key', async () => {
    await s3.down();
    await start();
    const same = jpeg(1);
    const first = await cameraUpload(receiver, { body: same, filename: 'same.jpg' });
    const other = jpeg(2);
    const second = await cameraUpload(receiver, { body: other, filename: 'taken.jpg' });
    const [sameKey, takenKey] = [first.json.key as string, second.json.key as string];
    await s3.up();
    // As if an earlier attempt had stored it before a crash, and another writer had taken the second key.
    const admin = createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials });
    await admin.send(new PutObjectCommand({ Bucket: s3.bucket, Key: sameKey, Body: same, Metadata: { sha256: sha256(same) } }));
    const stranger = Buffer.from('someone else');
    await admin.send(new PutObjectCommand({ Bucket: s3.bucket, Key: takenKey, Body: stranger }));
    admin.destroy();

    await until(() => store.report().spool.images === 0, 'the spool to drain');
    assert.deepEqual(await keysHolding(same), [sameKey]);
    assert.deepEqual(await s3.object(takenKey), stranger, 'the object that had the key is untouched');
    const moved = await keysHolding(other);
    assert.equal(moved.length, 1);
    assert.notEqual(moved[0], takenKey);
    assert.equal(store.report().forwarder.rekeyed, 1);
    assert.ok(receiver.logs.some((line) => line.includes('forwarded image under another key') && line.includes(moved[0]!)));
  });

  it('keeps every image while the store is full (a quota), and forwards each once when there is room again', async () => {
    s3.full = true;
    await start();
    const images = [jpeg(1), jpeg(2)];
    for (const [n, body] of images.entries()) assert.equal((await upload(body, `quota-${n}.jpg`)).status, 200);
    await until(() => store.report().forwarder.failures >= 3, 'a few refused attempts');
    assert.equal(store.report().forwarder.storeReachable, false, 'a full store stops forwarding, as one that is down');
    assert.match(store.report().forwarder.lastError ?? '', /QuotaExceeded/);
    assert.equal(store.report().spool.images, 2);

    s3.full = false;
    await until(() => store.report().spool.images === 0, 'the spool to drain');
    for (const body of images) assert.equal((await keysHolding(body)).length, 1);
  });

  it('backs off alone an image whose every key the store has taken, forwards the others, and that one once a key is free', async () => {
    await start();
    await storeOpened();
    // Forwarding held while the keys the forwarder will try for the first image are taken.
    await store.forwarder.stop();
    const stuck = jpeg(1);
    const other = jpeg(2);
    const stuckKey = String((await upload(stuck, 'stuck.jpg')).json.key);
    assert.equal((await upload(other, 'other.jpg')).status, 200);
    const spooled = store.spool.find(stuckKey)!;
    // Its key and every alternate a try can reach: a retry starts at the first alternate (the key is known taken).
    const alternates = Array.from({ length: MAX_KEY_ATTEMPTS }, (_, n) => forwardingAlternateKey(spooled, n + 1));
    const taken = [stuckKey, ...alternates];
    const admin = createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials });
    const stranger = Buffer.from('someone else');
    for (const key of taken) await admin.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: stranger }));
    store.forwarder.start();

    await until(async () => (await keysHolding(other)).length === 1, 'the other image to be forwarded');
    await until(() => receiver.logs.some((line) => line.includes('the store refused a spooled image') && line.includes(stuckKey)), 'the refusal in the log');
    assert.equal(store.report().forwarder.storeReachable, true, 'the breaker stays closed: the store answers');
    // Images that arrive meanwhile are not held up behind it.
    const later = jpeg(3);
    assert.equal((await upload(later, 'later.jpg')).status, 200);
    await until(async () => (await keysHolding(later)).length === 1, 'a later image to be forwarded');
    assert.deepEqual([...store.spool.waiting()].map((image) => image.key), [stuckKey]);

    const freed = alternates[0]!;
    await admin.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: freed }));
    admin.destroy();
    await until(() => store.report().spool.images === 0, 'the image to be forwarded once a key is free');
    assert.deepEqual(await keysHolding(stuck), [freed]);
    for (const key of taken.filter((key) => key !== freed)) assert.deepEqual(await s3.object(key), stranger, key);
  });

  it('gives up, with an error in the log, on a spooled file that something else removed, and forwards the rest', async () => {
    await s3.down();
    await start();
    const kept = jpeg(1);
    assert.equal((await upload(kept, 'kept.jpg')).status, 200);
    assert.equal((await upload(jpeg(2), 'gone.jpg')).status, 200);
    const gone = [...store.spool.waiting()].find((image) => image.key.endsWith('gone.jpg'))!;
    await rm(gone.file);
    await s3.up();
    await until(() => store.report().spool.images === 0, 'the spool to empty');
    assert.deepEqual(await keysHolding(kept), [[...(await s3.keys())][0]]);
    assert.equal((await s3.keys()).length, 1);
    assert.ok(receiver.logs.some((line) => line.includes('removed from the spool folder by something else') && line.includes(gone.key)));
  });

  it('refuses with 507 when the spool is full, says why, and drops nothing spooled', async () => {
    await s3.down();
    await start({ maxBytes: SAMPLE_JPEG.length * 3 + 100 });
    await storeSeenDown();
    const accepted: Buffer[] = [];
    let refusal: Awaited<ReturnType<typeof cameraUpload>> | undefined;
    for (let n = 0; n < 6 && refusal === undefined; n++) {
      const body = jpeg(n);
      const response = await upload(body, `full-${n}.jpg`);
      if (response.status === 200) accepted.push(body);
      else refusal = response;
    }
    assert.ok(refusal, 'an upload was refused');
    assert.equal(refusal.status, 507);
    assert.match(String(refusal.json.message), /spool is full .* unreachable since .*Nothing spooled was dropped/);
    assert.ok(refusal.headers['retry-after']);
    assert.equal(accepted.length, 3);
    const ready = await request(`${receiver.url}readyz`);
    assert.equal(ready.status, 503);
    assert.match(String(ready.json.message), /spool is full/);

    await s3.up();
    await until(() => store.report().spool.images === 0, 'the spool to drain');
    for (const body of accepted) assert.equal((await keysHolding(body)).length, 1);
    assert.equal((await cameraUpload(receiver, { body: jpeg(99), filename: 'after.jpg' })).status, 200);
  });

  it('gives a second image with the key of one still waiting another key at once, so receipts stay true', async () => {
    await s3.down();
    await start();
    const a = await cameraUpload(receiver, { body: jpeg(1), filename: 'image.jpg' });
    const b = await cameraUpload(receiver, { body: jpeg(2), filename: 'image.jpg' });
    assert.notEqual(a.json.key, b.json.key);
    await s3.up();
    await until(() => store.report().spool.images === 0, 'the spool to drain');
    assert.deepEqual(await s3.keys(), [a.json.key, b.json.key].sort());
    assert.equal(store.report().forwarder.rekeyed, 0);
  });
});
