/**
 * The gallery registered on a bare Fastify app under prefixes other than `/gallery`: every
 * address it writes (links, redirects, the cookie's Path, assets, fragments, the API, what its
 * browser script is given) is below the prefix it was registered under, and nothing is at
 * `/gallery`.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { CHROMIUM_MISSING, launchChromium } from '../support/chromium.js';
import { GalleryAccess } from '../../src/gallery/access.js';
import { dayOf } from '../../src/gallery/layout.js';
import { galleryPlugin } from '../../src/gallery/plugin.js';
import { DiskStore } from '../../src/stores/disk.js';
import { PASSWORD, cameraImage } from './helpers.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

interface BareGallery {
  app: FastifyInstance;
  /** Keys of the images stored, oldest first (all today). */
  keys: string[];
  close(): Promise<void>;
}

/**
 * A Fastify app with nothing but the gallery, registered under `prefix` (inside a plugin
 * registered under `outer`, when given), on a disk store holding three images from `camera-1`.
 */
async function bareGallery(prefix: string | undefined, outer?: string): Promise<BareGallery> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-gallery-prefix-'));
  const store = new DiskStore(path.join(folder, 'images'));
  await store.open();
  const day = dayOf(new Date());
  const keys: string[] = [];
  for (let n = 1; n <= 3; n++) {
    const key = `camera-1/${day.replaceAll('-', '/')}/image_${n}.jpg`;
    const file = path.join(folder, 'images', ...key.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, await cameraImage('front-door', n));
    const at = new Date(Date.now() - (4 - n) * 60_000);
    await utimes(file, at, at);
    keys.push(key);
  }
  const { access } = await GalleryAccess.open({ document: path.join(folder, 'gallery.json'), password: PASSWORD });
  const app = Fastify();
  const options = { store, access, freshMs: 0, loginAttemptsPerMinute: 1000, ...(prefix !== undefined && { prefix }) };
  if (outer === undefined) await app.register(galleryPlugin, options);
  else await app.register(async (site) => site.register(galleryPlugin, options), { prefix: outer });
  await app.ready();
  return {
    app,
    keys,
    close: async () => {
      await app.close();
      await store.close();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

function logIn(app: FastifyInstance, loginUrl: string, next?: string): Promise<LightMyRequestResponse> {
  const fields = new URLSearchParams({ password: PASSWORD, ...(next !== undefined && { next }) });
  return app.inject({ method: 'POST', url: loginUrl, headers: FORM, payload: fields.toString() });
}

function setCookie(response: LightMyRequestResponse): string {
  const header = response.headers['set-cookie'];
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) throw new Error(`no Set-Cookie (status ${response.statusCode})`);
  return value;
}

/** Every address in the `href`, `src`, `action` and `data-*` attributes of a page, but links within it (`#main`). */
function addresses(page: string): string[] {
  const attributes = page.matchAll(/\s(?:href|src|action|data-[a-z-]+-url|data-base)="([^"]*)"/g);
  return [...attributes].map((match) => match[1]!).filter((address) => !address.startsWith('#'));
}

describe('gallery registered under /photos', () => {
  let gallery: BareGallery;
  let app: FastifyInstance;
  let cookie: string;

  before(async () => {
    gallery = await bareGallery('/photos');
    app = gallery.app;
  });
  after(() => gallery.close());

  it('sends a visitor without a session to its own log-in page, and serves nothing at /gallery', async () => {
    const page = await app.inject('/photos/cameras/camera-1?day=2026-11-23');
    assert.equal(page.statusCode, 303);
    assert.equal(page.headers.location, '/photos/login?next=%2Fphotos%2Fcameras%2Fcamera-1%3Fday%3D2026-11-23');
    assert.equal((await app.inject('/photos')).headers.location, '/photos/login');
    const image = await app.inject(`/photos/images/${gallery.keys[0]!}`);
    assert.equal(image.statusCode, 401);
    assert.match(image.json<{ message: string }>().message, /: \/photos\/login$/);
    for (const url of ['/gallery', '/gallery/login', `/gallery/images/${gallery.keys[0]!}`]) {
      assert.equal((await app.inject(url)).statusCode, 404, url);
    }
  });

  it('shows its log-in page with its own form, assets and script', async () => {
    const login = await app.inject('/photos/login?next=%2Fphotos%2Fcameras%2Fcamera-1');
    assert.equal(login.statusCode, 200);
    assert.match(login.body, /<form class="login-card" method="post" action="\/photos\/login">/);
    assert.match(login.body, /<input type="hidden" name="next" value="\/photos\/cameras\/camera-1">/);
    assert.match(login.body, /<script type="module" src="\/photos\/assets\/gallery\.js\?v=\w+"><\/script>/);
    assert.match(login.body, /<body data-page="login" data-base="\/photos">/);
    const script = await app.inject('/photos/assets/gallery.js');
    assert.equal(script.statusCode, 200);
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
  });

  it('logs in with a session cookie for /photos only, and goes on where the viewer was going', async () => {
    const response = await logIn(app, '/photos/login', '/photos/cameras/camera-1');
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, '/photos/cameras/camera-1');
    assert.match(setCookie(response), /^images_to_s3_gallery=v1\.[^;]+; Path=\/photos; Max-Age=604800; HttpOnly; SameSite=Lax$/);
    cookie = setCookie(response).split(';')[0]!;
    assert.equal((await app.inject({ url: '/photos', headers: { cookie } })).statusCode, 200);
  });

  it('sends the viewer after log-in only to addresses of this gallery', async () => {
    const refused = ['/gallery', '/gallery/cameras/camera-1', '/photosx', '/photos-old/', '/photos/../admin', '/photos/%2E%2E/admin', '//evil.example/photos', '/'];
    for (const next of refused) assert.equal((await logIn(app, '/photos/login', next)).headers.location, '/photos', next);
    for (const next of ['/photos', '/photos?x=1', '/photos/view/camera-1/a.jpg']) {
      assert.equal((await logIn(app, '/photos/login', next)).headers.location, next);
    }
    const signedIn = await app.inject({ url: '/photos/login?next=%2Fgallery', headers: { cookie } });
    assert.equal(signedIn.headers.location, '/photos');
  });

  it('writes every address on its pages below /photos', async () => {
    const [first, second] = gallery.keys;
    const pages = {
      overview: '/photos',
      camera: '/photos/cameras/camera-1',
      image: `/photos/view/${second!}`,
      'not found': '/photos/nothing/here',
    };
    for (const [what, url] of Object.entries(pages)) {
      const page = await app.inject({ url, headers: { cookie } });
      assert.equal(page.statusCode, what === 'not found' ? 404 : 200, what);
      const found = addresses(page.body);
      assert.ok(found.length > 3, `${what}: ${found.join(' ')}`);
      for (const address of found) assert.match(address, /^\/photos(?:[/?]|$)/, `${what}: ${address}`);
    }
    const overview = await app.inject({ url: '/photos', headers: { cookie } });
    assert.match(overview.body, /data-refresh-url="\/photos\/fragments\/cards"/);
    assert.match(overview.body, new RegExp(`src="/photos/thumbs/${gallery.keys[2]!}\\?size=preview"`));
    assert.match(overview.body, /<form class="logout" method="post" action="\/photos\/logout">/);
    const camera = await app.inject({ url: '/photos/cameras/camera-1', headers: { cookie } });
    assert.match(camera.body, /data-frames-url="\/photos\/api\/cameras\/camera-1\/days\/\d{4}-\d\d-\d\d"/);
    assert.match(camera.body, /data-refresh-url="\/photos\/fragments\/cameras\/camera-1\?day=\d{4}-\d\d-\d\d"/);
    const view = await app.inject({ url: `/photos/view/${second!}`, headers: { cookie } });
    assert.match(view.body, new RegExp(`<a class="button" rel="prev" href="/photos/view/${first!}"`));
    assert.match(view.body, new RegExp(`<img id="full-image" src="/photos/images/${second!}"`));
  });

  it('serves images, thumbnails, fragments and the API below /photos', async () => {
    const key = gallery.keys[0]!;
    const image = await app.inject({ url: `/photos/images/${key}`, headers: { cookie } });
    assert.equal(image.statusCode, 200);
    assert.equal(image.headers['content-type'], 'image/jpeg');
    assert.deepEqual(image.rawPayload, await cameraImage('front-door', 1));
    const thumbnail = await app.inject({ url: `/photos/thumbs/${key}`, headers: { cookie } });
    assert.equal(thumbnail.statusCode, 200);
    assert.equal(thumbnail.headers['content-type'], 'image/jpeg');
    assert.ok(thumbnail.rawPayload.length > 0 && thumbnail.rawPayload.length < image.rawPayload.length);

    const cards = await app.inject({ url: '/photos/fragments/cards', headers: { cookie } });
    assert.match(cards.body, /href="\/photos\/cameras\/camera-1\?day=/);
    const day = dayOf(new Date());
    const tiles = await app.inject({ url: `/photos/fragments/cameras/camera-1?day=${day}`, headers: { cookie } });
    assert.equal(tiles.headers['x-count-label'], '3 images');
    assert.match(tiles.body, new RegExp(`<a href="/photos/view/${key}"><img src="/photos/thumbs/${key}"`));
    const data = await app.inject({ url: `/photos/api/cameras/camera-1/days/${day}`, headers: { cookie } });
    const frames = data.json<{ thumbnailPrefix: string; viewPrefix: string; images: Array<{ key: string }> }>();
    assert.equal(frames.thumbnailPrefix, '/photos/thumbs/');
    assert.equal(frames.viewPrefix, '/photos/view/');
    assert.deepEqual(
      frames.images.map((entry) => entry.key),
      gallery.keys,
    );
  });

  it('logs out to its own log-in page, clearing the cookie of /photos', async () => {
    const own = setCookie(await logIn(app, '/photos/login')).split(';')[0]!;
    const response = await app.inject({ method: 'POST', url: '/photos/logout', headers: { cookie: own } });
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, '/photos/login');
    assert.match(setCookie(response), /^images_to_s3_gallery=; Path=\/photos; Max-Age=0; HttpOnly; SameSite=Lax$/);
  });
});

describe('gallery registered at the root, with a trailing slash, or inside another prefix', () => {
  const cases: Array<{ what: string; prefix?: string; outer?: string; home: string; base: string; cookiePath: string }> = [
    { what: 'no prefix', home: '/', base: '', cookiePath: '/' },
    { what: 'prefix /', prefix: '/', home: '/', base: '', cookiePath: '/' },
    { what: 'prefix /photos/', prefix: '/photos/', home: '/photos/', base: '/photos', cookiePath: '/photos' },
    { what: '/photos inside /site', prefix: '/photos', outer: '/site', home: '/site/photos', base: '/site/photos', cookiePath: '/site/photos' },
  ];
  for (const { what, prefix, outer, home, base, cookiePath } of cases) {
    it(`serves every page below its path: ${what}`, async () => {
      const gallery = await bareGallery(prefix, outer);
      try {
        const { app, keys } = gallery;
        const anonymous = await app.inject(home);
        assert.equal(anonymous.statusCode, 303);
        assert.equal(anonymous.headers.location, `${base}/login`);
        const login = await logIn(app, `${base}/login`, `${base}/cameras/camera-1`);
        assert.equal(login.headers.location, `${base}/cameras/camera-1`);
        assert.match(setCookie(login), new RegExp(`; Path=${cookiePath};`));
        const cookie = setCookie(login).split(';')[0]!;
        assert.equal((await logIn(app, `${base}/login`, 'https://evil.example/')).headers.location, home);

        const overview = await app.inject({ url: home, headers: { cookie } });
        assert.equal(overview.statusCode, 200);
        assert.match(overview.body, new RegExp(`<body data-page="overview" data-base="${cookiePath}"`));
        assert.match(overview.body, new RegExp(`<a class="brand" href="${home}">`));
        for (const address of addresses(overview.body)) assert.ok(address.startsWith(cookiePath), address);
        for (const url of [`${base}/images/${keys[0]!}`, `${base}/thumbs/${keys[0]!}`, `${base}/assets/gallery.css`]) {
          assert.equal((await app.inject({ url, headers: { cookie } })).statusCode, 200, url);
        }
      } finally {
        await gallery.close();
      }
    });
  }
});

describe('gallery under /photos in Chromium', { skip: CHROMIUM_MISSING ?? false }, () => {
  it('keeps the time-zone cookie to /photos and plays the time-lapse from /photos', async () => {
    const gallery = await bareGallery('/photos');
    const browser = await launchChromium();
    try {
      await gallery.app.listen({ host: '127.0.0.1', port: 0 });
      const address = gallery.app.server.address();
      if (typeof address !== 'object' || address === null) throw new Error('no address');
      const base = `http://127.0.0.1:${address.port}`;
      const context = await browser.newContext({ timezoneId: 'Asia/Tokyo' });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const requested: string[] = [];
      page.on('request', (request) => requested.push(new URL(request.url()).pathname));
      await page.goto(`${base}/photos/cameras/camera-1`);
      await page.getByLabel('Gallery password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Log in' }).click();
      // The script sets the time-zone cookie and loads the page again, rendered in Tokyo time.
      await page.waitForURL(`${base}/photos/cameras/camera-1`);
      await page.locator('body[data-time-zone="Asia/Tokyo"]').waitFor();
      const cookies = await context.cookies();
      assert.deepEqual(
        cookies.map((cookie) => `${cookie.name} ${cookie.path}`).sort(),
        ['images_to_s3_gallery /photos', 'images_to_s3_tz /photos'],
      );
      await page.getByRole('button', { name: 'Play' }).click();
      await page.locator(`#player-frame[src="/photos/thumbs/${gallery.keys[2]!}?size=preview"]`).waitFor();
      assert.deepEqual(
        requested.filter((pathname) => !pathname.startsWith('/photos/')),
        [],
        'the browser asks for nothing outside the gallery',
      );
      await context.close();
    } finally {
      await browser.close();
      await gallery.close();
    }
  });
});
