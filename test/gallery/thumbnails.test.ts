import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { alternateKey } from '../../src/core/object-key.js';
import type { ImageStore } from '../../src/core/store.js';
import { RenditionError, ThumbnailService } from '../../src/gallery/thumbnails.js';
import { DiskStore } from '../../src/stores/disk.js';
import { SAMPLE_JPEG } from '../support/receiver.js';
import { RecordingStore } from './helpers.js';

async function put(store: ImageStore, key: string, bytes: Buffer, contentType = 'image/jpeg'): Promise<void> {
  await store.write({
    key,
    alternateKey: () => alternateKey(key, new Date()),
    body: (async function* () {
      yield await Promise.resolve(bytes);
    })(),
    contentType,
    metadata: {},
  });
}

describe('ThumbnailService', () => {
  let folder: string;
  let disk: DiskStore;
  const sample = 'front-door/2026/11/23/sample.jpg';
  const portrait = 'front-door/2026/11/23/portrait.jpg';

  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-thumbs-'));
    disk = new DiskStore(path.join(folder, 'images'));
    await disk.open();
    await put(disk, sample, SAMPLE_JPEG);
    // 1080×1920, stored sideways with EXIF orientation 6 as some cameras do: shown upright.
    const sideways = await sharp({ create: { width: 1920, height: 1080, channels: 3, background: '#336699' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    await put(disk, portrait, sideways);
    await put(disk, 'front-door/2026/11/23/broken.jpg', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(200, 7)]));
  });
  after(() => rm(folder, { recursive: true, force: true }));

  it('makes small JPEG thumbnails (≈ 20 KB or less) and larger previews, upright and without metadata', async () => {
    const service = new ThumbnailService({ store: disk });
    const thumb = await service.get(sample, 'thumb');
    const facts = await sharp(thumb).metadata();
    assert.equal(facts.format, 'jpeg');
    assert.deepEqual([facts.width, facts.height], [320, 240]);
    assert.ok(thumb!.length < 20 * 1024, `thumbnail of ${thumb!.length} bytes`);
    assert.equal(facts.exif, undefined);

    const preview = await sharp(await service.get(sample, 'preview')).metadata();
    assert.deepEqual([preview.width, preview.height], [640, 480], 'never enlarged');

    const upright = await sharp(await service.get(portrait, 'thumb')).metadata();
    assert.deepEqual([upright.width, upright.height], [135, 240]);
    assert.equal(upright.orientation, undefined);
  });

  it('reads the image from the store once, however many ask at once, and then serves it from memory', async () => {
    const store = new RecordingStore(disk);
    const service = new ThumbnailService({ store });
    const all = await Promise.all(Array.from({ length: 12 }, () => service.get(sample, 'thumb')));
    assert.ok(all.every((body) => body?.equals(all[0]!)));
    assert.deepEqual(store.calls, [`read ${sample}`]);
    await service.get(sample, 'thumb');
    assert.deepEqual(store.calls, [`read ${sample}`]);
    assert.deepEqual(service.counts, { rendered: 1, memoryHits: 1, diskHits: 0 });
  });

  it('keeps thumbnails in a folder that outlives the process', async () => {
    const cacheDir = path.join(folder, 'cache');
    const first = new ThumbnailService({ store: disk, cacheDir });
    const made = await first.get(sample, 'thumb');

    const store = new RecordingStore(disk);
    const second = new ThumbnailService({ store, cacheDir });
    assert.ok((await second.get(sample, 'thumb'))!.equals(made!));
    assert.deepEqual(store.calls, [], 'not read from the store again');
    assert.equal(second.counts.diskHits, 1);
    const files = await readdir(cacheDir, { recursive: true });
    assert.ok(files.some((file) => file.endsWith('.jpg')) && files.every((file) => !file.endsWith('.tmp')));
  });

  it('keeps the folder within its size, dropping the least recently used', async () => {
    const cacheDir = path.join(folder, 'small-cache');
    const service = new ThumbnailService({ store: disk, cacheDir, cacheDirMaxBytes: 30 * 1024, memoryBytes: 0 });
    const sizes = [(await service.get(sample, 'thumb'))!.length, (await service.get(portrait, 'thumb'))!.length];
    const preview = (await service.get(sample, 'preview'))!;
    assert.ok(sizes[0]! + sizes[1]! + preview.length > 30 * 1024, 'the three do not fit');
    const files = (await readdir(cacheDir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
    const kept = await Promise.all(files.map((file) => readFile(path.join(file.parentPath, file.name))));
    const total = kept.reduce((sum, bytes) => sum + bytes.length, 0);
    assert.ok(total <= 30 * 1024, `${total} bytes kept`);
    assert.ok(kept.some((bytes) => bytes.equals(preview)), 'the newest stays');
  });

  it('answers undefined for a missing image and a RenditionError for bytes it cannot decode', async () => {
    const service = new ThumbnailService({ store: disk });
    assert.equal(await service.get('front-door/2026/11/23/missing.jpg', 'thumb'), undefined);
    await assert.rejects(service.get('front-door/2026/11/23/broken.jpg', 'thumb'), RenditionError);
  });
});
