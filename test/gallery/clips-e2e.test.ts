/**
 * Clips in a real headless Chromium (Debian's `chromium`, driven by playwright-core): marked in a
 * camera's day, played in their page (H.264 in MP4 and in Matroska, VP8 in WebM) with seeking
 * over range requests, and, for a codec Chromium lacks, the message and the download instead.
 * The clips are real, made by ffmpeg; without ffmpeg or Chromium the tests are skipped with a
 * notice. Screenshots go to `test-artifacts/`.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { dayOf } from '../../src/gallery/layout.js';
import { CHROMIUM_MISSING } from '../support/chromium.js';
import { GalleryBrowser, PHONE, imagesLoaded, inPage, screenshot, waitUntil } from './browser.js';
import { FFMPEG_MISSING, cameraImage, makeClip, startGallery, storeObject } from './helpers.js';
import type { ClipKind, RunningGallery } from './helpers.js';

const missing = CHROMIUM_MISSING ?? FFMPEG_MISSING;
if (missing) process.stderr.write(`\n*** ${missing}\n\n`);

describe('clips in Chromium', { skip: missing ?? false }, () => {
  let gallery: RunningGallery;
  let chromium: GalleryBrowser;
  let base: string;
  const day = dayOf(new Date());
  const folder = `porch/${day.replaceAll('-', '/')}`;
  const start = Date.now() - 20 * 60_000;
  const at = (seconds: number): Date => new Date(start + seconds * 1000);
  const images = [0, 60, 120].map((seconds, i) => ({ key: `${folder}/image_${i}.jpg`, at: at(seconds) }));
  const clips: Record<'mp4' | 'mkv' | 'webm' | 'unplayable', { key: string; at: Date; kind: ClipKind }> = {
    mp4: { key: `${folder}/motion_1.mp4`, at: at(75), kind: 'mp4-faststart' },
    mkv: { key: `${folder}/motion_2.mkv`, at: at(130), kind: 'mkv' },
    webm: { key: `${folder}/motion_3.webm`, at: at(200), kind: 'webm' },
    // 17 minutes after the last image: no snapshot near it, so a clip tile.
    unplayable: { key: `${folder}/old_codec.mkv`, at: at(19 * 60), kind: 'mkv-mpeg4' },
  };

  before(async () => {
    gallery = await startGallery();
    base = gallery.url.replace(/\/$/, '');
    const root = path.join(gallery.root, 'images');
    for (const [i, image] of images.entries()) await storeObject(gallery.store, image.key, await cameraImage('front-door', i + 1, { width: 640, height: 360 }), { at: image.at, folder: root });
    for (const clip of Object.values(clips)) await storeObject(gallery.store, clip.key, await makeClip(clip.kind, { width: 640, height: 360 }), { at: clip.at, folder: root });
    chromium = await GalleryBrowser.launch(gallery);
  });

  after(async () => {
    await chromium?.close();
    await gallery?.close();
  });

  after(() => assert.deepEqual(chromium?.problems ?? [], [], 'no script errors, no CSP violations'));

  /** Plays the page's clip, muted, until it has played `seconds`. */
  async function playsInPage(page: Page, seconds = 0.5): Promise<void> {
    await waitUntil(page, `document.getElementById('clip').readyState >= 2`);
    assert.equal(await inPage(page, `document.getElementById('clip-problem').hidden`), true, 'no message where the clip plays');
    await inPage(page, `(() => { const video = document.getElementById('clip'); video.muted = true; return video.play().then(() => true); })()`);
    await waitUntil(page, `document.getElementById('clip').currentTime >= ${seconds}`);
    assert.ok((await inPage<number>(page, `document.getElementById('clip').videoWidth`)) > 0, 'it shows a picture');
  }

  it('marks clips among the images of a camera’s day, each pictured by a snapshot or a clip tile, none broken', async () => {
    const { context, page } = await chromium.newPage();
    await chromium.logIn(page);
    await page.goto(`${base}/gallery/cameras/porch?day=${day}`);
    assert.equal(await page.locator('#image-count').innerText(), '3 images, 4 clips');
    await imagesLoaded(page, '#thumbs img');
    const marks = await inPage<string[]>(page, `[...document.querySelectorAll('#thumbs li.clip .clip-mark')].map((mark) => mark.textContent)`);
    assert.deepEqual(marks, ['▶ Clip 0:03', '▶ Clip 0:03', '▶ Clip 0:03', '▶ Clip 0:03']);
    const name = await page.locator(`#thumbs li[data-key="${clips.mp4.key}"] a`).getAttribute('href');
    assert.equal(name, `/gallery/view/${clips.mp4.key}`);
    // The time-lapse plays the images only.
    await page.locator('#player-speed').selectOption('50');
    await page.getByRole('button', { name: 'Play' }).click();
    await waitUntil(page, `document.getElementById('player-position').value === '2'`);
    assert.equal(await page.locator('#player-position').getAttribute('max'), '2');
    assert.equal(await page.locator('#player-frame').getAttribute('src'), `/gallery/thumbs/${images[2]!.key}?size=preview`);
    await page.locator('#player-position').fill('0');
    await imagesLoaded(page, '#player-frame');
    await screenshot(page, 'clips-camera-desktop');
    await chromium.screenshotOnPhone(context, page.url(), '#thumbs img', 'clips-camera-phone');
    await context.close();
  });

  it('plays an MP4 clip (H.264) in its page, from range requests, and seeks in it', async () => {
    const { context, page } = await chromium.newPage();
    const answers: number[] = [];
    page.on('response', (response) => {
      if (response.url().endsWith(`/gallery/images/${clips.mp4.key}`)) answers.push(response.status());
    });
    await chromium.logIn(page);
    await page.goto(`${base}/gallery/cameras/porch?day=${day}`);
    await page.locator(`#thumbs li[data-key="${clips.mp4.key}"] a`).click();
    await page.waitForURL(`${base}/gallery/view/${clips.mp4.key}`);
    assert.equal(await page.locator('#clip').getAttribute('poster'), `/gallery/thumbs/${images[1]!.key}?size=preview`);
    await playsInPage(page);
    await inPage(page, `(() => { const video = document.getElementById('clip'); video.currentTime = 2.2; return true; })()`);
    await waitUntil(page, `(() => { const video = document.getElementById('clip'); return !video.seeking && video.currentTime >= 2.2; })()`);
    assert.ok(answers.includes(206), `the browser asked for ranges: ${answers.join(', ')}`);
    await inPage(page, `(() => { const video = document.getElementById('clip'); video.pause(); video.currentTime = 1.5; return true; })()`);
    await waitUntil(page, `(() => { const video = document.getElementById('clip'); return !video.seeking && video.readyState >= 2; })()`);
    assert.equal(await page.getByRole('link', { name: 'Download clip' }).getAttribute('href'), `/gallery/images/${clips.mp4.key}?download=1`);
    await screenshot(page, 'clip-desktop');

    // ← and → still step through the day, images and clips alike (but seek while the video has the focus).
    await page.locator('.position').click();
    await page.keyboard.press('ArrowRight');
    await page.waitForURL(`${base}/gallery/view/${images[2]!.key}`);
    await page.keyboard.press('ArrowLeft');
    await page.waitForURL(`${base}/gallery/view/${clips.mp4.key}`);

    const phone = await chromium.newPage(PHONE);
    await phone.context.addCookies(await context.cookies());
    await phone.page.goto(page.url());
    await waitUntil(phone.page, `document.getElementById('clip').readyState >= 1`);
    await screenshot(phone.page, 'clip-phone');
    await phone.context.close();
    await context.close();
  });

  it('plays H.264 in Matroska, as Axis cameras record, and VP8 in WebM', async () => {
    const { context, page } = await chromium.newPage();
    await chromium.logIn(page);
    for (const clip of [clips.mkv, clips.webm]) {
      await page.goto(`${base}/gallery/view/${clip.key}`);
      await playsInPage(page);
    }
    await context.close();
  });

  it('says so, and offers the download, where the browser cannot play the clip', async () => {
    const { context, page } = await chromium.newPage();
    await chromium.logIn(page);
    await page.goto(`${base}/gallery/view/${clips.unplayable.key}`);
    await waitUntil(page, `!document.getElementById('clip-problem').hidden`);
    assert.equal(await inPage(page, `document.getElementById('clip').hidden`), true, 'the player gives way to the message');
    const alert = page.getByRole('alert');
    assert.match(await alert.innerText(), /This browser cannot play this clip \(video\/x-matroska, in a codec it lacks\)\. Download it to play it in a video player\./);
    const download = alert.getByRole('link', { name: 'Download clip' });
    assert.ok(await download.isVisible());
    assert.equal(await download.getAttribute('href'), `/gallery/images/${clips.unplayable.key}?download=1`);
    const answer = await page.evaluate(async (url) => {
      const response = await fetch(url);
      return { status: response.status, disposition: response.headers.get('content-disposition'), type: response.headers.get('content-type') };
    }, `/gallery/images/${clips.unplayable.key}?download=1`);
    assert.deepEqual(answer, { status: 200, disposition: 'attachment; filename=old_codec.mkv', type: 'video/x-matroska' });
    await screenshot(page, 'clip-unplayable');
    await context.close();
  });
});
