/**
 * Logging in and out of the gallery: the log-in page and form (rate-limited per client address),
 * the session cookie, log-out.
 *
 * @module
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { PasswordCheckBusyError } from './access.js';
import { SESSION_COOKIE } from './context.js';
import type { GalleryContext } from './context.js';
import { loginPage } from './pages.js';
import { sameOrigin, secureRequest } from './requests.js';

export async function sessionRoutes(app: FastifyInstance, context: GalleryContext): Promise<void> {
  const { access, urls, options, signedIn, sendHtml } = context;
  /** The session cookie: HTTP-only, same-site, for the gallery's path only; `Secure` over HTTPS. */
  const cookie = (value: string, maxAgeSeconds: number, secure: boolean): string =>
    `${SESSION_COOKIE}=${value}; Path=${urls.cookiePath}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;

  // Only the routes that ask for it (the log-in form) are limited.
  await app.register(rateLimit, { global: false });

  app.get('/login', { config: { gallery: 'public' } }, (request, reply) => {
    const next = urls.safeNext((request.query as { next?: unknown }).next);
    if (signedIn(request)) return reply.redirect(next, 303);
    return sendHtml(reply, loginPage(urls, { next }));
  });

  app.post(
    '/login',
    { config: { gallery: 'public', rateLimit: { max: options.loginAttemptsPerMinute ?? 10, timeWindow: 60_000 } } },
    async (request, reply) => {
      const body = (request.body ?? {}) as { password?: unknown; next?: unknown };
      const next = urls.safeNext(body.next);
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
}
