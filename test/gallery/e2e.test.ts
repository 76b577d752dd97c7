/**
 * The gallery end to end in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core; no browser download): images uploaded by the camera simulator from two
 * cameras, seen through the pages a viewer uses. Screenshots go to `test-artifacts/` (not
 * committed) for people to look at.
 */
import assert from 'node:assert/strict';
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContextOptions, Page } from 'playwright-core';
import { simulate } from '../../src/camera/simulator.js';
import { alternateKey } from '../../src/core/object-key.js';
import { addDays, dayOf } from '../../src/gallery/layout.js';
import { CHROMIUM_MISSING } from '../support/chromium.js';
import { DESKTOP, GalleryBrowser, PHONE, imagesLoaded, inPage, screenshot, waitUntil } from './browser.js';
import { cameraImage, startGallery } from './helpers.js';
import type { RunningGallery } from './helpers.js';

const missing = CHROMIUM_MISSING;
if (missing) process.stderr.write(`\n*** ${missing}\n\n`);

describe('gallery in Chromium', { skip: missing ?? false }, () => {
  let gallery: RunningGallery;
  let chromium: GalleryBrowser;
  let base: string;
  const tokens: Record<string, string> = {};
  /** Keys stored per camera, in upload order. */
  const keys: Record<string, string[]> = { 'front-door': [], 'back-yard': [], driveway: [] };
  let sequence = 0;

  /** Uploads `count` images from `camera` with the simulator, as a camera would send them. */
  async function upload(camera: string, count: number, size?: { width: number; height: number }): Promise<string[]> {
    const stored: string[] = [];
    for (let i = 0; i < count; i++) {
      sequence++;
      const summary = await simulate({
        recipient: gallery.url,
        token: tokens[camera]!,
        count: 1,
        concurrency: 1,
        image: await cameraImage(camera, keys[camera]!.length + 1, size),
        filenamePattern: 'image%Y%m%d_%H%M%S_#s.jpg',
        startSequence: sequence,
      });
      assert.equal(summary.accepted, 1, summary.errorMessages.join('; '));
      stored.push(...summary.acceptedKeys);
      keys[camera]!.push(...summary.acceptedKeys);
    }
    return stored;
  }

  const newPage = (options?: BrowserContextOptions): ReturnType<GalleryBrowser['newPage']> => chromium.newPage(options);
  const logIn = (page: Page): Promise<void> => chromium.logIn(page);
  const screenshotOnPhone: GalleryBrowser['screenshotOnPhone'] = (...args) => chromium.screenshotOnPhone(...args);

  before(async () => {
    gallery = await startGallery();
    base = gallery.url.replace(/\/$/, '');
    for (const camera of Object.keys(keys)) tokens[camera] = (await gallery.tokens.create(camera)).token;
    await upload('front-door', 14);
    await upload('back-yard', 9);
    // Most Axis cameras send 16:9.
    await upload('driveway', 3, { width: 1280, height: 720 });
    // A camera with a token that has not sent anything yet.
    await gallery.tokens.create('loading-dock');
    // A third camera that sent an image a minute yesterday morning and nothing since: overdue.
    const yesterday = addDays(dayOf(new Date()), -1);
    for (let i = 0; i < 6; i++) {
      const at = new Date(`${yesterday}T08:0${i}:00Z`);
      const key = `garage/${yesterday.replaceAll('-', '/')}/image${yesterday.replaceAll('-', '')}_080${i}00.jpg`;
      await gallery.store.write({
        key,
        alternateKey: () => alternateKey(key, at),
        body: (async function* () {
          yield await cameraImage('garage', i + 1);
        })(),
        contentType: 'image/jpeg',
        metadata: { camera: 'garage' },
      });
      await utimes(path.join(gallery.root, 'images', key), at, at);
    }
    chromium = await GalleryBrowser.launch(gallery);
  });

  after(async () => {
    await chromium?.close();
    await gallery?.close();
  });

  after(() => assert.deepEqual(chromium?.problems ?? [], [], 'no script errors, no CSP violations'));

  it('shows a viewer who is not logged in the log-in page and no image', async () => {
    const { context, page } = await newPage(PHONE);
    const images: string[] = [];
    page.on('response', (response) => {
      if (/\/gallery\/(images|thumbs)\//.test(response.url()) && response.status() === 200) images.push(response.url());
    });
    await page.goto(`${base}/gallery/cameras/front-door`);
    assert.match(page.url(), /\/gallery\/login\?next=%2Fgallery%2Fcameras%2Ffront-door$/);
    await page.getByLabel('Gallery password').waitFor();
    const direct = await page.evaluate(async (url) => (await fetch(url)).status, `/gallery/images/${keys['front-door']![0]}`);
    assert.equal(direct, 401);
    const thumbnail = await page.evaluate(async (url) => (await fetch(url)).status, `/gallery/thumbs/${keys['front-door']![0]}`);
    assert.equal(thumbnail, 401);
    assert.deepEqual(images, []);
    await screenshot(page, 'login-phone');
    await context.close();
  });

  it('does not open for a camera token, in the address or as the password', async () => {
    const { context, page } = await newPage();
    await page.goto(`${base}/gallery?accessToken=${tokens['front-door']!}`);
    assert.match(page.url(), /\/gallery\/login/);
    const status = await page.evaluate(async (url) => (await fetch(url)).status, `/gallery/images/${keys['front-door']![0]}?accessToken=${tokens['front-door']!}`);
    assert.equal(status, 401);

    await page.getByLabel('Gallery password').fill(tokens['front-door']!);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /not the gallery password/);
    assert.deepEqual((await context.cookies()).map((cookie) => cookie.name), ['images_to_s3_tz'], 'no session, only the time zone the script tells');
    await context.close();
  });

  it('shows both cameras with their latest image on the overview, and a new upload without a reload', async () => {
    const { context, page } = await newPage();
    await logIn(page);
    assert.deepEqual(await inPage(page, `[...document.querySelectorAll('#cards > li')].map((card) => card.dataset.key)`), ['back-yard', 'camera-1', 'driveway', 'front-door', 'garage', 'loading-dock']);
    const garage = page.locator('#cards > li[data-key="garage"]');
    assert.match((await garage.getAttribute('class')) ?? '', /\bstate-overdue\b/);
    assert.equal(await garage.locator('.badge').innerText(), 'Overdue');
    assert.match(await garage.locator('.stats').innerText(), /^0 today · usually every 1\smin · nothing for \d+\sh$/);
    for (const camera of ['back-yard', 'front-door']) {
      const image = page.locator(`#cards > li[data-key="${camera}"] img`);
      assert.equal(await image.getAttribute('src'), `/gallery/thumbs/${keys[camera]!.at(-1)!}?size=preview`);
      assert.match((await image.getAttribute('alt')) ?? '', new RegExp(`^Latest image from ${camera}, `));
    }
    await imagesLoaded(page, '#cards img');
    assert.match(await page.locator('#cards > li[data-key="front-door"] .stats').innerText(), /^14 today/);
    await screenshot(page, 'overview-desktop');

    // The page stays (no reload: the marker survives) while the new image comes in.
    await inPage(page, 'window.marker = 42');
    const [added] = await upload('back-yard', 1);
    await waitUntil(page, `document.querySelector('#cards > li[data-key="back-yard"] img')?.getAttribute('src') === ${JSON.stringify(`/gallery/thumbs/${added!}?size=preview`)}`);
    assert.equal(await inPage(page, 'window.marker'), 42);
    assert.match(await page.locator('#cards > li[data-key="back-yard"] .stats').innerText(), /^10 today/);

    await screenshotOnPhone(context, `${base}/gallery`, '#cards img', 'overview-phone');
    await context.close();
  });

  it('lists the day’s thumbnails newest first in the camera view, and plays them as a time-lapse', async () => {
    const { context, page } = await newPage();
    await logIn(page);
    await page.locator('#cards > li[data-key="front-door"] a').click();
    await page.waitForURL(/\/gallery\/cameras\/front-door\?day=\d{4}-\d{2}-\d{2}$/);
    assert.equal(await page.locator('h1').innerText(), 'front-door');
    const links = await inPage(page, `[...document.querySelectorAll('#thumbs a')].map((anchor) => anchor.getAttribute('href'))`);
    assert.deepEqual(links, [...keys['front-door']!].reverse().map((key) => `/gallery/view/${key}`));
    await imagesLoaded(page, '#thumbs img');
    assert.match(await page.locator('#image-count').innerText(), /^14 images$/);

    await page.locator('#player-speed').selectOption('50');
    await page.getByRole('button', { name: 'Play' }).click();
    await waitUntil(page, `document.getElementById('player-position').value === '13'`);
    await page.getByRole('button', { name: 'Play' }).waitFor();
    assert.equal(await page.locator('#player-frame').getAttribute('src'), `/gallery/thumbs/${keys['front-door']!.at(-1)!}?size=preview`);
    assert.equal(await page.locator('#player-time').innerText(), await page.locator('#thumbs time').first().innerText(), 'the player labels the newest image as its tile does');
    await page.locator('#player-position').fill('0');
    await imagesLoaded(page, '#player-frame');
    await screenshot(page, 'camera-desktop');

    await screenshotOnPhone(context, page.url(), '#thumbs img', 'camera-phone');
    await context.close();
  });

  it('steps to the older and newer image in the image view, by link and by arrow key', async () => {
    const { context, page } = await newPage();
    await logIn(page);
    const [newest, second] = [...keys['front-door']!].reverse();
    await page.goto(`${base}/gallery/cameras/front-door`);
    await page.locator('#thumbs a').first().click();
    await page.waitForURL(`${base}/gallery/view/${newest!}`);
    assert.equal(await page.locator('.image-toolbar a[rel="next"]').count(), 0, 'the newest image has no newer one');
    await imagesLoaded(page, '#full-image');
    assert.match(await page.locator('.facts').innerText(), new RegExp(`Key\\s+${newest!.replace(/[.]/g, '\\.')}`));
    await screenshot(page, 'image-desktop');
    await screenshotOnPhone(context, page.url(), '#full-image', 'image-phone');

    await page.getByRole('link', { name: /Older/ }).click();
    await page.waitForURL(`${base}/gallery/view/${second!}`);
    await page.keyboard.press('ArrowRight');
    await page.waitForURL(`${base}/gallery/view/${newest!}`);
    await page.keyboard.press('ArrowLeft');
    await page.waitForURL(`${base}/gallery/view/${second!}`);

    const download = await page.evaluate(async (url) => {
      const response = await fetch(url);
      return { status: response.status, disposition: response.headers.get('content-disposition'), type: response.headers.get('content-type') };
    }, `/gallery/images/${second!}?download=1`);
    assert.deepEqual(download, { status: 200, disposition: `attachment; filename=${second!.split('/').at(-1)!}`, type: 'image/jpeg' });

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/gallery/login`);
    const after = await page.evaluate(async (url) => (await fetch(url)).status, `/gallery/images/${second!}`);
    assert.equal(after, 401);
    await context.close();
  });

  /**
   * For every image `selector` finds: its width over height as shown, and as the picture is, and
   * the height of its frame (`frame`, a closest ancestor) beside its own.
   */
  function shapes(page: Page, selector: string, frame: string): Promise<Array<{ shown: number; natural: number; frameHeight: number; height: number }>> {
    return inPage(
      page,
      `[...document.querySelectorAll(${JSON.stringify(selector)})].map((image) => {
        const box = image.getBoundingClientRect();
        return { shown: box.width / box.height, natural: image.naturalWidth / image.naturalHeight, height: box.height, frameHeight: image.closest(${JSON.stringify(frame)}).getBoundingClientRect().height };
      })`,
    );
  }

  /** Every image shown at its own aspect ratio, filling its frame without bars. */
  async function assertShapesKept(page: Page, selector: string, frame: string, ratio: number): Promise<void> {
    await imagesLoaded(page, selector);
    const found = await shapes(page, selector, frame);
    assert.ok(found.length > 0, selector);
    for (const shape of found) {
      assert.ok(Math.abs(shape.natural - ratio) < 0.02, `${selector}: the picture is ${shape.natural.toFixed(3)}, expected ${ratio.toFixed(3)}`);
      assert.ok(Math.abs(shape.shown - shape.natural) / shape.natural < 0.02, `${selector}: shown at ${shape.shown.toFixed(3)}, the picture is ${shape.natural.toFixed(3)} (cropped or stretched)`);
      assert.ok(Math.abs(shape.frameHeight - shape.height) <= 1.5, `${selector}: the frame is ${shape.frameHeight} px high, the image ${shape.height} px (bars)`);
    }
  }

  it('keeps every image’s aspect ratio: 16:9 and 4:3, in cards, thumbnails, the player and the image view, on a desk and a phone', async () => {
    for (const options of [DESKTOP, PHONE]) {
      const { context, page } = await newPage(options);
      await logIn(page);
      await assertShapesKept(page, '#cards > li[data-key="driveway"] img', '.card-media', 16 / 9);
      await assertShapesKept(page, '#cards > li[data-key="front-door"] img', '.card-media', 4 / 3);
      await page.goto(`${base}/gallery/cameras/driveway`);
      await assertShapesKept(page, '#thumbs img', 'a', 16 / 9);
      await assertShapesKept(page, '#player-frame', '.player-screen', 16 / 9);
      await page.goto(`${base}/gallery/cameras/front-door`);
      await assertShapesKept(page, '#thumbs img', 'a', 4 / 3);
      await assertShapesKept(page, '#player-frame', '.player-screen', 4 / 3);
      await page.goto(`${base}/gallery/view/${keys.driveway![0]!}`);
      await assertShapesKept(page, '#full-image', 'figure', 16 / 9).catch(async (error: unknown) => {
        // The figure holds the caption too: only the picture's own shape counts here.
        const [shape] = await shapes(page, '#full-image', 'figure');
        if (!shape || Math.abs(shape.shown - 16 / 9) / (16 / 9) > 0.02) throw error;
      });
      await screenshot(page, `aspect-${options === PHONE ? 'phone' : 'desktop'}`);
      await context.close();
    }
  });

  it('shows times in the viewer’s time zone and says which, from the first page after logging in', async () => {
    const { context, page } = await newPage({ ...DESKTOP, timezoneId: 'America/Los_Angeles' });
    await logIn(page);
    assert.equal(await inPage(page, 'document.body.dataset.timeZone'), 'America/Los_Angeles');
    assert.match(await page.locator('.time-zone').innerText(), /^times in America\/Los_Angeles \(UTC-0[78]:00\)$/);
    await page.goto(`${base}/gallery/cameras/front-door`);
    const tiles = await inPage<Array<{ datetime: string; label: string }>>(page, `[...document.querySelectorAll('#thumbs time')].map((time) => ({ datetime: time.getAttribute('datetime'), label: time.textContent }))`);
    const local = await inPage<string[]>(page, `${JSON.stringify(tiles.map((tile) => tile.datetime))}.map((iso) => new Date(iso).toLocaleTimeString('en-GB', { hourCycle: 'h23' }))`);
    tiles.forEach((tile, i) => assert.ok(tile.label.replace(/^\d+ \w{3} /, '').startsWith(local[i]!), `${tile.datetime}: ${tile.label}, in the browser ${local[i]!}`));
    assert.equal(new Set(tiles.map((tile) => tile.label)).size, tiles.length, 'no two neighbours share a label');
    await context.close();
  });

  it('tells how to set up a camera that has not sent anything yet', async () => {
    const { context, page } = await newPage();
    await logIn(page);
    await page.locator('#cards > li[data-key="loading-dock"] a').click();
    await page.waitForURL(/\/gallery\/cameras\/loading-dock/);
    assert.equal(
      await page.locator('.setup-hint code').first().innerText(),
      `npx images-to-s3 camera setup --camera <camera address> --user root --recipient ${base}/ --name loading-dock --create-token`,
    );
    await screenshot(page, 'camera-empty');
    await context.close();
  });
});
