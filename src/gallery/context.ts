/**
 * What every group of the gallery's routes shares: the store and what is built on it, the
 * gallery's URLs, its settings, and the few things each route asks of a request.
 *
 * @module
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_KEY_TEMPLATE } from '../core/object-key.js';
import type { ImageStore } from '../core/store.js';
import type { GalleryAccess } from './access.js';
import { loadAssets } from './assets.js';
import type { GalleryAssets } from './assets.js';
import { ImageCatalog } from './catalog.js';
import { ClipDurations } from './clip-durations.js';
import type { Html } from './html.js';
import { GalleryLayout } from './layout.js';
import type { GalleryPluginOptions } from './options.js';
import { cookieValues } from './requests.js';
import { ThumbnailService } from './thumbnails.js';
import { TIME_ZONE_COOKIE, Times } from './times.js';
import { GalleryUrls } from './urls.js';

/** The session cookie. */
export const SESSION_COOKIE = 'images_to_s3_gallery';

export interface GalleryContext {
  readonly options: GalleryPluginOptions;
  readonly store: ImageStore;
  readonly access: GalleryAccess;
  readonly catalog: ImageCatalog;
  readonly thumbnails: ThumbnailService;
  /** How long clips play, read from their first bytes. */
  readonly durations: ClipDurations;
  readonly assets: GalleryAssets;
  readonly urls: GalleryUrls;
  readonly clock: () => Date;
  /** How often open pages ask for news, in ms. */
  readonly pollMs: number;
  /** Thumbnails per page of a camera's day. */
  readonly pageSize: number;
  /** Times in the viewer's zone, which the gallery's script puts in a cookie. */
  readonly timesFor: (request: FastifyRequest) => Times;
  /** Whether the request carries a valid session cookie. */
  readonly signedIn: (request: FastifyRequest) => boolean;
  /** Sends a page, never cached (it changes as images arrive, and is only for the session's eyes). */
  readonly sendHtml: (reply: FastifyReply, page: Html, status?: number) => FastifyReply;
}

/** The context of a gallery whose routes are below `prefix` (Fastify's prefix for them). */
export function createGalleryContext(options: GalleryPluginOptions, prefix: string): GalleryContext {
  const { store, access } = options;
  const clock = options.clock ?? (() => new Date());
  const catalog = new ImageCatalog({
    store,
    layout: new GalleryLayout(options.keyTemplate ?? DEFAULT_KEY_TEMPLATE),
    clock,
    ...(options.knownCameras && { knownCameras: options.knownCameras }),
    ...(options.waitingKeys && { waitingKeys: options.waitingKeys }),
    ...(options.storeNotice && { partial: () => options.storeNotice!() !== undefined }),
    ...(options.freshMs !== undefined && { freshMs: options.freshMs }),
    ...(options.silenceGraceMs !== undefined && { silenceGraceMs: options.silenceGraceMs }),
  });
  options.storedKeys?.((keys) => catalog.forget(keys));
  const thumbnails = new ThumbnailService({
    store,
    ...(options.thumbnailCacheDir !== undefined && { cacheDir: options.thumbnailCacheDir }),
  });
  const assets = loadAssets();
  return {
    options,
    store,
    access,
    catalog,
    thumbnails,
    durations: new ClipDurations(store),
    assets,
    urls: new GalleryUrls(prefix, assets.version),
    clock,
    pollMs: (options.pollSeconds ?? 5) * 1000,
    pageSize: options.pageSize ?? 120,
    timesFor: (request) => new Times(cookieValues(request.headers.cookie, TIME_ZONE_COOKIE)[0]),
    signedIn: (request) => cookieValues(request.headers.cookie, SESSION_COOKIE).some((value) => access.validSession(value)),
    sendHtml: (reply, page, status = 200) =>
      reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.text),
  };
}
