/**
 * Video clips in the gallery over HTTP, with real clips made by ffmpeg (skipped, with a notice,
 * where it is missing): durations read from the containers' first bytes, clips listed beside
 * images and marked, pictured by the nearest snapshot, counted apart, their page, and their bytes
 * served in ranges from the disk and the S3 store.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ByteRange, ImageStore, ObjectContent } from '../../src/core/store.js';
import { ClipDurations, HEAD_BYTES } from '../../src/gallery/clip-durations.js';
import { dayOf } from '../../src/gallery/layout.js';
import { DiskStore } from '../../src/stores/disk.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { startLocalS3 } from '../support/local-s3.js';
import { CLIP_KINDS, FFMPEG_MISSING, RecordingStore, cameraImage, fixS3rverDelimiterListing, makeClip, probeDurationMs, startGallery, storeObject } from './helpers.js';
import type { ClipKind, RunningGallery } from './helpers.js';

if (FFMPEG_MISSING) process.stderr.write(`\n*** ${FFMPEG_MISSING}\n\n`);

/** The clips every test here uses, made once. */
const clips = {} as Record<'faststart' | 'moovAtEnd' | 'mkv' | 'webm' | 'mpeg4', { kind: ClipKind; bytes: Buffer }>;

let making: Promise<void> | undefined;

/** Makes {@link clips}, once for the whole file. */
function makeClips(): Promise<void> {
  making ??= makeAllClips();
  return making;
}

async function makeAllClips(): Promise<void> {
  const made = await Promise.all([
    makeClip('mp4-faststart'),
    // Bigger than the bytes read at the start, so its `moov`, at the end, is out of their reach.
    makeClip('mp4', { seconds: 4, width: 640, height: 360, bitrate: '1M' }),
    makeClip('mkv'),
    makeClip('webm', { seconds: 2 }),
    makeClip('mkv-mpeg4', { seconds: 2 }),
  ]);
  Object.assign(clips, {
    faststart: { kind: 'mp4-faststart', bytes: made[0] },
    moovAtEnd: { kind: 'mp4', bytes: made[1] },
    mkv: { kind: 'mkv', bytes: made[2] },
    webm: { kind: 'webm', bytes: made[3] },
    mpeg4: { kind: 'mkv-mpeg4', bytes: made[4] },
  });
}

/** A store that reads every object whole, whatever range is asked for (as a store without ranged reads). */
class WholeReadsStore extends RecordingStore {
  override read(key: string, range?: ByteRange): Promise<ObjectContent | undefined> {
    if (range) this.calls.push(`read ${key} (whole, ${range.start}-${range.end} asked)`);
    return this.inner.read(key);
  }
}

async function fetchBytes(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

describe('clip durations, from the containers’ first bytes', { skip: FFMPEG_MISSING ?? false }, () => {
  let folder: string;
  let disk: DiskStore;

  before(async () => {
    await makeClips();
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-durations-'));
    disk = new DiskStore(folder);
    await disk.open();
    for (const [name, clip] of Object.entries(clips)) await storeObject(disk, `cam/2026/12/06/${name}.${CLIP_KINDS[clip.kind].extension}`, clip.bytes);
    await storeObject(disk, 'cam/2026/12/06/cut.mkv', clips.mkv.bytes.subarray(0, 40));
    await storeObject(disk, 'cam/2026/12/06/not-a-clip.mp4', Buffer.from('0000ftypisom but nothing else of an MP4'));
  });
  after(async () => {
    await disk?.close();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  const key = (name: keyof typeof clips): string => `cam/2026/12/06/${name}.${CLIP_KINDS[clips[name].kind].extension}`;

  it('reads MP4 (moov first), Matroska and WebM in one read of their first 64 KB, as ffprobe does, once', async () => {
    const store = new RecordingStore(disk);
    const durations = new ClipDurations(store);
    for (const name of ['faststart', 'mkv', 'webm', 'mpeg4'] as const) {
      const expected = await probeDurationMs(clips[name].bytes, CLIP_KINDS[clips[name].kind].extension);
      const found = await durations.of(key(name));
      assert.ok(found !== undefined && Math.abs(found - expected) < 1, `${name}: ${found} ms, ffprobe says ${expected} ms`);
    }
    assert.deepEqual(store.calls, (['faststart', 'mkv', 'webm', 'mpeg4'] as const).map((name) => `read ${key(name)} 0-${HEAD_BYTES - 1}`));
    await durations.of(key('faststart'));
    assert.equal(store.calls.length, 4, 'known durations are not read again');
  });

  it('follows an MP4’s boxes to its moov at the end with a few small ranged reads', async () => {
    const store = new RecordingStore(disk);
    const expected = await probeDurationMs(clips.moovAtEnd.bytes, 'mp4');
    const found = await new ClipDurations(store).of(key('moovAtEnd'));
    assert.ok(found !== undefined && Math.abs(found - expected) < 1, `${found} ms, ffprobe says ${expected} ms`);
    assert.ok(clips.moovAtEnd.bytes.length > 2 * HEAD_BYTES, 'the clip is bigger than what is read at its start');
    assert.equal(store.calls[0], `read ${key('moovAtEnd')} 0-${HEAD_BYTES - 1}`);
    assert.ok(store.calls.length >= 2 && store.calls.length <= 5, store.calls.join('\n'));
    for (const call of store.calls.slice(1)) {
      const [, start, end] = /(\d+)-(\d+)$/.exec(call)!.map(Number);
      assert.equal(end! - start! + 1, 4096, call);
    }
  });

  it('gives no duration where it cannot be read cheaply: moov at the end of a store without ranged reads, a cut or false file', async () => {
    const whole = new WholeReadsStore(disk);
    const durations = new ClipDurations(whole);
    assert.equal(await durations.of(key('moovAtEnd')), undefined);
    assert.deepEqual(whole.calls, [`read ${key('moovAtEnd')} (whole, 0-${HEAD_BYTES - 1} asked)`], 'one read, of its start only, and no more');
    assert.ok((await durations.of(key('faststart'))) !== undefined, 'moov first is still read');
    assert.equal(await durations.of('cam/2026/12/06/cut.mkv'), undefined);
    assert.equal(await durations.of('cam/2026/12/06/not-a-clip.mp4'), undefined);
    assert.equal(await durations.of('cam/2026/12/06/missing.mp4'), undefined);
  });
});

describe('clips in the gallery over HTTP', { skip: FFMPEG_MISSING ?? false }, () => {
  let folder: string;
  let store: RecordingStore;
  let gallery: RunningGallery;
  let cookie: string;
  let base: string;
  const day = dayOf(new Date());
  const dayFolder = `yard/${day.replaceAll('-', '/')}`;
  /** Six images, one a minute, then clips between and after them. */
  const start = Date.now() - 40 * 60_000;
  const images = Array.from({ length: 6 }, (_, i) => ({ key: `${dayFolder}/image_${i}.jpg`, at: new Date(start + i * 60_000) }));
  const clipKeys = {
    // 25 s before image 3, 35 s after image 2: pictured by image 3.
    faststart: { key: `${dayFolder}/motion_1.mp4`, at: new Date(start + 155_000) },
    // 10 s after the last image.
    moovAtEnd: { key: `${dayFolder}/motion_2.mp4`, at: new Date(start + 310_000) },
    // 25 minutes after the last image: no snapshot near it.
    mkv: { key: `${dayFolder}/door_open.mkv`, at: new Date(start + 30 * 60_000) },
  };

  before(async () => {
    await makeClips();
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-clips-'));
    store = new RecordingStore(new DiskStore(folder));
    await store.open();
    gallery = await startGallery({ store });
    base = gallery.url.replace(/\/$/, '');
    for (const [i, image] of images.entries()) await storeObject(store, image.key, await cameraImage('back-yard', i + 1), { at: image.at, folder });
    for (const [name, clip] of Object.entries(clipKeys)) await storeObject(store, clip.key, clips[name as keyof typeof clipKeys].bytes, { at: clip.at, folder });
    cookie = await gallery.login();
  });
  after(async () => {
    await gallery?.close();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('lists clips beside the images of a day, marked as clips with their duration, pictured by the nearest snapshot', async () => {
    const page = await gallery.get(`/gallery/cameras/yard?day=${day}`, { cookie });
    assert.equal(page.status, 200);
    assert.match(page.body, /<span id="image-count">6 images, 3 clips<\/span>/);
    const order = [...page.body.matchAll(/<li (?:class="clip" )?data-key="([^"]+)"/g)].map((match) => match[1]);
    const newestFirst = [...images, ...Object.values(clipKeys)].sort((a, b) => b.at.getTime() - a.at.getTime()).map((item) => item.key);
    assert.deepEqual(order, newestFirst);

    const tile = (key: string): string => new RegExp(`<li class="clip" data-key="${key}"[^]*?</li>`).exec(page.body)?.[0] ?? '';
    const near = tile(clipKeys.faststart.key);
    assert.match(near, new RegExp(`<img src="/gallery/thumbs/${images[3]!.key}" alt="Clip from yard, [^"]+ UTC \\(pictured by the snapshot of \\d\\d:\\d\\d:\\d\\d\\)"`));
    assert.match(near, /<span class="clip-mark"><span aria-hidden="true">▶ <\/span>Clip <span class="clip-duration">0:03<\/span><\/span>/);
    assert.match(tile(clipKeys.moovAtEnd.key), /Clip <span class="clip-duration">0:04<\/span>/);
    const alone = tile(clipKeys.mkv.key);
    assert.match(alone, new RegExp(`<img src="/gallery/thumbs/${clipKeys.mkv.key}" alt="Clip from yard, [^"]+ UTC"`));
    // Its tile is a picture, never a broken image, and the clip is not read for it.
    store.calls.length = 0;
    const neutral = await gallery.get(`/gallery/thumbs/${clipKeys.mkv.key}`, { cookie });
    assert.equal(neutral.status, 200);
    assert.equal(neutral.headers['content-type'], 'image/svg+xml');
    assert.match(neutral.body, /^<svg [^>]*width="320" height="180"/);
    assert.deepEqual(store.calls, []);
  });

  it('plays only the images in the time-lapse, and gives clips apart in the day’s data', async () => {
    const page = await gallery.get(`/gallery/cameras/yard?day=${day}`, { cookie });
    assert.match(page.body, /<span class="player-hint">6 images in order, oldest first<\/span>/);
    assert.match(page.body, new RegExp(`id="player-frame" src="/gallery/thumbs/${images[0]!.key}\\?size=preview"`));
    const data = await gallery.get(`/gallery/api/cameras/yard/days/${day}`, { cookie });
    assert.deepEqual((data.json.images as Array<{ key: string }>).map((image) => image.key), images.map((image) => image.key));
    assert.deepEqual((data.json.clips as Array<{ key: string }>).map((clip) => clip.key), Object.values(clipKeys).map((clip) => clip.key));
    const fragment = await gallery.get(`/gallery/fragments/cameras/yard?day=${day}`, { cookie });
    assert.equal(fragment.headers['x-count-label'], '6 images, 3 clips');
  });

  it('counts images and clips apart on the overview; the card shows the latest image and says when the latest clip came', async () => {
    const overview = await gallery.get('/gallery', { cookie });
    const card = /<li class="card[^"]*" data-key="yard"[^]*?<\/li>/.exec(overview.body)?.[0] ?? '';
    assert.match(card, new RegExp(`<img src="/gallery/thumbs/${images.at(-1)!.key}\\?size=preview" alt="Latest image from yard, `));
    assert.match(card, /<p class="latest">Latest clip <time datetime="[^"]+">/);
    assert.match(card, /<strong>6<\/strong> images, <strong>3<\/strong> clips today/);
    // A camera that sent only clips: its card has no picture to show, and says why.
    const shedClip = `shed/${day.replaceAll('-', '/')}/event.mkv`;
    await storeObject(store, shedClip, clips.mkv.bytes);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const withShed = await gallery.get('/gallery', { cookie });
    const shed = /<li class="card[^"]*" data-key="shed"[^]*?<\/li>/.exec(withShed.body)?.[0] ?? '';
    assert.match(shed, /<div class="no-image clips-only" aria-hidden="true">Only clips on its latest day<\/div>/);
    assert.match(shed, /<p class="stats"><strong>1<\/strong> clip today/);
    assert.match(shed, /Latest clip <time/);

    const data = await gallery.get('/gallery/api/overview', { cookie });
    const yard = (data.json.cameras as Array<Record<string, unknown>>).find((camera) => camera.camera === 'yard')!;
    assert.equal(yard.today, 6);
    assert.equal(yard.clipsToday, 3);
    assert.equal((yard.latest as { key: string }).key, images.at(-1)!.key);
    assert.deepEqual([(yard.lastReceived as { key: string }).key, (yard.lastReceived as { kind: string }).kind], [clipKeys.mkv.key, 'clip']);
  });

  it('shows a clip’s page: a video of the clip with the nearest snapshot as its poster, its duration, the download, and what to do where it cannot play', async () => {
    const view = await gallery.get(`/gallery/view/${clipKeys.faststart.key}`, { cookie });
    assert.equal(view.status, 200);
    assert.match(String(view.headers['content-security-policy']), /media-src 'self'/);
    assert.match(
      view.body,
      new RegExp(`<video id="clip" src="/gallery/images/${clipKeys.faststart.key}" controls preload="metadata" playsinline poster="/gallery/thumbs/${images[3]!.key}\\?size=preview" aria-label="Clip from yard, `),
    );
    assert.match(view.body, /<dt>Duration<\/dt><dd>0:03<\/dd>/);
    assert.match(view.body, /<dt>Type<\/dt><dd>video\/mp4<\/dd>/);
    assert.match(view.body, new RegExp(`<a class="button primary" href="/gallery/images/${clipKeys.faststart.key}\\?download=1" download="motion_1.mp4">Download clip</a>`));
    assert.match(view.body, /<div class="clip-problem" id="clip-problem" role="alert" hidden>\s*<p data-problem="unplayable"><strong>This browser cannot play this clip<\/strong>/);
    // Older and newer step through images and clips alike, in time.
    assert.match(view.body, new RegExp(`rel="prev" href="/gallery/view/${images[2]!.key}"`));
    assert.match(view.body, new RegExp(`rel="next" href="/gallery/view/${images[3]!.key}"`));
    const before = await gallery.get(`/gallery/view/${images[2]!.key}`, { cookie });
    assert.match(before.body, new RegExp(`rel="next" href="/gallery/view/${clipKeys.faststart.key}" title="Newer \\(a clip\\): `));

    const alone = await gallery.get(`/gallery/view/${clipKeys.mkv.key}`, { cookie });
    assert.match(alone.body, new RegExp(`<video id="clip" src="/gallery/images/${clipKeys.mkv.key}" controls preload="metadata" playsinline aria-label=`), 'no poster where no snapshot is near');
    assert.match(alone.body, /<dt>Type<\/dt><dd>video\/x-matroska<\/dd>/);
  });

  it('serves a clip whole, or the one range a player asks for (206) read alone from the store, and 416 past its end', async () => {
    const { key } = clipKeys.moovAtEnd;
    const bytes = clips.moovAtEnd.bytes;
    const size = bytes.length;
    const url = `${base}/gallery/images/${key}`;

    store.calls.length = 0;
    const whole = await fetchBytes(url, { cookie });
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('content-type'), 'video/mp4');
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    assert.equal(whole.headers.get('content-length'), String(size));
    assert.ok(whole.bytes.equals(bytes));
    assert.deepEqual(store.calls, [`read ${key}`]);

    const parts: Array<[string, number, number]> = [
      ['bytes=0-99', 0, 99],
      ['bytes=1000-', 1000, size - 1],
      ['bytes=-500', size - 500, size - 1],
      [`bytes=${size - 10}-${size * 2}`, size - 10, size - 1],
      [`bytes=${size - 1}-${size - 1}`, size - 1, size - 1],
    ];
    for (const [range, first, last] of parts) {
      store.calls.length = 0;
      const part = await fetchBytes(url, { cookie, range });
      assert.equal(part.status, 206, range);
      assert.equal(part.headers.get('content-range'), `bytes ${first}-${last}/${size}`, range);
      assert.equal(part.headers.get('content-length'), String(last - first + 1), range);
      assert.ok(part.bytes.equals(bytes.subarray(first, last + 1)), range);
      assert.deepEqual(store.calls, [`read ${key} ${first}-${last}`], `${range}: only those bytes are read from the store`);
    }

    for (const range of [`bytes=${size}-`, `bytes=${size + 100}-${size + 200}`, 'bytes=-0']) {
      const refused = await fetchBytes(url, { cookie, range });
      assert.equal(refused.status, 416, range);
      assert.equal(refused.headers.get('content-range'), `bytes */${size}`, range);
    }
    // Ranges a server may answer with the whole: several at once, another unit, nonsense.
    for (const range of ['bytes=0-1,5-6', 'items=0-5', 'bytes=5-2', 'bytes=x-y']) {
      const answered = await fetchBytes(url, { cookie, range });
      assert.equal(answered.status, 200, range);
      assert.equal(answered.bytes.length, size, range);
    }
    // If-Range: the range only while the clip is the one the player saw.
    const lastModified = whole.headers.get('last-modified')!;
    assert.equal((await fetchBytes(url, { cookie, range: 'bytes=0-9', 'if-range': lastModified })).status, 206);
    assert.equal((await fetchBytes(url, { cookie, range: 'bytes=0-9', 'if-range': 'Thu, 01 Jan 2026 00:00:00 GMT' })).status, 200);

    // HEAD tells the same without reading anything from the store.
    store.calls.length = 0;
    const head = await fetch(url, { method: 'HEAD', headers: { cookie, range: 'bytes=100-199' } });
    assert.equal(head.status, 206);
    assert.equal(head.headers.get('content-range'), `bytes 100-199/${size}`);
    assert.equal(head.headers.get('content-length'), '100');
    assert.deepEqual(store.calls, []);

    const download = await fetchBytes(`${url}?download=1`, { cookie, range: 'bytes=0-9' });
    assert.equal(download.headers.get('content-disposition'), 'attachment; filename=motion_2.mp4');
    assert.equal((await fetchBytes(url, { range: 'bytes=0-9' })).status, 401, 'no session, no clip');
  });

  it('serves a range from a store that reads only whole objects by passing over the bytes before it', async () => {
    const whole = new WholeReadsStore(new DiskStore(folder));
    const other = await startGallery({ store: whole });
    try {
      const { key } = clipKeys.mkv;
      const bytes = clips.mkv.bytes;
      const response = await fetchBytes(`${other.url}gallery/images/${key}`, { cookie: await other.login(), range: 'bytes=1000-1999' });
      assert.equal(response.status, 206);
      assert.equal(response.headers.get('content-range'), `bytes 1000-1999/${bytes.length}`);
      assert.ok(response.bytes.equals(bytes.subarray(1000, 2000)));
    } finally {
      await other.close();
    }
  });
});

describe('clips in the gallery on an S3 store', { skip: FFMPEG_MISSING ?? false }, () => {
  it('reads durations and serves ranges with ranged GetObject requests', async () => {
    await makeClips();
    fixS3rverDelimiterListing();
    const s3 = await startLocalS3('gallery-clips');
    const s3Store: ImageStore = new S3Store({ client: createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials }), bucket: s3.bucket, prefix: 'site/' });
    const store = new RecordingStore(s3Store);
    const gallery = await startGallery({ store });
    try {
      const day = dayOf(new Date());
      const image = `gate/${day.replaceAll('-', '/')}/image_1.jpg`;
      const faststart = `gate/${day.replaceAll('-', '/')}/event_1.mp4`;
      const moovAtEnd = `gate/${day.replaceAll('-', '/')}/event_2.mp4`;
      await storeObject(store, image, await cameraImage('garage', 1));
      await storeObject(store, faststart, clips.faststart.bytes);
      await storeObject(store, moovAtEnd, clips.moovAtEnd.bytes);
      const cookie = await gallery.login();

      store.calls.length = 0;
      const page = await gallery.get(`/gallery/cameras/gate?day=${day}`, { cookie });
      assert.match(page.body, /<span id="image-count">1 image, 2 clips<\/span>/);
      assert.match(page.body, new RegExp(`data-key="${faststart}"[^]*?<span class="clip-duration">0:03</span>`));
      assert.match(page.body, new RegExp(`data-key="${moovAtEnd}"[^]*?<span class="clip-duration">0:04</span>`));
      assert.ok(store.calls.filter((call) => call.startsWith('read ')).every((call) => /\d+-\d+$/.test(call)), `only ranged reads: ${store.calls.join(', ')}`);

      const size = clips.moovAtEnd.bytes.length;
      const part = await fetchBytes(`${gallery.url}gallery/images/${moovAtEnd}`, { cookie, range: `bytes=${size - 1000}-` });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get('content-range'), `bytes ${size - 1000}-${size - 1}/${size}`);
      assert.ok(part.bytes.equals(clips.moovAtEnd.bytes.subarray(size - 1000)));
      assert.equal((await fetchBytes(`${gallery.url}gallery/images/${moovAtEnd}`, { cookie, range: `bytes=${size}-` })).status, 416);
      const view = await gallery.get(`/gallery/view/${faststart}`, { cookie });
      assert.match(view.body, new RegExp(`poster="/gallery/thumbs/${image}\\?size=preview"`));

      // A range past an object's end, which S3 refuses (416): the whole object instead, as the store contract says.
      const short = `gate/${day.replaceAll('-', '/')}/short.mp4`;
      await storeObject(store, short, Buffer.from('ten bytes!'));
      const read = await s3Store.read(short, { start: 20, end: HEAD_BYTES - 1 });
      assert.deepEqual([read?.size, read?.range], [10, undefined]);
      const chunks: Uint8Array[] = [];
      for await (const chunk of read!.body) chunks.push(chunk);
      assert.equal(Buffer.concat(chunks).toString(), 'ten bytes!');
    } finally {
      await gallery.close();
      await s3.stop();
    }
  });
});
