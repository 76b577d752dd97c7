/**
 * What the gallery is registered with (besides Fastify's `prefix`, which says where it is).
 *
 * @module
 */
import type { ImageStore } from '../core/store.js';
import type { GalleryAccess } from './access.js';

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
  /**
   * Calls its argument with the keys of images stored since (by this process or, under
   * `serve --workers`, another): lists of them are read again when next asked for rather than when
   * they expire, so that a new image shows at once, and one a worker showed never vanishes from
   * the next page another worker serves.
   */
  storedKeys?: (listener: (keys: readonly string[]) => void) => void;
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
  /** How much longer than its usual interval a camera may be silent before it shows as overdue (see silentAfterMs), in ms. */
  silenceGraceMs?: number;
  clock?: () => Date;
}

/** What `galleryPlugin` is registered with: the gallery's options and the store it shows. */
export type GalleryPluginOptions = GalleryOptions & { store: ImageStore };
