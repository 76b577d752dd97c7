/**
 * The SFTP receiver against curl, whose SFTP is libssh2's: the library Axis cameras' SFTP client is
 * built on. The host key is pinned by fingerprint, as a camera pins it. Skipped with a notice where
 * curl is missing or built without SFTP.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SAMPLE_JPEG } from '../support/contract-cases.js';
import { DAY, curl, curlHasSftp, installed, startSftpReceiver } from '../support/sftp.js';
import type { RunningSftp } from '../support/sftp.js';

const skip = installed('curl') && curlHasSftp() ? false : 'curl with SFTP (libssh2) not installed: apt-get install curl';
if (skip) process.stderr.write(`NOTICE: test/sftp/curl.test.ts skipped: ${skip}\n`);

/** curl's --hostpubsha256 takes the base64 part of OpenSSH's `SHA256:…`, --hostpubmd5 the MD5 as 32 hex digits. */
const sha256Of = (fingerprint: string): string => fingerprint.slice('SHA256:'.length);
const md5Of = (fingerprint: string): string => fingerprint.replaceAll(':', '');

describe('SFTP receiver with curl (libssh2)', { skip }, () => {
  let receiver: RunningSftp;
  let rsaOnly: RunningSftp;
  let image: string;

  before(async () => {
    receiver = await startSftpReceiver();
    rsaOnly = await startSftpReceiver({ rsaOnly: true });
    image = path.join(receiver.root, 'snapshot.jpg');
    await writeFile(image, SAMPLE_JPEG);
  });
  after(async () => {
    await receiver.close();
    await rsaOnly.close();
  });

  const key = (running: RunningSftp, type: 'ssh-rsa' | 'ssh-ed25519') => running.hostKeys.find((hostKey) => hostKey.type === type)!;
  const url = (running: RunningSftp, name: string): string => `sftp://127.0.0.1:${running.port}/${name}`;

  it('uploads with the host key pinned by its SHA-256 and by its MD5, into a folder it names', async () => {
    // libssh2 prefers Ed25519 when the server offers it.
    const ed25519 = key(receiver, 'ssh-ed25519');
    const bySha = await curl(receiver, ['--user', `${receiver.camera}:${receiver.token}`, '--hostpubsha256', sha256Of(ed25519.sha256), '-T', image, url(receiver, 'axis/by-sha256.jpg')]);
    assert.equal(bySha.code, 0, bySha.stderr);
    const byMd5 = await curl(receiver, ['--user', `${receiver.camera}:${receiver.token}`, '--hostpubmd5', md5Of(ed25519.md5), '-T', image, url(receiver, 'axis/by-md5.jpg')]);
    assert.equal(byMd5.code, 0, byMd5.stderr);
    assert.deepEqual(await readFile(path.join(receiver.root, 'images', receiver.camera, DAY, 'axis_by-sha256.jpg')), SAMPLE_JPEG);
    assert.deepEqual(await readFile(path.join(receiver.root, 'images', receiver.camera, DAY, 'axis_by-md5.jpg')), SAMPLE_JPEG);
  });

  it('presents only the RSA key with --sftp-rsa-only, so a client given the RSA fingerprint connects', async () => {
    const rsa = key(rsaOnly, 'ssh-rsa');
    // Against the server that offers both, libssh2 takes the Ed25519 key and the RSA pin fails…
    const mismatch = await curl(receiver, ['--user', `${receiver.camera}:${receiver.token}`, '--hostpubsha256', sha256Of(rsa.sha256), '-T', image, url(receiver, 'rsa.jpg')]);
    assert.notEqual(mismatch.code, 0);
    assert.match(mismatch.stderr, /fingerprint/i);
    // …against the RSA-only one it holds, by either form.
    for (const [option, value, name] of [
      ['--hostpubsha256', sha256Of(rsa.sha256), 'rsa-sha256.jpg'],
      ['--hostpubmd5', md5Of(rsa.md5), 'rsa-md5.jpg'],
    ] as const) {
      const result = await curl(rsaOnly, ['--user', `${rsaOnly.camera}:${rsaOnly.token}`, option, value, '-T', image, url(rsaOnly, name)]);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await readFile(path.join(rsaOnly.root, 'images', rsaOnly.camera, DAY, name)), SAMPLE_JPEG);
    }
  });

  it('fails an upload that is not an image, at the write that shows it, and stores nothing', async () => {
    const noise = path.join(receiver.root, 'noise.bin');
    await writeFile(noise, Buffer.alloc(300_000, 0x41));
    const before = await receiver.files();
    const ed25519 = key(receiver, 'ssh-ed25519');
    const result = await curl(receiver, ['--user', `${receiver.camera}:${receiver.token}`, '--hostpubsha256', sha256Of(ed25519.sha256), '-T', noise, url(receiver, 'noise.jpg')]);
    assert.notEqual(result.code, 0, 'curl reports the failed write');
    assert.deepEqual(await receiver.files(), before);
  });

  it('refuses a wrong token and a download', async () => {
    const ed25519 = key(receiver, 'ssh-ed25519');
    const wrong = await curl(receiver, ['--user', `${receiver.camera}:wrong-token-000000000000000000`, '--hostpubsha256', sha256Of(ed25519.sha256), '-T', image, url(receiver, 'wrong.jpg')]);
    assert.equal(wrong.code, 67, wrong.stderr);
    const download = await curl(receiver, ['--user', `${receiver.camera}:${receiver.token}`, '--hostpubsha256', sha256Of(ed25519.sha256), '-o', path.join(receiver.root, 'back.jpg'), url(receiver, 'axis/by-sha256.jpg')]);
    assert.notEqual(download.code, 0);
    assert.match(download.stderr, /Permission denied/);
  });
});
