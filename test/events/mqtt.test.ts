import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectAsync, type MqttClient } from 'mqtt';
import sharp from 'sharp';
import { cameraSilentEvent, imageStoredEvent, type ImageStoredData, type ReceiverEvent } from '../../src/events/cloud-event.js';
import { MqttSink, type MqttSinkOptions } from '../../src/events/mqtt.js';
import { freePort } from '../support/ports.js';
import { MOSQUITTO_MISSING, startMosquitto, type Mosquitto } from '../support/mosquitto.js';
import { OPENSSL_MISSING, selfSignedCertificate } from '../support/tls.js';

const SOURCE = 's3://bucket/images';

function stored(camera: string, key: string, receivedAt: string, kind: 'image' | 'clip' = 'image'): ReceiverEvent<'image.stored'> {
  const data: ImageStoredData = { camera, key, bytes: 1000, contentType: 'image/jpeg', kind, receivedAt, store: SOURCE };
  return imageStoredEvent(SOURCE, data, new Date(receivedAt));
}

async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

/** A subscriber that keeps what it receives. */
async function subscriber(url: string, topics: string[], options: { ca?: Buffer } = {}): Promise<{ client: MqttClient; received: Received[] }> {
  const client = await connectAsync(url, { reconnectPeriod: 0, ca: options.ca });
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) => received.push({ topic, payload, retain: packet.retain }));
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, received };
}

/** The retained messages under `topics` once all of `expected` arrived, by topic. */
async function retained(url: string, topics: string[], expected: string[], options: { ca?: Buffer } = {}): Promise<Map<string, Buffer>> {
  const { client, received } = await subscriber(url, topics, options);
  try {
    return await waitFor(() => {
      const found = new Map(received.filter((message) => message.retain).map((message) => [message.topic, message.payload]));
      return expected.every((topic) => found.has(topic)) ? found : undefined;
    }, `retained ${expected.join(', ')}`);
  } finally {
    await client.endAsync();
  }
}

async function openedSink(options: MqttSinkOptions): Promise<MqttSink> {
  const sink = new MqttSink(options);
  await sink.open();
  await waitFor(
    () => sink.deliver(cameraSilentEvent(SOURCE, { camera: 'probe', lastKey: 'probe/x.jpg', lastReceivedAt: '2020-01-01T00:00:00.000Z', usualIntervalSeconds: 60, silentSeconds: 600 })).then(
      () => true,
      () => undefined,
    ),
    'the sink to connect',
  );
  return sink;
}

describe('MqttSink settings', () => {
  it('refuses a URL or topic prefix that can never work, naming the option', () => {
    for (const url of ['http://broker:1883', 'ws://broker', 'broker:1883', 'mqtt://']) {
      assert.throws(() => new MqttSink({ url }), /--mqtt\b/, url);
    }
    for (const topicPrefix of ['', 'a/+/b', 'cams/#', 'a//b', '/a', 'a/']) {
      assert.throws(() => new MqttSink({ url: 'mqtt://broker', topicPrefix }), /--mqtt-topic-prefix/, topicPrefix);
    }
    assert.throws(() => new MqttSink({ url: 'mqtt://broker', discoveryPrefix: 'home/#' }), /--mqtt-discovery-prefix/);
  });

  it('is named by its broker, without user or password', () => {
    assert.equal(new MqttSink({ url: 'mqtt://cam:s3cret@broker' }).name, 'mqtt mqtt://broker:1883');
    assert.equal(new MqttSink({ url: 'mqtts://broker:9000/' }).name, 'mqtt mqtts://broker:9000');
    assert.equal(new MqttSink({ url: 'mqtt://broker' }).concurrency, 16);
  });

  it('opens while the broker is down, and rejects deliveries at once', async () => {
    const port = await freePort();
    const sink = new MqttSink({ url: `mqtt://127.0.0.1:${port}` });
    await sink.open();
    try {
      await assert.rejects(sink.deliver(stored('porch', 'porch/1.jpg', '2026-05-01T10:00:00.000Z')), {
        message: new RegExp(`^not connected to mqtt://127\\.0\\.0\\.1:${port}`),
      });
    } finally {
      await sink.close();
    }
  });
});

describe('MqttSink with mosquitto', { skip: MOSQUITTO_MISSING }, () => {
  let broker: Mosquitto;
  let jpeg: Buffer;
  const images = new Map<string, Uint8Array>();
  const warnings: string[] = [];
  const log = { warn: (obj: object, msg: string) => warnings.push(`${msg} ${JSON.stringify(obj)}`) };

  before(async () => {
    broker = await startMosquitto();
    jpeg = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 30 } } })
      .jpeg()
      .toBuffer();
    images.set('front.door/2026/05/01/a.jpg', jpeg);
    images.set('front.door/2026/05/01/b.jpg', jpeg);
    images.set('garage/2026/05/01/broken.jpg', Buffer.from('not a jpeg'));
  });
  after(() => broker?.dispose());

  const imageStore = { read: (key: string) => Promise.resolve(images.get(key)) };

  it('publishes the event, the retained state, a thumbnail and Home Assistant discovery configs', async () => {
    const live = await subscriber(broker.url, ['images-to-s3/front.door/events']);
    const sink = await openedSink({ url: broker.url, images: imageStore, log });
    try {
      const event = stored('front.door', 'front.door/2026/05/01/a.jpg', '2026-05-01T10:00:00.000Z');
      await sink.deliver(event);

      const message = await waitFor(() => live.received[0], 'the event');
      assert.equal(message.retain, false);
      assert.deepEqual(JSON.parse(message.payload.toString()), event);

      const configs = ['camera/images_to_s3_front_2edoor_image', 'binary_sensor/images_to_s3_front_2edoor_silent', 'sensor/images_to_s3_front_2edoor_last_image'].map(
        (topic) => `homeassistant/${topic}/config`,
      );
      const found = await retained(broker.url, ['images-to-s3/#', 'homeassistant/#'], ['images-to-s3/status', 'images-to-s3/front.door/state', 'images-to-s3/front.door/image', ...configs]);
      assert.equal(found.get('images-to-s3/status')!.toString(), 'online');
      assert.deepEqual(JSON.parse(found.get('images-to-s3/front.door/state')!.toString()), { state: 'online', lastImageAt: '2026-05-01T10:00:00.000Z', lastKey: 'front.door/2026/05/01/a.jpg' });

      const thumbnail = found.get('images-to-s3/front.door/image')!;
      const facts = await sharp(thumbnail).metadata();
      assert.equal(facts.format, 'jpeg');
      assert.deepEqual([facts.width, facts.height], [320, 240]);
      assert.ok(thumbnail.length < jpeg.length / 4, `a thumbnail of ${thumbnail.length} bytes from ${jpeg.length}`);

      const [camera, problem, lastImage] = configs.map((topic) => JSON.parse(found.get(topic)!.toString()) as Record<string, unknown>);
      assert.equal(camera!.topic, 'images-to-s3/front.door/image');
      assert.equal(problem!.state_topic, 'images-to-s3/front.door/state');
      assert.equal(problem!.device_class, 'problem');
      assert.equal(lastImage!.state_topic, 'images-to-s3/front.door/state');
      assert.equal(lastImage!.device_class, 'timestamp');
      for (const config of [camera!, problem!, lastImage!]) {
        assert.equal(config.availability_topic, 'images-to-s3/status');
        assert.deepEqual((config.device as { identifiers: string[] }).identifiers, ['images_to_s3_front_2edoor']);
        assert.match(config.unique_id as string, /^images_to_s3_front_2edoor_[a-z_]+$/);
      }
    } finally {
      await sink.close();
      await live.client.endAsync();
    }
  });

  it('makes the state silent, and keeps the newer state when an older event comes late', async () => {
    const sink = await openedSink({ url: broker.url, log });
    try {
      const state = async (): Promise<unknown> => JSON.parse((await retained(broker.url, ['images-to-s3/yard/state'], ['images-to-s3/yard/state'])).get('images-to-s3/yard/state')!.toString());
      await sink.deliver(stored('yard', 'yard/1.jpg', '2026-05-01T10:00:00.000Z'));
      await sink.deliver(cameraSilentEvent(SOURCE, { camera: 'yard', lastKey: 'yard/1.jpg', lastReceivedAt: '2026-05-01T10:00:00.000Z', usualIntervalSeconds: 60, silentSeconds: 600 }));
      assert.deepEqual(await state(), { state: 'silent', lastImageAt: '2026-05-01T10:00:00.000Z', lastKey: 'yard/1.jpg' });

      await sink.deliver(stored('yard', 'yard/1.jpg', '2026-05-01T10:00:00.000Z'));
      assert.equal((await state() as { state: string }).state, 'silent', 'a retry of the last image before the silence');

      await sink.deliver(stored('yard', 'yard/2.mp4', '2026-05-01T11:00:00.000Z', 'clip'));
      assert.deepEqual(await state(), { state: 'online', lastImageAt: '2026-05-01T11:00:00.000Z', lastKey: 'yard/2.mp4' });

      // The silence's time is the store's (S3: whole seconds), earlier than the receiver's for the same image: still silent.
      await sink.deliver(stored('yard', 'yard/3.jpg', '2026-05-01T12:00:00.400Z'));
      await sink.deliver(cameraSilentEvent(SOURCE, { camera: 'yard', lastKey: 'yard/3.jpg', lastReceivedAt: '2026-05-01T12:00:00.000Z', usualIntervalSeconds: 60, silentSeconds: 600 }));
      assert.equal((await state() as { state: string }).state, 'silent', 'silent after the same image, whatever the two clocks said');
    } finally {
      await sink.close();
    }
  });

  it('of a burst of images, publishes the state at once and then the newest, and makes one thumbnail of the newest', async () => {
    const live = await subscriber(broker.url, ['images-to-s3/burst/state', 'images-to-s3/burst/image']);
    const sink = await openedSink({ url: broker.url, images: imageStore, log, latestEveryMs: { state: 300, image: 300 } });
    try {
      for (let n = 1; n <= 5; n++) {
        images.set(`burst/2026/05/01/${n}.jpg`, jpeg);
        await sink.deliver(stored('burst', `burst/2026/05/01/${n}.jpg`, `2026-05-01T10:00:0${n}.000Z`));
      }
      const topic = (name: string) => live.received.filter((message) => message.topic === `images-to-s3/burst/${name}`);
      await waitFor(() => topic('state').length === 2 && topic('image').length === 2 || undefined, 'the first and the newest of each');
      assert.deepEqual(
        topic('state').map((message) => (JSON.parse(message.payload.toString()) as { lastKey: string }).lastKey),
        ['burst/2026/05/01/1.jpg', 'burst/2026/05/01/5.jpg'],
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(topic('state').length, 2, 'nothing more once the newest is out');
      assert.equal(topic('image').length, 2, 'two thumbnails for five images');
      // A change of state is not held back.
      await sink.deliver(cameraSilentEvent(SOURCE, { camera: 'burst', lastKey: 'burst/2026/05/01/5.jpg', lastReceivedAt: '2026-05-01T10:00:05.000Z', usualIntervalSeconds: 1, silentSeconds: 60 }));
      await waitFor(() => topic('state').some((message) => message.payload.toString().includes('"silent"')) || undefined, 'the silent state at once');
    } finally {
      await sink.close();
      await live.client.endAsync();
    }
  });

  it('logs a thumbnail it cannot make, and delivers all the same', async () => {
    const sink = await openedSink({ url: broker.url, images: imageStore, log });
    try {
      warnings.length = 0;
      await sink.deliver(stored('garage', 'garage/2026/05/01/broken.jpg', '2026-05-01T10:00:00.000Z'));
      await sink.deliver(stored('shed', 'shed/2026/05/01/gone.jpg', '2026-05-01T10:01:00.000Z'));
      assert.equal(warnings.filter((warning) => /cannot make a thumbnail of (garage|shed)\/2026\/05\/01\//.test(warning)).length, 2, warnings.join('\n'));
    } finally {
      await sink.close();
    }
  });

  it('publishes offline when closed', async () => {
    const sink = await openedSink({ url: broker.url, topicPrefix: 'site/a', discoveryPrefix: false });
    await sink.close();
    const found = await retained(broker.url, ['#'], ['site/a/status', 'site/a/probe/state']);
    assert.equal(found.get('site/a/status')!.toString(), 'offline');
    const configs = [...found].filter(([topic, payload]) => topic.startsWith('homeassistant/') && payload.toString().includes('site/a/'));
    assert.deepEqual(configs, [], 'no discovery configs with discoveryPrefix false');
  });

  it('rejects at once while the broker is down, and delivers again once it is back', async () => {
    const own = await startMosquitto();
    const sink = await openedSink({ url: own.url, log });
    try {
      await own.stop();
      const event = stored('porch', 'porch/1.jpg', '2026-05-01T10:00:00.000Z');
      const error = await waitFor(() => sink.deliver(event).then(() => undefined, (failure: Error) => failure), 'a refused delivery');
      assert.ok(error.message.startsWith(`not connected to mqtt://127.0.0.1:${own.port}`), error.message);

      await own.start();
      await waitFor(() => sink.deliver(event).then(() => true, () => undefined), 'a delivery after the restart');
      // The restarted broker forgot everything: the sink said online again, and announced its cameras again.
      const found = await retained(own.url, ['#'], ['images-to-s3/status', 'homeassistant/binary_sensor/images_to_s3_probe_silent/config']);
      assert.equal(found.get('images-to-s3/status')!.toString(), 'online');
    } finally {
      await sink.close();
      await own.dispose();
    }
  });

  it('logs in with a user and password, and never shows the password', async () => {
    const own = await startMosquitto({ users: { receiver: 'right-horse-battery' } });
    const sink = await openedSink({ url: own.url, username: 'receiver', password: 'right-horse-battery', log });
    const wrong = new MqttSink({ url: own.url.replace('//', '//receiver:wrong-staple-9@'), log });
    try {
      await sink.deliver(stored('porch', 'porch/1.jpg', '2026-05-01T10:00:00.000Z'));

      warnings.length = 0;
      await wrong.open();
      assert.equal(wrong.name, `mqtt ${own.url}`);
      const error = await waitFor(
        () => wrong.deliver(stored('porch', 'porch/1.jpg', '2026-05-01T10:00:00.000Z')).then(() => undefined, (failure: Error) => (/refused/i.test(failure.message) ? failure : undefined)),
        'a refused login',
      );
      assert.match(error.message, /^not connected to mqtt:\/\/127\.0\.0\.1:\d+ \(Connection refused: Not authorized\)$/);
      assert.ok(warnings.length > 0);
      for (const text of [error.message, error.stack ?? '', ...warnings]) assert.ok(!text.includes('wrong-staple-9'), text);
    } finally {
      await wrong.close();
      await sink.close();
      await own.dispose();
    }
  });

  it('connects to mqtts with a private certificate authority', { skip: OPENSSL_MISSING }, async () => {
    const { cert, key } = selfSignedCertificate('127.0.0.1');
    const own = await startMosquitto({ tls: { cert, key } });
    const sink = await openedSink({ url: own.url, ca: cert });
    try {
      const found = await retained(own.url, ['images-to-s3/status'], ['images-to-s3/status'], { ca: cert });
      assert.equal(found.get('images-to-s3/status')!.toString(), 'online');
    } finally {
      await sink.close();
      await own.dispose();
    }
  });
});
