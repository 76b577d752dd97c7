import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { paginateListObjectsV2 } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { CONFLICT, DocumentUnreachableError, UNCHANGED, updateDocument } from '../../src/state/document.js';
import { LocallyCopiedDocument } from '../../src/state/local-copy.js';
import { S3Document } from '../../src/state/s3-document.js';
import { createS3Client } from '../../src/stores/s3.js';
import { TokenRegistry } from '../../src/tokens/registry.js';
import { startLocalS3 } from '../support/local-s3.js';
import { createTestBucket, realS3FromEnv } from '../support/real-s3.js';
import type { LocalS3 } from '../support/local-s3.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

interface Server {
  name: string;
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  bucket: string;
  /** Whether the server honours If-Match and If-None-Match on PutObject. */
  conditional: boolean;
  local?: LocalS3;
  stop(): Promise<void>;
}

const servers: Array<{ name: string; conditional: boolean; canGoDown: boolean; start: () => Promise<Server> }> = [
  {
    name: 's3rver (ignores If-Match)',
    conditional: false,
    canGoDown: true,
    start: async () => {
      const local = await startLocalS3('state');
      return { name: 's3rver', ...local, conditional: false, local, stop: () => local.stop() };
    },
  },
];
const real = realS3FromEnv();
if (real) {
  servers.push({
    name: `${real.name} at ${real.endpoint}`,
    conditional: true,
    canGoDown: false,
    start: async () => ({ ...real, bucket: await createTestBucket(real, 'state'), conditional: true, stop: () => Promise.resolve() }),
  });
}

for (const { name, conditional, canGoDown, start } of servers) {
  describe(`registry and gallery documents in the bucket: ${name}`, () => {
    let server: Server;
    let client: S3Client;
    let folder: string;
    let counter = 0;
    const document = (key = `site/.images-to-s3/doc-${++counter}.json`): S3Document => new S3Document({ client, bucket: server.bucket, key });

    before(async () => {
      server = await start();
      client = createS3Client({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, requestTimeoutMs: 2_000 });
      folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-s3-document-'));
    });
    after(async () => {
      client.destroy();
      await server.stop();
      await rm(folder, { recursive: true, force: true });
    });

    const keys = async (): Promise<string[]> => {
      const found: string[] = [];
      for await (const page of paginateListObjectsV2({ client }, { Bucket: server.bucket })) for (const object of page.Contents ?? []) found.push(object.Key!);
      return found.sort();
    };

    it('finds out what the store honours, and leaves no probe object behind', async () => {
      const doc = document('probe/.images-to-s3/tokens.json');
      assert.equal(await doc.protection(), server.conditional ? 'compare-and-swap' : 'last-writer-wins');
      assert.deepEqual(
        (await keys()).filter((key) => key.startsWith('probe/')),
        [],
      );
    });

    it('reads nothing before the first write, then the text written, and answers a poll with UNCHANGED until it changes', async () => {
      const doc = document();
      assert.equal(await doc.read(), undefined);
      assert.equal(await doc.readIfChanged(undefined), undefined);
      const tag = await doc.write('{"a":1}', undefined);
      assert.equal(typeof tag, 'string');
      const read = await doc.read();
      assert.deepEqual(read, { text: '{"a":1}', tag });
      assert.equal(await doc.readIfChanged(tag as string), UNCHANGED);
      const next = await doc.write('{"a":2}', tag as string);
      assert.notEqual(next, tag);
      assert.deepEqual(await doc.readIfChanged(tag as string), { text: '{"a":2}', tag: next });
    });

    it(conditional ? 'refuses a write based on a version that is gone (CONFLICT)' : 'writes last-writer-wins where the store cannot tell', async () => {
      const doc = document();
      const first = (await doc.write('one', undefined)) as string;
      await doc.write('two', first);
      const stale = await doc.write('three', first);
      const created = await doc.write('four', undefined);
      if (server.conditional) {
        assert.equal(stale, CONFLICT);
        assert.equal(created, CONFLICT);
        assert.equal((await doc.read())?.text, 'two');
      } else {
        // This s3rver sits behind a proxy that refuses If-None-Match on an existing key, as AWS does:
        // creating is still create-only, replacing is a plain write read back.
        assert.notEqual(stale, CONFLICT);
        assert.equal(created, CONFLICT);
        assert.equal((await doc.read())?.text, 'three');
      }
    });

    it('keeps every edit when token commands run at once in separate processes', { skip: !conditional && 'the store cannot protect concurrent edits' }, async () => {
      const store = `s3://${server.bucket}/fleet`;
      const env = {
        ...process.env,
        AWS_ENDPOINT_URL: server.endpoint,
        AWS_REGION: server.region,
        AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      };
      const cli = (...args: string[]): Promise<string> =>
        promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'token', ...args, '--store', store], { cwd: projectRoot, env }).then(({ stdout }) => stdout);
      const cameras = Array.from({ length: 6 }, (_, i) => `cam-${i}`);
      await Promise.all(cameras.map((camera) => cli('create', camera, '--json')));
      const listed = JSON.parse(await cli('list', '--json')) as Array<{ camera: string }>;
      assert.deepEqual(listed.map((entry) => entry.camera).sort(), cameras);
      assert.ok((await keys()).includes('fleet/.images-to-s3/tokens.json'));
    });

    it('lets a receiver verify a token another process created, and refuse it once revoked', async () => {
      const key = `site-${++counter}/.images-to-s3/tokens.json`;
      const cli = new TokenRegistry(document(key));
      const receiver = new TokenRegistry(document(key), { recheckMs: 0 });
      const created = await cli.create('front-door');
      assert.equal(await receiver.verify(created.token), 'front-door');
      await cli.revoke('front-door');
      assert.equal(await receiver.verify(created.token), undefined);
      // Of two first starts, one creates the first token.
      const fresh = `site-${++counter}/.images-to-s3/tokens.json`;
      const firsts = await Promise.all([new TokenRegistry(document(fresh)).createFirst('camera-1'), new TokenRegistry(document(fresh)).createFirst('camera-1')]);
      assert.equal(firsts.filter((first) => first !== undefined).length, 1);
    });

    it('answers from its local copy when the store is unreachable at start, and from the store once it answers', { skip: !canGoDown && 'needs a store the test can take away' }, async () => {
      const local = server.local!;
      const key = `copy-${++counter}/.images-to-s3/tokens.json`;
      const copy = path.join(folder, `copy-${counter}.json`);
      const registry = new TokenRegistry(new LocallyCopiedDocument(document(key), copy));
      const created = await registry.create('yard');
      assert.equal(await registry.verify(created.token), 'yard');
      assert.doesNotMatch(await readFile(copy, 'utf8'), new RegExp(created.token), 'the copy holds the token itself');

      await local.down();
      try {
        const restarted = new LocallyCopiedDocument(document(key), copy);
        const again = new TokenRegistry(restarted);
        assert.equal(await again.verify(created.token), 'yard');
        assert.equal(restarted.fromCopy, true);
        // Without a copy, a store that cannot be reached is said to be so.
        await assert.rejects(document(key).read(), DocumentUnreachableError);
      } finally {
        await local.up();
      }
    });

    it('keeps every edit of updates made at once through one process', async () => {
      const doc = document();
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          updateDocument(doc, (current) => {
            const list = current === undefined ? [] : (JSON.parse(current.text) as number[]);
            return { text: JSON.stringify([...list, i]), result: undefined };
          }),
        ),
      );
      assert.deepEqual((JSON.parse((await doc.read())!.text) as number[]).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  });
}

describe('a bucket document on a store that is not there', () => {
  it('fails with DocumentUnreachableError within its timeout', async () => {
    const client = createS3Client({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const doc = new S3Document({ client, bucket: 'nowhere', key: '.images-to-s3/tokens.json', timeoutMs: 1_000 });
    await assert.rejects(doc.read(), (error: unknown) => error instanceof DocumentUnreachableError && error.message.includes('s3://nowhere/.images-to-s3/tokens.json'));
    await assert.rejects(doc.readIfChanged('"etag"'), DocumentUnreachableError);
    client.destroy();
  });
});
