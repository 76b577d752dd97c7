/**
 * `serve`'s events: the sinks its options name (webhooks, an MQTT broker), the outbox they deliver
 * from, the store wrapper that writes `image.stored`, and the watcher of silent cameras.
 *
 * @module
 */
import { readFile, rm } from 'node:fs/promises';
import { leftWorkerFolders } from '../files/worker-folders.js';
import path from 'node:path';
import type { ImageStore } from '../core/store.js';
import { eventSource } from '../events/cloud-event.js';
import { NotifyingStore } from '../events/notifying-store.js';
import type { OutboxLog } from '../events/outbox.js';
import { OutboxThread } from '../events/outbox-thread.js';
import { SilenceWatcher } from '../events/silence.js';
import type { CameraActivity } from '../events/silence.js';
import type { SinkSettings } from '../events/sinks.js';

export interface EventOptions {
  webhook: string[];
  webhookSecret?: string;
  mqtt?: string;
  mqttUsername?: string;
  mqttPassword?: string;
  mqttTopicPrefix: string;
  mqttImage?: boolean;
  mqttCa?: string;
  mqttDiscovery: boolean;
  /** Hours. */
  eventMaxAge: number;
  /** Seconds. */
  silenceGrace: number;
  fsync?: boolean;
}

/** Largest image read to make the thumbnail an MQTT broker gets. */
const MAX_THUMBNAIL_SOURCE_BYTES = 64 * 1024 * 1024;

/** The receiver's events, when any sink is configured. */
export class ReceiverEvents {
  private watcher: SilenceWatcher | undefined;

  private constructor(
    readonly outbox: OutboxThread,
    readonly log: HeldLog,
    private readonly images: { store?: ImageStore },
  ) {}

  /**
   * The sinks the options name, checked (a setting that can never work fails here, before the
   * receiver makes anything), and their outbox in `folder`; undefined without sinks.
   */
  static async fromOptions(options: EventOptions, folder: string): Promise<ReceiverEvents | undefined> {
    const sinks: SinkSettings[] = [];
    if (options.webhook.length > 0) {
      if (options.webhookSecret === undefined) {
        throw new Error('--webhook needs --webhook-secret (or IMAGES_TO_S3_WEBHOOK_SECRET): the secret webhooks are signed with. Make one: echo "whsec_$(openssl rand -base64 32)", and give the receiving side the same.');
      }
      for (const url of options.webhook) sinks.push({ kind: 'webhook', url, secret: options.webhookSecret });
    } else if (options.webhookSecret !== undefined) {
      throw new Error('--webhook-secret is set but no --webhook: give the URL events go to.');
    }
    if (options.mqtt !== undefined) {
      const ca = options.mqttCa === undefined ? undefined : await readFile(options.mqttCa).catch((error: unknown) => {
        throw new Error(`--mqtt-ca ${options.mqttCa}: cannot read it (${(error as Error).message}).`, { cause: error });
      });
      sinks.push({
        kind: 'mqtt',
        url: options.mqtt,
        topicPrefix: options.mqttTopicPrefix,
        discoveryPrefix: options.mqttDiscovery ? 'homeassistant' : false,
        images: options.mqttImage === true,
        ...(options.mqttUsername !== undefined && { username: options.mqttUsername }),
        ...(options.mqttPassword !== undefined && { password: options.mqttPassword }),
        ...(ca && { ca }),
      });
    }
    if (sinks.length === 0) return undefined;
    // Loaded only with sinks: the MQTT client costs every worker memory otherwise.
    const { sinkFrom } = await import('../events/sinks.js');
    // Made here once to check the settings (a setting that can never work stops the start) and to learn their names.
    const names = sinks.map((settings) => sinkFrom(settings, undefined, undefined).name);
    const log = new HeldLog();
    const images: { store?: ImageStore } = {};
    const outbox = new OutboxThread(
      { folder, sinks, fsync: options.fsync !== false, maxAgeMs: options.eventMaxAge * 60 * 60 * 1000 },
      names,
      log,
      { read: (key) => readImage(images.store, key) },
    );
    return new ReceiverEvents(outbox, log, images);
  }

  /** The store that holds the images, writing `image.stored` for each (for storeFor's `observe`). */
  observe(store: ImageStore): ImageStore {
    return new NotifyingStore(store, this.outbox, (error, event) =>
      this.log.error({ err: error, key: event.data.key, id: event.id }, 'events: the image was stored but its image.stored event could not be written to the outbox; no sink will hear of it'),
    );
  }

  /** Opens the outbox (before the store, whose spool may forward images at once) and starts delivering. */
  async open(): Promise<void> {
    await this.outbox.open();
  }

  /** The store MQTT's image thumbnails are read from (as the gallery sees it). */
  readImagesFrom(images: ImageStore): void {
    this.images.store = images;
  }

  /** Starts telling of cameras that go silent and come back, looking at the store `images` (as the gallery sees it). */
  watchSilence(images: ImageStore, cameras: () => Promise<CameraActivity[]>, graceMs: number): void {
    this.images.store = images;
    this.watcher = new SilenceWatcher({ cameras, outbox: this.outbox, source: eventSource(images.location), everyMs: Math.min(30_000, Math.max(500, graceMs / 2)), log: this.log });
    this.watcher.start();
  }

  /** The banner's line. */
  bannerLine(): string {
    return `  events:      ${this.outbox.sinkNames.join(', ')} (outbox ${this.outbox.folder})`;
  }

  async close(): Promise<void> {
    await this.watcher?.stop();
    await this.outbox.close();
  }
}

/** An image's bytes, for the thumbnail an MQTT broker gets. */
async function readImage(store: ImageStore | undefined, key: string): Promise<Uint8Array | undefined> {
  const object = await store?.read(key);
  if (object === undefined) return undefined;
  if (object.size > MAX_THUMBNAIL_SOURCE_BYTES) throw new Error(`${key} is ${object.size} bytes, more than a thumbnail is made from`);
  const chunks: Uint8Array[] = [];
  for await (const chunk of object.body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A log that holds what it is told until the receiver's logger exists, then passes it on. */
class HeldLog implements OutboxLog {
  private target: OutboxLog | undefined;
  private held: Array<{ level: 'info' | 'warn' | 'error'; facts: object; message: string }> = [];
  attach(target: OutboxLog): void {
    this.target = target;
    for (const { level, facts, message } of this.held) target[level](facts, message);
    this.held = [];
  }

  info(facts: object, message: string): void {
    this.say('info', facts, message);
  }

  warn(facts: object, message: string): void {
    this.say('warn', facts, message);
  }

  error(facts: object, message: string): void {
    this.say('error', facts, message);
  }

  private say(level: 'info' | 'warn' | 'error', facts: object, message: string): void {
    if (this.target) this.target[level](facts, message);
    else this.held.push({ level, facts, message });
  }
}

/** The outbox's folder: this receiver's own (each receiver of a fleet delivers what it stored). */
/**
 * `serve --workers`: the outboxes that workers beyond `workers` left in `folder` (each worker K > 1
 * keeps its own in `folder/worker-K`; the receiver ran with more workers before) are delivered
 * from, each as its worker would have, in the background; one is removed once no sink waits for
 * any of its events. Resolves once they are open; `close` stops what is still delivering (the rest
 * is delivered after the next start).
 */
export async function deliverLeftOutboxes(options: EventOptions, folder: string, workers: number, log: OutboxLog, images: ImageStore): Promise<{ close(): Promise<void> }> {
  const left: Array<{ events: ReceiverEvents; folder: string }> = [];
  for (const leftFolder of await leftWorkerFolders(folder, workers)) {
    const events = await ReceiverEvents.fromOptions(options, leftFolder);
    // No sink any more: nothing would deliver them; they stay, for a start with sinks.
    if (!events) continue;
    events.log.attach(log);
    events.readImagesFrom(images);
    await events.open();
    left.push({ events, folder: leftFolder });
  }
  const check = setInterval(() => {
    for (const outbox of [...left]) {
      if (!outbox.events.outbox.reported || outbox.events.outbox.report().some((sink) => sink.pending > 0)) continue;
      left.splice(left.indexOf(outbox), 1);
      void outbox.events
        .close()
        .then(() => rm(outbox.folder, { recursive: true, force: true }))
        .then(() => log.info({ folder: outbox.folder }, 'events: delivered the outbox of a worker that no longer runs, and removed it'))
        .catch((error: unknown) => log.error({ err: error, folder: outbox.folder }, 'events: cannot close the outbox of a worker that no longer runs'));
    }
    if (left.length === 0) clearInterval(check);
  }, 1_000).unref();
  return {
    close: async () => {
      clearInterval(check);
      await Promise.all(left.map((outbox) => outbox.events.close()));
    },
  };
}

export function outboxFolder(localFolder: string): string {
  return path.join(localFolder, 'outbox');
}
