/**
 * The web gallery at `/gallery`: an encapsulated Fastify plugin with its own hooks (session check,
 * security headers), body parser and error pages, so nothing of it touches the upload route.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import rateLimit from '@fastify/rate-limit';
import { create as contentDisposition } from 'content-disposition';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_KEY_TEMPLATE } from '../core/object-key.js';
import { StoreUnavailableError } from '../core/errors.js';
import { IMAGE_TYPES } from '../core/image-types.js';
import type { ImageStore } from '../core/store.js';
import { PasswordCheckBusyError } from './access.js';
import type { GalleryAccess } from './access.js';
import { ImageCatalog } from './catalog.js';
import type { CameraSummary, CatalogImage } from './catalog.js';
import type { Html } from './html.js';
import { GalleryLayout, isDay } from './layout.js';
import {
  GalleryUrls,
  PLACEHOLDER_SVG,
  cameraCards,
  cameraPage,
  imagePage,
  loginPage,
  messagePage,
  overviewPage,
  thumbnailTiles,
} from './pages.js';
import { RenditionError, ThumbnailService } from './thumbnails.js';
import { TIME_ZONE_COOKIE, Times } from './times.js';

/** Where the gallery is served. */
export const GALLERY_PATH = '/gallery';
/** The session cookie. */
export const SESSION_COOKIE = 'images_to_s3_gallery';

export interface GalleryOptions {
  /** The viewer password and sessions (see {@link GalleryAccess.open}). */
  access: GalleryAccess;
  /** The key template images are stored under; the gallery browses by it. */
  keyTemplate?: string;
  /** Cameras to show before they sent anything (those with a token). */
  knownCameras?: () => Promise<string[]>;
  /** Keys of images received but not yet in the store (a spool's): the overview counts them per camera. */
  waitingKeys?: () => Iterable<string>;
  /**
   * While it gives a text, the store's listings are partial (a spool's images only, while the
   * store is unreachable): the overview shows the text, and nothing listed is reused.
   */
  storeNotice?: () => string | undefined;
  /** A folder that keeps thumbnails across restarts; memory only when unset. */
  thumbnailCacheDir?: string;
  /** How often open pages ask for news. */
  pollSeconds?: number;
  /** Log-in attempts per client address and minute. */
  loginAttemptsPerMinute?: number;
  /** The path cameras send images to, for the set-up line an empty camera's page shows (default `/`). */
  recipientPath?: string;
  /** Thumbnails per page of a camera's day. */
  pageSize?: number;
  /** How long lists that can still grow (today's) are reused, in ms. */
  freshMs?: number;
  clock?: () => Date;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `public`: no session needed; `page`: without one, redirect to the log-in page; otherwise 401. */
    gallery?: 'public' | 'page';
  }
}

const IMMUTABLE = 'private, max-age=31536000, immutable';
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');
const ASSETS: Record<string, string> = {
  'gallery.css': 'text/css; charset=utf-8',
  'gallery.js': 'text/javascript; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};
const IMAGE_MEDIA_TYPES = new Set(IMAGE_TYPES.map((type) => type.mediaType));

/** Registered by `createReceiverServer` under {@link GALLERY_PATH}. */
export async function galleryPlugin(app: FastifyInstance, options: GalleryOptions & { store: ImageStore }): Promise<void> {
  const { store, access } = options;
  const clock = options.clock ?? (() => new Date());
  const pollMs = (options.pollSeconds ?? 5) * 1000;
  const pageSize = options.pageSize ?? 120;
  const layout = new GalleryLayout(options.keyTemplate ?? DEFAULT_KEY_TEMPLATE);
  const catalog = new ImageCatalog({
    store,
    layout,
    clock,
    ...(options.knownCameras && { knownCameras: options.knownCameras }),
    ...(options.waitingKeys && { waitingKeys: options.waitingKeys }),
    ...(options.storeNotice && { partial: () => options.storeNotice!() !== undefined }),
    ...(options.freshMs !== undefined && { freshMs: options.freshMs }),
  });
  const thumbnails = new ThumbnailService({ store, ...(options.thumbnailCacheDir !== undefined && { cacheDir: options.thumbnailCacheDir }) });
  const assets = loadAssets();
  const urls = new GalleryUrls(GALLERY_PATH, assets.version);

  /** Times in the viewer's zone, which the gallery's script puts in a cookie. */
  const timesFor = (request: FastifyRequest): Times => new Times(cookieValues(request.headers.cookie, TIME_ZONE_COOKIE)[0]);
  const signedIn = (request: FastifyRequest): boolean => cookieValues(request.headers.cookie, SESSION_COOKIE).some((value) => access.validSession(value));
  const sendHtml = (reply: FastifyReply, page: Html, status = 200): FastifyReply =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.text);

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  await app.register(rateLimit, { global: false });

  app.addHook('onRequest', async (request, reply) => {
    securityHeaders(request, reply);
    const kind = request.routeOptions.config.gallery;
    if (kind === 'public' || signedIn(request)) return;
    // Nothing but the log-in page without a session: pages redirect there, everything else is 401.
    if (kind === 'page' && request.method === 'GET') return reply.redirect(urls.login(request.url), 303);
    return reply.code(401).header('cache-control', 'no-store').send({ message: `Log in to the gallery first: ${urls.login()}` });
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.statusCode === 429) {
      const next = safeNext((request.body as { next?: unknown } | undefined)?.next);
      return sendHtml(reply, loginPage(urls, { next, error: 'Too many log-in attempts from your address. Wait a minute, then try again.' }), 429);
    }
    if (error.statusCode !== undefined && error.statusCode < 500) {
      return sendHtml(reply, messagePage(urls, { title: 'Not understood', message: 'The gallery could not make sense of that request.', signedIn: signedIn(request) }), error.statusCode);
    }
    request.log.error({ err: error }, 'gallery request failed');
    const unavailable = error instanceof StoreUnavailableError;
    const message = unavailable ? 'The image store is not reachable right now. Try again in a moment.' : 'Something went wrong while showing this page; the details are in the log.';
    return sendHtml(reply, messagePage(urls, { title: unavailable ? 'Store not reachable' : 'Something went wrong', message, signedIn: signedIn(request) }), unavailable ? 503 : 500);
  });

  app.setNotFoundHandler((request, reply) =>
    sendHtml(reply, messagePage(urls, { title: 'Not found', message: 'There is nothing at this address.', signedIn: signedIn(request) }), 404),
  );

  // ------------------------------------------------------------------------------- sessions

  app.get('/login', { config: { gallery: 'public' } }, (request, reply) => {
    const next = safeNext((request.query as { next?: unknown }).next);
    if (signedIn(request)) return reply.redirect(next, 303);
    return sendHtml(reply, loginPage(urls, { next }));
  });

  app.post(
    '/login',
    { config: { gallery: 'public', rateLimit: { max: options.loginAttemptsPerMinute ?? 10, timeWindow: 60_000 } } },
    async (request, reply) => {
      const body = (request.body ?? {}) as { password?: unknown; next?: unknown };
      const next = safeNext(body.next);
      if (!sameOrigin(request)) return sendHtml(reply, loginPage(urls, { next, error: 'Log in from the gallery’s own page.' }), 403);
      const password = typeof body.password === 'string' ? body.password : '';
      let valid: boolean;
      try {
        valid = password !== '' && (await access.verifyPassword(password));
      } catch (error) {
        if (!(error instanceof PasswordCheckBusyError)) throw error;
        return sendHtml(reply, loginPage(urls, { next, error: error.message }), 503);
      }
      if (!valid) {
        request.log.warn({ remoteAddress: request.ip }, 'gallery log-in refused: wrong password');
        return sendHtml(reply, loginPage(urls, { next, error: 'That is not the gallery password.' }), 401);
      }
      request.log.info({ remoteAddress: request.ip }, 'gallery log-in');
      reply.header('set-cookie', cookie(access.issueSession(), access.sessionSeconds, secureRequest(request)));
      return reply.redirect(next, 303);
    },
  );

  app.post('/logout', { config: { gallery: 'public' } }, (request, reply) => {
    if (!sameOrigin(request)) return reply.code(403).send({ message: 'Log out from the gallery’s own page.' });
    reply.header('set-cookie', cookie('', 0, secureRequest(request)));
    // Images this browser keeps (they are cached for good) go too: the next person at it sees nothing.
    reply.header('clear-site-data', '"cache"');
    return reply.redirect(urls.login(), 303);
  });

  app.get<{ Params: { name: string }; Querystring: { v?: string } }>('/assets/:name', { config: { gallery: 'public' } }, (request, reply) => {
    const asset = assets.files.get(request.params.name);
    if (!asset) return reply.code(404).send({ message: 'No such asset.' });
    const versioned = request.query.v === assets.version;
    return reply
      .type(asset.type)
      .header('cache-control', versioned ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('etag', `"${assets.version}"`)
      .send(asset.body);
  });

  // ---------------------------------------------------------------------------------- pages

  app.get('/', { config: { gallery: 'page' } }, async (request, reply) => {
    const summaries = await catalog.summaries();
    const notice = options.storeNotice?.();
    return sendHtml(reply, overviewPage(urls, timesFor(request), summaries, { pollMs, now: clock(), ...(notice !== undefined && { notice }) }));
  });

  app.get<{ Params: { camera: string }; Querystring: { day?: string; page?: string } }>(
    '/cameras/:camera',
    { config: { gallery: 'page' } },
    async (request, reply) => {
      const { camera } = request.params;
      if (!isSegment(camera) || !(await catalog.cameras()).includes(camera)) {
        return sendHtml(reply, messagePage(urls, { title: 'No such camera', message: `No camera named “${camera}” has sent images here.`, signedIn: true }), 404);
      }
      const today = catalog.today();
      const day = request.query.day !== undefined && isDay(request.query.day) ? request.query.day : ((await catalog.latestDay(camera)) ?? today);
      const [images, neighbours, recentDays] = await Promise.all([
        catalog.images(camera, day),
        catalog.neighbourDays(camera, day),
        catalog.days(camera, { to: today, limit: 7 }),
      ]);
      const pages = Math.max(1, Math.ceil(images.length / pageSize));
      const page = Math.min(pages, Math.max(1, Number.parseInt(request.query.page ?? '1', 10) || 1));
      return sendHtml(
        reply,
        cameraPage(urls, timesFor(request), {
          camera,
          day,
          today,
          images,
          page,
          pageSize,
          recentDays,
          pollMs,
          recipientUrl: `${secureRequest(request) ? 'https' : 'http'}://${request.headers.host ?? 'receiver'}${options.recipientPath ?? '/'}`,
          ...(neighbours.previous && { previousDay: neighbours.previous }),
          ...(neighbours.next && { nextDay: neighbours.next }),
        }),
      );
    },
  );

  app.get('/view/*', { config: { gallery: 'page' } }, async (request, reply) => {
    const key = keyParameter(request);
    if (key === undefined) return reply.callNotFound();
    const [facts, located] = await Promise.all([store.head ? store.head(key) : undefined, catalog.locate(key)]);
    if (!facts && !located) return reply.callNotFound();
    const image = located?.image;
    const contentType = facts?.contentType ?? 'image/jpeg';
    if (!IMAGE_MEDIA_TYPES.has(contentType)) return reply.callNotFound();
    let older: CatalogImage | undefined;
    let newer: CatalogImage | undefined;
    if (located) {
      older = located.day[located.index - 1];
      newer = located.day[located.index + 1];
      if (!older || !newer) {
        const { previous, next } = await catalog.neighbourDays(located.image.camera, located.image.day);
        if (!older && previous) older = (await catalog.images(located.image.camera, previous)).at(-1);
        if (!newer && next) newer = (await catalog.images(located.image.camera, next))[0];
      }
    }
    const receivedAt = facts?.metadata['received-at'] ? new Date(facts.metadata['received-at']) : undefined;
    const cameraFilename = decodeMetadata(facts?.metadata['camera-filename']);
    return sendHtml(
      reply,
      imagePage(urls, timesFor(request), {
        key,
        size: facts?.size ?? image!.size,
        storedAt: facts?.lastModified ?? image!.storedAt,
        contentType,
        ...(image && { image }),
        ...(receivedAt && !Number.isNaN(receivedAt.getTime()) && { receivedAt }),
        ...(cameraFilename !== undefined && { cameraFilename }),
        ...(facts?.metadata.camera !== undefined && { camera: facts.metadata.camera }),
        ...(older && { older }),
        ...(newer && { newer }),
        ...(located && { position: { index: located.index, of: located.day.length } }),
      }),
    );
  });

  // ------------------------------------------------------------------ live updates and data

  app.get('/fragments/cards', async (request, reply) => {
    const summaries = await catalog.summaries();
    const times = timesFor(request);
    const etag = `"${digest([catalog.today(), times.zone, ...summaries.map(versionOf)].join('\n'))}"`;
    reply.header('cache-control', 'no-store').header('etag', etag);
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('text/html; charset=utf-8').send(cameraCards(urls, times, summaries, clock()).text);
  });

  app.get<{ Params: { camera: string }; Querystring: { day?: string } }>('/fragments/cameras/:camera', async (request, reply) => {
    const { camera } = request.params;
    const day = request.query.day;
    if (!isSegment(camera) || day === undefined || !isDay(day)) return reply.code(400).send({ message: 'Give a camera and ?day=YYYY-MM-DD.' });
    const images = await catalog.images(camera, day);
    const times = timesFor(request);
    const etag = `"${digest(`${images.length}\n${images.at(-1)?.key ?? ''}\n${times.zone}`)}"`;
    reply.header('cache-control', 'no-store').header('etag', etag).header('x-image-count', String(images.length));
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('text/html; charset=utf-8').send(thumbnailTiles(urls, times, day, images, 1, pageSize).text);
  });

  app.get('/api/overview', async (_request, reply) => {
    const summaries = await catalog.summaries();
    return reply.header('cache-control', 'no-store').send({
      today: catalog.today(),
      cameras: summaries.map((summary) => ({
        camera: summary.camera,
        state: summary.state,
        today: summary.today,
        ...(summary.usualIntervalMs !== undefined && { usualIntervalMs: summary.usualIntervalMs }),
        ...(summary.silentMs !== undefined && { silentMs: summary.silentMs }),
        ...(summary.waiting !== undefined && { waiting: summary.waiting }),
        ...(summary.latest && { latest: imageJson(summary.latest) }),
      })),
    });
  });

  app.get<{ Params: { camera: string; day: string } }>('/api/cameras/:camera/days/:day', async (request, reply) => {
    const { camera, day } = request.params;
    if (!isSegment(camera) || !isDay(day)) return reply.code(400).send({ message: 'Give a camera and a day as YYYY-MM-DD.' });
    const images = await catalog.images(camera, day);
    const times = timesFor(request);
    const labels = times.distinctLabels(images, day);
    return reply.header('cache-control', 'no-store').send({
      camera,
      day,
      // Times as the viewer's gallery shows them (its time-zone cookie; UTC without one).
      timeZone: times.zone,
      // Oldest first; URLs are prefix + the key with each segment URL-encoded.
      thumbnailPrefix: `${GALLERY_PATH}/thumbs/`,
      viewPrefix: `${GALLERY_PATH}/view/`,
      images: images.map((image) => ({ ...imageJson(image), time: labels.get(image.key) })),
    });
  });

  // ----------------------------------------------------------------------- image bytes

  app.get<{ Querystring: { download?: string } }>('/images/*', async (request, reply) => {
    const key = keyParameter(request);
    const content = key === undefined ? undefined : await store.read(key);
    if (!content || !IMAGE_MEDIA_TYPES.has(content.contentType)) {
      destroy(content?.body);
      return reply.code(404).send({ message: 'No such image.' });
    }
    const filename = content.key.slice(content.key.lastIndexOf('/') + 1);
    return reply
      .type(content.contentType)
      .header('content-length', String(content.size))
      .header('cache-control', IMMUTABLE)
      .header('last-modified', content.lastModified.toUTCString())
      .header('content-disposition', contentDisposition(filename, { type: request.query.download === '1' ? 'attachment' : 'inline' }))
      .send(content.body instanceof Readable ? content.body : Readable.from(content.body));
  });

  app.get<{ Querystring: { size?: string } }>('/thumbs/*', async (request, reply) => {
    const key = keyParameter(request);
    const rendition = request.query.size === 'preview' ? 'preview' : 'thumb';
    try {
      const body = key === undefined ? undefined : await thumbnails.get(key, rendition);
      if (!body) return reply.code(404).send({ message: 'No such image.' });
      return reply.type('image/jpeg').header('cache-control', IMMUTABLE).send(body);
    } catch (error) {
      if (!(error instanceof RenditionError)) throw error;
      request.log.warn({ key, err: error.cause }, 'no thumbnail: the image cannot be decoded');
      return reply.type('image/svg+xml').header('cache-control', 'private, max-age=300').send(PLACEHOLDER_SVG);
    }
  });
}

function securityHeaders(request: FastifyRequest, reply: FastifyReply): void {
  reply.headers({
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=()',
  });
  if (isTlsSocket(request)) reply.header('strict-transport-security', 'max-age=15552000');
}

/** The session cookie: HTTP-only, same-site, for the gallery's path only; `Secure` over HTTPS. */
function cookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=${GALLERY_PATH}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

function isTlsSocket(request: FastifyRequest): boolean {
  return 'encrypted' in request.raw.socket && request.raw.socket.encrypted === true;
}

/**
 * Whether the browser reached us over HTTPS: directly, or through a proxy that says so. Trusting
 * the header costs nothing: at worst a cookie is marked Secure that did not need to be.
 */
function secureRequest(request: FastifyRequest): boolean {
  const forwarded = request.headers['x-forwarded-proto'];
  return isTlsSocket(request) || (typeof forwarded === 'string' && /(^|,)\s*https\s*($|,)/i.test(forwarded));
}

/** Form posts must come from the gallery's own pages (a second fence beside SameSite cookies). */
function sameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined || origin === 'null') return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** Where to go after logging in: a gallery address, never anywhere else. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || next.length > 2048) return GALLERY_PATH;
  if (!/^\/gallery(?:[/?]|$)/.test(next) || next.includes('//') || /[\\\s\p{Cc}]/u.test(next)) return GALLERY_PATH;
  return next;
}

/** Every value of the cookie `name` in a Cookie header. */
function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/** The key in a `/…/*` address, when it is one the gallery may show. */
function keyParameter(request: FastifyRequest): string | undefined {
  const key = (request.params as { '*'?: string })['*'];
  if (key === undefined || key.length === 0 || key.length > 1024) return undefined;
  if (!key.split('/').every(isSegment)) return undefined;
  return key;
}

/** A key segment the gallery can name: not empty, no dot first (no `..`, no hidden files), no controls. */
function isSegment(segment: string): boolean {
  return segment.length > 0 && segment.length <= 255 && !segment.startsWith('.') && !/[/\\\p{Cc}]/u.test(segment);
}

function decodeMetadata(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function versionOf(summary: CameraSummary): string {
  return [summary.camera, summary.latest?.key ?? '', summary.today, summary.state, summary.waiting ?? 0].join('|');
}

function imageJson(image: CatalogImage): { key: string; day: string; storedAt: string; size: number } {
  return { key: image.key, day: image.day, storedAt: image.storedAt.toISOString(), size: image.size };
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

function destroy(body: AsyncIterable<Uint8Array> | undefined): void {
  if (body instanceof Readable) body.destroy();
}

/** The browser files, read once; their digest versions their URLs, so browsers cache them for good. */
function loadAssets(): { version: string; files: Map<string, { type: string; body: Buffer }> } {
  const folder = new URL('../../assets/gallery/', import.meta.url);
  const files = new Map<string, { type: string; body: Buffer }>();
  const hash = createHash('sha256');
  for (const [name, type] of Object.entries(ASSETS)) {
    const body = readFileSync(new URL(name, folder));
    files.set(name, { type, body });
    hash.update(name).update(body);
  }
  return { version: hash.digest('hex').slice(0, 12), files };
}
