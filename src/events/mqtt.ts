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
}

/** A camera's state, as published (retained) on its state topic. */
interface CameraState {
  state: 'online' | 'silent';
  lastImageAt: string;
  lastKey: string;
}

/** How long a delivery waits for its acknowledgements. */
const DELIVERY_TIMEOUT_MS = 10_000;
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
  const [a, b] = [Date.parse(next.lastImageAt), Date.parse(previous.lastImageAt)];
  return a > b || (a === b && (next.state === 'silent' || previous.state === 'online'));
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
    if (supersedes(state, this.states.get(camera))) {
      this.states.set(camera, state);
      work.push(this.publish(client, `${base}/state`, JSON.stringify(state), true));
    }
    if (this.options.images && event.type === 'image.stored' && (event as ReceiverEvent<'image.stored'>).data.kind === 'image') {
      work.push(this.publishImage(client, camera, state));
    }
    await withTimeout(Promise.all(work), DELIVERY_TIMEOUT_MS, `${this.url} did not acknowledge within ${DELIVERY_TIMEOUT_MS / 1000} s`);
  }

  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    this.announced.clear();
    const connected = client.connected;
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
