/**
 * Listing by camera and day, on both stores: the disk store on a temp dir and the S3 store on an
 * in-process s3rver (and on a real S3 server such as Ceph RGW when S3_TEST_ENDPOINT and its keys
 * are set, as CI does). A store wrapper records what the catalog asks for, so the tests also show
 * that a day is read through its own prefix and that nothing lists the whole store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { alternateKey } from '../../src/core/object-key.js';
import type { ImageStore } from '../../src/core/store.js';
import { ImageCatalog } from '../../src/gallery/catalog.js';
import { silentAfterMs } from '../../src/core/camera-silence.js';
import { ALL_IMAGES, GalleryLayout } from '../../src/gallery/layout.js';
import { DiskStore } from '../../src/stores/disk.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import { RecordingStore, fixS3rverDelimiterListing } from './helpers.js';

interface StoreUnderTest {
  store: ImageStore;
  /** Sets an object's last-modified time where the store allows it (disk); S3 keeps its own. */
  setTime?(key: string, at: Date): Promise<void>;
  close(): Promise<void>;
}

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1]);

async function put(store: ImageStore, key: string): Promise<void> {
  const written = await store.write({
    key,
    alternateKey: () => alternateKey(key, new Date()),
    body: (async function* () {
      yield await Promise.resolve(JPEG);
    })(),
    contentType: 'image/jpeg',
    metadata: {},
  });
  assert.equal(written.key, key);
}

function suite(name: string, open: () => Promise<StoreUnderTest>, skip?: string): void {
  describe(`ImageCatalog on the ${name} store`, { skip: skip ?? false }, () => {
    let subject: StoreUnderTest;
    const keys = {
      door22: ['front-door/2026/11/22/a-0800.jpg', 'front-door/2026/11/22/a-0801.jpg'],
      door23: ['front-door/2026/11/23/b-0900.jpg', 'front-door/2026/11/23/b-0901.jpg', 'front-door/2026/11/23/b-0902.jpg'],
      yard20: ['back-yard/2026/10/20/c-1200.jpg'],
    };

    before(async () => {
      subject = await open();
      let minute = 0;
      for (const key of [...keys.door22, ...keys.door23, ...keys.yard20, 'flat-image.jpg', 'notes/readme.jpg']) {
        await put(subject.store, key);
        const day = /\/(\d{4})\/(\d{2})\/(\d{2})\//.exec(key);
        await subject.setTime?.(key, new Date(`${day ? `${day[1]}-${day[2]}-${day[3]}` : '2026-11-23'}T08:${String(minute++).padStart(2, '0')}:00Z`));
      }
    });
    after(() => subject.close());

    const catalogAt = (now: string, store: ImageStore, template = '{camera}/{yyyy}/{MM}/{dd}/{filename}', knownCameras: string[] = []): ImageCatalog => {
      let clock = new Date(now);
      const catalog = new ImageCatalog({ store, layout: new GalleryLayout(template), clock: () => clock, knownCameras: () => Promise.resolve(knownCameras), freshMs: 1_000 });
      (catalog as unknown as { setNow(at: string): void }).setNow = (at: string) => (clock = new Date(at));
      return catalog;
    };

    it('lists the folders below a prefix, and tells an object’s facts without reading it', async () => {
      const { store } = subject;
      assert.deepEqual(await store.listFolders!(''), ['back-yard', 'front-door', 'notes']);
      assert.deepEqual(await store.listFolders!('front-door/'), ['2026']);
      assert.deepEqual(await store.listFolders!('front-door/2026/11/'), ['22', '23']);
      assert.deepEqual(await store.listFolders!('front-door/2026/11/23/'), []);
      assert.deepEqual(await store.listFolders!('nobody/'), []);
      const facts = await store.head!(keys.door23[0]!);
      assert.equal(facts?.size, JPEG.length);
      assert.equal(facts?.contentType, 'image/jpeg');
      assert.equal(await store.head!('front-door/2026/11/23/missing.jpg'), undefined);
    });

    it("lists one camera's day, oldest first, through that day's prefix alone", async () => {
      const store = new RecordingStore(subject.store);
      const catalog = catalogAt('2026-11-23T12:00:00Z', store);
      const images = await catalog.items('front-door', '2026-11-23');
      assert.deepEqual(images.map((image) => image.key), keys.door23);
      assert.ok(images.every((image) => image.camera === 'front-door' && image.day === '2026-11-23' && image.size === JPEG.length));
      assert.deepEqual(store.calls, ['list front-door/2026/11/23/']);
      assert.deepEqual(await catalog.items('front-door', '2026-11-21'), []);
      assert.deepEqual(await catalog.items('nobody', '2026-11-23'), []);
    });

    it('finds the cameras and their days from folder listings, never from a listing of every key', async () => {
      const store = new RecordingStore(subject.store);
      const catalog = catalogAt('2026-11-23T12:00:00Z', store, undefined, ['garage']);
      assert.deepEqual(await catalog.cameras(), ['back-yard', 'front-door', 'garage', 'notes']);
      assert.deepEqual(await catalog.days('front-door'), ['2026-11-23', '2026-11-22']);
      assert.equal(await catalog.latestDay('back-yard'), '2026-10-20');
      assert.deepEqual(await catalog.neighbourDays('front-door', '2026-11-22'), { next: '2026-11-23' });
      assert.deepEqual(await catalog.neighbourDays('front-door', '2026-11-23'), { previous: '2026-11-22' });
      assert.deepEqual(await catalog.days('front-door', { from: '2026-11-23', to: '2026-11-30' }), ['2026-11-23']);
      assert.ok(store.calls.every((call) => call.startsWith('folders ')), store.calls.join(', '));
      assert.ok(!store.calls.includes('list '), 'nothing lists the whole store');
    });

    it('sums each camera up: latest image, images today, state', async () => {
      const store = new RecordingStore(subject.store);
      const catalog = catalogAt('2026-11-23T12:00:00Z', store, undefined, ['garage']);
      const byCamera = Object.fromEntries((await catalog.summaries()).map((summary) => [summary.camera, summary]));
      assert.equal(byCamera['front-door']!.today, 3);
      assert.equal(byCamera['front-door']!.latest!.key, keys.door23.at(-1));
      assert.equal(byCamera['back-yard']!.today, 0);
      assert.equal(byCamera['back-yard']!.latest!.key, keys.yard20[0]);
      assert.equal(byCamera['back-yard']!.state, 'unknown', 'one image: no interval to judge by');
      assert.equal(byCamera.garage!.state, 'never');
      if (subject.setTime) {
        // On disk the times are the test's: a minute apart, the last at 08:04, so silent for hours.
        assert.equal(byCamera['front-door']!.usualIntervalMs, 60_000);
        assert.equal(byCamera['front-door']!.state, 'overdue');
      }
    });

    it('counts per camera the images still waiting to be forwarded (a spool)', async () => {
      const waiting = ['front-door/2026/11/23/d-1100.jpg', 'front-door/2026/11/23/d-1101.jpg', 'back-yard/2026/11/23/e-1100.jpg', '.not-an-image'];
      const catalog = new ImageCatalog({ store: subject.store, layout: new GalleryLayout('{camera}/{yyyy}/{MM}/{dd}/{filename}'), clock: () => new Date('2026-11-23T12:00:00Z'), waitingKeys: () => waiting });
      const byCamera = Object.fromEntries((await catalog.summaries()).map((summary) => [summary.camera, summary.waiting]));
      assert.deepEqual(byCamera, { 'back-yard': 1, 'front-door': 2, notes: undefined });
    });

    it('reuses a day while it is fresh, and lists today again after that', async () => {
      const store = new RecordingStore(subject.store);
      const catalog = catalogAt('2026-11-23T12:00:00Z', store);
      await catalog.items('front-door', '2026-11-23');
      await catalog.items('front-door', '2026-11-23');
      await catalog.items('front-door', '2026-11-22');
      assert.equal(store.calls.length, 2);
      (catalog as unknown as { setNow(at: string): void }).setNow('2026-11-23T12:00:02Z');
      await catalog.items('front-door', '2026-11-23');
      await catalog.items('front-door', '2026-11-22');
      assert.deepEqual(store.calls, ['list front-door/2026/11/23/', 'list front-door/2026/11/22/', 'list front-door/2026/11/23/'], 'a past day is kept longer');
    });

    it("groups the flat layout's images as one camera, by the day they were stored", async () => {
      const store = new RecordingStore(subject.store);
      const today = new Date().toISOString().slice(0, 10);
      const catalog = catalogAt(`${today}T23:00:00Z`, store, '{filename}');
      assert.deepEqual(await catalog.cameras(), [ALL_IMAGES]);
      const day = subject.setTime ? '2026-11-23' : today;
      assert.deepEqual((await catalog.items(ALL_IMAGES, day)).map((image) => image.key), ['flat-image.jpg']);
      assert.deepEqual(await catalog.days(ALL_IMAGES), [day]);
      assert.deepEqual(store.calls, ['list '], 'one listing, shared by every question');
    });
  });
}

suite('disk', async () => {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-catalog-'));
  const store = new DiskStore(folder);
  await store.open();
  return {
    store,
    setTime: (key, at) => utimes(path.join(folder, ...key.split('/')), at, at),
    close: () => rm(folder, { recursive: true, force: true }),
  };
});

suite('S3 (s3rver)', async () => {
  fixS3rverDelimiterListing();
  const s3: LocalS3 = await startLocalS3('gallery');
  const store = new S3Store({ client: createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials }), bucket: s3.bucket, prefix: 'site/' });
  await store.open();
  return {
    store,
    close: async () => {
      await store.close();
      await s3.stop();
    },
  };
});

const S3_TEST_VARIABLES = ['S3_TEST_ENDPOINT', 'S3_TEST_ACCESS_KEY_ID', 'S3_TEST_SECRET_ACCESS_KEY'] as const;
suite(
  `S3 (${process.env.S3_TEST_SERVER || 'a configured S3 server'})`,
  async () => {
    const client = createS3Client({
      endpoint: process.env.S3_TEST_ENDPOINT!,
      region: process.env.S3_TEST_REGION || 'us-east-1',
      credentials: { accessKeyId: process.env.S3_TEST_ACCESS_KEY_ID!, secretAccessKey: process.env.S3_TEST_SECRET_ACCESS_KEY! },
    });
    const bucket = `gallery-${randomBytes(6).toString('hex')}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const store = new S3Store({ client, bucket, prefix: 'site/' });
    await store.open();
    return {
      store,
      close: async () => {
        for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket })) {
          for (const object of page.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key! }));
        }
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
        client.destroy();
      },
    };
  },
  S3_TEST_VARIABLES.every((name) => process.env[name]) ? undefined : `set ${S3_TEST_VARIABLES.join(', ')} to run against a real S3 server (scripts/ceph-rgw.sh start does)`,
);

describe('overdue', () => {
  it('means silent for three usual intervals, and at least a minute longer than one', () => {
    assert.equal(silentAfterMs(60_000), 180_000);
    assert.equal(silentAfterMs(1_000), 61_000);
  });

  it('takes a grace other than a minute (--silence-grace)', () => {
    assert.equal(silentAfterMs(1_000, 5_000), 6_000);
    assert.equal(silentAfterMs(10_000, 5_000), 30_000);
  });
});
