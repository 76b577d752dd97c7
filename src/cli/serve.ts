import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImageReceiver } from '../core/receiver.js';
import { KeyTemplate } from '../core/object-key.js';
import type { ImageStore } from '../core/store.js';
import { createReceiverServer } from '../server/server.js';
import { GALLERY_ACCESS_FILE, GalleryAccess } from '../gallery/access.js';
import type { OpenedGalleryAccess } from '../gallery/access.js';
import { GALLERY_PATH } from '../gallery/plugin.js';
import type { GalleryOptions } from '../gallery/plugin.js';
import type { FastifyBaseLogger } from 'fastify';
import { DiskStore } from '../stores/disk.js';
import { defaultSpoolFolder, isLocalStore, storeFor } from '../stores/location.js';
import type { SpoolSettings } from '../stores/location.js';
import { DEFAULT_BACKOFF } from '../spool/forwarder.js';
import { defaultSpoolMaxBytes } from '../spool/spool.js';
import { SpooledStore } from '../spool/spooled-store.js';
import type { ConditionalWrites } from '../stores/s3.js';
import { TokenRegistry } from '../tokens/registry.js';
import { formatByteSize } from './sizes.js';

export interface ServeOptions {
  host: string;
  port: number;
  store: string;
  tokens: string;
  maxBytes: number;
  keyTemplate: string;
  recipientPath: string;
  tlsCert?: string;
  tlsKey?: string;
  logLevel: string;
  requestTimeout: number;
  shutdownTimeout: number;
  s3ConditionalWrites: ConditionalWrites;
  storeTimeout: number;
  maxInFlight: number;
  failedAuthLimit: number;
  trustProxy: boolean;
  retentionDays?: number;
  /** Disk store and spool: fsync each image before answering 2xx (on unless --no-fsync). */
  fsync?: boolean;
  /** S3 store: the spool folder, or false for none (--no-spool); unset, the default beside the registry. */
  spool?: string | false;
  /** Most bytes the spool holds; default a quarter of its filesystem's free space. */
  spoolMaxBytes?: number;
  forwardConcurrency: number;
  /** Seconds: the longest pause between forward attempts while the store is unreachable. */
  forwardMaxBackoff: number;
  /** The web gallery at /gallery (on unless --no-gallery). */
  gallery: boolean;
  galleryPassword?: string;
}

/** The camera name given to the token created on a first start. */
export const FIRST_CAMERA = 'camera-1';

/** Runs the receiver until SIGTERM or SIGINT, then drains in-flight uploads and exits 0. */
export async function serve(options: ServeOptions): Promise<void> {
  if (Boolean(options.tlsCert) !== Boolean(options.tlsKey)) {
    throw new Error('--tls-cert and --tls-key go together: give both, or neither for plain HTTP.');
  }
  const keyTemplate = new KeyTemplate(options.keyTemplate);
  const spool = await spoolFor(options);
  const store = storeFor({
    location: options.store,
    conditionalWrites: options.s3ConditionalWrites,
    timeoutMs: options.storeTimeout * 1000,
    ...(options.fsync === false && { fsync: false }),
    ...(spool && { spool }),
  });
  if (options.retentionDays !== undefined && !(store instanceof DiskStore)) {
    throw new Error('--retention-days applies to the disk store; for S3 use a lifecycle rule on the bucket (see the README).');
  }
  // Before any token is created: a store that cannot be opened must not use up the first one unseen.
  // (A spooled store opens its spool here; its remote store is opened by the forwarder, when reachable.)
  await store.open();
  const tokens = new TokenRegistry(options.tokens);
  const firstToken = (await tokens.list()).length === 0 ? await tokens.create(FIRST_CAMERA) : undefined;
  const gallery = options.gallery ? await galleryFor(options, tokens, store) : undefined;

  const receiver = new ImageReceiver({ tokens, store, keyTemplate, maxBytes: options.maxBytes });
  const tls = options.tlsCert && options.tlsKey ? { cert: await readFile(options.tlsCert), key: await readFile(options.tlsKey) } : undefined;
  const app = await createReceiverServer({
    receiver,
    store,
    recipientPath: options.recipientPath,
    log: { level: options.logLevel },
    timeouts: { requestMs: options.requestTimeout * 1000 },
    limits: { maxInFlight: options.maxInFlight, failedAuthPerMinute: options.failedAuthLimit },
    trustProxy: options.trustProxy,
    ...(tls && { tls }),
    ...(gallery && { gallery: gallery.options }),
  });
  // The forwarder's first attempt is under way; what it reports from now on goes to the receiver's log.
  if (store instanceof SpooledStore) store.forwarder.log = app.log;
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;

  const lines = [
    'images-to-s3 receiver is running.',
    `  store:       ${store.location}`,
    ...(store instanceof SpooledStore ? [`  spool:       ${spoolLine(store)}`] : []),
    `  tokens:      ${options.tokens}`,
    `  key layout:  ${keyTemplate.template}`,
    '  Recipient URL for the camera (Settings > System > Events > Recipients, type HTTP/HTTPS):',
    ...recipientUrls(options.host, port, options.recipientPath, Boolean(tls)).map((url) => `    ${url}`),
  ];
  if (firstToken) {
    lines.push(
      `  Created an access token for camera "${FIRST_CAMERA}". It is shown this once; the registry keeps only its hash.`,
      '  Custom CGI parameters for the camera\'s "Send images through HTTPS" action:',
      `    accessToken=${firstToken.token}`,
    );
  } else {
    lines.push('  Access tokens: see `images-to-s3 token list`; `images-to-s3 token create <camera>` adds one.');
  }
  if (gallery) lines.push(...galleryBanner(gallery, recipientUrls(options.host, port, GALLERY_PATH, Boolean(tls)), !tls && !isLoopback(options.host)));
  process.stdout.write(`${lines.join('\n')}\n`);
  if (store instanceof SpooledStore && store.recovery && (store.recovery.images > 0 || store.recovery.damaged.length > 0)) {
    const { images, bytes, damaged } = store.recovery;
    app.log.info({ images, bytes, damaged }, 'spool: images from before are being forwarded');
    if (damaged.length > 0) app.log.error({ damaged, folder: store.spool.folder }, 'spool: files that are not complete images were moved to the damaged folder');
  }
  const retention = options.retentionDays !== undefined && store instanceof DiskStore ? startRetention(store, options.retentionDays, app.log) : undefined;

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      app.log.info({ signal }, 'shutting down: no new uploads, finishing those in flight');
      const deadline = setTimeout(() => {
        app.log.warn({ timeoutSeconds: options.shutdownTimeout }, 'uploads still in flight at the shutdown deadline; closing their connections');
        app.server.closeAllConnections();
      }, options.shutdownTimeout * 1000);
      retention?.stop();
      void app
        .close()
        .then(() => store.close())
        .finally(() => {
          clearTimeout(deadline);
          resolve();
        });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/** The spool's settings: none for a local store or with --no-spool. */
async function spoolFor(options: ServeOptions): Promise<SpoolSettings | undefined> {
  if (isLocalStore(options.store)) {
    if (typeof options.spool === 'string') throw new Error('--spool applies to S3 stores: the disk store is local already.');
    return undefined;
  }
  if (options.spool === false) return undefined;
  const folder = path.resolve(options.spool ?? defaultSpoolFolder(options.tokens));
  const maxBytes = options.spoolMaxBytes ?? (await defaultSpoolMaxBytes(folder));
  return { folder, maxBytes, forwardConcurrency: options.forwardConcurrency, backoff: { ...DEFAULT_BACKOFF, maxMs: options.forwardMaxBackoff * 1000 } };
}

function spoolLine(store: SpooledStore): string {
  const { images } = store.spool.contents();
  const waiting = images > 0 ? `; ${images} images from before, being forwarded` : '';
  return `${store.spool.folder} (up to ${formatByteSize(store.spool.maxBytes)}${waiting})`;
}

/** Deletes images older than `days` now and every hour, in the background, one pass at a time. */
function startRetention(store: DiskStore, days: number, log: FastifyBaseLogger): { stop(): void } {
  let running: Promise<void> | undefined;
  const pass = (): void => {
    if (running) return;
    const cutoff = new Date(Date.now() - days * 24 * 60 * 60 * 1000);
    running = store
      .removeOlderThan(cutoff)
      .then(({ removed, bytes }) => {
        if (removed > 0) log.info({ removed, bytes, olderThan: cutoff.toISOString() }, 'retention removed old images');
      })
      .catch((error: unknown) => log.error({ err: error }, 'retention pass failed'))
      .finally(() => (running = undefined));
  };
  const first = setTimeout(pass, 5_000).unref();
  const hourly = setInterval(pass, 60 * 60 * 1000).unref();
  return {
    stop: () => {
      clearTimeout(first);
      clearInterval(hourly);
    },
  };
}

interface ServedGallery {
  options: GalleryOptions;
  access: OpenedGalleryAccess;
  file: string;
}

/**
 * The gallery's settings: its password and session secret in `gallery.json` beside the token
 * registry (so instances sharing the registry share sessions too), thumbnails cached in a folder
 * there, and the registry's cameras shown even before they send anything.
 */
async function galleryFor(options: ServeOptions, tokens: TokenRegistry, store: ImageStore): Promise<ServedGallery> {
  if (options.recipientPath === GALLERY_PATH || options.recipientPath.startsWith(`${GALLERY_PATH}/`)) {
    throw new Error(`--recipient-path cannot be inside ${GALLERY_PATH} while the gallery is on (--no-gallery turns it off).`);
  }
  const folder = path.dirname(options.tokens);
  const file = path.join(folder, GALLERY_ACCESS_FILE);
  const access = await GalleryAccess.open({ file, ...(options.galleryPassword !== undefined && { password: options.galleryPassword }) });
  return {
    file,
    access,
    options: {
      access: access.access,
      keyTemplate: options.keyTemplate,
      thumbnailCacheDir: path.join(folder, 'thumbnails'),
      knownCameras: async () => [...new Set((await tokens.list()).map((entry) => entry.camera))],
      ...(store instanceof SpooledStore && {
        waitingKeys: () => [...store.spool.waiting()].map((image) => image.key),
        storeNotice: () => store.listingNotice(),
      }),
    },
  };
}

/** The gallery's lines of the start-up banner. */
function galleryBanner(gallery: ServedGallery, urls: string[], warnPlainHttp: boolean): string[] {
  const lines = ['  Gallery, in a browser:', ...urls.map((url) => `    ${url}`)];
  if (gallery.access.generatedPassword !== undefined) {
    lines.push(`  Gallery password (shown this once; ${gallery.file} keeps only its hash):`, `    ${gallery.access.generatedPassword}`);
  } else if (gallery.access.source === 'option') {
    lines.push('  Gallery password: the one given with --gallery-password.');
  } else {
    lines.push(`  Gallery password: printed at the first start. Lost it? Set --gallery-password, or delete ${gallery.file} and restart for a new one.`);
  }
  if (warnPlainHttp) lines.push('  Over plain HTTP the password travels unencrypted: use --tls-cert/--tls-key, or an HTTPS proxy, beyond your own network.');
  return lines;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The URLs a camera on the network can reach, most useful first. */
function recipientUrls(host: string, port: number, recipientPath: string, tls: boolean): string[] {
  const scheme = tls ? 'https' : 'http';
  const wildcard = host === '0.0.0.0' || host === '::' || host === '';
  const hosts = wildcard
    ? [
        ...Object.values(os.networkInterfaces())
          .flat()
          .filter((entry) => entry !== undefined && entry.family === 'IPv4' && !entry.internal)
          .map((entry) => entry!.address),
        '127.0.0.1',
      ]
    : [host.includes(':') ? `[${host}]` : host];
  return hosts.map((name) => `${scheme}://${name}:${port}${recipientPath}`);
}
