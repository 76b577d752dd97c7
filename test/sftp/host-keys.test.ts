/**
 * The SFTP host keys (made once, kept in the shared document beside the token registry, the same
 * for every receiver) and the write pipe between SFTP writes and the contract.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DocumentUnreachableError } from '../../src/state/document.js';
import type { SharedDocument } from '../../src/state/document.js';
import { FileDocument } from '../../src/state/file-document.js';
import { S3Document } from '../../src/state/s3-document.js';
import { fingerprintLines, presentedKeys } from '../../src/sftp/describe.js';
import { HostKeyDocumentError, RSA_KEY_BITS, openHostKeys } from '../../src/sftp/host-keys.js';
import { WritePipe } from '../../src/sftp/write-pipe.js';
import { createS3Client } from '../../src/stores/s3.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import ssh2 from 'ssh2';

describe('SFTP host keys', () => {
  let folder: string;
  let s3: LocalS3;
  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-host-keys-'));
    s3 = await startLocalS3();
  });
  after(async () => {
    await s3.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it('makes an RSA and an Ed25519 key once, in a file of mode 0600, and finds the same ones after', async () => {
    const file = path.join(folder, 'state', 'sftp-host-keys.json');
    const first = await openHostKeys(new FileDocument(file));
    assert.equal(first.created, true);
    assert.deepEqual(first.keys.map((key) => key.type), ['ssh-rsa', 'ssh-ed25519']);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const rsa = ssh2.utils.parseKey(first.keys[0]!.privateKey) as ssh2.ParsedKey;
    assert.equal(rsa.type, 'ssh-rsa');
    // The public key's modulus: an mpint of RSA_KEY_BITS bits (plus its sign byte) near the blob's end.
    assert.ok(first.keys[0]!.publicKey.length > RSA_KEY_BITS / 8);
    for (const key of first.keys) {
      assert.match(key.sha256, /^SHA256:[A-Za-z0-9+/]{43}$/);
      assert.match(key.md5, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    }
    const again = await openHostKeys(new FileDocument(file));
    assert.equal(again.created, false);
    assert.deepEqual(again.keys.map((key) => key.sha256), first.keys.map((key) => key.sha256));
    assert.deepEqual(fingerprintLines(presentedKeys(again.keys, true)), [fingerprintLines(again.keys)[0]]);
  });

  it('adds a missing key type and keeps the one there', async () => {
    const file = path.join(folder, 'partial.json');
    const made = await openHostKeys(new FileDocument(path.join(folder, 'full.json')));
    const rsa = made.keys.find((key) => key.type === 'ssh-rsa')!;
    await writeFile(file, JSON.stringify({ version: 1, keys: [{ type: 'ssh-rsa', createdAt: rsa.createdAt, privateKey: rsa.privateKey }] }));
    const opened = await openHostKeys(new FileDocument(file));
    assert.equal(opened.created, true);
    assert.equal(opened.keys.find((key) => key.type === 'ssh-rsa')!.sha256, rsa.sha256);
    assert.ok(opened.keys.some((key) => key.type === 'ssh-ed25519'));
  });

  it('gives every receiver of a fleet the same keys in the bucket, when they start at once', async () => {
    const client = createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials });
    try {
      const document = (): S3Document => new S3Document({ client, bucket: s3.bucket, key: 'site-a/.images-to-s3/sftp-host-keys.json' });
      const receivers = await Promise.all([openHostKeys(document()), openHostKeys(document()), openHostKeys(document())]);
      const sets = receivers.map((opened) => opened.keys.map((key) => key.sha256).join(' '));
      assert.equal(new Set(sets).size, 1, 'one set of keys');
      assert.equal(receivers.filter((opened) => opened.created).length, 1, 'made by one of them');
      assert.equal(receivers[0].location, `s3://${s3.bucket}/site-a/.images-to-s3/sftp-host-keys.json`);
    } finally {
      client.destroy();
    }
  });

  it('refuses a damaged document, and makes no keys while the document cannot be reached', async () => {
    const file = path.join(folder, 'damaged.json');
    await writeFile(file, '{"version":1,"keys":[{"type":"ssh-dss"}]}');
    await assert.rejects(openHostKeys(new FileDocument(file)), HostKeyDocumentError);
    await writeFile(file, 'not json');
    await assert.rejects(openHostKeys(new FileDocument(file)), /not a valid SFTP host key document \(not JSON\)/);
    assert.equal(await readFile(file, 'utf8'), 'not json', 'left as it was');

    const unreachable: SharedDocument = {
      location: 's3://gone/site/.images-to-s3/sftp-host-keys.json',
      read: () => Promise.reject(new DocumentUnreachableError('s3://gone/…', 'connect ECONNREFUSED')),
      readIfChanged: () => Promise.reject(new Error('not used')),
      write: () => Promise.reject(new Error('must not be written')),
      protection: () => Promise.resolve('compare-and-swap'),
    };
    await assert.rejects(openHostKeys(unreachable), /cannot be read .*no new ones are made while the store is unreachable/);
  });
});

describe('WritePipe', () => {
  const bytes = (text: string): Buffer => Buffer.from(text);

  it('answers a write once the reader asks for the next bytes, and ends with the file', async () => {
    const pipe = new WritePipe();
    const reader = pipe[Symbol.asyncIterator]();
    const first = pipe.push(bytes('a'));
    const second = pipe.push(bytes('b'));
    let firstAnswered = false;
    void first.then(() => (firstAnswered = true));
    assert.deepEqual((await reader.next()).value, bytes('a'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(firstAnswered, false, 'not before the reader moved past it');
    assert.deepEqual((await reader.next()).value, bytes('b'));
    assert.equal(await first, true);
    pipe.end();
    assert.equal((await reader.next()).done, true);
    assert.equal(await second, true);
  });

  it('refuses the writes waiting when the reader stops, and fails the reader when the file fails', async () => {
    const stopped = new WritePipe();
    const reader = stopped[Symbol.asyncIterator]();
    const taken = stopped.push(bytes('a'));
    const queued = stopped.push(bytes('b'));
    await reader.next();
    await reader.return!();
    assert.deepEqual([await taken, await queued, await stopped.push(bytes('c'))], [false, false, false]);

    const failed = new WritePipe();
    const waiting = failed[Symbol.asyncIterator]().next();
    failed.fail(new Error('the session ended'));
    await assert.rejects(waiting, /the session ended/);
    assert.equal(await failed.push(bytes('d')), false);
  });
});
