/**
 * Memory stays flat in the file's size: a 200 MB clip uploaded with OpenSSH's `sftp` (its own
 * process, so only the receiver's memory is measured here) raises the receiver's resident memory
 * by far less than the clip, under its final name and under a temporary one. Skipped with a notice
 * where OpenSSH's client is not installed.
 */
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DAY, installed, openSshSftp, startSftpReceiver } from '../support/sftp.js';
import type { RunningSftp } from '../support/sftp.js';

const skip = installed('sftp') ? false : 'OpenSSH client (sftp) not installed: apt-get install openssh-client';
if (skip) process.stderr.write(`NOTICE: test/sftp/memory.test.ts skipped: ${skip}\n`);

const CLIP_BYTES = 200 * 1024 * 1024;

/** An MP4 of `bytes`: an `ftyp` box, an `mdat` box of zeros, an empty `moov` box (enough for the type and end checks). */
async function writeClip(file: string, bytes: number): Promise<void> {
  const ftyp = Buffer.from([0, 0, 0, 24, ...Buffer.from('ftypisom'), 0, 0, 2, 0, ...Buffer.from('isommp41')]);
  const moov = Buffer.from([0, 0, 0, 8, ...Buffer.from('moov')]);
  const mdatBytes = bytes - ftyp.length - moov.length;
  const mdat = Buffer.alloc(8);
  mdat.writeUInt32BE(mdatBytes, 0);
  mdat.write('mdat', 4);
  const out = createWriteStream(file);
  const write = (chunk: Buffer): Promise<void> => new Promise((resolve, reject) => out.write(chunk, (error) => (error ? reject(error) : resolve())));
  await write(ftyp);
  await write(mdat);
  const zeros = Buffer.alloc(1024 * 1024);
  let left = mdatBytes - 8;
  while (left > 0) {
    const part = zeros.subarray(0, Math.min(left, zeros.length));
    await write(part);
    left -= part.length;
  }
  await write(moov);
  await new Promise<void>((resolve) => out.end(resolve));
}

/** Runs `work` while sampling this process's resident memory; the highest sample above the one before. */
async function peakGrowth(work: () => Promise<void>): Promise<number> {
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return peak - baseline;
}

describe('SFTP receiver memory', { skip }, () => {
  let receiver: RunningSftp;
  let clip: string;

  before(async () => {
    receiver = await startSftpReceiver();
    clip = path.join(receiver.root, 'clip.mp4');
    await writeClip(clip, CLIP_BYTES);
    // A first upload, so that what is allocated once (ciphers, buffers) is not counted below.
    const warm = await openSshSftp(receiver, [`put ${clip} warm.mp4`]);
    assert.equal(warm.code, 0, warm.stderr);
  });
  after(() => receiver.close());

  for (const [how, commands, stored] of [
    ['under its final name', ['put CLIP final.mp4'], 'final.mp4'],
    ['under a temporary name, then renamed', ['put CLIP held.mp4.part', 'rename held.mp4.part held.mp4'], 'held.mp4'],
  ] as const) {
    it(`takes a 200 MB clip ${how} with memory flat`, async () => {
      const growth = await peakGrowth(async () => {
        const result = await openSshSftp(receiver, commands.map((command) => command.replace('CLIP', clip)));
        assert.equal(result.code, 0, result.stderr);
      });
      assert.equal((await stat(path.join(receiver.root, 'images', receiver.camera, DAY, stored))).size, CLIP_BYTES);
      assert.ok(growth < 64 * 1024 * 1024, `resident memory grew by ${Math.round(growth / 1024 / 1024)} MB for a ${CLIP_BYTES / 1024 / 1024} MB clip`);
    });
  }
});
