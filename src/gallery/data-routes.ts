/**
 * What the pages load beside themselves: the images and their thumbnails, the fragments live
 * updates replace, and the same facts as JSON (the time-lapse player's frames). Without a session
 * each answers 401.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { create as contentDisposition } from 'content-disposition';
import type { FastifyInstance } from 'fastify';
import type { CameraSummary, CatalogImage } from './catalog.js';
import { IMAGE_MEDIA_TYPES } from './context.js';
import type { GalleryContext } from './context.js';
import { isDay } from './layout.js';
import { PLACEHOLDER_SVG, cameraCards, thumbnailTiles } from './pages.js';
import { isSegment, keyParameter } from './requests.js';
import { RenditionError } from './thumbnails.js';

/** Images and thumbnails: a key never gets other bytes, so browsers keep them for good. */
const IMMUTABLE = 'private, max-age=31536000, immutable';

/** The overview's cards and a day's thumbnails as HTML fragments, answered 304 while unchanged. */
export function fragmentRoutes(app: FastifyInstance, { catalog, urls, clock, pageSize, timesFor }: GalleryContext): void {
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
}

/** The overview, and a camera's day, as JSON. */
export function apiRoutes(app: FastifyInstance, { catalog, urls, timesFor }: GalleryContext): void {
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
      thumbnailPrefix: urls.thumbnailPrefix(),
      viewPrefix: urls.viewPrefix(),
      images: images.map((image) => ({ ...imageJson(image), time: labels.get(image.key) })),
    });
  });
}

/** The images as stored, and thumbnails (a placeholder for an image that cannot be decoded). */
export function imageRoutes(app: FastifyInstance, { store, thumbnails }: GalleryContext): void {
  app.get<{ Querystring: { download?: string } }>('/images/*', async (request, reply) => {
    const key = keyParameter(request);
    const content = key === undefined ? undefined : await store.read(key);
    if (!content || !IMAGE_MEDIA_TYPES.has(content.contentType)) {
      if (content?.body instanceof Readable) content.body.destroy();
      return reply.code(404).send({ message: 'No such image.' });
    }
    const filename = content.key.slice(content.key.lastIndexOf('/') + 1);
    const disposition = contentDisposition(filename, { type: request.query.download === '1' ? 'attachment' : 'inline' });
    return reply
      .type(content.contentType)
      .header('content-length', String(content.size))
      .header('cache-control', IMMUTABLE)
      .header('last-modified', content.lastModified.toUTCString())
      .header('content-disposition', disposition)
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

/** Changes whenever anything a camera's card shows changes. */
function versionOf(summary: CameraSummary): string {
  return [summary.camera, summary.latest?.key ?? '', summary.today, summary.state, summary.waiting ?? 0].join('|');
}

function imageJson(image: CatalogImage): { key: string; day: string; storedAt: string; size: number } {
  return { key: image.key, day: image.day, storedAt: image.storedAt.toISOString(), size: image.size };
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}
