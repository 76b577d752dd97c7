/**
 * Whether a file that arrived "whole" holds a whole image or clip (src/file-transfer/format-end.ts),
 * on real files of every accepted type: whole ones pass however they are cut into chunks, cut ones
 * are refused wherever they are cut.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { UploadError } from '../../src/core/errors.js';
import { endCheckFor, endChecked } from '../../src/file-transfer/format-end.js';
import { ffmpegMissing, makeClips } from '../support/clips.js';
import type { MadeClip } from '../support/clips.js';

const SAMPLE_JPEG = await readFile(fileURLToPath(new URL('../../assets/sample.jpg', import.meta.url)));

/** What the check says of `bytes` fed in chunks of `chunk` bytes: undefined (whole) or what is missing. */
function verdict(bytes: Buffer, chunk = bytes.byteLength): string | undefined {
  const check = endCheckFor(bytes.subarray(0, 64));
  assert.ok(check, 'no check for these bytes');
  for (let offset = 0; offset < bytes.byteLength; offset += chunk) check.update(bytes.subarray(offset, offset + chunk));
  return check.missing();
}

/** A 2×2 BMP with a 40-byte info header, as most writers make it. */
function bmp(): Buffer {
  const pixels = Buffer.alloc(16, 0x7f);
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(54 + pixels.byteLength, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(2, 18);
  header.writeInt32LE(2, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(24, 28);
  return Buffer.concat([header, pixels]);
}

/** The sample JPEG with an EXIF-like APP1 segment holding a whole small JPEG (a thumbnail, with its own FF D9). */
async function withThumbnail(): Promise<{ bytes: Buffer; thumbnailEnd: number }> {
  const thumbnail = await sharp(SAMPLE_JPEG).resize(16, 12).jpeg().toBuffer();
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), thumbnail]);
  const app1 = Buffer.alloc(4);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(payload.byteLength + 2, 2);
  const bytes = Buffer.concat([SAMPLE_JPEG.subarray(0, 2), app1, payload, SAMPLE_JPEG.subarray(2)]);
  return { bytes, thumbnailEnd: 2 + 4 + payload.byteLength };
}

/** The sample JPEG with restart markers (FF D0, FF D1) and a stuffed FF 00 put into its scan data. */
function withRestartMarkers(): Buffer {
  const sos = SAMPLE_JPEG.indexOf(Buffer.from([0xff, 0xda]));
  const inScan = sos + 2 + SAMPLE_JPEG.readUInt16BE(sos + 2) + 100;
  return Buffer.concat([SAMPLE_JPEG.subarray(0, inScan), Buffer.from([0xff, 0xd0, 0x12, 0xff, 0x00, 0x34, 0xff, 0xd1]), SAMPLE_JPEG.subarray(inScan)]);
}

describe('endCheckFor: the end of each format', () => {
  const images: Array<{ name: string; bytes: () => Promise<Buffer> }> = [
    { name: 'JPEG (baseline)', bytes: () => Promise.resolve(SAMPLE_JPEG) },
    { name: 'JPEG (progressive)', bytes: () => sharp(SAMPLE_JPEG).jpeg({ progressive: true }).toBuffer() },
    { name: 'JPEG (restart markers in its scan data)', bytes: () => Promise.resolve(withRestartMarkers()) },
    { name: 'PNG', bytes: () => sharp(SAMPLE_JPEG).png().toBuffer() },
    { name: 'GIF', bytes: () => sharp(SAMPLE_JPEG).resize(64).gif().toBuffer() },
    { name: 'WebP', bytes: () => sharp(SAMPLE_JPEG).webp().toBuffer() },
    { name: 'BMP', bytes: () => Promise.resolve(bmp()) },
  ];

  for (const image of images) {
    it(`${image.name}: whole in any chunking, cut anywhere refused`, async () => {
      const bytes = await image.bytes();
      for (const chunk of [1, 7, 4096, bytes.byteLength]) assert.equal(verdict(bytes, chunk), undefined, `whole, in chunks of ${chunk}`);
      const cuts = [...new Set([bytes.byteLength - 1, bytes.byteLength - 2, ...[1, 2, 3, 4, 5, 6].map((part) => Math.floor((bytes.byteLength * part) / 7))])];
      for (const cut of cuts.filter((at) => at >= 64)) {
        assert.notEqual(verdict(bytes.subarray(0, cut), 1000), undefined, `cut at ${cut} of ${bytes.byteLength}`);
      }
    });
  }

  it('JPEG: the end marker of a thumbnail does not count; bytes after the real end are allowed', async () => {
    const { bytes, thumbnailEnd } = await withThumbnail();
    assert.equal(verdict(bytes, 333), undefined);
    assert.equal(bytes.readUInt16BE(thumbnailEnd - 2), 0xffd9, 'the thumbnail ends with FF D9');
    assert.equal(verdict(bytes.subarray(0, thumbnailEnd), 333), 'no end-of-image marker FF D9');
    assert.equal(verdict(Buffer.concat([SAMPLE_JPEG, Buffer.alloc(100)])), undefined);
  });

  it('JPEG: a stream that does not follow the segment layout is whole when it ends with FF D9', () => {
    const broken = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0x12]), Buffer.alloc(80, 0x55), Buffer.from([0xff, 0xd9])]);
    assert.equal(verdict(broken, 5), undefined);
    assert.equal(verdict(broken.subarray(0, broken.byteLength - 1), 5), 'no end-of-image marker FF D9');
  });

  it('is not asked of bytes that are no accepted type', () => {
    assert.equal(endCheckFor(Buffer.from('just some text, not an image at all, and longer than sixty-four bytes')), undefined);
  });
});

describe('endCheckFor: clips (ffmpeg)', { skip: ffmpegMissing() }, () => {
  let folder: string;
  let clips: MadeClip[];
  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-format-end-'));
    clips = await makeClips(folder);
  });
  after(() => rm(folder, { recursive: true, force: true }));

  it('MP4, Matroska, WebM: whole in any chunking, cut anywhere refused', () => {
    assert.ok(clips.length > 0, 'ffmpeg made no clip');
    for (const clip of clips) {
      const { bytes } = clip;
      for (const chunk of [1, 997, bytes.byteLength]) assert.equal(verdict(bytes, chunk), undefined, `${clip.container} whole, in chunks of ${chunk}`);
      for (const cut of [bytes.byteLength - 1, ...[1, 2, 3, 4, 5, 6].map((part) => Math.floor((bytes.byteLength * part) / 7))]) {
        assert.notEqual(verdict(bytes.subarray(0, cut), 4096), undefined, `${clip.container} cut at ${cut} of ${bytes.byteLength}`);
      }
    }
  });
});

describe('endChecked: the bytes pass unchanged; a cut file fails before its end reaches the reader', () => {
  const read = async (source: Iterable<Buffer>): Promise<Buffer> => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of endChecked(Readable.from(source))) chunks.push(chunk);
    return Buffer.concat(chunks);
  };

  it('passes a whole file through, in its chunks, short ones included', async () => {
    assert.deepEqual(await read([SAMPLE_JPEG.subarray(0, 10), SAMPLE_JPEG.subarray(10, 30), SAMPLE_JPEG.subarray(30)]), SAMPLE_JPEG);
    assert.deepEqual(await read([Buffer.from('short')]), Buffer.from('short'));
    assert.deepEqual(await read([]), Buffer.alloc(0));
  });

  it('fails with 400 and a message naming what is missing', async () => {
    await assert.rejects(read([SAMPLE_JPEG.subarray(0, 30_000)]), (error: unknown) => {
      assert.ok(error instanceof UploadError);
      assert.equal(error.status, 400);
      assert.equal(error.message, 'The file ended before its JPEG image did (no end-of-image marker FF D9): the transfer was cut off, so nothing was stored. Send it again.');
      return true;
    });
  });
});
