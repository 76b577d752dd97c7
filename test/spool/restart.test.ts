import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GetObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/stores/s3.js';
import { startLocalS3 } from '../support/local-s3.js';
import { createTestBucket, realS3FromEnv } from '../support/real-s3.js';
import { request } from '../support/receiver.js';
import { TokenRegistry } from '../../src/tokens/registry.js';
import { distinctJpeg as jpeg, until } from './helpers.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const PREFIX = 'cams';

/** An S3 server the test can take away and bring back, with a bucket of its own. */
interface OutageStore {
  name: string;
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  bucket: string;
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

async function s3rverStore(): Promise<OutageStore> {
  const s3 = await startLocalS3();
  return { name: 's3rver', ...s3, down: () => s3.down(), up: () => s3.up(), stop: () => s3.stop() };
}

/** Ceph RGW from scripts/ceph-rgw.sh: its gateway is stopped and started by the script. */
async function cephStore(): Promise<OutageStore> {
  const directory = process.env.S3_TEST_CEPH_DIR!;
  const server = realS3FromEnv()!;
  const { endpoint, region, credentials } = server;
  const bucket = await createTestBucket(server, 'outage');
  const script = (command: string): Promise<void> =>
    promisify(execFile)('bash', [path.join(projectRoot, 'scripts', 'ceph-rgw.sh'), command, directory]).then(() => undefined);
  return { name: 'Ceph RGW', endpoint, region, credentials, bucket, down: () => script('gateway-stop'), up: () => script('gateway-start'), stop: () => script('gateway-start') };
}

interface Serve {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** `images-to-s3 serve` on an S3 store, in a child process, as a user runs it. */
async function startServe(store: OutageStore, folder: string, registry: 'in the folder' | 'in the bucket' = 'in the folder'): Promise<Serve> {
  // In the bucket (no --tokens), serve runs in `folder`, where it keeps its spool and its copy of the registry.
  const args = ['--import', import.meta.resolve('tsx'), path.join(projectRoot, 'src', 'cli', 'main.ts'), 'serve', '--host', '127.0.0.1', '--port', '0', '--store', `s3://${store.bucket}/${PREFIX}`];
  if (registry === 'in the folder') args.push('--tokens', path.join(folder, 'tokens.json'));
  args.push('--forward-max-backoff', '2', '--no-gallery', '--log-level', 'warn');
  const child = spawn(process.execPath, args, {
    cwd: registry === 'in the folder' ? projectRoot : folder,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      AWS_ENDPOINT_URL_S3: store.endpoint,
      AWS_REGION: store.region,
      AWS_ACCESS_KEY_ID: store.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: store.credentials.secretAccessKey,
      IMAGES_TO_S3_STORE_TIMEOUT: '3',
    },
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 30_000;
  while (!/http:\/\/127\.0\.0\.1:\d+\//.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`serve did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, url: /http:\/\/127\.0\.0\.1:\d+\//.exec(output)![0], output: () => output, exited };
}

function upload(serve: Serve, token: string, body: Buffer, filename: string): ReturnType<typeof request> {
  return request(`${serve.url}?accessToken=${token}`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', 'content-length': String(body.length), 'content-disposition': `attachment; filename="${filename}"` },
    body,
  });
}

/** Every object under the prefix, with its bytes. */
async function objects(store: OutageStore): Promise<Map<string, Buffer>> {
  const client = createS3Client({ endpoint: store.endpoint, region: store.region, credentials: store.credentials });
  const found = new Map<string, Buffer>();
  try {
    for await (const page of paginateListObjectsV2({ client }, { Bucket: store.bucket, Prefix: `${PREFIX}/` })) {
      for (const object of page.Contents ?? []) {
        // Listed, then gone: a worker's start-up probe object, deleted in between (it holds no image).
        const got = await client.send(new GetObjectCommand({ Bucket: store.bucket, Key: object.Key! })).catch((error: unknown) => {
          if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
          throw error;
        });
        if (got) found.set(object.Key!.slice(PREFIX.length + 1), Buffer.from(await got.Body!.transformToByteArray()));
      }
    }
  } finally {
    client.destroy();
  }
  return found;
}

/**
 * Images waiting in the spool `folder/spool` (or `spool` itself): worker 1's (a single receiver's)
 * and, under `serve --workers`, the other workers' (`spool/worker-K/`).
 */
const spooled = async (folder: string, spool = path.join(folder, 'spool')): Promise<number> => {
  const workers = (await readdir(spool).catch(() => [] as string[])).filter((name) => /^worker-\d+$/.test(name));
  let count = 0;
  for (const ready of [path.join(spool, 'ready'), ...workers.map((name) => path.join(spool, name, 'ready'))]) count += (await readdir(ready).catch(() => [])).length;
  return count;
};

function outageSuite(name: string, makeStore: () => Promise<OutageStore>, skip?: string): void {
  describe(`serve with a spool, ${name} going away`, { skip: skip ?? false }, () => {
    const folders: string[] = [];
    const children: ChildProcess[] = [];
    after(async () => {
      for (const child of children) child.kill('SIGKILL');
      for (const folder of folders) await rm(folder, { recursive: true, force: true });
    });

    /**
     * Runs `test` with a registry and folder of its own and the store taken away; `serve` starts
     * the CLI on them. Afterwards the store is back and stopped, whatever the test did.
     */
    async function duringOutage(test: (setup: { store: OutageStore; folder: string; token: string; serve: () => Promise<Serve> }) => Promise<void>): Promise<void> {
      const store = await makeStore();
      const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-restart-'));
      folders.push(folder);
      const created = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'token', 'create', 'yard', '--json', '--tokens', path.join(folder, 'tokens.json')], {
        cwd: projectRoot,
      });
      const token = (JSON.parse(created.stdout) as { token: string }).token;
      const serve = async (): Promise<Serve> => {
        const started = await startServe(store, folder);
        children.push(started.child);
        return started;
      };
      try {
        await store.down();
        await test({ store, folder, token, serve });
      } finally {
        await store.up().catch(() => undefined);
        await store.stop();
      }
    }

    /** SIGTERM, and the exit code it ended with. */
    async function terminate(serve: Serve): Promise<number | null> {
      serve.child.kill('SIGTERM');
      return serve.exited;
    }

    it('takes 20 images while the store is down, survives kill -9, and forwards each exactly once when the store is back', () =>
      duringOutage(async ({ store, folder, token, serve }) => {
        const first = await serve();
        const images = Array.from({ length: 20 }, (_, n) => jpeg(n));
        const receipts: string[] = [];
        for (const [n, body] of images.entries()) {
          const response = await upload(first, token, body, `image-${n}.jpg`);
          assert.equal(response.status, 200, response.body);
          receipts.push(String(response.json.key));
        }
        first.child.kill('SIGKILL');
        await first.exited;
        assert.equal(await spooled(folder), 20, 'every acknowledged image is in the spool after kill -9');

        const second = await serve();
        assert.match(second.output(), /20 images from before, being forwarded/);
        await store.up();
        await until(async () => (await spooled(folder)) === 0, 'the spool to drain', 60_000);
        const stored = await objects(store);
        assert.deepEqual([...stored.keys()].sort(), [...receipts].sort(), 'each image once, under its receipt\'s key');
        for (const [n, key] of receipts.entries()) assert.deepEqual(stored.get(key), images[n]);
        assert.equal(await terminate(second), 0);
      }));

    it('keeps the registry in the bucket: moves the one an earlier release kept in ./.images-to-s3 there, and knows its tokens when restarted while the store is down', async () => {
      const store = await makeStore();
      const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-restart-'));
      folders.push(folder);
      const serve = async (): Promise<Serve> => {
        const started = await startServe(store, folder, 'in the bucket');
        children.push(started.child);
        return started;
      };
      const { token } = await new TokenRegistry(path.join(folder, '.images-to-s3', 'tokens.json')).create('yard');
      try {
        const first = await serve();
        assert.match(first.output(), new RegExp(`moved \\S+tokens\\.json to s3://${store.bucket}/${PREFIX}/\\.images-to-s3/tokens\\.json`));
        const before = await upload(first, token, jpeg(300), 'before.jpg');
        assert.equal(before.status, 200, before.body);
        first.child.kill('SIGKILL');
        await first.exited;

        await store.down();
        const second = await serve();
        assert.match(second.output(), /the registry cannot be reached: tokens as last read/);
        const during = await upload(second, token, jpeg(301), 'during.jpg');
        assert.equal(during.status, 200, during.body);
        assert.equal((await upload(second, 'NotAToken0000000000000000', jpeg(302), 'refused.jpg')).status, 403);
        await store.up();
        await until(async () => (await spooled(folder, path.join(folder, '.images-to-s3', 'spool'))) === 0, 'the spool to drain', 60_000);
        const stored = await objects(store);
        // Each worker probes the store's create-only writes when it opens it (a PUT and a DELETE of
        // one object): a worker killed between the two leaves its probe object, which holds no image.
        const keys = [...stored.keys()].filter((key) => !key.startsWith('.images-to-s3-probe/'));
        assert.deepEqual(keys.sort(), ['.images-to-s3/tokens.json', String(before.json.key), String(during.json.key)].sort());
        assert.equal(await terminate(second), 0);
      } finally {
        await store.up().catch(() => undefined);
        await store.stop();
      }
    });

    it('shuts down cleanly on SIGTERM during an outage, and forwards what waited at the next start', () =>
      duringOutage(async ({ store, folder, token, serve }) => {
        const first = await serve();
        const images = Array.from({ length: 5 }, (_, n) => jpeg(100 + n));
        for (const [n, body] of images.entries()) assert.equal((await upload(first, token, body, `term-${n}.jpg`)).status, 200);
        // (Under `serve --workers`, each worker notices the outage itself: until the one asked has, it says ready.)
        let ready = await request(`${first.url}readyz`);
        await until(async () => (ready = await request(`${first.url}readyz`)).json.status === 'degraded', 'readyz to say degraded', 20_000);
        assert.equal(ready.status, 200);
        assert.equal(ready.json.storeState, 'unreachable');
        assert.equal(ready.json.spooled, 5);
        const stopping = Date.now();
        assert.equal(await terminate(first), 0);
        assert.ok(Date.now() - stopping < 10_000, 'a store that is down does not hold up the shutdown');
        assert.equal(await spooled(folder), 5);

        await store.up();
        const second = await serve();
        await until(async () => (await spooled(folder)) === 0, 'the spool to drain', 60_000);
        const stored = [...(await objects(store)).values()];
        assert.equal(stored.length, 5);
        for (const body of images) assert.equal(stored.filter((bytes) => bytes.equals(body)).length, 1);
        assert.equal(await terminate(second), 0);
      }));
  });
}

outageSuite('s3rver', s3rverStore);
const cephConfigured = Boolean(process.env.S3_TEST_CEPH_DIR) && realS3FromEnv() !== undefined;
outageSuite('Ceph RGW', cephStore, cephConfigured ? undefined : 'set S3_TEST_CEPH_DIR and S3_TEST_* (scripts/ceph-rgw.sh start, then . DIR/env) to run against Ceph RGW, stopping and starting its gateway');
