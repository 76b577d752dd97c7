/**
 * The gallery's addresses, all below the path it is registered under (its Fastify prefix), so
 * that it works mounted anywhere: `/gallery` (the default), `/photos`, or the root.
 *
 * @module
 */
import type { Day } from './layout.js';

/** Where the gallery lives, and how its URLs are made. */
export class GalleryUrls {
  /** The prefix without a trailing slash (`''` at the root): every address but the overview's is `base/…`. */
  readonly base: string;
  /** The overview's address: the prefix as registered (`/` at the root). */
  private readonly home: string;

  /**
   * @param prefix Where the gallery's routes are: Fastify's prefix for them, e.g. `/gallery`
   *   (`''` or `/` at the root). A trailing slash is kept for the overview, which Fastify then
   *   serves only with it.
   */
  constructor(
    prefix: string,
    private readonly assetVersion: string,
  ) {
    this.base = prefix.replace(/\/+$/, '');
    this.home = this.base === '' ? '/' : prefix.endsWith('/') ? `${this.base}/` : this.base;
  }

  /** The Path of the gallery's cookies: every address of the gallery, and nothing beside it. */
  get cookiePath(): string {
    return this.base === '' ? '/' : this.base;
  }

  overview(): string {
    return this.home;
  }
  login(next?: string): string {
    return next === undefined || next === this.home ? `${this.base}/login` : `${this.base}/login?next=${encodeURIComponent(next)}`;
  }
  logout(): string {
    return `${this.base}/logout`;
  }
  asset(name: string): string {
    return `${this.base}/assets/${name}?v=${this.assetVersion}`;
  }
  camera(camera: string, day?: Day, page?: number): string {
    const query = new URLSearchParams();
    if (day !== undefined) query.set('day', day);
    if (page !== undefined && page > 1) query.set('page', String(page));
    const search = query.toString();
    return `${this.base}/cameras/${encodeURIComponent(camera)}${search ? `?${search}` : ''}`;
  }
  view(key: string): string {
    return `${this.viewPrefix()}${encodeKey(key)}`;
  }
  /** The image views' address without the key (which goes after it, each segment URL-encoded). */
  viewPrefix(): string {
    return `${this.base}/view/`;
  }
  image(key: string, download = false): string {
    return `${this.base}/images/${encodeKey(key)}${download ? '?download=1' : ''}`;
  }
  thumbnail(key: string, size: 'thumb' | 'preview' = 'thumb'): string {
    return `${this.thumbnailPrefix()}${encodeKey(key)}${size === 'thumb' ? '' : '?size=preview'}`;
  }
  /** The thumbnails' address without the key (which goes after it, each segment URL-encoded). */
  thumbnailPrefix(): string {
    return `${this.base}/thumbs/`;
  }
  cardsFragment(): string {
    return `${this.base}/fragments/cards`;
  }
  dayFragment(camera: string, day: Day): string {
    return `${this.base}/fragments/cameras/${encodeURIComponent(camera)}?day=${day}`;
  }
  dayImages(camera: string, day: Day): string {
    return `${this.base}/api/cameras/${encodeURIComponent(camera)}/days/${day}`;
  }

  /**
   * Where to go after logging in: `next` when it is an address of this gallery (a path, with or
   * without a query), the overview for anything else, such as another site or another part of
   * the server (also through `..`, which browsers resolve).
   */
  safeNext(next: unknown): string {
    if (typeof next !== 'string' || next.length > 2048) return this.home;
    if (next.includes('//') || /[\\\s\p{Cc}]/u.test(next)) return this.home;
    const path = next.split('?', 1)[0]!;
    if (path.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) return this.home;
    const inside = next.startsWith('/') && (path === this.base || path === this.home || path.startsWith(`${this.base}/`));
    return inside ? next : this.home;
  }
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
