/**
 * The gallery's browser files (`assets/gallery/`): read once at start, served without a session,
 * under URLs versioned by their digest so browsers cache them for good.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const ASSETS: Record<string, string> = {
  'gallery.css': 'text/css; charset=utf-8',
  'gallery.js': 'text/javascript; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

export interface GalleryAssets {
  /** A digest of them all, which their URLs carry. */
  version: string;
  files: Map<string, { type: string; body: Buffer }>;
}

/** The browser files, read once; their digest versions their URLs, so browsers cache them for good. */
export function loadAssets(): GalleryAssets {
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

/** `assets/:name`: cached for good when asked for with the current version, revalidated otherwise. */
export function assetRoutes(app: FastifyInstance, assets: GalleryAssets): void {
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
}
