/**
 * The gallery over HTTP, as a browser or an attacker meets it: log-in, sessions, rate limiting,
 * security headers, what is (not) served without a session, camera tokens kept apart, image and
 * thumbnail responses, paging a day of 1,440 images.
 */
import assert from 'node:assert/strict';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simulate } from '../../src/camera/simulator.js';
import { dayOf } from '../../src/gallery/layout.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { startLocalS3 } from '../support/local-s3.js';
import { SAMPLE_JPEG, cameraUpload, request, startReceiver } from '../support/receiver.js';
import type { Response } from '../support/receiver.js';
import { PASSWORD, cameraImage, fixS3rverDelimiterListing, sessionCookie, startGallery } from './helpers.js';
import type { RunningGallery } from './helpers.js';
import { OPENSSL_MISSING, selfSignedCertificate } from '../support/tls.js';

const form = (fields: Record<string, string>): Buffer => Buffer.from(new URLSearchParams(fields).toString());
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

function assertSecurityHeaders(response: Response, what: string): void {
  const csp = String(response.headers['content-security-policy'] ?? '');
  assert.match(csp, /default-src 'none'/, what);
  assert.match(csp, /script-src 'self'/, what);
  assert.match(csp, /frame-ancestors 'none'/, what);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, what);
  assert.equal(response.headers['x-content-type-options'], 'nosniff', what);
  assert.equal(response.headers['x-frame-options'], 'DENY', what);
  assert.equal(response.headers['referrer-policy'], 'same-origin', what);
}

describe('gallery over HTTP', () => {
  let gallery: RunningGallery;
  let cookie: string;
  const keys: string[] = [];
  let base: string;

  before(async () => {
    gallery = await startGallery({ gallery: { loginAttemptsPerMinute: 1000 } });
    base = gallery.url.replace(/\/$/, '');
    for (let n = 1; n <= 3; n++) {
      const response = await cameraUpload(gallery, { filename: `front_${n}.jpg`, body: await cameraImage('front-door', n) });
      assert.equal(response.status, 200);
      keys.push(response.json.key as string);
    }
    cookie = await gallery.login();
  });
  after(() => gallery.close());

  it('sends a visitor without a session to the log-in page, and serves no image, thumbnail or data', async () => {
    const page = await gallery.get('/gallery/cameras/camera-1?day=2026-11-23');
    assert.equal(page.status, 303);
    assert.equal(page.headers.location, '/gallery/login?next=%2Fgallery%2Fcameras%2Fcamera-1%3Fday%3D2026-11-23');
    for (const url of [`/gallery/images/${keys[0]!}`, `/gallery/thumbs/${keys[0]!}`, `/gallery/thumbs/${keys[0]!}?size=preview`, '/gallery/api/overview', '/gallery/fragments/cards', `/gallery/view/${keys[0]!}`.replace('/view/', '/images/')]) {
      const response = await gallery.get(url);
      assert.equal(response.status, 401, url);
      assert.match(response.headers['content-type'] ?? '', /^application\/json/, url);
      assert.doesNotMatch(response.body, /\uFFFD|JFIF/, url);
    }
    const login = await gallery.get('/gallery/login');
    assert.equal(login.status, 200);
    assert.match(login.body, /<input type="password" id="password" name="password" autocomplete="current-password"/);
    assert.doesNotMatch(login.body, /<img[^>]+(thumbs|images)\//);
  });

  it('does not open for a camera token, wherever it is put', async () => {
    const attempts: Array<[string, Record<string, string>]> = [
      [`/gallery?accessToken=${gallery.token}`, {}],
      [`/gallery/images/${keys[0]!}?accessToken=${gallery.token}`, {}],
      [`/gallery/images/${keys[0]!}`, { authorization: `Bearer ${gallery.token}` }],
      [`/gallery/images/${keys[0]!}`, { cookie: `images_to_s3_gallery=${gallery.token}` }],
    ];
    for (const [url, headers] of attempts) {
      const response = await gallery.get(url, headers);
      assert.ok(response.status === 401 || (response.status === 303 && response.headers.location?.startsWith('/gallery/login')), `${url} ${JSON.stringify(headers)}: ${response.status}`);
    }
    const asPassword = await request(`${base}/gallery/login`, { method: 'POST', headers: FORM, body: form({ password: gallery.token }) });
    assert.equal(asPassword.status, 401);
    assert.equal(asPassword.headers['set-cookie'], undefined);
  });

  it('does not take the gallery password or session as a camera token', async () => {
    assert.equal((await cameraUpload(gallery, { token: PASSWORD })).status, 403);
    assert.equal((await cameraUpload(gallery, { token: cookie.split('=')[1]! })).status, 403);
  });

  it('logs in with the password: an HTTP-only, same-site session cookie for /gallery, then back where the viewer was going', async () => {
    const response = await request(`${base}/gallery/login`, { method: 'POST', headers: FORM, body: form({ password: PASSWORD, next: '/gallery/cameras/camera-1?day=2026-11-23' }) });
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/gallery/cameras/camera-1?day=2026-11-23');
    const set = response.headers['set-cookie']![0]!;
    assert.match(set, /^images_to_s3_gallery=v1\.[^;]+; Path=\/gallery; Max-Age=604800; HttpOnly; SameSite=Lax$/);
    assert.equal((await gallery.get('/gallery', { cookie: sessionCookie(response) })).status, 200);
    // Marked Secure when the browser came over HTTPS through a proxy that says so.
    const proxied = await request(`${base}/gallery/login`, { method: 'POST', headers: { ...FORM, 'x-forwarded-proto': 'https' }, body: form({ password: PASSWORD }) });
    assert.match(proxied.headers['set-cookie']![0]!, /; Secure$/);
  });

  it('sends the viewer after log-in only to gallery addresses', async () => {
    for (const next of ['https://evil.example/', '//evil.example/gallery', '/gallery//evil.example', '/other', '/gallery\\@evil', 'javascript:alert(1)']) {
      const response = await request(`${base}/gallery/login`, { method: 'POST', headers: FORM, body: form({ password: PASSWORD, next }) });
      assert.equal(response.headers.location, '/gallery', next);
    }
  });

  it('refuses log-in and log-out posted from another site', async () => {
    const crossSite = await request(`${base}/gallery/login`, { method: 'POST', headers: { ...FORM, 'sec-fetch-site': 'cross-site' }, body: form({ password: PASSWORD }) });
    assert.equal(crossSite.status, 403);
    const otherOrigin = await request(`${base}/gallery/login`, { method: 'POST', headers: { ...FORM, origin: 'https://evil.example' }, body: form({ password: PASSWORD }) });
    assert.equal(otherOrigin.status, 403);
    assert.equal(otherOrigin.headers['set-cookie'], undefined);
    const logout = await request(`${base}/gallery/logout`, { method: 'POST', headers: { cookie, 'sec-fetch-site': 'cross-site' } });
    assert.equal(logout.status, 403);
  });

  it('refuses a session cookie that was tampered with', async () => {
    const [name, value] = cookie.split('=') as [string, string];
    const parts = value.split('.');
    parts[1] = String(Number(parts[1]) + 1);
    assert.equal((await gallery.get(`/gallery/images/${keys[0]!}`, { cookie: `${name}=${parts.join('.')}` })).status, 401);
    assert.equal((await gallery.get(`/gallery/images/${keys[0]!}`, { cookie: `${name}=${value}x` })).status, 401);
  });

  it('sets the security headers on every gallery response', async () => {
    const responses: Array<[string, Response]> = [
      ['login page', await gallery.get('/gallery/login')],
      ['redirect', await gallery.get('/gallery')],
      ['401', await gallery.get(`/gallery/images/${keys[0]!}`)],
      ['overview', await gallery.get('/gallery', { cookie })],
      ['image', await gallery.get(`/gallery/images/${keys[0]!}`, { cookie })],
      ['thumbnail', await gallery.get(`/gallery/thumbs/${keys[0]!}`, { cookie })],
      ['404', await gallery.get('/gallery/nothing/here', { cookie })],
      ['asset', await gallery.get('/gallery/assets/gallery.js')],
    ];
    for (const [what, response] of responses) assertSecurityHeaders(response, what);
    assert.equal(responses[3]![1].headers['cache-control'], 'no-store');
    // The camera's endpoint is as it was: no gallery headers, same answer.
    const recipient = await gallery.get('/');
    assert.equal(recipient.status, 200);
    assert.equal(recipient.headers['content-security-policy'], undefined);
  });

  it('serves images and thumbnails with their content type, cached privately for good (keys never change)', async () => {
    const image = await gallery.get(`/gallery/images/${keys[0]!}`, { cookie });
    assert.equal(image.status, 200);
    assert.equal(image.headers['content-type'], 'image/jpeg');
    assert.equal(image.headers['cache-control'], 'private, max-age=31536000, immutable');
    assert.equal(image.headers['content-disposition'], 'inline; filename=front_1.jpg');
    assert.equal(Number(image.headers['content-length']), (await cameraImage('front-door', 1)).length);
    const download = await gallery.get(`/gallery/images/${keys[0]!}?download=1`, { cookie });
    assert.equal(download.headers['content-disposition'], 'attachment; filename=front_1.jpg');

    const thumbnail = await gallery.get(`/gallery/thumbs/${keys[0]!}`, { cookie });
    assert.equal(thumbnail.status, 200);
    assert.equal(thumbnail.headers['content-type'], 'image/jpeg');
    assert.equal(thumbnail.headers['cache-control'], 'private, max-age=31536000, immutable');
    assert.equal((await gallery.get('/gallery/thumbs/camera-1/2026/01/01/missing.jpg', { cookie })).status, 404);
  });

  it('serves nothing outside the images: hidden folders, traversal, files that are not images', async () => {
    const root = path.join(gallery.root, 'images');
    await mkdir(path.join(root, '.images-to-s3'), { recursive: true });
    await writeFile(path.join(root, '.images-to-s3', 'secret.jpg'), SAMPLE_JPEG);
    await writeFile(path.join(root, 'notes.txt'), 'not an image');
    await writeFile(path.join(gallery.root, 'outside.jpg'), SAMPLE_JPEG);
    for (const url of ['/gallery/images/.images-to-s3/secret.jpg', '/gallery/images/notes.txt', '/gallery/images/%2E%2E/outside.jpg', '/gallery/images/camera-1/..%2F..%2Foutside.jpg', '/gallery/view/.images-to-s3/secret.jpg', '/gallery/thumbs/.images-to-s3/secret.jpg']) {
      const response = await gallery.get(url, { cookie });
      assert.equal(response.status, 404, url);
    }
  });

  it('answers a thumbnail it cannot make with a placeholder, not an error page', async () => {
    const key = 'camera-1/2026/01/01/broken.jpg';
    await mkdir(path.join(gallery.root, 'images', 'camera-1', '2026', '01', '01'), { recursive: true });
    await writeFile(path.join(gallery.root, 'images', ...key.split('/')), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(100)]));
    const response = await gallery.get(`/gallery/thumbs/${key}`, { cookie });
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'image/svg+xml');
    assert.equal(response.headers['cache-control'], 'private, max-age=300');
  });

  it('gives the overview as data, and answers 304 to live updates when nothing changed', async () => {
    const overview = await gallery.get('/gallery/api/overview', { cookie });
    const camera = (overview.json.cameras as Array<Record<string, unknown>>).find((entry) => entry.camera === 'camera-1')!;
    assert.equal(camera.today, keys.length);
    assert.equal((camera.latest as { key: string }).key, keys.at(-1));

    const first = await gallery.get('/gallery/fragments/cards', { cookie });
    assert.equal(first.status, 200);
    assert.match(first.body, new RegExp(`src="/gallery/thumbs/${keys.at(-1)!}\\?size=preview"`));
    const etag = first.headers.etag!;
    assert.equal((await gallery.get('/gallery/fragments/cards', { cookie, 'if-none-match': etag })).status, 304);
    const added = await cameraUpload(gallery, { filename: 'front_4.jpg', body: await cameraImage('front-door', 4) });
    keys.push(added.json.key as string);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const changed = await gallery.get('/gallery/fragments/cards', { cookie, 'if-none-match': etag });
    assert.equal(changed.status, 200);
    assert.match(changed.body, new RegExp(`src="/gallery/thumbs/${keys.at(-1)!}\\?size=preview"`));
  });

  it('shows the image view with older and newer links and the image’s facts', async () => {
    const view = await gallery.get(`/gallery/view/${keys[1]!}`, { cookie });
    assert.equal(view.status, 200);
    assert.match(view.body, new RegExp(`<a class="button" rel="prev" href="/gallery/view/${keys[0]!}"`));
    assert.match(view.body, new RegExp(`<a class="button" rel="next" href="/gallery/view/${keys[2]!}"`));
    assert.match(view.body, new RegExp(`<dt>Key</dt><dd><code>${keys[1]!}</code></dd>`));
    assert.match(view.body, /<img id="full-image" src="[^"]+" alt="camera-1, \d+ \w+ \d{4} \d\d:\d\d:\d\d UTC">/);
  });

  it('pages a day of 1,440 images (one a minute) 120 at a time, newest first, and opens it fast', async () => {
    const day = dayOf(new Date());
    const folder = path.join(gallery.root, 'images', 'busy-camera', ...day.split('-'));
    await mkdir(folder, { recursive: true });
    const start = Date.parse(`${day}T00:00:00Z`);
    for (let minute = 0; minute < 1440; minute++) {
      const name = `image_${String(Math.floor(minute / 60)).padStart(2, '0')}${String(minute % 60).padStart(2, '0')}.jpg`;
      await writeFile(path.join(folder, name), SAMPLE_JPEG.subarray(0, 64));
      const at = new Date(start + minute * 60_000);
      await utimes(path.join(folder, name), at, at);
    }
    const started = performance.now();
    const first = await gallery.get(`/gallery/cameras/busy-camera?day=${day}`, { cookie });
    const elapsed = performance.now() - started;
    assert.equal(first.status, 200);
    const tiles = [...first.body.matchAll(/<li data-key="([^"]+)"/g)].map((match) => match[1]);
    assert.equal(tiles.length, 120);
    assert.equal(tiles[0], `busy-camera/${day.replaceAll('-', '/')}/image_2359.jpg`);
    assert.match(first.body, /1,440 images<\/span> on .* · page 1 of 12/);
    // About 0.1 s on an idle machine; the bound leaves room for a busy CI host.
    assert.ok(elapsed < 5000, `the first page took ${Math.round(elapsed)} ms`);

    const last = await gallery.get(`/gallery/cameras/busy-camera?day=${day}&page=12`, { cookie });
    const lastTiles = [...last.body.matchAll(/<li data-key="([^"]+)"/g)].map((match) => match[1]);
    assert.equal(lastTiles.length, 120);
    assert.equal(lastTiles.at(-1), `busy-camera/${day.replaceAll('-', '/')}/image_0000.jpg`);

    const data = await gallery.get(`/gallery/api/cameras/busy-camera/days/${day}`, { cookie });
    const images = data.json.images as Array<{ key: string }>;
    assert.equal(images.length, 1440, 'the time-lapse player gets the whole day, oldest first');
    assert.equal(images[0]!.key, `busy-camera/${day.replaceAll('-', '/')}/image_0000.jpg`);
  });

  it('answers unknown cameras and days with a page, not an error', async () => {
    assert.equal((await gallery.get('/gallery/cameras/nobody', { cookie })).status, 404);
    const badDay = await gallery.get('/gallery/cameras/camera-1?day=2026-13-45', { cookie });
    assert.equal(badDay.status, 200, 'an impossible day shows the latest one');
    const emptyDay = await gallery.get('/gallery/cameras/camera-1?day=2001-01-01', { cookie });
    assert.match(emptyDay.body, /No images from camera-1 on 1 Jan 2001/);
  });

  it('shows times in the viewer’s time zone (its cookie), says which, and UTC without one', async () => {
    const day = dayOf(new Date());
    const tokyo = `${cookie}; images_to_s3_tz=Asia/Tokyo`;
    const page = await gallery.get(`/gallery/cameras/camera-1?day=${day}`, { cookie: tokyo });
    assert.match(page.body, /<body data-page="camera" data-base="\/gallery" data-time-zone="Asia\/Tokyo">/);
    assert.match(page.body, / \(a UTC day\) · <span class="time-zone">times in Asia\/Tokyo \(UTC\+09:00\)<\/span>/);
    const data = await gallery.get(`/gallery/api/cameras/camera-1/days/${day}`, { cookie: tokyo });
    assert.equal(data.json.timeZone, 'Asia/Tokyo');
    const inTokyo = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Tokyo', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    const tiles = new Map([...page.body.matchAll(/<time datetime="([^"]+)">([^<]+)<\/time><\/a><\/li>/g)].map((match) => [match[1]!, match[2]!]));
    const images = data.json.images as Array<{ storedAt: string; time: string }>;
    assert.equal(tiles.size, images.length);
    for (const image of images) {
      // To the second, or finer where uploads of this suite share one.
      // After 15:00 UTC it is the next day in Tokyo, which the label then says first.
      const local = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo' }).format(new Date(image.storedAt));
      const prefix = local === day ? '' : `${Number(local.slice(8))} ${new Date(`${local}T00:00:00Z`).toLocaleString('en', { month: 'short', timeZone: 'UTC' })} `;
      assert.ok(image.time.startsWith(`${prefix}${inTokyo.format(new Date(image.storedAt))}`), `${image.storedAt} → ${image.time}`);
      assert.equal(tiles.get(image.storedAt), image.time, 'the tiles and the player label an image alike');
    }
    assert.equal(new Set(tiles.values()).size, images.length, 'no two neighbours share a label');

    for (const other of [cookie, `${cookie}; images_to_s3_tz=Mars/Olympus`]) {
      const utc = await gallery.get(`/gallery/cameras/camera-1?day=${day}`, { cookie: other });
      assert.match(utc.body, /data-time-zone="UTC"/);
      assert.match(utc.body, /<span id="image-count">\d+ images<\/span> on [^<]+ \(UTC\)/);
    }
    const overview = await gallery.get('/gallery', { cookie: tokyo });
    assert.match(overview.body, /times in Asia\/Tokyo \(UTC\+09:00\)/);
    assert.match(overview.body, /alt="Latest image from camera-1, \d+ \w{3} \d{4} \d\d:\d\d:\d\d Asia\/Tokyo"/);
  });

  it('shows an empty camera the command that sets it up, with its name and this receiver’s address', async () => {
    await gallery.tokens.create('loading-dock');
    const page = await gallery.get('/gallery/cameras/loading-dock', { cookie });
    assert.equal(page.status, 200);
    assert.match(page.body, /loading-dock has not sent any image yet/);
    assert.ok(
      page.body.includes(`npx images-to-s3 camera setup --camera &lt;camera address&gt; --user root --recipient ${base}/ --name loading-dock --create-token`),
      'the set-up line, with this receiver as the recipient',
    );
    const other = await gallery.get('/gallery/cameras/camera-1?day=2001-01-01', { cookie });
    assert.doesNotMatch(other.body, /camera setup/, 'a camera that has sent images is told nothing about setting up');
  });

  it('logs out: the cookie is cleared and the browser told to drop what it cached', async () => {
    const own = await gallery.login();
    const response = await request(`${base}/gallery/logout`, { method: 'POST', headers: { cookie: own } });
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/gallery/login');
    assert.match(response.headers['set-cookie']![0]!, /^images_to_s3_gallery=; Path=\/gallery; Max-Age=0; HttpOnly; SameSite=Lax$/);
    assert.equal(response.headers['clear-site-data'], '"cache"');
  });

});

describe('gallery log-in rate limit', () => {
  it('limits log-in attempts per address: after five a minute, even the right password waits', async () => {
    const gallery = await startGallery({ gallery: { loginAttemptsPerMinute: 5 } });
    const login = `${gallery.url}gallery/login`;
    try {
      const statuses: number[] = [];
      let last: Response | undefined;
      for (let attempt = 0; attempt < 6; attempt++) {
        last = await request(login, { method: 'POST', headers: FORM, body: form({ password: 'wrong guess' }) });
        statuses.push(last.status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
      assert.ok(Number(last!.headers['retry-after']) > 0);
      assert.match(last!.body, /Too many log-in attempts/);
      assertSecurityHeaders(last!, '429');
      const right = await request(login, { method: 'POST', headers: FORM, body: form({ password: PASSWORD }) });
      assert.equal(right.status, 429);
      assert.equal(right.headers['set-cookie'], undefined);
      assert.equal((await gallery.get('/gallery/login')).status, 200, 'the page itself still shows');
    } finally {
      await gallery.close();
    }
  });
});

describe('gallery switched off', () => {
  it('is not there, and the receiver answers as before', async () => {
    const receiver = await startReceiver();
    try {
      const response = await request(`${receiver.url}gallery`);
      assert.equal(response.status, 404);
      assert.equal((await request(receiver.url)).status, 200);
    } finally {
      await receiver.close();
    }
  });
});

describe('gallery over HTTPS', { skip: OPENSSL_MISSING }, () => {
  it('marks the session cookie Secure and asks browsers to stay on HTTPS', async () => {
    const { key, cert } = selfSignedCertificate();
    const tls = { key: key.toString(), cert: cert.toString() };
    const gallery = await startGallery({ tls });
    try {
      const response = await new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
        const body = form({ password: PASSWORD });
        const outgoing = https.request(`${gallery.url}gallery/login`, { method: 'POST', headers: { ...FORM, 'content-length': body.length }, rejectUnauthorized: false }, (incoming) => {
          incoming.resume();
          incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers }));
        });
        outgoing.on('error', reject);
        outgoing.end(body);
      });
      assert.equal(response.status, 303);
      assert.match((response.headers['set-cookie'] as string[])[0]!, /; HttpOnly; SameSite=Lax; Secure$/);
      assert.equal(response.headers['strict-transport-security'], 'max-age=15552000');
    } finally {
      await gallery.close();
    }
  });
});

describe('gallery on an S3 store', () => {
  it('lists, shows and streams what cameras sent, with the facts S3 keeps beside each image', async () => {
    fixS3rverDelimiterListing();
    const s3 = await startLocalS3('gallery-http');
    const store = new S3Store({ client: createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials }), bucket: s3.bucket, prefix: 'site/' });
    const gallery = await startGallery({ store });
    try {
      const summary = await simulate({ recipient: gallery.url, token: gallery.token, count: 2, concurrency: 1, image: await cameraImage('back-yard', 1), filenamePattern: 'back yard #s.jpg' });
      assert.equal(summary.accepted, 2);
      const [, newest] = summary.acceptedKeys;
      const cookie = await gallery.login();
      const overview = await gallery.get('/gallery', { cookie });
      assert.match(overview.body, new RegExp(`src="/gallery/thumbs/${encodeURI(newest!)}\\?size=preview"`));
      const view = await gallery.get(`/gallery/view/${encodeURI(newest!)}`, { cookie });
      assert.match(view.body, /<dt>Camera filename<\/dt><dd><code>back yard 00002\.jpg<\/code><\/dd>/);
      const image = await gallery.get(`/gallery/images/${encodeURI(newest!)}`, { cookie });
      assert.equal(image.status, 200);
      assert.equal(image.headers['content-type'], 'image/jpeg');
      assert.ok(Buffer.from(image.body, 'utf8').length > 0);
      const thumbnail = await gallery.get(`/gallery/thumbs/${encodeURI(newest!)}`, { cookie });
      assert.equal(thumbnail.headers['content-type'], 'image/jpeg');
    } finally {
      await gallery.close();
      await s3.stop();
    }
  });
});

