/**
 * The guarantees of the ImageStore contract (src/core/store.ts), one table run against every store:
 * the disk store; the S3 store against s3rver, with create-only writes (behind the local-s3 proxy,
 * as AWS S3 and Ceph RGW honour `If-None-Match: *`) and without (check-then-write); and against a
 * real S3 server when S3_TEST_* is set (scripts/ceph-rgw.sh start). What only one store does (the
 * disk store's fsync and files, S3 signing and multipart uploads) is tested in its own file.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';

import { DeleteBucketCommand, DeleteObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';

import { RequestBodyError, StoreFullError, StoreKeysTakenError, StoreUnavailableError, UploadError } from '../../src/core/errors.js';
import { MAX_KEY_ATTEMPTS, compareFolders } from '../../src/core/store.js';
import type { ImageStore, ImageWrite, ObjectFacts } from '../../src/core/store.js';
import { DiskStore } from '../../src/stores/disk.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import { createTestBucket, realS3FromEnv } from '../support/real-s3.js';
import type { RealS3 } from '../support/real-s3.js';
import { onTmpfs } from '../support/tmpfs.js';
import { bodyOf, bytesOf, chunked, failingBody, imageWrite, jpeg, keysOf, sha256 } from './helpers.js';

const MiB = 1024 * 1024;
/** The S3 stores' part size (the smallest S3 allows): larger images go as multipart uploads. */
const PART_SIZE = 5 * MiB;

/** A store of one kind, as the table needs it: one column of the table. */
interface StoreKind {
  name: string;
  /** Why the column is skipped, when it is. */
  skip?: string;
  /** Keeps an image's metadata beside it (S3 user metadata); a store that does not answers `{}`. */
  keepsMetadata: boolean;
  /** True, or why the store lists in another order (only which keys are listed is checked then). */
  listsInKeyOrder: true | string;
  /** A size that takes the store's other way of writing, where it has one (S3: a multipart upload). */
  largeBytes: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** An opened store on a location of its own, empty; `another()` opens another on the same location, as another process would. */
  fresh(): Promise<{ store: ImageStore; another: () => Promise<ImageStore> }>;
  /** A store whose location cannot be reached. */
  unreachable(): Promise<ImageStore>;
  /** Runs `test` with an opened store that has no room for an image, or skips `t` with the reason. */
  full(t: TestContext, test: (store: ImageStore) => Promise<void>): Promise<void>;
}

// ------------------------------------------------------------------------------- the kinds

function diskKind(): StoreKind {
  let sandbox: string;
  const opened: DiskStore[] = [];
  const open = async (root: string): Promise<DiskStore> => {
    const store = new DiskStore(root);
    opened.push(store);
    await store.open();
    return store;
  };
  return {
    name: 'DiskStore',
    keepsMetadata: false,
    listsInKeyOrder: true,
    largeBytes: PART_SIZE + 12_345,
    start: async () => {
      sandbox = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-guarantees-disk-'));
    },
    stop: async () => {
      for (const store of opened) await store.close();
      await rm(sandbox, { recursive: true, force: true });
    },
    fresh: async () => {
      const root = await mkdtemp(path.join(sandbox, 'images-'));
      return { store: await open(root), another: () => open(root) };
    },
    unreachable: async () => {
      // The store's folder replaced by a file, as when what should be mounted there is not a folder.
      const root = await mkdtemp(path.join(sandbox, 'gone-'));
      const store = await open(root);
      await rm(root, { recursive: true });
      await writeFile(root, 'not a folder');
      return store;
    },
    full: (t, test) =>
      onTmpfs(t, path.join(sandbox, `small-${opened.length}`), '64k', async (mountPoint) => {
        await test(await open(mountPoint));
      }),
  };
}

/** Where an S3 column's store lives: a bucket on a server, and how to make a bucket full. */
interface S3Place {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  bucket: string;
  /** Runs `test` while `bucket` takes no more objects, or skips `t` with the reason. */
  whileFull(t: TestContext, test: () => Promise<void>): Promise<void>;
}

function s3Kind(
  name: string,
  { skip, listsInKeyOrder = true, place }: { skip?: string; listsInKeyOrder?: true | string; place: () => Promise<S3Place & { stop(): Promise<void> }> },
): StoreKind {
  let server: S3Place & { stop(): Promise<void> };
  const opened: S3Store[] = [];
  let locations = 0;
  /** A store with `prefix`, opened; with `unreachableAt`, a store whose client goes there instead, not opened. */
  const open = async (prefix: string, unreachableAt?: string): Promise<S3Store> => {
    const client = createS3Client({ endpoint: unreachableAt ?? server.endpoint, region: server.region, credentials: server.credentials, requestTimeoutMs: 5_000 });
    const store = new S3Store({ client, bucket: server.bucket, prefix, partSize: PART_SIZE });
    opened.push(store);
    if (unreachableAt === undefined) await store.open();
    return store;
  };
  return {
    name,
    ...(skip !== undefined && { skip }),
    keepsMetadata: true,
    listsInKeyOrder,
    largeBytes: PART_SIZE + 12_345,
    start: async () => {
      server = await place();
    },
    stop: async () => {
      for (const store of opened) await store.close();
      await server?.stop();
    },
    fresh: async () => {
      const prefix = `t${++locations}/`;
      return { store: await open(prefix), another: () => open(prefix) };
    },
    unreachable: async () => open('unreachable/', `http://127.0.0.1:${await unusedPort()}`),
    full: async (t, test) => {
      const store = await open(`t${++locations}/`);
      await server.whileFull(t, () => test(store));
    },
  };
}

/** s3rver in-process behind the local-s3 proxy; `conditionalWrites` as there. */
async function localPlace(conditionalWrites: boolean): Promise<S3Place & { stop(): Promise<void> }> {
  const s3: LocalS3 = await startLocalS3('guarantees', { conditionalWrites });
  return {
    ...s3,
    whileFull: async (_t, test) => {
      s3.full = true;
      try {
        await test();
      } finally {
        s3.full = false;
      }
    },
    stop: () => s3.stop(),
  };
}

/** A bucket on the configured server, emptied and removed at the end. */
async function realPlace(server: RealS3): Promise<S3Place & { stop(): Promise<void> }> {
  const bucket = await createTestBucket(server, 'images-to-s3-guarantees');
  const cephDir = process.env.S3_TEST_CEPH_DIR;
  return {
    ...server,
    bucket,
    // A Ceph RGW bucket quota of one byte: the server itself refuses every write (403 QuotaExceeded).
    whileFull: async (t, test) => {
      if (!cephDir) {
        t.skip('making a bucket full needs radosgw-admin on a Ceph RGW of scripts/ceph-rgw.sh (S3_TEST_CEPH_DIR)');
        return;
      }
      const admin = (...args: string[]): void => {
        execFileSync('radosgw-admin', ['-c', path.join(cephDir, 'ceph.conf'), ...args, '--quota-scope=bucket', `--bucket=${bucket}`], { stdio: 'pipe' });
      };
      admin('quota', 'set', '--max-size=1');
      admin('quota', 'enable');
      try {
        await test();
      } finally {
        admin('quota', 'disable');
      }
    },
    stop: async () => {
      const client = createS3Client(server);
      try {
        for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket })) {
          for (const object of page.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key! }));
        }
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      } finally {
        client.destroy();
      }
    },
  };
}

const realS3 = realS3FromEnv();
const S3RVER_ORDER = 's3rver 3.7.1 lists in folder-walk order (front/ before front-door/), not in S3 key order';

const kinds: StoreKind[] = [
  diskKind(),
  s3Kind('S3Store, s3rver with create-only writes', { listsInKeyOrder: S3RVER_ORDER, place: () => localPlace(true) }),
  s3Kind('S3Store, s3rver without create-only writes (check, then write)', { listsInKeyOrder: S3RVER_ORDER, place: () => localPlace(false) }),
  s3Kind(`S3Store, ${realS3?.name ?? 'a configured S3 server'}`, {
    ...(realS3 === undefined && {
      skip: 'set S3_TEST_ENDPOINT, S3_TEST_ACCESS_KEY_ID and S3_TEST_SECRET_ACCESS_KEY (e.g. `. DIR/env` after scripts/ceph-rgw.sh start) to run against a real S3 server',
    }),
    place: () => realPlace(realS3!),
  }),
];

// ------------------------------------------------------------------------------- the table

/** What a guarantee is checked with: a store of the kind on a location of its own. */
interface Subject {
  kind: StoreKind;
  store: ImageStore;
  /** Another store on the same location (another process). */
  another: () => Promise<ImageStore>;
}

const SIZES = [
  ['a small image', () => 300_000],
  ['a large image', (kind: StoreKind) => kind.largeBytes],
] as const;

/** A row of the table: a guarantee, checked on a fresh location of each kind. */
type Guarantee = [name: string, check: (subject: Subject, t: TestContext) => Promise<void>];

const guarantees: Guarantee[] = [
  [
    'stores the bytes under the key given, readable at once by another reader, small or large',
    async ({ kind, store, another }) => {
      const reader = await another();
      for (const [what, size] of SIZES) {
        const image = jpeg(size(kind));
        const { key } = await store.write(imageWrite(`cam/${size(kind)}.jpg`, bodyOf(chunked(image, 40))));
        assert.equal(key, `cam/${size(kind)}.jpg`, what);
        const object = await reader.read(key);
        assert.ok(object, what);
        assert.equal(object.key, key);
        assert.equal(object.size, image.length, what);
        assert.equal(object.contentType, 'image/jpeg', what);
        assert.equal(sha256(await bytesOf(object.body)), sha256(image), what);
      }
    },
  ],
  [
    'tells an object’s facts without its bytes: size, time, content type, and the metadata where it keeps it',
    async ({ kind, store }) => {
      const image = jpeg(20_000);
      const metadata = { camera: 'front-door', 'received-at': '2024-05-06T07:08:09.123Z', 'camera-filename': 'snap%201.jpg' };
      const before = Date.now();
      const { key } = await store.write(imageWrite('cam/facts.jpg', bodyOf([image]), { metadata }));

      const facts = await store.head?.(key);
      assert.ok(facts, 'the store tells facts (head)');
      assert.deepEqual({ ...facts, lastModified: undefined }, { key, size: image.length, contentType: 'image/jpeg', metadata: kind.keepsMetadata ? metadata : {}, lastModified: undefined });
      // Stores keep times to the second.
      assert.ok(Math.abs(facts.lastModified.getTime() - before) < 60_000, `lastModified ${facts.lastModified.toISOString()}`);
    },
  ],
  [
    'shows nothing under the key while the image is still arriving, whatever its size',
    async ({ kind, store, another }) => {
      const reader = await another();
      for (const [what, size] of SIZES) {
        const image = jpeg(size(kind));
        const folder = `arriving-${size(kind)}/`;
        const key = `${folder}snap.jpg`;
        // Past the first part (the store sends it meanwhile), then the body waits for the checks.
        const split = Math.min(PART_SIZE + 1, image.length - 1);
        let resume!: () => void;
        let waiting!: () => void;
        const resumed = new Promise<void>((resolve) => (resume = resolve));
        const isWaiting = new Promise<void>((resolve) => (waiting = resolve));
        async function* body(): AsyncGenerator<Uint8Array> {
          yield* bodyOf(chunked(image.subarray(0, split), 5));
          waiting();
          await resumed;
          yield image.subarray(split);
        }
        const write = store.write(imageWrite(key, body()));
        await isWaiting;

        assert.equal(await reader.read(key), undefined, what);
        assert.equal(await reader.head?.(key), undefined, what);
        assert.deepEqual(await keysOf(reader.list(folder)), [], what);

        resume();
        assert.equal((await write).key, key, what);
        assert.equal((await reader.head?.(key))?.size, image.length, what);
      }
    },
  ],
  [
    'never replaces an object: another image under a taken key goes to an alternate key, small or large',
    async ({ kind, store }) => {
      const first = jpeg(40_000);
      await store.write(imageWrite('clash/snap.jpg', bodyOf([first])));
      const stored = new Map([['clash/snap.jpg', first]]);
      for (const [what, size] of SIZES) {
        const image = jpeg(size(kind));
        const write = imageWrite('clash/snap.jpg', bodyOf(chunked(image, 3)));
        const { key } = await store.write(write);
        assert.deepEqual(write.alternates, [key], what);
        assert.ok(!stored.has(key), what);
        stored.set(key, image);
      }
      for (const [key, image] of stored) assert.equal(sha256(await bytesOf((await store.read(key))!.body)), sha256(image), key);
    },
  ],
  [
    'never replaces what another writer (another process) stored under the key',
    async ({ store, another }) => {
      const theirs = jpeg(1_000);
      await (await another()).write(imageWrite('other/snap.jpg', bodyOf([theirs])));

      const { key } = await store.write(imageWrite('other/snap.jpg', bodyOf([jpeg(2_000)])));

      assert.notEqual(key, 'other/snap.jpg');
      assert.deepEqual(await bytesOf((await store.read('other/snap.jpg'))!.body), theirs);
    },
  ],
  [
    'gives concurrent images with one key distinct keys, each with its own bytes',
    async ({ kind, store }) => {
      const images = [...Array.from({ length: 6 }, (_, i) => jpeg(20_000 + i)), jpeg(kind.largeBytes), jpeg(kind.largeBytes + 1)];

      const results = await Promise.all(images.map((image) => store.write(imageWrite('burst/same.jpg', bodyOf(chunked(image, 3))))));

      const keys = results.map((result) => result.key);
      assert.equal(new Set(keys).size, images.length);
      assert.ok(keys.includes('burst/same.jpg'));
      for (const [i, key] of keys.entries()) assert.equal(sha256(await bytesOf((await store.read(key))!.body)), sha256(images[i]!), key);
      assert.deepEqual((await keysOf(store.list('burst/'))).sort(), [...keys].sort());
    },
  ],
  [
    'counts a taken key as stored when the object there is this very image (a retry whose answer was lost)',
    async ({ kind, store }) => {
      const image = jpeg(30_000);
      const facts = { metadata: { camera: 'yard', sha256: sha256(image) } };
      await store.write(imageWrite('same/a.jpg', bodyOf([image]), facts));
      const sameAs = (bytes: Buffer) => (existing: ObjectFacts) =>
        existing.size === bytes.length && (!kind.keepsMetadata || existing.metadata.sha256 === sha256(bytes));

      const again = { ...imageWrite('same/a.jpg', bodyOf([image]), facts), isSameImage: sameAs(image) };
      assert.deepEqual(await store.write(again), { key: 'same/a.jpg' });
      assert.deepEqual(again.alternates, []);

      const other = jpeg(31_000);
      const different = { ...imageWrite('same/a.jpg', bodyOf([other]), { metadata: { camera: 'yard', sha256: sha256(other) } }), isSameImage: sameAs(other) };
      const { key } = await store.write(different);
      assert.deepEqual(different.alternates, [key]);
      assert.deepEqual((await keysOf(store.list('same/'))).sort(), ['same/a.jpg', key].sort());
      assert.equal(sha256(await bytesOf((await store.read('same/a.jpg'))!.body)), sha256(image));
    },
  ],
  [
    `gives up with StoreKeysTakenError (503, Retry-After) after ${MAX_KEY_ATTEMPTS} taken keys, storing and changing nothing`,
    async ({ kind, another }) => {
      const taken = jpeg(5_000);
      await (await another()).write(imageWrite('taken/snap.jpg', bodyOf([taken])));
      for (const [what, size] of SIZES) {
        // A store that answers every key as taken: each alternate is the taken key again.
        const store = await another();
        let alternates = 0;
        const write: ImageWrite = { ...imageWrite('taken/snap.jpg', bodyOf(chunked(jpeg(size(kind)), 3))), alternateKey: () => (alternates++, 'taken/snap.jpg') };

        await assert.rejects(store.write(write), (error: unknown) => {
          assert.ok(error instanceof StoreKeysTakenError, `${what}: ${String(error)}`);
          assert.equal(error.status, 503);
          assert.ok(error.retryAfterSeconds > 0);
          assert.match(error.message, /taken\/snap\.jpg/);
          return true;
        });
        assert.equal(alternates, MAX_KEY_ATTEMPTS - 1, what);
        assert.deepEqual(await keysOf(store.list('taken/')), ['taken/snap.jpg'], what);
        assert.equal(sha256(await bytesOf((await store.read('taken/snap.jpg'))!.body)), sha256(taken), what);
      }
    },
  ],
  [
    'rethrows the body’s own error as it is and stores nothing, small or large',
    async ({ kind, store }) => {
      // The last as a spooled file that cannot be read fails: an errno error is the body's too, not the store's.
      const errors = [
        new RequestBodyError({ cause: new Error('aborted') }),
        new UploadError(413, 'The image is larger than the limit.'),
        new Error('boom'),
        Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read', path: '/spool/ready/000-1.image' }),
      ];
      for (const [what, size] of SIZES) {
        for (const [n, error] of errors.entries()) {
          const key = `broken/${size(kind)}-${n}.jpg`;
          const sent = jpeg(size(kind));
          const write = imageWrite(key, failingBody(chunked(sent, Math.ceil(sent.length / MiB) + 1), error));

          await assert.rejects(store.write(write), (thrown) => thrown === error, `${what}, ${error.message}`);

          assert.equal(await store.read(key), undefined);
        }
      }
      assert.deepEqual(await keysOf(store.list('broken/')), []);
    },
  ],
  [
    'lists by prefix, with each object’s size and time',
    async ({ store }) => {
      await writeListFixture(store);
      const listed = [];
      for await (const object of store.list('list/')) listed.push(object);

      assert.deepEqual(listed.map((object) => object.key).sort(), LISTED.map((key) => `list/${key}`).sort());
      assert.ok(listed.every((object) => object.size === 1_000 && Math.abs(object.lastModified.getTime() - Date.now()) < 60_000));
      assert.deepEqual((await keysOf(store.list('list/front/'))).sort(), ['list/front/a.jpg', 'list/front/sub/c.jpg']);
      assert.deepEqual((await keysOf(store.list('list/front'))).sort(), ['list/front-door/b.jpg', 'list/front.jpg', 'list/front/a.jpg', 'list/front/sub/c.jpg']);
      assert.deepEqual(await keysOf(store.list('list/nothing/')), []);
    },
  ],
  [
    'lists in key order (UTF-8 bytes, as S3 does), and folders in the order of their keys',
    async ({ kind, store }, t) => {
      if (kind.listsInKeyOrder !== true) {
        t.skip(kind.listsInKeyOrder);
        return;
      }
      await writeListFixture(store);

      assert.deepEqual(await keysOf(store.list('list/')), LISTED.map((key) => `list/${key}`));
      assert.deepEqual(await store.listFolders?.('list/'), ['front-door', 'front']);
    },
  ],
  [
    'lists the folders directly below a prefix',
    async ({ store }) => {
      await writeListFixture(store);

      assert.deepEqual((await store.listFolders?.('list/'))?.sort(compareFolders), ['front-door', 'front']);
      assert.deepEqual(await store.listFolders?.('list/front/'), ['sub']);
      assert.deepEqual(await store.listFolders?.('list/nothing/'), []);
    },
  ],
  [
    'reads a missing key, a folder, or a path through an object as nothing',
    async ({ store }) => {
      await store.write(imageWrite('cam/2024/a.jpg', bodyOf([jpeg(100)])));

      for (const key of ['cam/2024/missing.jpg', 'other/a.jpg', 'cam/2024', 'cam/2024/a.jpg/deeper.jpg']) {
        assert.equal(await store.read(key), undefined, key);
        assert.equal(await store.head?.(key), undefined, key);
      }
    },
  ],
  [
    'is ready (check) while it can take images',
    async ({ store }) => {
      await store.check();
    },
  ],
];

/** Rows that need a store in a state of their own rather than a fresh one. */
const stateGuarantees: Array<[name: string, check: (kind: StoreKind, t: TestContext) => Promise<void>]> = [
  [
    'reports an unreachable store as StoreUnavailableError (503, Retry-After) from check, write, read, head, list and listFolders',
    async (kind) => {
      const store = await kind.unreachable();
      const unavailable = (error: unknown): boolean => {
        assert.ok(error instanceof StoreUnavailableError, String(error));
        assert.equal(error.status, 503);
        assert.ok(error.retryAfterSeconds > 0);
        return true;
      };
      await assert.rejects(store.check(), unavailable);
      await assert.rejects(store.write(imageWrite('cam/a.jpg', bodyOf([jpeg(1_000)]))), unavailable);
      await assert.rejects(store.read('cam/a.jpg'), unavailable);
      await assert.rejects(Promise.resolve(store.head?.('cam/a.jpg')), unavailable);
      await assert.rejects(keysOf(store.list('cam/')), unavailable);
      await assert.rejects(Promise.resolve(store.listFolders?.('')), unavailable);
    },
  ],
  [
    'reports a full store as StoreFullError (507) and stores nothing, small or large',
    (kind, t) =>
      kind.full(t, async (store) => {
        for (const [what, size] of SIZES) {
          const key = `full/${size(kind)}.jpg`;
          await assert.rejects(store.write(imageWrite(key, bodyOf(chunked(jpeg(size(kind)), 9)))), (error: unknown) => {
            // Ceph RGW over its quota answers and closes while a large body is still arriving;
            // Node 24's client then sees EPIPE before it reads the 403, so the store can only say
            // unavailable (503, which the camera retries). Nothing is stored either way.
            if (what === 'a large image' && error instanceof StoreUnavailableError && /EPIPE|ECONNRESET/.test(String(error))) return true;
            assert.ok(error instanceof StoreFullError, `${what}: ${String(error)}`);
            assert.equal(error.status, 507);
            return true;
          });
          assert.equal(await store.read(key), undefined, what);
        }
        assert.deepEqual(await keysOf(store.list('full/')), []);
      }),
  ],
];

/** The listing fixture, in key order; written out of order ("-" and "." sort before "/"). */
const LISTED = ['Alpha.jpg', 'front-door/b.jpg', 'front.jpg', 'front/a.jpg', 'front/sub/c.jpg', 'zeta.jpg'];

async function writeListFixture(store: ImageStore): Promise<void> {
  for (const key of ['zeta.jpg', 'front/sub/c.jpg', 'front/a.jpg', 'front.jpg', 'front-door/b.jpg', 'Alpha.jpg']) {
    await store.write(imageWrite(`list/${key}`, bodyOf([jpeg(1_000)])));
  }
}

for (const kind of kinds) {
  describe(`ImageStore guarantees: ${kind.name}`, { skip: kind.skip ?? false }, () => {
    before(() => kind.start());
    after(() => kind.stop());

    for (const [name, check] of guarantees) {
      it(name, async (t) => {
        const { store, another } = await kind.fresh();
        await check({ kind, store, another }, t);
      });
    }
    for (const [name, check] of stateGuarantees) it(name, (t) => check(kind, t));
  });
}

/** A loopback port that was free a moment ago. */
async function unusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
