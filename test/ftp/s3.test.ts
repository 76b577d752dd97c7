/**
 * FTP uploads into an S3 store (s3rver in-process, behind the proxy that adds conditional writes):
 * through the spool as `serve` runs by default, and straight into the bucket (`--no-spool`).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SpooledStore } from '../../src/spool/spooled-store.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { startLocalS3 } from '../support/local-s3.js';
import { OPENSSL_MISSING } from '../support/tls.js';
import type { LocalS3 } from '../support/local-s3.js';
import { CAMERA, CURL_MISSING, SAMPLE_JPEG_FILE, curl, curlReplies, eventually, startFtp } from './helpers.js';

const SAMPLE_JPEG = await readFile(SAMPLE_JPEG_FILE);

describe('FTP into S3 (s3rver)', { skip: CURL_MISSING }, () => {
  let s3: LocalS3;
  let work: string;
  let upload: string;
  before(async () => {
    s3 = await startLocalS3('ftp-images');
    work = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-ftp-s3-'));
    upload = path.join(work, 'upload.jpg');
    await writeFile(upload, SAMPLE_JPEG);
  });
  after(async () => {
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  });

  const client = () => createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, requestTimeoutMs: 5_000 });

  /** Uploads the sample with curl as `name` (over FTPS with `tls`); the key of the 226. */
  async function send(ftp: Awaited<ReturnType<typeof startFtp>>, name: string, tls = false): Promise<string> {
    const secure = tls ? ['--ssl-reqd', '--cacert', ftp.tls!.cert] : [];
    const result = await curl(ftp, [...secure, '-T', upload, `ftp://127.0.0.1:${ftp.port}/${name}`]);
    assert.equal(result.code, 0, result.stderr);
    const stored = curlReplies(result).map((reply) => /^226 Stored as (\S+) \(/.exec(reply)?.[1]).find((key) => key !== undefined);
    assert.ok(stored, result.stderr);
    return stored;
  }

  it('stores FTP and FTPS uploads byte for byte under the camera\'s key, through the spool', { skip: OPENSSL_MISSING }, async () => {
    const spool = await mkdtemp(path.join(work, 'spool-'));
    const store = new SpooledStore(new S3Store({ client: client(), bucket: s3.bucket, prefix: 'spooled/' }), {
      folder: spool,
      maxBytes: 64 * 1024 * 1024,
      forwardConcurrency: 2,
      backoff: { initialMs: 50, maxMs: 400 },
    });
    const ftp = await startFtp({ store, tls: true });
    try {
      for (const [name, tls] of [
        ['spooled.jpg', false],
        ['spooled-tls.jpg', true],
      ] as const) {
        const key = await send(ftp, name, tls);
        assert.match(key, new RegExp(`^${CAMERA}/\\d{4}/\\d{2}/\\d{2}/${name.replace('.', '\\.')}$`));
        const object = await eventually(
          () => s3.object(`spooled/${key}`),
          (bytes) => bytes !== undefined,
          10_000,
        );
        assert.deepEqual(object, SAMPLE_JPEG);
      }
    } finally {
      await ftp.close();
    }
  });

  it('stores an FTP upload straight into the bucket (no spool), and nothing of a refused one', async () => {
    const ftp = await startFtp({ store: new S3Store({ client: client(), bucket: s3.bucket, prefix: 'direct/', conditionalWrites: 'yes' }) });
    try {
      const key = await send(ftp, 'direct.jpg');
      assert.deepEqual(await s3.object(`direct/${key}`), SAMPLE_JPEG);
      const text = path.join(work, 'text.jpg');
      await writeFile(text, 'no image here, only words\n'.repeat(8));
      const refused = await curl(ftp, ['-T', text, `ftp://127.0.0.1:${ftp.port}/text.jpg`]);
      assert.notEqual(refused.code, 0);
      assert.deepEqual((await s3.keys()).filter((name) => name.startsWith('direct/') && name.includes('text')), []);
    } finally {
      await ftp.close();
    }
  });
});
