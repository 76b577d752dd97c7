import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { ClientRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';

import { RequestBodyError, StoreUnavailableError } from '../../src/core/errors.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import type { S3StoreOptions } from '../../src/stores/s3.js';
import { RECEIVED_AT, bodyOf, chunked, failingBody, imageWrite, jpeg, keysOf, sha256 } from './helpers.js';
import { S3RVER_CREDENTIALS, startS3rver } from '../support/s3rver.js';

const MiB = 1024 * 1024;
/** The smallest part S3 allows; images above it go as multipart uploads. */
const PART_SIZE = 5 * MiB;
/** The store's own prefix inside the bucket. */
const PREFIX = 'cams/';

/** A running S3-protocol server and what it can be expected to do. */
interface S3Server {
  label: string;
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Refuses `PutObject` with `If-None-Match: *` on an existing key. */
  honoursIfNoneMatch: boolean;
  /** Multipart objects get an ETag ending in `-<parts>`. */
  multipartETags: boolean;
  /** Refuses a body whose SHA-256 is not the signed `x-amz-content-sha256` (XAmzContentSHA256Mismatch). */
  verifiesPayloadHash: boolean;
  /** The bytes as the server keeps them (its own storage where the test can see it). */
  storedBytes(bucket: string, key: string): Promise<Buffer>;
  stop(): Promise<void>;
}

// ------------------------------------------------------------------------------------ s3rver

async function startInProcessS3rver(): Promise<S3Server> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-s3rver-'));
  const { server, endpoint } = await startS3rver(directory);
  return {
    label: 's3rver 3.7.1',
    endpoint,
    region: 'us-east-1',
    credentials: S3RVER_CREDENTIALS,
    honoursIfNoneMatch: false,
    multipartETags: false,
    verifiesPayloadHash: false,
    // s3rver keeps an object as <directory>/<bucket>/<folders>/<name>._S3rver_object.
    storedBytes: (bucket, key) => {
      const parts = key.split('/');
      return readFile(path.join(directory, bucket, ...parts.slice(0, -1), `${parts.at(-1)}._S3rver_object`));
    },
    stop: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------- a configured S3 server

const S3_TEST_VARIABLES = ['S3_TEST_ENDPOINT', 'S3_TEST_ACCESS_KEY_ID', 'S3_TEST_SECRET_ACCESS_KEY'] as const;
const configured = S3_TEST_VARIABLES.every((name) => process.env[name]);

function configuredServer(): S3Server {
  const endpoint = process.env.S3_TEST_ENDPOINT!;
  const region = process.env.S3_TEST_REGION || 'us-east-1';
  const credentials = { accessKeyId: process.env.S3_TEST_ACCESS_KEY_ID!, secretAccessKey: process.env.S3_TEST_SECRET_ACCESS_KEY! };
  return {
    label: process.env.S3_TEST_SERVER || endpoint,
    endpoint,
    region,
    credentials,
    honoursIfNoneMatch: true,
    multipartETags: true,
    verifiesPayloadHash: true,
    // Only the S3 API is at hand: a plain GetObject from a client of its own.
    storedBytes: async (bucket, key) => {
      const client = createS3Client({ endpoint, region, credentials });
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(await object.Body!.transformToByteArray());
      } finally {
        client.destroy();
      }
    },
    stop: () => Promise.resolve(),
  };
}

// ------------------------------------------------------------------------ requests on the wire

/** A request as this process sent it: method, path with query, and its signed payload hash. */
interface SentRequest {
  method: string;
  path: string;
  payloadHash: string | undefined;
}

/**
 * Records every HTTP request this process sends from now until `stop()`, with the headers it went
 * out with (after the SDK signed it), through Node's `http.client.request.start` diagnostics channel.
 */
function recordSentRequests(): { sent: SentRequest[]; stop(): void } {
  const sent: SentRequest[] = [];
  const onStart = (message: unknown): void => {
    const { request } = message as { request: ClientRequest };
    const payloadHash = request.getHeader('x-amz-content-sha256');
    sent.push({ method: request.method, path: request.path, payloadHash: typeof payloadHash === 'string' ? payloadHash : undefined });
  };
  diagnosticsChannel.subscribe('http.client.request.start', onStart);
  return { sent, stop: () => diagnosticsChannel.unsubscribe('http.client.request.start', onStart) };
}

// ------------------------------------------------------------------------------- the suite

/**
 * What the S3 store does beyond every store's guarantees (those are in guarantees.test.ts): signing,
 * multipart uploads, its prefix, conditional writes. Every S3-protocol server must pass it. `skip`
 * skips it all; `without` names what the server lacks, with the reason shown for the tests that need it.
 */
function s3StoreSuite(
  name: string,
  start: () => Promise<S3Server>,
  { skip, without = {} }: { skip?: string; without?: { multipartListing?: string } } = {},
): void {
  describe(`S3Store against ${name}`, { skip: skip ?? false }, () => {
    let server: S3Server;
    let admin: S3Client;
    const bucket = `images-to-s3-test-${randomBytes(6).toString('hex')}`;
    const stores: S3Store[] = [];

    function client(): S3Client {
      return createS3Client({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
    }

    /** An opened store with prefix `cams/` and 5 MiB parts, closed after the suite. */
    async function openStore(options: Partial<S3StoreOptions> = {}): Promise<S3Store> {
      const store = new S3Store({ client: client(), bucket, prefix: PREFIX, partSize: PART_SIZE, ...options });
      stores.push(store);
      await store.open();
      return store;
    }

    /** The object's bytes through a plain GetObject, not through the store. */
    async function getObject(key: string): Promise<Buffer> {
      const object = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await object.Body!.transformToByteArray());
    }

    async function rawKeys(prefix: string): Promise<string[]> {
      const keys: string[] = [];
      for await (const page of paginateListObjectsV2({ client: admin }, { Bucket: bucket, Prefix: prefix })) {
        for (const object of page.Contents ?? []) keys.push(object.Key!);
      }
      return keys;
    }

    async function multipartUploads(prefix: string): Promise<string[]> {
      const answer = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
      return (answer.Uploads ?? []).map((upload) => upload.Key!);
    }

    before(async () => {
      server = await start();
      admin = client();
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    });

    after(async () => {
      for (const store of stores) await store.close();
      if (admin) {
        for (const key of await rawKeys('')) await admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
        await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
        admin.destroy();
      }
      await server?.stop();
    });

    it('finds out on open whether the server refuses If-None-Match writes, and removes its probe', async () => {
      const store = await openStore();

      assert.equal(store.usesConditionalWrites, server.honoursIfNoneMatch);
      assert.deepEqual(await rawKeys(''), [], 'the probe object is gone');
    });

    it('keeps content type and metadata on the object for any S3 client; a small image is one PutObject, a large one three parts', async () => {
      const store = await openStore();
      const metadata = { camera: 'front-door', 'received-at': RECEIVED_AT.toISOString(), 'camera-filename': 'snap 1.jpg' };
      const small = jpeg(300_000);
      const large = jpeg(12 * MiB + 12_345);

      await store.write(imageWrite('sent/small.jpg', bodyOf(chunked(small, 9)), { metadata }));
      await store.write(imageWrite('sent/large.jpg', bodyOf(chunked(large, 97)), { metadata }));

      for (const [name, image] of [['small', small], ['large', large]] as const) {
        const head = await admin.send(new HeadObjectCommand({ Bucket: bucket, Key: `${PREFIX}sent/${name}.jpg` }));
        assert.equal(head.ContentType, 'image/jpeg', name);
        assert.deepEqual(head.Metadata, metadata, name);
        assert.equal(sha256(await getObject(`${PREFIX}sent/${name}.jpg`)), sha256(image), name);
      }
      // One PutObject: the ETag is the MD5 of the bytes (a multipart ETag is not).
      const smallHead = await admin.send(new HeadObjectCommand({ Bucket: bucket, Key: `${PREFIX}sent/small.jpg` }));
      assert.equal(smallHead.ETag, `"${createHash('md5').update(small).digest('hex')}"`);
      if (server.multipartETags) {
        const largeHead = await admin.send(new HeadObjectCommand({ Bucket: bucket, Key: `${PREFIX}sent/large.jpg` }));
        assert.match(largeHead.ETag ?? '', /-3"$/, 'three parts of 5 MiB at most');
      }
    });

    /** The PUTs sent while `write` ran to objects under `folder` (PutObject and UploadPart). */
    async function putsDuring(folder: string, write: () => Promise<unknown>): Promise<SentRequest[]> {
      const recording = recordSentRequests();
      try {
        await write();
      } finally {
        recording.stop();
      }
      return recording.sent.filter((request) => request.method === 'PUT' && request.path.startsWith(`/${bucket}/${PREFIX}${folder}`));
    }

    it("signs a small image with the writer's SHA-256, stored byte for byte", async () => {
      const store = await openStore();
      const image = jpeg(500_000);

      const puts = await putsDuring('hashed/', () =>
        store.write({ ...imageWrite('hashed/snap.jpg', bodyOf(chunked(image, 7))), sha256: () => sha256(image) }),
      );

      assert.deepEqual(
        puts.map((put) => put.payloadHash),
        [sha256(image)],
        'one PutObject, signed with the SHA-256 of the body',
      );
      assert.equal(sha256(await server.storedBytes(bucket, `${PREFIX}hashed/snap.jpg`)), sha256(image));
    });

    it("signs the writer's SHA-256 as given, without hashing the body again", async () => {
      // A wrong hash shows which one is signed: the SDK's own would be the body's.
      const store = await openStore();
      const image = jpeg(500_000);
      const wrong = sha256(Buffer.from('not the bytes of the image'));
      const write = { ...imageWrite('wrong-hash/snap.jpg', bodyOf(chunked(image, 7))), sha256: () => wrong };

      let refusal: unknown;
      const puts = await putsDuring('wrong-hash/', () => store.write(write).catch((error: unknown) => (refusal = error)));

      assert.deepEqual(
        puts.map((put) => put.payloadHash),
        [wrong],
        'the PutObject carries the given hash',
      );
      if (server.verifiesPayloadHash) {
        assert.ok(refusal instanceof StoreUnavailableError, `refused as StoreUnavailableError, not ${String(refusal)}`);
        assert.equal((refusal.cause as Error).name, 'XAmzContentSHA256Mismatch');
        assert.deepEqual(await rawKeys(`${PREFIX}wrong-hash/`), [], 'nothing stored');
      } else {
        // This server does not check the hash, so it keeps the bytes whatever was signed.
        assert.equal(refusal, undefined);
        assert.equal(sha256(await server.storedBytes(bucket, `${PREFIX}wrong-hash/snap.jpg`)), sha256(image));
      }
    });

    it("signs each part of a multipart upload with the part's own SHA-256, not the writer's", async () => {
      const store = await openStore();
      const image = jpeg(2 * PART_SIZE + 12_345);
      const parts = [0, 1, 2].map((i) => image.subarray(i * PART_SIZE, (i + 1) * PART_SIZE));

      const puts = await putsDuring('hashed-parts/', () =>
        store.write({ ...imageWrite('hashed-parts/big.jpg', bodyOf(chunked(image, 29))), sha256: () => sha256(image) }),
      );

      const partHashes = puts.map((put) => ({ part: Number(new URLSearchParams(put.path.split('?')[1]).get('partNumber')), hash: put.payloadHash }));
      assert.deepEqual(
        partHashes.sort((a, b) => a.part - b.part),
        parts.map((part, i) => ({ part: i + 1, hash: sha256(part) })),
        'three UploadParts, each signed with the SHA-256 of its bytes',
      );
      assert.equal(sha256(await server.storedBytes(bucket, `${PREFIX}hashed-parts/big.jpg`)), sha256(image));
    });

    it('stores the bytes exactly as sent, with no aws-chunked framing, whatever the size', async () => {
      // s3rver answers 200 to an aws-chunked upload and keeps the framing as the object's content.
      const store = await openStore();
      const small = jpeg(70_000);
      const large = jpeg(PART_SIZE + 70_000);

      const written = [
        await store.write(imageWrite('framing/small.jpg', bodyOf(chunked(small, 7)))),
        await store.write(imageWrite('framing/large.jpg', bodyOf(chunked(large, 7)))),
      ];

      for (const [i, image] of [small, large].entries()) {
        const stored = await server.storedBytes(bucket, `${PREFIX}${written[i]!.key}`);
        const what = `the stored ${i === 0 ? 'small' : 'large'} object`;
        assert.equal(stored.includes('chunk-signature'), false, `${what} holds aws-chunked signatures`);
        assert.equal(stored.includes('x-amz-checksum'), false, `${what} holds an aws-chunked checksum trailer`);
        assert.equal(stored.length, image.length, `${what} has another size`);
        assert.equal(sha256(stored), sha256(image), `${what} has other bytes`);
      }
    });

    it('streams a spooled file in one PutObject signed with its SHA-256, even when larger than a part', async () => {
      const store = await openStore();
      const image = jpeg(PART_SIZE + 123_456);
      const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-s3-file-'));
      try {
        const file = path.join(folder, 'spooled.image');
        // A spooled file holds a trailer after the image: only bytes 0 to size - 1 are the image.
        await writeFile(file, Buffer.concat([image, Buffer.from('trailer')]));
        const write = { ...imageWrite('file/yard/big.jpg', bodyOf([])), file: { path: file, size: image.length, sha256: sha256(image) } };

        const puts = await putsDuring('file/', () => store.write(write));

        assert.deepEqual(
          puts.map((put) => [put.path, put.payloadHash]),
          [[`/${bucket}/${PREFIX}file/yard/big.jpg?x-id=PutObject`, sha256(image)]],
        );
        assert.equal(sha256(await getObject(`${PREFIX}file/yard/big.jpg`)), sha256(image));
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    });

    it('holds no more image bytes in memory at once than its budget, however many large uploads run', async () => {
      const budget = 4 * PART_SIZE;
      const store = await openStore({ memoryBudgetBytes: budget });
      const images = Array.from({ length: 5 }, () => jpeg(2 * PART_SIZE + 1000));
      let most = 0;
      const sampler = setInterval(() => (most = Math.max(most, store.memoryUse.reservedBytes)), 1);
      try {
        const keys = await Promise.all(images.map((image, n) => store.write(imageWrite(`budget/yard/${n}.jpg`, bodyOf(chunked(image, 40)))).then(({ key }) => key)));
        for (const [n, key] of keys.entries()) assert.equal(sha256(await getObject(`${PREFIX}${key}`)), sha256(images[n]!));
      } finally {
        clearInterval(sampler);
      }
      assert.equal(store.memoryUse.budgetBytes, budget);
      assert.ok(most <= budget, `${most} bytes reserved at once, budget ${budget}`);
      assert.equal(most, budget, 'four large uploads (a part each) filled the budget while the fifth waited');
      assert.equal(store.memoryUse.reservedBytes, 0);

      // Announced small images reserve what they announce: 20 of them fit at once beside each other.
      const small = jpeg(300_000);
      await Promise.all(Array.from({ length: 20 }, (_, n) => store.write({ ...imageWrite(`budget/yard/small-${n}.jpg`, bodyOf([small])), size: small.length })));
      assert.equal(store.memoryUse.reservedBytes, 0);
    });

    it('puts a small image that arrives while a large one is uploading with the same key under its own key', async () => {
      const store = await openStore();
      const large = jpeg(PART_SIZE + 1_000);
      const small = jpeg(1_000);
      // The large upload has chosen its key once it asks for the bytes past its first part.
      let uploading!: () => void;
      const largeUploading = new Promise<void>((resolve) => (uploading = resolve));
      async function* largeBody(): AsyncGenerator<Uint8Array> {
        yield* bodyOf(chunked(large.subarray(0, PART_SIZE + 1), 3));
        uploading();
        yield large.subarray(PART_SIZE + 1);
      }
      async function* smallBody(): AsyncGenerator<Uint8Array> {
        await largeUploading;
        yield small;
      }

      const results = await Promise.all([
        store.write(imageWrite('mixed/same.jpg', largeBody())),
        store.write(imageWrite('mixed/same.jpg', smallBody())),
      ]);

      const keys = results.map((result) => result.key);
      assert.equal(new Set(keys).size, 2);
      assert.equal(sha256(await getObject(`${PREFIX}${keys[0]}`)), sha256(large));
      assert.equal(sha256(await getObject(`${PREFIX}${keys[1]}`)), sha256(small));
    });

    it('leaves no multipart upload behind when the body fails midway', { skip: without.multipartListing ?? false }, async () => {
      const store = await openStore();
      const error = new RequestBodyError({ cause: new Error('aborted') });
      const sent = jpeg(2 * PART_SIZE + MiB);

      await assert.rejects(store.write(imageWrite('dangling/snap.jpg', failingBody(chunked(sent, 11), error))), (thrown) => thrown === error);

      assert.deepEqual(await multipartUploads(`${PREFIX}dangling/`), []);
    });

    it('lists, reads and finds taken only what is under its prefix, with keys relative to it', async () => {
      const store = await openStore();
      await store.write(imageWrite('list/front/a.jpg', bodyOf([jpeg(1_000)])));
      // The same key outside the store's prefix, stored by another writer.
      const outside = Buffer.from('outside the prefix');
      await admin.send(new PutObjectCommand({ Bucket: bucket, Key: 'list/front/b.jpg', Body: outside }));

      assert.deepEqual(await keysOf(store.list('list/')), ['list/front/a.jpg']);
      assert.deepEqual(await store.listFolders('list/'), ['front']);
      assert.equal(await store.read('list/front/b.jpg'), undefined);
      assert.equal((await store.write(imageWrite('list/front/b.jpg', bodyOf([jpeg(1_000)])))).key, 'list/front/b.jpg');
      assert.deepEqual(await getObject('list/front/b.jpg'), outside);
    });

    it('reports a missing bucket as StoreUnavailableError', async () => {
      const store = new S3Store({ client: client(), bucket: `${bucket}-missing`, prefix: PREFIX });
      stores.push(store);

      await assert.rejects(store.check(), StoreUnavailableError);
      await assert.rejects(store.open(), StoreUnavailableError);
    });
  });
}

s3StoreSuite('s3rver 3.7.1 (in-process)', startInProcessS3rver, {
  without: {
    multipartListing: 's3rver 3.7.1 implements neither ListMultipartUploads nor AbortMultipartUpload',
  },
});
s3StoreSuite(process.env.S3_TEST_SERVER || 'a configured S3 server', () => Promise.resolve(configuredServer()), {
  ...(!configured && {
    skip: `set ${S3_TEST_VARIABLES.join(', ')} (optionally S3_TEST_REGION, S3_TEST_SERVER) to run against a real S3 server, e.g. after scripts/ceph-rgw.sh start`,
  }),
});
