import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { formatBytes } from '../core/byte-size.js';
import { ImageReceiver } from '../core/receiver.js';
import { KeyTemplate } from '../core/object-key.js';
import type { ImageStore } from '../core/store.js';
import { createReceiverServer, tokenInPath } from '../server/server.js';
import { GalleryAccess } from '../gallery/access.js';
import type { OpenedGalleryAccess } from '../gallery/access.js';
import { GALLERY_PATH, galleryPlugin } from '../gallery/plugin.js';
import type { GalleryOptions } from '../gallery/plugin.js';
import type { FastifyBaseLogger } from 'fastify';
import { DiskStore } from '../stores/disk.js';
import { isLocalStore, storeFor } from '../stores/location.js';
import { describeS3Connection } from '../stores/s3-location.js';
import type { SpoolSettings } from '../stores/location.js';
import { DEFAULT_BACKOFF } from '../spool/forwarder.js';
import { adoptWorkerSpools, defaultSpoolMaxBytes } from '../spool/spool.js';
import { workerFolder } from '../files/worker-folders.js';
import { SpooledStore } from '../spool/spooled-store.js';
import type { ConditionalWrites } from '../stores/s3.js';
import { TokenRegistry } from '../tokens/registry.js';
import type { CreatedToken, RegistryTrouble } from '../tokens/registry.js';
import { DocumentUnreachableError } from '../state/document.js';
import type { SharedDocument } from '../state/document.js';
import { FileDocument } from '../state/file-document.js';
import { LocallyCopiedDocument } from '../state/local-copy.js';
import { adoptEarlierDocument, stateFor } from '../state/location.js';
import type { ReceiverState } from '../state/location.js';
import { hostReach } from '../camera/reachability.js';
import { CameraLogin } from '../file-transfer/camera-login.js';
import { FailedAuthLimiter } from '../server/failed-auth-limiter.js';
import { NotifyingStore } from '../events/notifying-store.js';
import { ImageCatalog } from '../gallery/catalog.js';
import { GalleryLayout } from '../gallery/layout.js';
import { ReceiverEvents, deliverLeftOutboxes, outboxFolder } from './events.js';
import type { EventOptions } from './events.js';
import { ReceiverMetrics } from '../server/metrics.js';
import { checkFtpOptions, ftpBanner, startFtp } from '../ftp/start.js';
import type { FtpOptions } from '../ftp/start.js';
import type { SpooledImageFacts, WorkerRole } from './worker-bus.js';
import type { SpooledImage } from '../spool/spool.js';

/** `serve`'s options; the FTP receiver's (`--ftp-*`) are described in src/ftp/start.ts, the events' in src/cli/events.ts. */
export interface ServeOptions extends FtpOptions, EventOptions {
  /** Processes taking uploads (see ./workers.ts). */
  workers: number;
  host: string;
  port: number;
  store: string;
  /** `--tokens`: where the registry is, when not beside the images (see stateFor). */
  tokens?: string;
  maxBytes: number;
  maxClipBytes: number;
  keyTemplate: string;
  recipientPath: string;
  /** --tls-cert, repeatable: a second one of another key type (ECDSA beside RSA). */
  tlsCert: string[];
  /** --tls-key, one per --tls-cert, in the same order. */
  tlsKey: string[];
  logLevel: string;
  requestTimeout: number;
  /** Seconds: the longest a clip upload may take to arrive (`requestTimeout` is the images'). */
  clipTimeout: number;
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
  /** The SFTP receiver's port; unset, there is none. */
  sftpPort?: number;
  /** Where the SFTP receiver listens; unset, `host`. */
  sftpHost?: string;
  /** SFTP connections at once. */
  sftpMaxSessions: number;
  /** Seconds an SFTP session may stay without a request before it is closed. */
  sftpIdleTimeout: number;
  /** Present only the RSA host key (for clients that would pick the Ed25519 one while the RSA one is pinned). */
  sftpRsaOnly?: boolean;
}

/** S3 takes at most 5 GiB in one PutObject, which is how the forwarder sends a spooled file. */
const MAX_SPOOLED_FILE_BYTES = 5 * 1024 ** 3;

/** The camera name given to the token created on a first start. */
export const FIRST_CAMERA = 'camera-1';

/**
 * Runs the receiver until SIGTERM or SIGINT, then drains in-flight uploads and exits 0.
 *
 * As a worker of `serve --workers` (see ./workers.ts), every worker takes HTTP uploads and serves
 * the gallery, with a spool and an event outbox of its own (see src/files/worker-folders.ts); worker 1, the
 * lead, also checks the options, makes the first token, prints the banner and runs what must run
 * once: SFTP, FTP, retention and silence alerts.
 */
export async function serve(options: ServeOptions, worker?: WorkerRole): Promise<void> {
  const lead = worker === undefined || worker.index === 1;
  // The others start once the lead serves; a restarted one finds the port shared already.
  const firstStart = lead && worker?.restarted !== true;
  const keyTemplate = new KeyTemplate(options.keyTemplate);
  // Everything that can stop the server from serving is checked before the first token and the
  // gallery password are made: they are shown once, in the banner of a start that succeeds.
  const tls = await tlsFor(options);
  checkFtpOptions(options, tls !== undefined);
  if (firstStart) await checkAddressFree(options.host, options.port);
  const ftpPort = lead ? options.ftpPort : undefined;
  const sftpPort = lead ? options.sftpPort : undefined;
  if (ftpPort !== undefined) await checkAddressFree(options.host, ftpPort, FTP_ADDRESS_OPTIONS);
  const sftpHost = options.sftpHost ?? options.host;
  if (sftpPort !== undefined) await checkAddressFree(sftpHost, sftpPort, SFTP_ADDRESS_OPTIONS);
  const state = await stateFor(options);
  const events = await ReceiverEvents.fromOptions(options, workerFolder(outboxFolder(state.localFolder), worker?.index));
  const spool = await spoolFor(options, state, worker);
  if (spool && options.maxClipBytes > MAX_SPOOLED_FILE_BYTES) {
    throw new Error(
      `--max-clip-bytes ${formatBytes(options.maxClipBytes)} is more than the spool can forward: a spooled file goes to S3 in one PutObject, at most ${formatBytes(MAX_SPOOLED_FILE_BYTES)}. Lower it, or use --no-spool.`,
    );
  }
  const store = storeFor({
    location: options.store,
    conditionalWrites: options.s3ConditionalWrites,
    timeoutMs: options.storeTimeout * 1000,
    ...(options.fsync === false && { fsync: false }),
    ...(spool && { spool }),
    ...(events && { observe: (images: ImageStore) => events.observe(images) }),
  });
  const disk = [store, store instanceof NotifyingStore ? store.inner : undefined].find((candidate) => candidate instanceof DiskStore);
  if (options.retentionDays !== undefined && disk === undefined) {
    throw new Error('--retention-days applies to the disk store; for S3 use a lifecycle rule on the bucket (see the README).');
  }
  // Before any token is created: a store that cannot be opened must not use up the first one unseen.
  // (A spooled store opens its spool here; its remote store is opened by the forwarder, when reachable.)
  // The outbox first: a spool forwards what it holds from before at once, and each forwarded image is an event.
  await events?.open();
  if (spool && lead) await adoptWorkerSpools(spool.folder, worker?.count ?? 1);
  await store.open().catch((error: unknown) => {
    if (isLocalStore(options.store)) throw error;
    throw new Error(`Cannot open the store ${store.location} (${describeS3Connection()}): ${(error as Error).message}`, { cause: error });
  });
  // Loaded only with --sftp-port, in the lead: ssh2 and its native crypto cost every other worker memory for nothing.
  const sftpParts =
    sftpPort === undefined ? undefined : await Promise.all([import('../sftp/describe.js'), import('../sftp/host-keys.js'), import('../sftp/server.js')]);
  const hostKeys = sftpParts && (await sftpParts[1].openHostKeys(locallyCopied(state, state.sftpHostKeys, 'sftp-host-keys.copy.json')));
  const shared = await sharedState(state, lead);
  const tokens = shared.tokens;
  const news = worker && workerNews(worker, store);
  const storedListeners: Array<(keys: readonly string[]) => void> = [];
  const gallery = options.gallery ? await galleryFor(options, state, tokens, store, (listener) => storedListeners.push(listener)) : undefined;
  if (news) news.stored = (keys) => storedListeners.forEach((listener) => listener(keys));
  if (events && lead) {
    // Lists reused for at most a quarter of the grace: a list older than the grace would make a camera that sends look silent.
    const graceMs = options.silenceGrace * 1000;
    const catalog = new ImageCatalog({ store, layout: new GalleryLayout(options.keyTemplate), silenceGraceMs: graceMs, freshMs: Math.min(2_000, graceMs / 4) });
    events.watchSilence(store, () => catalog.summaries(), graceMs);
  }
  const receiver = new ImageReceiver({
    tokens,
    store,
    keyTemplate,
    maxBytes: options.maxBytes,
    maxClipBytes: options.maxClipBytes,
    ...(gallery && {
      stored: (key: string) => {
        storedListeners.forEach((listener) => listener([key]));
        worker?.bus.tell({ kind: 'stored', keys: [key] });
      },
    }),
  });
  const metrics = new ReceiverMetrics();
  const failedAuth = new FailedAuthLimiter(options.failedAuthLimit);
  if (worker) {
    // The primary sums every worker's metrics; a failed log-in counts on every worker.
    worker.bus.serveMetrics(metrics.registry);
    failedAuth.onFailure = (address) => worker.bus.tell({ kind: 'auth-failure', address });
    news!.failedAuth = (address) => failedAuth.count(address);
  }
  const app = await createReceiverServer({
    receiver,
    store,
    metrics,
    failedAuth,
    recipientPath: options.recipientPath,
    log: { level: options.logLevel },
    timeouts: { requestMs: options.requestTimeout * 1000, clipRequestMs: options.clipTimeout * 1000 },
    limits: { maxInFlight: options.maxInFlight, failedAuthPerMinute: options.failedAuthLimit },
    trustProxy: options.trustProxy,
    ...(tls && { tls }),
    ...(worker && {
      metricsText: () => worker.bus.metrics(),
      starting: () => (worker.bus.everyWorkerReady ? undefined : `Starting: not all ${worker.count} workers serve yet.`),
    }),
  });
  if (gallery) await app.register(galleryPlugin, { prefix: GALLERY_PATH, store, recipientPath: options.recipientPath, ...gallery.options });
  // The forwarder's first attempt is under way; what it reports from now on goes to the receiver's log.
  if (store instanceof SpooledStore) store.forwarder.log = app.log;
  if (events) {
    events.log.attach(app.log);
    events.readImagesFrom(store);
    metrics.watchEvents(() => events.outbox.report());
  }
  const leftOutboxes = events && lead ? await deliverLeftOutboxes(options, outboxFolder(state.localFolder), worker?.count ?? 1, app.log, store) : undefined;
  const watch = await tokens.watch(registryTroubleLogger(app.log, tokens.location));
  const galleryWatch = gallery?.access.access.watch(tokens.recheckMs, (error) =>
    app.log.warn({ err: error, document: gallery.location }, 'gallery: cannot read its access document; the password and sessions read before stay valid'),
  );
  await app.listen({ host: options.host, port: options.port }).catch((error: unknown) => {
    throw listenError(error, options.host, options.port);
  });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  // File transfers (SFTP, FTP) log cameras in by name and token; failed log-ins and token checks
  // from one address add up across HTTP, SFTP and FTP, and every way in counts into one /metrics.
  const fileTransferLogin = new CameraLogin(tokens, failedAuth);
  const sftp =
    sftpParts &&
    hostKeys &&
    (await sftpParts[2].SftpServer.start({
      host: sftpHost,
      port: sftpPort!,
      receiver,
      login: fileTransferLogin,
      hostKeys: sftpParts[0].presentedKeys(hostKeys.keys, options.sftpRsaOnly === true),
      holdFolder: path.join(state.localFolder, 'sftp-held'),
      log: app.log,
      metrics,
      limits: { maxSessions: options.sftpMaxSessions, idleMs: options.sftpIdleTimeout * 1000 },
    }).catch(async (error: unknown) => {
      // The HTTP server listens already: close it, or the process would go on without SFTP.
      await app.close();
      throw listenError(error, sftpHost, sftpPort!, SFTP_ADDRESS_OPTIONS);
    }));
  const ftpParts = { host: options.host, receiver, login: fileTransferLogin, tls, holdFolder: path.join(state.localFolder, 'ftp-held'), log: app.log, metrics };
  const ftp = await startFtp({ ...options, ftpPort }, ftpParts).catch(async (error: unknown) => {
    await Promise.all([app.close(), sftp?.close()]);
    throw listenError(error, options.host, options.ftpPort!, FTP_ADDRESS_OPTIONS);
  });

  const lines = [
    'images-to-s3 receiver is running.',
    `  store:       ${store.location}${isLocalStore(options.store) ? '' : ` (${describeS3Connection()})`}`,
    ...(store instanceof SpooledStore ? [`  spool:       ${spoolLine(store, worker?.count ?? 1)}`] : []),
    `  tokens:      ${tokens.location}`,
    ...shared.banner.map((line) => `  ${line}`),
    ...(events ? [events.bannerLine()] : []),
    `  key layout:  ${keyTemplate.template}`,
    '  Recipient URL for the camera (Settings > System > Events > Recipients, type HTTP/HTTPS):',
    ...recipientUrls(options.host, port, options.recipientPath, Boolean(tls)).map((url) => `    ${url}`),
  ];
  if (hostReach(options.host) === 'loopback') {
    lines.push(`  Note: --host ${options.host} listens on this machine only; no camera can reach it. Use --host 0.0.0.0, or this machine's address on the cameras' network.`);
  }
  const { firstToken } = shared;
  if (firstToken) {
    lines.push(
      `  Created an access token for camera "${FIRST_CAMERA}". It is shown this once; the registry keeps only its hash.`,
      '  Custom CGI parameters for the camera\'s "Send images through HTTPS" action:',
      `    accessToken=${firstToken.token}`,
      '  Cameras whose URL setting takes a path only (Hikvision, Dahua): the token in the path:',
      `    ${tokenInPath(options.recipientPath, firstToken.token)}`,
    );
  } else {
    lines.push('  Access tokens: see `images-to-s3 token list`; `images-to-s3 token create <camera>` adds one.');
  }
  if (gallery) lines.push(...galleryBanner(gallery, recipientUrls(options.host, port, GALLERY_PATH, Boolean(tls)), !tls && hostReach(options.host) !== 'loopback'));
  if (ftp) lines.push(...ftpBanner(ftp, options, recipientUrls(options.host, ftp.port, '/', false, 'ftp')));
  if (sftpParts && sftp && hostKeys) {
    const [{ presentedKeys, sftpBannerLines }] = sftpParts;
    lines.push(...sftpBannerLines(recipientUrls(sftpHost, sftp.port, '/', false, 'sftp'), hostKeys, presentedKeys(hostKeys.keys, options.sftpRsaOnly === true)));
  }
  if (firstStart) process.stdout.write(`${lines.join('\n')}\n`);
  if (store instanceof SpooledStore && store.recovery && (store.recovery.images > 0 || store.recovery.damaged.length > 0)) {
    const { images, bytes, damaged } = store.recovery;
    app.log.info({ images, bytes, damaged }, 'spool: images from before are being forwarded');
    if (damaged.length > 0) app.log.error({ damaged, folder: store.spool.folder }, 'spool: files that are not complete images were moved to the damaged folder');
  }
  worker?.bus.ready();
  const retention = lead && options.retentionDays !== undefined && disk instanceof DiskStore ? startRetention(disk, options.retentionDays, app.log) : undefined;

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      app.log.info({ signal }, 'shutting down: no new uploads, finishing those in flight');
      const deadline = setTimeout(() => {
        app.log.warn({ timeoutSeconds: options.shutdownTimeout }, 'uploads still in flight at the shutdown deadline; closing their connections');
        app.server.closeAllConnections();
        sftp?.destroy();
        ftp?.destroy();
      }, options.shutdownTimeout * 1000);
      retention?.stop();
      watch.stop();
      galleryWatch?.stop();
      void Promise.all([app.close(), sftp?.close(), ftp?.close()])
        .then(() => store.close())
        .then(() => Promise.all([events?.close(), leftOutboxes?.close()]))
        .finally(() => {
          clearTimeout(deadline);
          resolve();
        });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // The primary of --workers asks every worker to stop on its SIGTERM or SIGINT.
    worker?.bus.onStop(() => stop('SIGTERM'));
  });
}

/**
 * The certificates and keys of --tls-cert/--tls-key, read and checked to go together pair by pair,
 * and to be of different key types; errors name the options.
 */
async function tlsFor(options: ServeOptions): Promise<{ cert: Buffer[]; key: Buffer[] } | undefined> {
  if (options.tlsCert.length !== options.tlsKey.length) {
    throw new Error('--tls-cert and --tls-key go together, one key per certificate in the same order: give both, or neither for plain HTTP.');
  }
  if (options.tlsCert.length === 0) return undefined;
  const read = (option: string, file: string): Promise<Buffer> =>
    readFile(file).catch((error: unknown) => {
      throw new Error(`${option} ${file}: cannot read it (${(error as Error).message}).`, { cause: error });
    });
  const tls: { cert: Buffer[]; key: Buffer[] } = { cert: [], key: [] };
  const keyTypes = new Map<string, string>();
  for (const [n, certFile] of options.tlsCert.entries()) {
    const keyFile = options.tlsKey[n]!;
    const pair = { cert: await read('--tls-cert', certFile), key: await read('--tls-key', keyFile) };
    try {
      createSecureContext(pair);
    } catch (error) {
      throw new Error(`--tls-cert ${certFile} and --tls-key ${keyFile}: not a PEM certificate and its private key (${(error as Error).message}).`, { cause: error });
    }
    // TLS offers one certificate per key type: a second RSA one would silently replace the first.
    const keyType = new X509Certificate(pair.cert).publicKey.asymmetricKeyType ?? 'unknown';
    const earlier = keyTypes.get(keyType);
    if (earlier !== undefined) throw new Error(`--tls-cert ${earlier} and ${certFile} both have ${keyType.toUpperCase()} keys: a second certificate must have another key type (an ECDSA one beside RSA).`);
    keyTypes.set(keyType, certFile);
    tls.cert.push(pair.cert);
    tls.key.push(pair.key);
  }
  return tls;
}

/** The options that set an address, as an error about it names them. */
interface AddressOptions {
  host: string;
  port: string;
}

const HTTP_ADDRESS_OPTIONS: AddressOptions = { host: '--host', port: '--port' };
const SFTP_ADDRESS_OPTIONS: AddressOptions = { host: '--sftp-host', port: '--sftp-port' };
const FTP_ADDRESS_OPTIONS: AddressOptions = { host: '--host', port: '--ftp-port' };

/** Fails, naming --host/--port (or `names`), when the address cannot be listened on; the port is left free again. */
async function checkAddressFree(host: string, port: number, names = HTTP_ADDRESS_OPTIONS): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error) => reject(listenError(error, host, port, names)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** A listen error in the words of the options that caused it. */
function listenError(error: unknown, host: string, port: number, names = HTTP_ADDRESS_OPTIONS): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = `${names.host} ${host} ${names.port} ${port}`;
  const advice: Record<string, string> = {
    EADDRINUSE: `another program (or another receiver) listens there already: choose another ${names.port}, or stop it`,
    EACCES: `ports below 1024 need privileges: choose a ${names.port} of 1024 or more (and forward to it), or grant the capability`,
    EADDRNOTAVAIL: `${names.host} is not an address of this machine: use one of its addresses, or 0.0.0.0 for all`,
  };
  return new Error(`Cannot listen on ${where} (${code ?? String(error)}): ${advice[code ?? ''] ?? 'see the error code'}.`, { cause: error });
}

/** The spool's settings: none for a local store or with --no-spool. Workers share out the space. */
async function spoolFor(options: ServeOptions, state: ReceiverState, worker: WorkerRole | undefined): Promise<SpoolSettings | undefined> {
  if (isLocalStore(options.store)) {
    if (typeof options.spool === 'string') throw new Error('--spool applies to S3 stores: the disk store is local already.');
    return undefined;
  }
  if (options.spool === false) return undefined;
  const shared = path.resolve(options.spool ?? path.join(state.localFolder, 'spool'));
  const folder = workerFolder(shared, worker?.index);
  const maxBytes = Math.floor((options.spoolMaxBytes ?? (await defaultSpoolMaxBytes(shared))) / (worker?.count ?? 1));
  return { folder, maxBytes, forwardConcurrency: options.forwardConcurrency, backoff: { ...DEFAULT_BACKOFF, maxMs: options.forwardMaxBackoff * 1000 } };
}

function spoolLine(store: SpooledStore, workers: number): string {
  const { images } = store.spool.contents();
  const waiting = images > 0 ? `; ${images} images from before, being forwarded` : '';
  const shares = workers > 1 ? `, shared out among ${workers} workers` : '';
  return `${store.spool.folder} (up to ${formatBytes(store.spool.maxBytes * workers)}${shares}${waiting})`;
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
  location: string;
}

/**
 * The gallery's settings: its password hash and session secret in the access document beside the
 * token registry (so receivers sharing the registry share sessions too, and a password changed
 * with `images-to-s3 gallery password` ends them on all), thumbnails cached in this receiver's own
 * folder, and the registry's cameras shown even before they send anything.
 */
async function galleryFor(
  options: ServeOptions,
  state: ReceiverState,
  tokens: TokenRegistry,
  store: ImageStore,
  storedKeys: (listener: (keys: readonly string[]) => void) => void,
): Promise<ServedGallery> {
  if (options.recipientPath === GALLERY_PATH || options.recipientPath.startsWith(`${GALLERY_PATH}/`)) {
    throw new Error(`--recipient-path cannot be inside ${GALLERY_PATH} while the gallery is on (--no-gallery turns it off).`);
  }
  const document = locallyCopied(state, state.gallery, 'gallery.copy.json');
  const access = await GalleryAccess.open({ document, ...(options.galleryPassword !== undefined && { password: options.galleryPassword }) });
  return {
    location: document.location,
    access,
    options: {
      access: access.access,
      keyTemplate: options.keyTemplate,
      thumbnailCacheDir: path.join(state.localFolder, 'thumbnails'),
      knownCameras: () => tokens.cameras(),
      silenceGraceMs: options.silenceGrace * 1000,
      storedKeys,
      ...(store instanceof SpooledStore && {
        waitingKeys: () => [...store.waiting()].map((image) => image.key),
        storeNotice: () => store.listingNotice(),
      }),
    },
  };
}

/** Where what the other workers tell goes (see {@link workerNews}). */
interface WorkerNewsRouter {
  failedAuth: (address: string) => void;
  stored: (keys: readonly string[]) => void;
}

/**
 * Tells the other workers of what this one's spool takes and removes, and routes what they tell:
 * their spools' images into this one's view of them, failed log-ins and stored keys to what
 * {@link WorkerNewsRouter} is given (the limiter, the gallery).
 */
function workerNews(worker: WorkerRole, store: ImageStore): WorkerNewsRouter {
  const router: WorkerNewsRouter = { failedAuth: () => {}, stored: () => {} };
  const spooled = store instanceof SpooledStore ? store : undefined;
  if (spooled) {
    // What it held from before first: the others count it (/readyz) and list it (the gallery).
    for (const image of spooled.spool.waiting()) worker.bus.tell({ kind: 'spooled', image: spooledFacts(image) });
    spooled.spool.observer = {
      added: (image) => worker.bus.tell({ kind: 'spooled', image: spooledFacts(image) }),
      removed: (image) => worker.bus.tell({ kind: 'unspooled', file: image.file }),
    };
  }
  worker.bus.listen((news) => {
    if (news.kind === 'auth-failure') router.failedAuth(news.address);
    else if (news.kind === 'stored') router.stored(news.keys);
    else if (news.kind === 'spooled') spooled?.sibling({ added: { ...news.image, receivedAt: new Date(news.image.receivedAt) } });
    else spooled?.sibling({ removed: news.file });
  });
  return router;
}

function spooledFacts(image: SpooledImage): SpooledImageFacts {
  return { ...image, metadata: { ...image.metadata }, receivedAt: image.receivedAt.toISOString() };
}

/** A remote document with a copy in this receiver's folder, read when the remote cannot be at start; a local one as it is. */
function locallyCopied(state: ReceiverState, document: SharedDocument, copyName: string): SharedDocument {
  return document instanceof FileDocument ? document : new LocallyCopiedDocument(document, path.join(state.localFolder, copyName));
}

interface SharedState {
  tokens: TokenRegistry;
  /** The token made for {@link FIRST_CAMERA} when the registry had none. */
  firstToken?: CreatedToken;
  /** Lines for the start-up banner about where the shared state is. */
  banner: string[];
}

/**
 * The token registry (with its first token when it had none), after adopting the files an earlier
 * release kept in the working directory. A registry that cannot be reached does not stop the
 * receiver: its spool takes images, and tokens count once the registry (or the copy of it kept
 * here) can be read.
 */
async function sharedState(state: ReceiverState, lead: boolean): Promise<SharedState> {
  const banner: string[] = [];
  const unreachable = (error: unknown): undefined => {
    if (!(error instanceof DocumentUnreachableError)) throw error;
    return undefined;
  };
  if (state.earlierFiles && lead) {
    const earlier: Array<[SharedDocument, string]> = [
      [state.tokens, state.earlierFiles.tokens],
      [state.gallery, state.earlierFiles.gallery],
    ];
    for (const [document, file] of earlier) {
      if (await adoptEarlierDocument(document, file).catch(unreachable)) banner.push(`moved ${file} to ${document.location}, where every receiver on this store reads it; the file is no longer used`);
    }
  }
  // The AWS stack's secret holds its shared token in clear: no copy of it is written here.
  const document = state.sharedTokenCamera === undefined ? locallyCopied(state, state.tokens, 'tokens.copy.json') : state.tokens;
  const tokens = new TokenRegistry(document, state.sharedTokenCamera === undefined ? {} : { sharedTokenCamera: state.sharedTokenCamera });
  const firstToken = lead ? await tokens.createFirst(FIRST_CAMERA).catch(unreachable) : undefined;
  if (document instanceof LocallyCopiedDocument && document.fromCopy) banner.push(`the registry cannot be reached: tokens as last read, from ${document.file}`);
  return { tokens, banner, ...(firstToken && { firstToken }) };
}

/** Logs a registry that cannot be read once when it starts and once when it ends, not every second. */
function registryTroubleLogger(log: FastifyBaseLogger, registry: string): (trouble: RegistryTrouble | undefined) => void {
  let previous: string | undefined;
  return (trouble) => {
    const message = trouble?.error.message;
    if (message === previous) return;
    previous = message;
    if (trouble === undefined) log.info({ registry }, 'token registry: read again');
    else if (trouble.usingLastRead) log.warn({ registry, err: trouble.error }, 'token registry: cannot be read; the tokens read last stay in force');
    else log.error({ registry, err: trouble.error }, 'token registry: cannot be read; uploads are refused until it can');
  };
}

/** The gallery's lines of the start-up banner. */
function galleryBanner(gallery: ServedGallery, urls: string[], warnPlainHttp: boolean): string[] {
  const lines = ['  Gallery, in a browser:', ...urls.map((url) => `    ${url}`)];
  if (gallery.access.generatedPassword !== undefined) {
    lines.push(`  Gallery password (shown this once; ${gallery.location} keeps only its hash):`, `    ${gallery.access.generatedPassword}`);
  } else if (gallery.access.source === 'option') {
    lines.push('  Gallery password: the one given with --gallery-password.');
  } else {
    lines.push('  Gallery password: printed at the first start. Lost it? `images-to-s3 gallery password` sets a new one (with the same --store/--tokens).');
  }
  if (warnPlainHttp) lines.push('  Over plain HTTP the password travels unencrypted: use --tls-cert/--tls-key, or an HTTPS proxy, beyond your own network.');
  return lines;
}

/** The URLs a camera on the network can reach, most useful first. */
function recipientUrls(host: string, port: number, recipientPath: string, tls: boolean, scheme = tls ? 'https' : 'http'): string[] {
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
