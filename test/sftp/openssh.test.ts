/**
 * The SFTP receiver against OpenSSH's own clients over loopback: `sftp` in batch mode uploads,
 * makes folders, renames, and tries what it must not be able to do; `ssh` asks for a shell, a
 * command and port forwarding. Skipped with a notice where OpenSSH's client is not installed.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SAMPLE_JPEG } from '../support/contract-cases.js';
import { DAY, eventually, installed, openSsh, openSshSftp, run, startSftpReceiver } from '../support/sftp.js';
import type { RunningSftp } from '../support/sftp.js';

const skip = installed('sftp') && installed('ssh') ? false : 'OpenSSH client (sftp, ssh) not installed: apt-get install openssh-client';
if (skip) process.stderr.write(`NOTICE: test/sftp/openssh.test.ts skipped: ${skip}\n`);

describe('SFTP receiver with OpenSSH clients', { skip }, () => {
  let receiver: RunningSftp;
  let image: string;
  let text: string;

  before(async () => {
    receiver = await startSftpReceiver();
    image = path.join(receiver.root, 'snapshot.jpg');
    text = path.join(receiver.root, 'notes.txt');
    await writeFile(image, SAMPLE_JPEG);
    await writeFile(text, 'not an image, but long enough to be judged by its first bytes: '.repeat(4));
  });
  after(() => receiver.close());

  const stored = async (name: string): Promise<Buffer> => readFile(path.join(receiver.root, 'images', receiver.camera, DAY, name));

  it('stores an upload under <camera>/<yyyy>/<MM>/<dd>/<name>, byte for byte, with only the RSA host key pinned', async () => {
    // As an Axis camera: RSA keys only, and only the RSA key known.
    const rsa = receiver.presented.find((key) => key.type === 'ssh-rsa')!;
    const knownHosts = path.join(receiver.root, 'known_hosts_rsa');
    await writeFile(knownHosts, `[127.0.0.1]:${receiver.port} ssh-rsa ${rsa.publicKey.toString('base64')}\n`);
    const result = await openSshSftp(receiver, [`put ${image} first.jpg`], { hostKeyAlgorithms: 'rsa-sha2-256,ssh-rsa', knownHosts });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await stored('first.jpg'), SAMPLE_JPEG);
    const line = receiver.logs.find((entry) => entry.message === 'image stored' && entry.fields.key === `${receiver.camera}/${DAY}/first.jpg`);
    assert.ok(line, 'one log line per stored file');
    assert.equal(line.fields.protocol, 'sftp');
  });

  it('takes what a camera does before writing: realpath, mkdir of its folder, cd, an empty listing, stat', async () => {
    const result = await openSshSftp(receiver, ['pwd', 'mkdir cam1', 'cd cam1', 'ls -la', `put ${image} shot.jpg`, 'mkdir cam1', '-cd /some/folder/never/made', 'ls', 'pwd']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Remote working directory: \/\n/);
    assert.match(result.stdout, /Remote working directory: \/some\/folder\/never\/made/);
    assert.deepEqual(await stored('cam1_shot.jpg'), SAMPLE_JPEG);
  });

  it('stores a file uploaded under a temporary name once, under the name it is renamed to', async () => {
    const before = await receiver.files();
    const result = await openSshSftp(receiver, [`put ${image} upload.jpg.part`, 'rename upload.jpg.part renamed.jpg']);
    assert.equal(result.code, 0, result.stderr);
    const added = (await receiver.files()).filter((file) => !before.includes(file));
    assert.deepEqual(added, [`${receiver.camera}/${DAY}/renamed.jpg`]);
    assert.deepEqual(await stored('renamed.jpg'), SAMPLE_JPEG);
    assert.deepEqual(await receiver.held(), [], 'the temporary file leaves nothing behind');
  });

  it('refuses a file that is not an image: the put fails, nothing is stored', async () => {
    const before = await receiver.files();
    const result = await openSshSftp(receiver, [`put ${text} notes.jpg`]);
    assert.notEqual(result.code, 0);
    assert.deepEqual(await receiver.files(), before);
    const line = receiver.logs.find((entry) => entry.message === 'upload rejected' && entry.fields.filename === 'notes.jpg');
    assert.equal(line?.fields.status, 415);
  });

  it('lets nothing be read back or listed, not even the file just sent', async () => {
    const result = await openSshSftp(receiver, [`put ${image} mine.jpg`, 'ls', `-get mine.jpg ${path.join(receiver.root, 'back.jpg')}`, `-get first.jpg ${path.join(receiver.root, 'back2.jpg')}`]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Permission denied/);
    const listing = await openSshSftp(receiver, ['ls -la /', 'ls -la /cam1', 'ls /cam1/shot.jpg']);
    const listed = (run: { stdout: string }): string[] => run.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('sftp> '));
    assert.deepEqual(listed(result), [], 'ls printed nothing');
    assert.deepEqual(listed(listing), []);
    await assert.rejects(readFile(path.join(receiver.root, 'back.jpg')));
  });

  it('keeps every path inside the camera\'s space: ../, absolute, backslashes, links, renames out', async () => {
    const before = await receiver.files();
    const result = await openSshSftp(receiver, [
      `put ${image} ../../../escape1.jpg`,
      `put ${image} /etc/escape2.jpg`,
      // sftp's own command line takes a backslash as an escape: doubled, the server gets ..\..\escape3.jpg.
      `put ${image} ..\\\\..\\\\escape3.jpg`,
      `-symlink /etc/passwd link.jpg`,
      `put ${image} out.jpg.tmp`,
      'rename out.jpg.tmp ../../../../outside.jpg',
      'cd ../../..',
      'pwd',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Remote working directory: \/\n/);
    await eventually(async () => (await receiver.files()).every((file) => !file.startsWith('.incoming/')), 5_000, 'the last upload to be stored');
    const added = (await receiver.files()).filter((file) => !before.includes(file)).sort();
    assert.deepEqual(added, [`${receiver.camera}/${DAY}/escape1.jpg`, `${receiver.camera}/${DAY}/escape3.jpg`, `${receiver.camera}/${DAY}/etc_escape2.jpg`, `${receiver.camera}/${DAY}/outside.jpg`]);
    assert.match(result.stderr, /symlink.*(not supported|unsupported|Operation unsupported)/is);
  });

  it('refuses a wrong password, another camera\'s name, and a token revoked a moment ago', async () => {
    const wrong = await openSshSftp(receiver, ['pwd'], { password: 'not-the-token-at-all-000000000000' });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Permission denied/);
    const otherName = await openSshSftp(receiver, ['pwd'], { user: 'back-door' });
    assert.notEqual(otherName.code, 0);

    const { token, id } = await receiver.tokens.create(receiver.camera);
    const fine = await openSshSftp(receiver, [`put ${image} before-revoke.jpg`], { password: token });
    assert.equal(fine.code, 0, fine.stderr);
    await receiver.tokens.revoke(id);
    const revoked = await openSshSftp(receiver, [`put ${image} after-revoke.jpg`], { password: token });
    assert.notEqual(revoked.code, 0);
    await assert.rejects(stored('after-revoke.jpg'));
    const refusal = receiver.logs.find((entry) => entry.message.startsWith('sftp: log-in refused'));
    assert.ok(refusal);
    assert.ok(!JSON.stringify(receiver.logs).includes('not-the-token-at-all'), 'the password is never logged');
  });

  it('refuses a shell, a command, and port forwarding', async () => {
    const command = await openSsh(receiver, ['cat /etc/passwd']);
    assert.notEqual(command.code, 0);
    assert.doesNotMatch(command.stdout, /root:/);
    const shell = await openSsh(receiver, [], { before: ['-T'] });
    assert.notEqual(shell.code, 0);
    // Local forwarding (direct-tcpip channels) is refused too: see hostile.test.ts, whose client opens one.
    const remote = await openSsh(receiver, ['-N'], { before: ['-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:22'] });
    assert.notEqual(remote.code, 0);
    assert.match(remote.stderr, /forwarding failed/i);
  });

  it('presents the RSA key to a client that accepts only RSA, with the fingerprints ssh-keygen computes', async () => {
    const rsa = receiver.presented.find((key) => key.type === 'ssh-rsa')!;
    const scan = await run('ssh-keyscan', ['-p', String(receiver.port), '-t', 'rsa', '127.0.0.1']);
    assert.match(scan.stdout, new RegExp(`ssh-rsa ${rsa.publicKey.toString('base64').replace(/[+/]/g, '\\$&')}`));
    const publicFile = path.join(receiver.root, 'rsa.pub');
    await writeFile(publicFile, `ssh-rsa ${rsa.publicKey.toString('base64')}\n`);
    const sha256 = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicFile]);
    assert.match(sha256.stdout, new RegExp(rsa.sha256.replace(/[+/]/g, '\\$&')));
    const md5 = await run('ssh-keygen', ['-l', '-E', 'md5', '-f', publicFile]);
    assert.match(md5.stdout, new RegExp(`MD5:${rsa.md5}`));
    assert.match(md5.stdout, /^3072 /);
  });

  it('answers a client that does not wait: the session closes cleanly and every upload counts', async () => {
    const result = await openSshSftp(receiver, Array.from({ length: 10 }, (_, index) => `put ${image} burst-${index}.jpg`));
    assert.equal(result.code, 0, result.stderr);
    await eventually(async () => (await receiver.files()).filter((file) => file.includes('burst-')).length === 10, 5_000, 'ten stored images');
  });
});
