/**
 * The gallery's pages: the overview of the cameras, a camera's day, and the view of one image or
 * clip. Without a session, each redirects to the log-in page.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { nearestImage } from './catalog.js';
import type { CatalogItem } from './catalog.js';
import type { GalleryContext } from './context.js';
import { isDay } from './layout.js';
import { contentTypeOfKey, kindOfContentType } from './media.js';
import { cameraPage, clipKeysOnPage, imagePage, messagePage, overviewPage } from './pages.js';
import { isSegment, keyParameter, secureRequest } from './requests.js';

export function pageRoutes(app: FastifyInstance, context: GalleryContext): void {
  const { options, store, catalog, durations, urls, clock, pollMs, pageSize, timesFor, sendHtml } = context;

  app.get('/', { config: { gallery: 'page' } }, async (request, reply) => {
    const summaries = await catalog.summaries();
    const notice = options.storeNotice?.();
    const page = overviewPage(urls, timesFor(request), summaries, { pollMs, now: clock(), ...(notice !== undefined && { notice }) });
    return sendHtml(reply, page);
  });

  app.get<{ Params: { camera: string }; Querystring: { day?: string; page?: string } }>(
    '/cameras/:camera',
    { config: { gallery: 'page' } },
    async (request, reply) => {
      const { camera } = request.params;
      if (!isSegment(camera) || !(await catalog.cameras()).includes(camera)) {
        const message = `No camera named “${camera}” has sent images here.`;
        return sendHtml(reply, messagePage(urls, { title: 'No such camera', message, signedIn: true }), 404);
      }
      const today = catalog.today();
      const asked = request.query.day;
      const day = asked !== undefined && isDay(asked) ? asked : ((await catalog.latestDay(camera)) ?? today);
      const [items, neighbours, recentDays] = await Promise.all([
        catalog.items(camera, day),
        catalog.neighbourDays(camera, day),
        catalog.days(camera, { to: today, limit: 7 }),
      ]);
      const pages = Math.max(1, Math.ceil(items.length / pageSize));
      const page = Math.min(pages, Math.max(1, Number.parseInt(request.query.page ?? '1', 10) || 1));
      const known = await durations.ofAll(clipKeysOnPage(items, page, pageSize));
      const origin = `${secureRequest(request) ? 'https' : 'http'}://${request.headers.host ?? 'receiver'}`;
      return sendHtml(
        reply,
        cameraPage(urls, timesFor(request), {
          camera,
          day,
          today,
          items,
          page,
          pageSize,
          durations: known,
          recentDays,
          pollMs,
          recipientUrl: `${origin}${options.recipientPath ?? '/'}`,
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
    const item = located?.item;
    const contentType = facts?.contentType ?? contentTypeOfKey(key) ?? 'image/jpeg';
    const kind = kindOfContentType(contentType);
    if (kind === undefined) return reply.callNotFound();
    let older: CatalogItem | undefined;
    let newer: CatalogItem | undefined;
    if (located) {
      older = located.day[located.index - 1];
      newer = located.day[located.index + 1];
      if (!older || !newer) {
        const { previous, next } = await catalog.neighbourDays(located.item.camera, located.item.day);
        if (!older && previous) older = (await catalog.items(located.item.camera, previous)).at(-1);
        if (!newer && next) newer = (await catalog.items(located.item.camera, next))[0];
      }
    }
    const poster = kind === 'clip' && located ? nearestImage(located.day, located.item) : undefined;
    const durationMs = kind === 'clip' ? await durations.of(key) : undefined;
    const receivedAt = facts?.metadata['received-at'] ? new Date(facts.metadata['received-at']) : undefined;
    const cameraFilename = decodeMetadata(facts?.metadata['camera-filename']);
    return sendHtml(
      reply,
      imagePage(urls, timesFor(request), {
        key,
        kind,
        size: facts?.size ?? item!.size,
        storedAt: facts?.lastModified ?? item!.storedAt,
        contentType,
        ...(item && { item }),
        ...(poster && { poster }),
        ...(durationMs !== undefined && { durationMs }),
        ...(receivedAt && !Number.isNaN(receivedAt.getTime()) && { receivedAt }),
        ...(cameraFilename !== undefined && { cameraFilename }),
        ...(facts?.metadata.camera !== undefined && { camera: facts.metadata.camera }),
        ...(older && { older }),
        ...(newer && { newer }),
        ...(located && { position: { index: located.index, of: located.day.length } }),
      }),
    );
  });
}

function decodeMetadata(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
