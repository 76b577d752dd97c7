/**
 * The sinks `serve` can have, as plain settings: they cross into the outbox's thread (where the
 * sinks are made and deliver), so they hold no functions.
 *
 * @module
 */
import { MqttSink } from './mqtt.js';
import type { OutboxLog } from './outbox.js';
import type { EventSink } from './sink.js';
import { WebhookSink } from './webhook.js';

export type SinkSettings =
  | { kind: 'webhook'; url: string; secret: string }
  | {
      kind: 'mqtt';
      url: string;
      username?: string;
      password?: string;
      topicPrefix: string;
      discoveryPrefix: string | false;
      ca?: Uint8Array;
      /** Publish each camera's latest image (a thumbnail), read through `images`. */
      images: boolean;
    };

/** Where an MQTT sink reads the images it makes thumbnails of. */
export interface ImageReader {
  read(key: string): Promise<Uint8Array | undefined>;
}

/** The sink the settings describe (checked: a setting that can never work throws, naming its option). */
export function sinkFrom(settings: SinkSettings, images: ImageReader | undefined, log: OutboxLog | undefined): EventSink {
  if (settings.kind === 'webhook') return new WebhookSink({ url: settings.url, secret: settings.secret });
  return new MqttSink({
    url: settings.url,
    topicPrefix: settings.topicPrefix,
    discoveryPrefix: settings.discoveryPrefix,
    ...(settings.username !== undefined && { username: settings.username }),
    ...(settings.password !== undefined && { password: settings.password }),
    ...(settings.ca && { ca: Buffer.from(settings.ca) }),
    ...(settings.images && images && { images }),
    ...(log && { log }),
  });
}
