/**
 * What the pages load beside themselves: the images and clips (in parts, for seeking in a clip)
 * and the thumbnails, the fragments live updates replace, and the same facts as JSON (the
 * time-lapse player's frames). Without a session each answers 401.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { create as contentDisposition } from 'content-disposition';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ObjectContent } from '../core/store.js';
import { rangeRequest, readRange, sliceBody, stopReading } from './byte-ranges.js';
import type { CameraSummary, CatalogItem } from './catalog.js';
import type { GalleryContext } from './context.js';
import { isDay } from './layout.js';
import { GALLERY_MEDIA_TYPES, kindOfKey } from './media.js';
import { CLIP_TILE_SVG, PLACEHOLDER_SVG, cameraCards, cardVersion, clipKeysOnPage, itemCount, thumbnailTiles } from './pages.js';
import { isSegment, keyParameter } from './requests.js';
import { RenditionError } from './thumbnails.js';

/** Images, clips and thumbnails: a key never gets other bytes, so browsers keep them for good. */
const IMMUTABLE = 'private, max-age=31536000, immutable';

/** The overview's cards and a day's thumbnails as HTML fragments, answered 304 while unchanged. */
export function fragmentRoutes(app: FastifyInstance, { catalog, durations, urls, clock, pageSize, timesFor }: GalleryContext): void {
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
    const items = await catalog.items(camera, day);
    const times = timesFor(request);
    // Durations are read once and then known, so this costs the store nothing after the first time.
    const known = await durations.ofAll(clipKeysOnPage(items, 1, pageSize));
    const etag = `"${digest(`${items.length}\n${items.at(-1)?.key ?? ''}\n${known.size}\n${times.zone}`)}"`;
    // What the page's count says now ("12 images, 2 clips"), for its script to show.
    reply.header('cache-control', 'no-store').header('etag', etag).header('x-count-label', itemCount(items));
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('text/html; charset=utf-8').send(thumbnailTiles(urls, times, { day, items, page: 1, pageSize, durations: known }).text);
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
        // Images and clips filed under today.
        today: summary.today,
        clipsToday: summary.clipsToday,
        ...(summary.usualIntervalMs !== undefined && { usualIntervalMs: summary.usualIntervalMs }),
        ...(summary.silentMs !== undefined && { silentMs: summary.silentMs }),
        ...(summary.waiting !== undefined && { waiting: summary.waiting }),
        // Its latest image, and the latest thing it sent (an image or a clip).
        ...(summary.latest && { latest: itemJson(summary.latest) }),
        ...(summary.lastReceived && { lastReceived: { ...itemJson(summary.lastReceived), kind: summary.lastReceived.kind } }),
      })),
    });
  });

  app.get<{ Params: { camera: string; day: string } }>('/api/cameras/:camera/days/:day', async (request, reply) => {
    const { camera, day } = request.params;
    if (!isSegment(camera) || !isDay(day)) return reply.code(400).send({ message: 'Give a camera and a day as YYYY-MM-DD.' });
    const items = await catalog.items(camera, day);
    const times = timesFor(request);
    const labels = times.distinctLabels(items, day);
    const json = (item: CatalogItem): ReturnType<typeof itemJson> & { time: string | undefined } => ({ ...itemJson(item), time: labels.get(item.key) });
    return reply.header('cache-control', 'no-store').send({
      camera,
      day,
      // Times as the viewer's gallery shows them (its time-zone cookie; UTC without one).
      timeZone: times.zone,
      // Oldest first; URLs are prefix + the key with each segment URL-encoded.
      thumbnailPrefix: urls.thumbnailPrefix(),
      viewPrefix: urls.viewPrefix(),
      // The time-lapse player's frames.
      images: items.filter((item) => item.kind === 'image').map(json),
      clips: items.filter((item) => item.kind === 'clip').map(json),
    });
  });
}

/**
 * The images and clips as stored, whole or one range of bytes (`Range: bytes=…`, for seeking in a
 * clip), streamed from the store; and thumbnails (a placeholder for an image that cannot be
 * decoded, a neutral tile for a clip).
 */
export function imageRoutes(app: FastifyInstance, context: GalleryContext): void {
  const { thumbnails } = context;
  app.get<{ Querystring: { download?: string } }>('/images/*', (request, reply) => sendObject(context, request, reply));

  app.get<{ Querystring: { size?: string } }>('/thumbs/*', async (request, reply) => {
    const key = keyParameter(request);
    const rendition = request.query.size === 'preview' ? 'preview' : 'thumb';
    // A clip is never decoded here: pages show the snapshot nearest to it, or this tile.
    if (key !== undefined && kindOfKey(key) === 'clip') return reply.type('image/svg+xml').header('cache-control', IMMUTABLE).send(CLIP_TILE_SVG);
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

/**
 * One stored object, or the part of it a `Range` header asks for (206 with `Content-Range`; 416
 * for a range past its end; the whole, 200, without one or with an `If-Range` that no longer
 * holds). The bytes stream from the store: a clip is never read whole into memory.
 */
async function sendObject(
  { store }: GalleryContext,
  request: FastifyRequest<{ Querystring: { download?: string } }>,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const notFound = (): FastifyReply => reply.code(404).send({ message: 'No such image or clip.' });
  const key = keyParameter(request);
  if (key === undefined) return notFound();
  // The object's facts first, so a range is read alone; a store without `head` opens the whole.
  let opened: ObjectContent | undefined;
  const facts = store.head ? await store.head(key) : (opened = await store.read(key));
  if (!facts || !GALLERY_MEDIA_TYPES.has(facts.contentType)) {
    if (opened) await stopReading(opened.body);
    return notFound();
  }
  const lastModified = facts.lastModified.toUTCString();
  const ifRange = request.headers['if-range'];
  const asked = ifRange === undefined || ifRange === lastModified ? rangeRequest(request.headers.range, facts.size) : ({ kind: 'whole' } as const);
  if (asked.kind === 'unsatisfiable') {
    if (opened) await stopReading(opened.body);
    return reply.code(416).header('content-range', `bytes */${facts.size}`).header('accept-ranges', 'bytes').send({ message: 'That range is past the end.' });
  }
  const { start, end } = asked.kind === 'part' ? asked.range : { start: 0, end: facts.size - 1 };
  let body: AsyncIterable<Uint8Array>;
  if (request.method === 'HEAD') {
    // The headers alone: nothing is read (Fastify would read a body to its end to drop it).
    if (opened) await stopReading(opened.body);
    body = Readable.from([]);
  } else if (asked.kind === 'part') {
    const part = opened ? { body: sliceBody(opened.body, start, end) } : await readRange(store, key, asked.range);
    if (!part) return notFound();
    body = part.body;
  } else {
    const whole = opened ?? (await store.read(key));
    if (!whole) return notFound();
    body = whole.body;
  }
  if (asked.kind === 'part') reply.code(206).header('content-range', `bytes ${start}-${end}/${facts.size}`);
  const filename = key.slice(key.lastIndexOf('/') + 1);
  const disposition = contentDisposition(filename, { type: request.query.download === '1' ? 'attachment' : 'inline' });
  return reply
    .type(facts.contentType)
    .header('content-length', String(end - start + 1))
    .header('accept-ranges', 'bytes')
    .header('cache-control', IMMUTABLE)
    .header('last-modified', lastModified)
    .header('content-disposition', disposition)
    .send(body instanceof Readable ? body : Readable.from(body, { objectMode: false }));
}

/** Changes whenever anything a camera's card shows changes. */
function versionOf(summary: CameraSummary): string {
  return `${summary.camera}|${cardVersion(summary)}`;
}

function itemJson(item: CatalogItem): { key: string; day: string; storedAt: string; size: number } {
  return { key: item.key, day: item.day, storedAt: item.storedAt.toISOString(), size: item.size };
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}
