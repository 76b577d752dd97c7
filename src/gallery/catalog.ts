/**
 * What the gallery shows, read from the store: the cameras, each camera's days, the images and
 * clips of a day, and a summary per camera for the overview.
 *
 * How much is read depends on the layout (see {@link GalleryLayout}):
 * - indexed layouts (the default `{camera}/{yyyy}/{MM}/{dd}/{filename}`): a camera's day is one
 *   prefix listing (one `readdir` on disk, ⌈n/1000⌉ `ListObjectsV2` pages on S3, n = images that
 *   day); cameras and days are folder listings (`Delimiter: '/'` on S3). Nothing ever lists the
 *   whole store, so the cost does not grow with the history kept.
 * - other layouts (the flat `{filename}`): one listing of every key, shared by all views and
 *   reused for {@link ImageCatalogOptions.scanMs}.
 *
 * Lists that can still grow (today's images, the folders above today) are reused for
 * {@link ImageCatalogOptions.freshMs}; lists of past days for ten minutes, as keys are never
 * overwritten and images are filed under the day they arrive.
 *
 * @module
 */
import { compareKeys } from '../core/store.js';
import type { ImageStore, StoredObject } from '../core/store.js';
import { ExpiringCache, TaskLimiter } from './cache.js';
import { ALL_IMAGES, addDays, dayOf, isDay } from './layout.js';
import type { Day, GalleryLayout } from './layout.js';
import { kindOfKey } from './media.js';
import type { MediaKind } from './media.js';
import { silentAfterMs, usualInterval } from '../core/camera-silence.js';

/** One image or clip as the gallery lists it. */
export interface CatalogItem {
  key: string;
  /** Told by the key's extension (see {@link kindOfKey}). */
  kind: MediaKind;
  camera: string;
  /** The UTC day it is filed under. */
  day: Day;
  size: number;
  /** When the store got it (the object's last-modified time). */
  storedAt: Date;
}

/**
 * How a camera is doing: `live` (sending as usual), `overdue` (silent for longer than its usual
 * interval allows), `unknown` (too few images to tell its interval), `never` (no image at all).
 */
export type CameraState = 'live' | 'overdue' | 'unknown' | 'never';

/**
 * A camera on the overview. Everything it sends, images and clips alike, tells that it is alive:
 * its interval, silence and state count both. Its card shows its latest image.
 */
export interface CameraSummary {
  camera: string;
  /** Its latest image, on the latest day it sent anything. */
  latest?: CatalogItem;
  /** The latest thing it sent, image or clip. */
  lastReceived?: CatalogItem;
  /** Images filed under today (UTC). */
  today: number;
  /** Clips filed under today (UTC). */
  clipsToday: number;
  /** The median time between the recent things it sent. */
  usualIntervalMs?: number;
  /** Time since the latest thing it sent. */
  silentMs?: number;
  state: CameraState;
  /** Images received but not yet in the store (waiting in the spool), when there are any. */
  waiting?: number;
}

export interface ImageCatalogOptions {
  store: ImageStore;
  layout: GalleryLayout;
  clock?: () => Date;
  /** Cameras to show even before they sent anything (e.g. those with a token). */
  knownCameras?: () => Promise<string[]>;
  /** Keys of images received but still on their way to the store (a spool's), counted per camera. */
  waitingKeys?: () => Iterable<string>;
  /** Whether the store's listings are partial right now (a spooled store whose store is down): nothing listed is then reused. */
  partial?: () => boolean;
  /** How long lists that can still grow are reused. */
  freshMs?: number;
  /** Scanned layouts: how long one listing of every key is reused. */
  scanMs?: number;
  /** See {@link silentAfterMs}. */
  silenceGraceMs?: number;
}

const PAST_MS = 10 * 60 * 1000;
/** Store requests the catalog makes at once (hundreds of cameras must not mean hundreds of requests). */
const STORE_CONCURRENCY = 8;
/** Images and clips looked at to learn a camera's usual interval. */
const INTERVAL_SAMPLE = 50;
/** A clip's picture is the snapshot taken nearest to it, if one is this close. */
export const POSTER_WINDOW_MS = 15 * 60 * 1000;

export class ImageCatalog {
  readonly layout: GalleryLayout;
  private readonly store: ImageStore;
  private readonly clock: () => Date;
  private readonly knownCameras: () => Promise<string[]>;
  private readonly waitingKeys: (() => Iterable<string>) | undefined;
  private readonly partial: () => boolean;
  private readonly freshMs: number;
  private readonly scanMs: number;
  private readonly silenceGraceMs: number | undefined;
  private readonly lists: ExpiringCache<CatalogItem[]>;
  private readonly folders: ExpiringCache<string[]>;
  private readonly scans: ExpiringCache<ScanIndex>;
  private readonly io = new TaskLimiter(STORE_CONCURRENCY);

  constructor(options: ImageCatalogOptions) {
    this.store = options.store;
    this.layout = options.layout;
    this.clock = options.clock ?? (() => new Date());
    this.knownCameras = options.knownCameras ?? (() => Promise.resolve([]));
    this.waitingKeys = options.waitingKeys;
    this.partial = options.partial ?? (() => false);
    this.freshMs = options.freshMs ?? 2_000;
    this.scanMs = options.scanMs ?? 10_000;
    this.silenceGraceMs = options.silenceGraceMs;
    const now = (): number => this.clock().getTime();
    this.lists = new ExpiringCache(256, now);
    this.folders = new ExpiringCache(1024, now);
    this.scans = new ExpiringCache(1, now);
  }

  /** Today, as the keys count days (UTC). */
  today(): Day {
    return dayOf(this.clock());
  }

  /** Every camera with images, and every known camera, in name order. */
  async cameras(): Promise<string[]> {
    const names = new Set<string>();
    if (this.layout.indexed) {
      for (const folder of await this.folderNames(this.layout.camerasPrefix, '')) {
        // Dot-folders are the stores' own (S3's start-up probe, the disk store's .incoming).
        const camera = folder.startsWith('.') ? undefined : this.layout.cameraOfFolder(folder);
        if (camera !== undefined) names.add(camera);
      }
    } else {
      for (const camera of (await this.scan()).cameras.keys()) names.add(camera);
    }
    if (this.layout.hasCamera) for (const camera of await this.knownCameras()) names.add(camera);
    return [...names].sort(compareKeys);
  }

  /** Lists that hold (or would hold) `keys`, stored since, are read again when next asked for. */
  forget(keys: readonly string[]): void {
    if (!this.layout.indexed) {
      this.scans.delete('all');
      return;
    }
    for (const key of keys) {
      const facts = this.layout.parse(key);
      if (facts?.camera !== undefined && facts.day !== undefined) this.lists.delete(this.layout.dayPrefix(facts.camera, facts.day));
      // The folders above it, for a camera's first image or a new day's.
      for (let slash = key.indexOf('/'); slash >= 0; slash = key.indexOf('/', slash + 1)) this.folders.delete(key.slice(0, slash + 1));
      this.folders.delete('');
    }
  }

  /** The images and clips of `camera` filed under `day`, oldest first. */
  async items(camera: string, day: Day): Promise<CatalogItem[]> {
    if (!isDay(day)) return [];
    if (!this.layout.indexed) return (await this.scan()).cameras.get(camera)?.get(day) ?? [];
    const prefix = this.layout.dayPrefix(camera, day);
    return this.lists.get(prefix, () => this.lifetime(day), () =>
      this.io.run(async () => {
        const images: CatalogItem[] = [];
        for await (const object of this.store.list(prefix)) {
          const facts = this.layout.parse(object.key);
          if (facts?.camera === camera && facts.day === day) images.push(itemOf(object, camera, day));
        }
        return images.sort(byTime);
      }),
    );
  }

  /**
   * Days of `camera` that have images, between `from` and `to` (both inclusive, either open),
   * newest first (or oldest first with `ascending`), at most `limit`.
   */
  async days(camera: string, range: { from?: Day; to?: Day; limit?: number; ascending?: boolean } = {}): Promise<Day[]> {
    const limit = range.limit ?? Number.POSITIVE_INFINITY;
    const order = (a: string, b: string): number => (range.ascending ? compareKeys(a, b) : compareKeys(b, a));
    const within = (part: string): boolean =>
      (range.from === undefined || part >= range.from.slice(0, part.length)) && (range.to === undefined || part <= range.to.slice(0, part.length));
    if (!this.layout.indexed) {
      const days = [...((await this.scan()).cameras.get(camera)?.keys() ?? [])].filter(within).sort(order);
      return days.slice(0, limit);
    }
    const found: Day[] = [];
    const visit = async (level: number, prefix: string, part: string): Promise<void> => {
      if (level === this.layout.dateDepth) {
        if (isDay(part)) found.push(part);
        return;
      }
      const children = (await this.folderNames(prefix, part))
        .map((folder) => ({ folder, part: this.layout.datePartOfFolder(level, part, folder) }))
        .filter((child): child is { folder: string; part: string } => child.part !== undefined && within(child.part))
        .sort((a, b) => order(a.part, b.part));
      for (const child of children) {
        if (found.length >= limit) return;
        await visit(level + 1, `${prefix}${child.folder}/`, child.part);
      }
    };
    await visit(0, this.layout.cameraPrefix(camera), '');
    return found.slice(0, limit);
  }

  /** The newest day of `camera` with images, up to today. */
  async latestDay(camera: string): Promise<Day | undefined> {
    return (await this.days(camera, { to: this.today(), limit: 1 }))[0];
  }

  /** The nearest days with images before and after `day`. */
  async neighbourDays(camera: string, day: Day): Promise<{ previous?: Day; next?: Day }> {
    const [previous] = await this.days(camera, { to: addDays(day, -1), limit: 1 });
    const [next] = await this.days(camera, { from: addDays(day, 1), to: this.today(), limit: 1, ascending: true });
    return { ...(previous && { previous }), ...(next && { next }) };
  }

  /** The item stored under `key` with the other items of its day, when the key is of the layout. */
  async locate(key: string): Promise<{ item: CatalogItem; day: CatalogItem[]; index: number } | undefined> {
    let camera: string | undefined;
    let day: Day | undefined;
    if (this.layout.indexed) {
      const facts = this.layout.parse(key);
      camera = facts?.camera;
      day = facts?.day;
    } else {
      const image = (await this.scan()).byKey.get(key);
      camera = image?.camera;
      day = image?.day;
    }
    if (camera === undefined || day === undefined) return undefined;
    const items = await this.items(camera, day);
    const index = items.findIndex((item) => item.key === key);
    return index === -1 ? undefined : { item: items[index]!, day: items, index };
  }

  /** One summary per camera, in name order: latest image, images and clips today, usual interval, state. */
  async summaries(): Promise<CameraSummary[]> {
    const today = this.today();
    const now = this.clock().getTime();
    const waiting = this.waitingByCamera();
    const summaries = await Promise.all(
      (await this.cameras()).map(async (camera): Promise<CameraSummary> => {
        const todays = await this.items(camera, today);
        let recent = todays;
        if (recent.length === 0) {
          const latestDay = await this.latestDay(camera);
          recent = latestDay === undefined ? [] : await this.items(camera, latestDay);
        }
        const lastReceived = recent.at(-1);
        if (!lastReceived) return { camera, today: 0, clipsToday: 0, state: 'never' };
        const latest = recent.findLast((item) => item.kind === 'image');
        const clipsToday = todays.filter((item) => item.kind === 'clip').length;
        const silentMs = Math.max(0, now - lastReceived.storedAt.getTime());
        const usualIntervalMs = usualInterval(recent.slice(-INTERVAL_SAMPLE).map((item) => item.storedAt.getTime()));
        const state: CameraState = usualIntervalMs === undefined ? 'unknown' : silentMs > silentAfterMs(usualIntervalMs, this.silenceGraceMs) ? 'overdue' : 'live';
        return {
          camera,
          ...(latest && { latest }),
          lastReceived,
          today: todays.length - clipsToday,
          clipsToday,
          silentMs,
          state,
          ...(usualIntervalMs !== undefined && { usualIntervalMs }),
        };
      }),
    );
    return summaries.map((summary) => (waiting.has(summary.camera) ? { ...summary, waiting: waiting.get(summary.camera)! } : summary));
  }

  private waitingByCamera(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const key of this.waitingKeys?.() ?? []) {
      const facts = this.layout.parse(key);
      if (facts === undefined) continue;
      const camera = facts.camera ?? ALL_IMAGES;
      counts.set(camera, (counts.get(camera) ?? 0) + 1);
    }
    return counts;
  }

  /** How long a list of `day` is reused: briefly while the day can still grow, long once it is over. */
  private lifetime(day: Day): number {
    if (this.partial()) return 0;
    // A minute of grace after midnight for uploads that were admitted just before it.
    const over = Date.parse(`${day}T00:00:00Z`) + 86_400_000 + 60_000 < this.clock().getTime();
    return over ? PAST_MS : this.freshMs;
  }

  /** Folder names below `prefix`, whose date part so far is `part` ('' above the date). */
  private folderNames(prefix: string, part: string): Promise<string[]> {
    const growing = this.today().startsWith(part) || part === '';
    return this.folders.get(prefix, () => (this.partial() ? 0 : growing ? this.freshMs : PAST_MS), () => this.io.run(() => this.listFolders(prefix)));
  }

  private async listFolders(prefix: string): Promise<string[]> {
    if (this.store.listFolders) return this.store.listFolders(prefix);
    // A store without folder listings: the same answer from a listing of every key below.
    const names = new Set<string>();
    for await (const object of this.store.list(prefix)) {
      const rest = object.key.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash > 0) names.add(rest.slice(0, slash));
    }
    return [...names];
  }

  /** Scanned layouts: every key below the fixed prefix, grouped by camera and day. */
  private scan(): Promise<ScanIndex> {
    return this.scans.get('all', () => (this.partial() ? 0 : this.scanMs), () =>
      this.io.run(async () => {
        const index: ScanIndex = { cameras: new Map(), byKey: new Map() };
        for await (const object of this.store.list(this.layout.fixedPrefix)) {
          const facts = this.layout.parse(object.key);
          if (!facts) continue;
          const camera = facts.camera ?? ALL_IMAGES;
          const day = facts.day ?? dayOf(object.lastModified);
          const image = itemOf(object, camera, day);
          let days = index.cameras.get(camera);
          if (!days) index.cameras.set(camera, (days = new Map<Day, CatalogItem[]>()));
          let images = days.get(day);
          if (!images) days.set(day, (images = []));
          images.push(image);
          index.byKey.set(image.key, image);
        }
        for (const days of index.cameras.values()) for (const images of days.values()) images.sort(byTime);
        return index;
      }),
    );
  }
}

interface ScanIndex {
  cameras: Map<string, Map<Day, CatalogItem[]>>;
  byKey: Map<string, CatalogItem>;
}

function itemOf(object: StoredObject, camera: string, day: Day): CatalogItem {
  return { key: object.key, kind: kindOfKey(object.key), camera, day, size: object.size, storedAt: object.lastModified };
}

function byTime(a: CatalogItem, b: CatalogItem): number {
  return a.storedAt.getTime() - b.storedAt.getTime() || compareKeys(a.key, b.key);
}

/**
 * The picture that stands for `clip`: the image among `items` (its day) taken nearest to it in
 * time, within {@link POSTER_WINDOW_MS}; undefined when there is none that close.
 */
export function nearestImage(items: readonly CatalogItem[], clip: CatalogItem): CatalogItem | undefined {
  let nearest: CatalogItem | undefined;
  let nearestGap = POSTER_WINDOW_MS;
  for (const item of items) {
    if (item.kind !== 'image') continue;
    const gap = Math.abs(item.storedAt.getTime() - clip.storedAt.getTime());
    if (gap <= nearestGap) {
      nearest = item;
      nearestGap = gap;
    }
  }
  return nearest;
}

