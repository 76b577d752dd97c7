/**
 * The web gallery: an encapsulated Fastify plugin with its own hooks (session check, security
 * headers), body parser and error pages, so nothing of it touches the upload route. It serves
 * below whatever prefix it is registered under (`/gallery` by default, {@link GALLERY_PATH}),
 * and every address it writes (links, redirects, the cookie's Path) is below that prefix too.
 *
 * Its routes, by concern: `session-routes.ts` (log-in, log-out), `page-routes.ts` (the pages),
 * `data-routes.ts` (images, thumbnails, live-update fragments, JSON), `assets.ts` (browser files);
 * they share a {@link GalleryContext}.
 *
 * @module
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StoreUnavailableError } from '../core/errors.js';
import { assetRoutes } from './assets.js';
import { createGalleryContext } from './context.js';
import type { GalleryContext } from './context.js';
import { apiRoutes, fragmentRoutes, imageRoutes } from './data-routes.js';
import { pageRoutes } from './page-routes.js';
import { loginPage, messagePage } from './pages.js';
import type { GalleryPluginOptions } from './options.js';
import { isTlsSocket } from './requests.js';
import { sessionRoutes } from './session-routes.js';

export { SESSION_COOKIE } from './context.js';
export type { GalleryOptions, GalleryPluginOptions } from './options.js';

/** Where `serve` registers the gallery (its Fastify prefix). */
export const GALLERY_PATH = '/gallery';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `public`: no session needed; `page`: without one, redirect to the log-in page; otherwise 401. */
    gallery?: 'public' | 'page';
  }
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "media-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/**
 * The gallery, below the prefix it is registered with:
 * `app.register(galleryPlugin, { prefix: GALLERY_PATH, store, access })`.
 *
 * The prefix is read from Fastify (`app.prefix`), which routes the requests, so the addresses the
 * gallery writes cannot disagree with where its routes are (nested registrations included).
 */
export async function galleryPlugin(app: FastifyInstance, options: GalleryPluginOptions): Promise<void> {
  const context = createGalleryContext(options, app.prefix);

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addHook('onRequest', (request, reply) => checkSession(context, request, reply));
  app.setErrorHandler((error: FastifyError, request, reply) => errorPage(context, error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const page = messagePage(context.urls, { title: 'Not found', message: 'There is nothing at this address.', signedIn: context.signedIn(request) });
    return context.sendHtml(reply, page, 404);
  });

  await sessionRoutes(app, context);
  assetRoutes(app, context.assets);
  pageRoutes(app, context);
  fragmentRoutes(app, context);
  apiRoutes(app, context);
  imageRoutes(app, context);
}

/** Security headers on every answer; then nothing but public routes without a session. */
async function checkSession(
  { urls, signedIn }: GalleryContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  securityHeaders(request, reply);
  const kind = request.routeOptions.config.gallery;
  if (kind === 'public' || signedIn(request)) return;
  // Pages redirect to the log-in page, everything else is 401.
  if (kind === 'page' && request.method === 'GET') return reply.redirect(urls.login(request.url), 303);
  return reply.code(401).header('cache-control', 'no-store').send({ message: `Log in to the gallery first: ${urls.login()}` });
}

/** Too many log-ins, requests not understood, and failures (the store's apart), as pages. */
function errorPage(context: GalleryContext, error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { urls, sendHtml } = context;
  if (error.statusCode === 429) {
    const next = urls.safeNext((request.body as { next?: unknown } | undefined)?.next);
    const message = 'Too many log-in attempts from your address. Wait a minute, then try again.';
    return sendHtml(reply, loginPage(urls, { next, error: message }), 429);
  }
  const signedIn = context.signedIn(request);
  if (error.statusCode !== undefined && error.statusCode < 500) {
    const message = 'The gallery could not make sense of that request.';
    return sendHtml(reply, messagePage(urls, { title: 'Not understood', message, signedIn }), error.statusCode);
  }
  request.log.error({ err: error }, 'gallery request failed');
  const page =
    error instanceof StoreUnavailableError
      ? { title: 'Store not reachable', message: 'The image store is not reachable right now. Try again in a moment.', status: 503 }
      : { title: 'Something went wrong', message: 'Something went wrong while showing this page; the details are in the log.', status: 500 };
  return sendHtml(reply, messagePage(urls, { title: page.title, message: page.message, signedIn }), page.status);
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
