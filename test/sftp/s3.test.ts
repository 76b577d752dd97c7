/**
 * The SFTP receiver in front of an S3 store without a spool (s3rver in-process, behind the proxy
 * that makes it behave as AWS S3): a `CLOSE` (or the `RENAME` of a temporary name) is answered once
 * the object is in the bucket, byte for byte; what is refused leaves no object.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type ssh2 from 'ssh2';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { SAMPLE_JPEG } from '../support/contract-cases.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import { CAMERA, DAY, call, connect, sftpOf, startSftpReceiver } from '../support/sftp.js';
import type { RunningSftp } from '../support/sftp.js';

describe('SFTP receiver on an S3 store', () => {
  let s3: LocalS3;
  let receiver: RunningSftp;
  let client: ssh2.Client;
  let sftp: ssh2.SFTPWrapper;

  before(async () => {
    s3 = await startLocalS3();
    const store = new S3Store({ client: createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials }), bucket: s3.bucket, prefix: 'site-a/' });
    receiver = await startSftpReceiver({ store });
    client = await connect(receiver);
    sftp = await sftpOf(client);
  });
  after(async () => {
    client.end();
    await receiver.close();
    await s3.stop();
  });

  it('has the object in the bucket when the close is answered', async () => {
    await call<void>((done) => sftp.writeFile('upload/direct.jpg', SAMPLE_JPEG, done));
    assert.deepEqual(await s3.object(`site-a/${CAMERA}/${DAY}/upload_direct.jpg`), SAMPLE_JPEG);
  });

  it('has it under the final name when the rename of a temporary name is answered, and nothing under the temporary one', async () => {
    await call<void>((done) => sftp.writeFile('renamed.jpg.tmp', SAMPLE_JPEG, done));
    await call<void>((done) => sftp.rename('renamed.jpg.tmp', 'renamed.jpg', done));
    assert.deepEqual(await s3.object(`site-a/${CAMERA}/${DAY}/renamed.jpg`), SAMPLE_JPEG);
    assert.deepEqual((await s3.keys()).filter((key) => key.includes('renamed')), [`site-a/${CAMERA}/${DAY}/renamed.jpg`]);
  });

  it('leaves no object for a file that is not an image', async () => {
    const before = await s3.keys();
    await assert.rejects(call<void>((done) => sftp.writeFile('text.jpg', Buffer.alloc(100_000, 0x20), done)), /not an image/);
    assert.deepEqual(await s3.keys(), before);
  });
});
