/**
 * The MQTT sink: each event as it is on `<prefix>/<camera>/events`, each camera's state retained on
 * `<prefix>/<camera>/state`, its latest image as a retained JPEG thumbnail on `<prefix>/<camera>/image`
 * (what Home Assistant's MQTT camera shows as is), and Home Assistant discovery configs for a camera,
 * a "silent" problem sensor and a last-image time sensor per camera. `<prefix>/status` says whether
 * the receiver is connected (`online`, retained; the broker publishes the will, `offline`, when the
 * connection is lost).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { connect, type MqttClient } from 'mqtt';
import type sharp from 'sharp';
import { isValidCameraName } from '../core/camera-name.js';
import { RENDITIONS } from '../gallery/thumbnails.js';
import type { ReceiverEvent } from './cloud-event.js';
import type { EventSink } from './sink.js';

export interface MqttSinkOptions {
  /** `mqtt://host[:port]` or `mqtts://host[:port]`; a `user:password@` in it is used unless `username`/`password` are given. */
  url: string;
  username?: string;
  password?: string;
  /** The first levels of every topic; default `images-to-s3`. */
  topicPrefix?: string;
  /** Where the latest image of each camera is read from, to publish it as a thumbnail; no images without it. */
  images?: { read(key: string): Promise<Uint8Array | undefined> };
  /** Home Assistant's discovery prefix; default `homeassistant`; false publishes no discovery configs. */
  discoveryPrefix?: string | false;
  /** The certificate authority (PEM) of an mqtts broker with a private one. */
  ca?: Buffer;
  /** Default `images-to-s3-<hostname>-<random>`. */
  clientId?: string;
  log?: { warn(obj: object, msg: string): void };
  /** How often at most a camera's unchanged state and its thumbnail are published, in ms (default 1 s and 5 s). */
  latestEveryMs?: { state: number; image: number };
}

/** A camera's state, as published (retained) on its state topic. */
interface CameraState {
  state: 'online' | 'silent';
  lastImageAt: string;
  lastKey: string;
}

/** How long a delivery waits for its acknowledgements. */
const DELIVERY_TIMEOUT_MS = 10_000;
/** A camera's retained state is published at once when it changes, else at most this often. */
const STATE_EVERY_MS = 1_000;
/** A camera's retained thumbnail is made and published at most this often (the newest image of a burst). */
const IMAGE_EVERY_MS = 5_000;
/** How long `close()` waits for the broker. */
const CLOSE_TIMEOUT_MS = 2_000;
/** Larger images are not decoded (as the gallery's thumbnails). */
const MAX_INPUT_PIXELS = 100_000_000;

let sharpLoading: Promise<typeof sharp> | undefined;

/** sharp, imported at the first thumbnail (libvips costs memory that a receiver without images should not pay). */
function loadSharp(): Promise<typeof sharp> {
  sharpLoading ??= import('sharp').then((module) => module.default);
  return sharpLoading;
}

/** A topic prefix fit to publish under: levels without wildcards, none empty. */
function checkTopicPrefix(prefix: string, option: string): string {
  if (!prefix || /[+#\0]/.test(prefix) || prefix.split('/').some((level) => level === '') || prefix.startsWith('$')) {
    throw new Error(`${option} must be MQTT topic levels without "+", "#", a leading "$", empty levels or a leading or trailing "/" (got "${prefix}")`);
  }
  return prefix;
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function stateAfter(event: ReceiverEvent): CameraState {
  switch (event.type) {
    case 'image.stored': {
      const { receivedAt, key } = (event as ReceiverEvent<'image.stored'>).data;
      return { state: 'online', lastImageAt: receivedAt, lastKey: key };
    }
    case 'camera.back': {
      const { receivedAt, key } = (event as ReceiverEvent<'camera.back'>).data;
      return { state: 'online', lastImageAt: receivedAt, lastKey: key };
    }
    case 'camera.silent': {
      const { lastReceivedAt, lastKey } = (event as ReceiverEvent<'camera.silent'>).data;
      return { state: 'silent', lastImageAt: lastReceivedAt, lastKey };
    }
  }
}

/**
 * Whether `next` is news beside `previous` (deliveries run at once and retries come late): a later
 * last image, or the same one noticed silent (a silence is noticed after its last image).
 */
function supersedes(next: CameraState, previous: CameraState | undefined): boolean {
  if (!previous) return true;
  // About the same image: its silence outranks it (a retried image.stored must not undo the
  // silence after it). Times are not compared there: a silence gives the store's time of the
  // image (S3 keeps whole seconds; a file's time can lag the clock by a tick), image.stored the
  // receiver's.
  if (next.lastKey === previous.lastKey) return next.state === 'silent' || previous.state === 'online';
  return Date.parse(next.lastImageAt) > Date.parse(previous.lastImageAt);
}

export class MqttSink implements EventSink {
  readonly name: string;
  readonly concurrency = 16;
  private readonly url: string;
  private readonly username: string | undefined;
  private readonly password: string | undefined;
  private readonly prefix: string;
  private readonly discoveryPrefix: string | false;
  private readonly options: MqttSinkOptions;
  private client: MqttClient | undefined;
  private lastError: string | undefined;
  /** Per camera since open: the state last published, and the time of the image last published. */
  private readonly states = new Map<string, CameraState>();
  private readonly imageTimes = new Map<string, number>();
  /** Retained "latest" topics per camera: when each was last published, and what waits to be (see latest()). */
  private readonly throttled = new Map<string, { lastAt: number; timer?: NodeJS.Timeout; pending?: () => Promise<void> }>();
  /** Cameras whose discovery configs went out on this connection (or are going out). */
  private readonly announced = new Map<string, Promise<void>>();

  constructor(options: MqttSinkOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new Error('--mqtt must be a URL: mqtt://host:port or mqtts://host:port');
    }
    if ((url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') || !url.hostname) {
      throw new Error(`--mqtt must be mqtt://host:port or mqtts://host:port (got ${url.protocol}//${url.host})`);
    }
    this.url = `${url.protocol}//${url.hostname}:${url.port || (url.protocol === 'mqtt:' ? 1883 : 8883)}`;
    this.name = `mqtt ${this.url}`;
    this.username = options.username ?? (url.username ? decodeURIComponent(url.username) : undefined);
    this.password = options.password ?? (url.password ? decodeURIComponent(url.password) : undefined);
    this.prefix = checkTopicPrefix(options.topicPrefix ?? 'images-to-s3', '--mqtt-topic-prefix');
    this.discoveryPrefix = options.discoveryPrefix === false ? false : checkTopicPrefix(options.discoveryPrefix ?? 'homeassistant', '--mqtt-discovery-prefix');
    this.options = options;
  }

  open(): Promise<void> {
    if (this.client) return Promise.resolve();
    const status = `${this.prefix}/status`;
    const client = connect(this.url, {
      clientId: this.options.clientId ?? `images-to-s3-${os.hostname()}-${randomBytes(4).toString('hex')}`,
      username: this.username,
      password: this.password,
      ca: this.options.ca,
      will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      // A refused login is retried too: the broker's users may be fixed while the receiver runs.
      reconnectOnConnackError: true,
    });
    client.on('connect', () => {
      this.lastError = undefined;
      const cameras = [...this.announced.keys()];
      this.announced.clear();
      this.publish(client, status, 'online', true).catch((error: unknown) => this.warn(error, 'mqtt: cannot publish online'));
      for (const camera of cameras) this.announce(client, camera).catch((error: unknown) => this.warn(error, 'mqtt: cannot publish discovery configs'));
    });
    client.on('error', (error) => {
      const message = this.redact(error.message);
      if (message !== this.lastError) this.warn(error, `mqtt: trouble with ${this.url}; retrying`);
      this.lastError = message;
    });
    this.client = client;
    return Promise.resolve();
  }

  async deliver(event: ReceiverEvent): Promise<void> {
    const client = this.client;
    if (!client?.connected) throw new Error(`not connected to ${this.url}${this.lastError ? ` (${this.lastError})` : ''}`);
    const camera = event.subject;
    // A "+", "#" or "/" in a topic would publish elsewhere, or make the broker drop the connection.
    if (!isValidCameraName(camera)) throw new Error(`not a camera name: ${JSON.stringify(camera)}`);
    const base = `${this.prefix}/${camera}`;
    const state = stateAfter(event);
    const work: Array<Promise<unknown>> = [this.publish(client, `${base}/events`, JSON.stringify(event), false), this.announce(client, camera)];
    const previous = this.states.get(camera);
    if (supersedes(state, previous)) {
      this.states.set(camera, state);
      // A change (online, silent) goes at once; a camera's newer image time at most every second.
      const publishState = (): Promise<void> => this.publish(client, `${base}/state`, JSON.stringify(this.states.get(camera)), true);
      work.push(this.latest(`state ${camera}`, this.options.latestEveryMs?.state ?? STATE_EVERY_MS, publishState, previous?.state !== state.state));
    }
    if (this.options.images && event.type === 'image.stored' && (event as ReceiverEvent<'image.stored'>).data.kind === 'image') {
      // Thumbnails cost a decode and an encode each: of a burst, the newest image is made and published, at most every few seconds.
      work.push(this.latest(`image ${camera}`, this.options.latestEveryMs?.image ?? IMAGE_EVERY_MS, () => this.publishImage(client, camera, state)));
    }
    await withTimeout(Promise.all(work), DELIVERY_TIMEOUT_MS, `${this.url} did not acknowledge within ${DELIVERY_TIMEOUT_MS / 1000} s`);
  }

  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    this.announced.clear();
    const connected = client.connected;
    // What waits in a "latest" topic goes out before the receiver says it is offline.
    const waiting = [...this.throttled.values()].map((entry) => {
      clearTimeout(entry.timer);
      const pending = entry.pending;
      entry.pending = undefined;
      return connected && pending ? pending().catch(() => undefined) : Promise.resolve();
    });
    this.throttled.clear();
    await withTimeout(Promise.all(waiting), CLOSE_TIMEOUT_MS, 'timeout').catch(() => undefined);
    if (connected) await withTimeout(this.publish(client, `${this.prefix}/status`, 'offline', true), CLOSE_TIMEOUT_MS, 'timeout').catch(() => undefined);
    await withTimeout(client.endAsync(!connected), CLOSE_TIMEOUT_MS, 'timeout').catch(() => client.stream?.destroy());
  }

  private async publish(client: MqttClient, topic: string, payload: string | Buffer, retain: boolean): Promise<void> {
    await client.publishAsync(topic, payload, { qos: 1, retain });
  }

  /** The thumbnail of the image `state` is about, if it is still the camera's latest; a failure is only logged. */
  private async publishImage(client: MqttClient, camera: string, state: CameraState): Promise<void> {
    const time = Date.parse(state.lastImageAt);
    let thumbnail: Buffer;
    try {
      const image = await this.options.images!.read(state.lastKey);
      if (!image) throw new Error('no such object');
      const { width, height, quality } = RENDITIONS.thumb;
      const createSharp = await loadSharp();
      thumbnail = await createSharp(image, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
        .rotate()
        .resize({ width, height, fit: 'inside', withoutEnlargement: true })
        .jpeg({ quality, mozjpeg: true })
        .toBuffer();
    } catch (error) {
      this.warn(error, `mqtt: cannot make a thumbnail of ${state.lastKey}`);
      return;
    }
    if (time < (this.imageTimes.get(camera) ?? -Infinity)) return;
    this.imageTimes.set(camera, time);
    await this.publish(client, `${this.prefix}/${camera}/image`, thumbnail, true);
  }

  /**
   * Publishes a retained "latest" topic of a camera (its state, its image) at once when it was not
   * published in the last `everyMs` (or `now`); else once that time is over, with what is latest by
   * then (the delivery does not wait for it: the events topic has every event).
   */
  private latest(key: string, everyMs: number, publish: () => Promise<void>, now = false): Promise<void> {
    const at = Date.now();
    const entry = this.throttled.get(key) ?? { lastAt: -Infinity };
    this.throttled.set(key, entry);
    if (now || (entry.timer === undefined && at - entry.lastAt >= everyMs)) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      entry.lastAt = at;
      return publish();
    }
    entry.pending = publish;
    entry.timer ??= setTimeout(() => {
      entry.timer = undefined;
      entry.lastAt = Date.now();
      const pending = entry.pending;
      entry.pending = undefined;
      pending?.().catch((error: unknown) => this.warn(error, `mqtt: cannot publish the latest ${key}`));
    }, entry.lastAt + everyMs - at).unref();
    return Promise.resolve();
  }

  /** Publishes a camera's discovery configs once per connection. */
  private announce(client: MqttClient, camera: string): Promise<void> {
    if (this.discoveryPrefix === false) return Promise.resolve();
    let pending = this.announced.get(camera);
    if (!pending) {
      pending = Promise.all(this.discoveryConfigs(camera).map(([topic, config]) => this.publish(client, topic, JSON.stringify(config), true))).then(() => undefined);
      const attempt = pending;
      this.announced.set(camera, attempt);
      // Tried again at the camera's next event.
      attempt.catch(() => {
        if (this.announced.get(camera) === attempt) this.announced.delete(camera);
      });
    }
    return pending;
  }

  /** Home Assistant MQTT discovery: `[topic, config]` of each entity of a camera. */
  private discoveryConfigs(camera: string): Array<[string, Record<string, unknown>]> {
    // Discovery topics take [a-zA-Z0-9_-] only: "." and "_" are escaped ("_2e", "_5f") so that no two camera names share an id.
    const id = `images_to_s3_${camera.replace(/[._]/g, (character) => `_${character.charCodeAt(0).toString(16)}`)}`;
    const base = `${this.prefix}/${camera}`;
    const shared = {
      device: { identifiers: [id], name: camera, manufacturer: 'images-to-s3', model: 'Network camera' },
      origin: { name: 'images-to-s3' },
      availability_topic: `${this.prefix}/status`,
    };
    const entities: Array<[string, string, Record<string, unknown>]> = [
      ['binary_sensor', 'silent', { name: 'Silent', device_class: 'problem', state_topic: `${base}/state`, value_template: "{{ 'ON' if value_json.state == 'silent' else 'OFF' }}" }],
      [
        'sensor',
        'last_image',
        { name: 'Last image', device_class: 'timestamp', state_topic: `${base}/state`, value_template: '{{ value_json.lastImageAt }}', json_attributes_topic: `${base}/state` },
      ],
    ];
    if (this.options.images) entities.unshift(['camera', 'image', { name: null, topic: `${base}/image` }]);
    return entities.map(([component, entity, config]) => [
      `${this.discoveryPrefix as string}/${component}/${id}_${entity}/config`,
      { ...config, unique_id: `${id}_${entity}`, ...shared },
    ]);
  }

  private warn(error: unknown, message: string): void {
    this.options.log?.warn({ err: this.redact(error instanceof Error ? error.message : String(error)) }, this.redact(message));
  }

  /** Text without the password, whatever a library put in it. */
  private redact(text: string): string {
    return this.password ? text.split(this.password).join('***') : text;
  }
}
