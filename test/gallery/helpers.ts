import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { alternateKey } from '../../src/core/object-key.js';
import { mediaTypeForName } from '../../src/core/media-types.js';
import { GalleryAccess } from '../../src/gallery/access.js';
import type { GalleryOptions } from '../../src/gallery/plugin.js';
import type { ByteRange, ImageStore, ImageWrite, ObjectContent, ObjectFacts, StoredObject } from '../../src/core/store.js';
import { request, startReceiver } from '../support/receiver.js';
import type { Response, RunningReceiver } from '../support/receiver.js';

export const PASSWORD = 'correct horse battery staple';

const SCENES: Record<string, [string, string]> = {
  'front-door': ['#1d4e89', '#f4a259'],
  'back-yard': ['#2d6a4f', '#b7e4c7'],
  garage: ['#5a189a', '#e0aaff'],
  driveway: ['#6c757d', '#ffd166'],
};

/**
 * A JPEG (640×480 unless told) that says which camera took it and which one it is, so screenshots
 * tell them apart.
 */
export async function cameraImage(camera: string, n: number, size: { width: number; height: number } = { width: 640, height: 480 }): Promise<Buffer> {
  const [from, to] = SCENES[camera] ?? ['#333333', '#999999'];
  const { width, height } = size;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${from}"/><stop offset="1" stop-color="${to}"/></linearGradient></defs>
  <rect width="${width}" height="${height}" fill="url(#g)"/>
  <rect x="${60 + ((n * 37) % (width - 220))}" y="${height - 180}" width="120" height="120" rx="16" fill="#ffffff" fill-opacity="0.35"/>
  <text x="32" y="72" font-family="sans-serif" font-size="44" font-weight="bold" fill="#ffffff">${camera}</text>
  <text x="32" y="124" font-family="sans-serif" font-size="30" fill="#ffffff">image ${n}</text>
</svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 80 }).toBuffer();
}

export interface RunningGallery extends RunningReceiver {
  password: string;
  /** Logs in over HTTP and returns the Cookie header value. */
  login(): Promise<string>;
  get(pathAndQuery: string, headers?: Record<string, string>): Promise<Response>;
}

/** A receiver with the gallery on, a disk store in a temp dir (or `store`), and the password {@link PASSWORD}. */
export async function startGallery(
  options: { store?: ImageStore; keyTemplate?: string; gallery?: Partial<GalleryOptions>; tls?: { cert: string; key: string } } = {},
): Promise<RunningGallery> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-gallery-'));
  const { access } = await GalleryAccess.open({ document: path.join(folder, 'gallery.json'), password: PASSWORD });
  // Cameras with a token show before they sent anything, as with `serve`.
  const knownCameras = (): Promise<string[]> => receiver.tokens.cameras();
  const receiver: RunningReceiver = await startReceiver({
    ...(options.store && { store: options.store }),
    ...(options.keyTemplate !== undefined && { keyTemplate: options.keyTemplate }),
    ...(options.tls && { tls: options.tls }),
    gallery: { access, pollSeconds: 1, freshMs: 200, knownCameras, ...(options.keyTemplate !== undefined && { keyTemplate: options.keyTemplate }), ...options.gallery },
  });
  const base = receiver.url.replace(/\/$/, '');
  return {
    ...receiver,
    password: PASSWORD,
    login: async () => {
      const response = await request(`${base}/gallery/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(new URLSearchParams({ password: PASSWORD, next: '/gallery' }).toString()),
      });
      if (response.status !== 303) throw new Error(`log-in failed: ${response.status} ${response.body.slice(0, 200)}`);
      return sessionCookie(response);
    },
    get: (pathAndQuery, headers = {}) => request(`${base}${pathAndQuery}`, { headers }),
    close: async () => {
      await receiver.close();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** `name=value` of the session cookie a response sets. */
export function sessionCookie(response: Response): string {
  const header = response.headers['set-cookie']?.[0];
  if (!header) throw new Error('no Set-Cookie');
  return header.split(';')[0]!;
}

interface S3rverObject {
  key: string;
}
interface S3rverListing {
  objects: S3rverObject[];
  commonPrefixes: string[];
  isTruncated: boolean;
}
type ListObjects = (this: unknown, bucket: string, options: { delimiter?: string; prefix?: string; maxKeys?: number }) => Promise<S3rverListing>;

/**
 * s3rver 3.7.1 answers a `Delimiter` listing with only the folders that hold objects directly:
 * it stops walking below a would-be common prefix before seeing the objects deeper down, so
 * `front-door/` is missing when its images are under `front-door/2026/11/23/`. AWS S3, Ceph RGW
 * and MinIO group every key below by its first delimiter, as this patch (for tests) does.
 */
export function fixS3rverDelimiterListing(): void {
  const store = createRequire(import.meta.url)('s3rver/lib/stores/filesystem.js') as { prototype: { listObjects: ListObjects; fixedDelimiter?: boolean } };
  if (store.prototype.fixedDelimiter) return;
  const original = store.prototype.listObjects;
  store.prototype.listObjects = async function (bucket, options) {
    const { delimiter, prefix = '', maxKeys = Number.POSITIVE_INFINITY } = options;
    if (!delimiter) return original.call(this, bucket, options);
    const all = await original.call(this, bucket, { ...options, delimiter: '', maxKeys: Number.POSITIVE_INFINITY });
    const objects: S3rverObject[] = [];
    const prefixes = new Set<string>();
    for (const object of all.objects) {
      const rest = object.key.slice(prefix.length);
      const at = rest.indexOf(delimiter);
      if (at === -1) objects.push(object);
      else prefixes.add(prefix + rest.slice(0, at + delimiter.length));
    }
    return { objects: objects.slice(0, maxKeys), commonPrefixes: [...prefixes].sort(), isTruncated: objects.length > maxKeys };
  };
  store.prototype.fixedDelimiter = true;
}

/** Passes everything to `inner` and notes each listing (`list <prefix>`, `folders <prefix>`). */
export class RecordingStore implements ImageStore {
  readonly calls: string[] = [];
  constructor(readonly inner: ImageStore) {}
  get location(): string {
    return this.inner.location;
  }
  open(): Promise<void> {
    return this.inner.open();
  }
  write(image: ImageWrite): Promise<{ key: string }> {
    return this.inner.write(image);
  }
  list(prefix = ''): AsyncIterable<StoredObject> {
    this.calls.push(`list ${prefix}`);
    return this.inner.list(prefix);
  }
  listFolders(prefix: string): Promise<string[]> {
    this.calls.push(`folders ${prefix}`);
    return this.inner.listFolders!(prefix);
  }
  read(key: string, range?: ByteRange): Promise<ObjectContent | undefined> {
    this.calls.push(range ? `read ${key} ${range.start}-${range.end}` : `read ${key}`);
    return this.inner.read(key, range);
  }
  head(key: string): Promise<ObjectFacts | undefined> {
    return this.inner.head!(key);
  }
  check(): Promise<void> {
    return this.inner.check();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export const FFMPEG = process.env.FFMPEG_PATH ?? '/usr/bin/ffmpeg';
/** ffprobe, which comes with ffmpeg: what the tests compare the durations the gallery reads with. */
export const FFPROBE = path.join(path.dirname(FFMPEG), 'ffprobe');

/** Why the tests with real clips are skipped, or undefined when ffmpeg is there. */
export const FFMPEG_MISSING =
  existsSync(FFMPEG) && existsSync(FFPROBE)
    ? undefined
    : `ffmpeg or ffprobe not found beside ${FFMPEG}: the tests with real clips are skipped. Install them with \`sudo apt-get install -y --no-install-recommends ffmpeg\`, or point FFMPEG_PATH at one.`;

/** The clips the tests make: containers and codecs as cameras and players meet them. */
export const CLIP_KINDS = {
  /** H.264 in MP4, `moov` first, as written for streaming. */
  'mp4-faststart': { extension: 'mp4', args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'] },
  /** H.264 in MP4 as ffmpeg writes it by default: `moov` at the end, after the media data. */
  mp4: { extension: 'mp4', args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'] },
  /** H.264 in Matroska, as Axis cameras record. */
  mkv: { extension: 'mkv', args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'] },
  /** VP8 in WebM. */
  webm: { extension: 'webm', args: ['-c:v', 'libvpx', '-b:v', '500k'] },
  /** MPEG-4 Part 2 in Matroska: a codec Chromium does not play. */
  'mkv-mpeg4': { extension: 'mkv', args: ['-c:v', 'mpeg4'] },
} as const;
export type ClipKind = keyof typeof CLIP_KINDS;

/**
 * A real clip made by ffmpeg: `seconds` of its moving test pattern (with a counter), no sound.
 * Bigger frames make bigger files (640×360 at 2 Mbit/s is about 250 KB a second).
 */
export async function makeClip(kind: ClipKind, options: { seconds?: number; width?: number; height?: number; bitrate?: string } = {}): Promise<Buffer> {
  const { seconds = 3, width = 320, height = 180 } = options;
  const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-clip-'));
  const file = path.join(folder, `clip.${CLIP_KINDS[kind].extension}`);
  try {
    const rate = options.bitrate ? ['-b:v', options.bitrate, '-maxrate', options.bitrate, '-bufsize', options.bitrate] : [];
    const source = `testsrc2=size=${width}x${height}:rate=25:duration=${seconds}`;
    await promisify(execFile)(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', source, ...CLIP_KINDS[kind].args, ...rate, '-y', file]);
    return await readFile(file);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** A clip's duration as ffprobe reads it, in ms. */
export async function probeDurationMs(bytes: Buffer, extension: string): Promise<number> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-probe-'));
  const file = path.join(folder, `clip.${extension}`);
  try {
    await writeFile(file, bytes);
    const { stdout } = await promisify(execFile)(FFPROBE, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
    return Number(stdout.trim()) * 1000;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * Puts `bytes` under `key` in `store`, as the receiver would (its content type from the key);
 * with `at` and the disk store's `folder`, dates it as if it had arrived then.
 */
export async function storeObject(store: ImageStore, key: string, bytes: Buffer, dated?: { at: Date; folder: string }): Promise<void> {
  const written = await store.write({
    key,
    alternateKey: () => alternateKey(key, dated?.at ?? new Date()),
    body: (async function* () {
      yield await Promise.resolve(bytes);
    })(),
    contentType: mediaTypeForName(key)?.mediaType ?? 'application/octet-stream',
    metadata: {},
  });
  if (written.key !== key) throw new Error(`${key} was stored as ${written.key}`);
  if (dated) await utimes(path.join(dated.folder, key), dated.at, dated.at);
}
