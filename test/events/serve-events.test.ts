/**
 * `images-to-s3 serve` with events on, as a user runs it (a child process): a real webhook
 * receiver that checks every signature with the standardwebhooks library, a real MQTT broker
 * (Debian's mosquitto) with a real subscriber, uploads over HTTP. Outages of the webhook, a receiver
 * killed with SIGKILL, cameras going silent and coming back.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { Webhook } from 'standardwebhooks';
import type { ReceiverEvent } from '../../src/events/cloud-event.js';
import { MOSQUITTO_MISSING, startMosquitto } from '../support/mosquitto.js';
import type { Mosquitto } from '../support/mosquitto.js';
import { freePort } from '../support/ports.js';
import { SAMPLE_JPEG } from '../support/receiver.js';
import { startLocalS3 } from '../support/local-s3.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = `whsec_${Buffer.from('a test secret of thirty-two bytes').toString('base64')}`;

/** A webhook endpoint that verifies each delivery's signature and keeps the events; it can be taken down and brought back on its port. */
class WebhookEndpoint {
  readonly events: ReceiverEvent[] = [];
  readonly arrivals: number[] = [];
  readonly bodies: string[] = [];
  readonly refused: string[] = [];
  port = 0;
  private server: http.Server | undefined;
  private readonly waiters: Array<() => void> = [];

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/images`;
  }

  async up(): Promise<void> {
    const verifier = new Webhook(SECRET);
    this.server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        try {
          const event = verifier.verify(body, request.headers as Record<string, string>) as ReceiverEvent;
          assert.equal(request.headers['webhook-id'], event.id);
          this.events.push(event);
          this.arrivals.push(Date.now());
          this.bodies.push(body);
          response.writeHead(204).end();
        } catch (error) {
          this.refused.push(String(error));
          response.writeHead(400).end();
        }
        for (const wake of this.waiters.splice(0)) wake();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The events of a type (distinct ids: deliveries are at least once). */
  of(type: string): ReceiverEvent[] {
    const seen = new Set<string>();
    return this.events.filter((event) => event.type === type && !seen.has(event.id) && seen.add(event.id));
  }

  async until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`${what}: not within ${timeoutMs} ms (events: ${this.events.map((event) => `${event.type} ${event.subject}`).join(', ')})`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.min(left, 100)).unref();
      });
    }
  }
}

interface Serve {
  child: ChildProcess;
  url: string;
  token: string;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `serve` in a child process, in `folder` (its store, registry and outbox), with `args` added. */
async function startServe(folder: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Serve> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), path.join(projectRoot, 'src', 'cli', 'main.ts'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--no-gallery', '--log-level', 'warn', ...args],
    { cwd: folder, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1', IMAGES_TO_S3_WEBHOOK_SECRET: SECRET, ...env } },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!output.includes('images-to-s3 receiver is running') || !/Access tokens:|accessToken=/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`serve did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    url: `http://127.0.0.1:${port}/`,
    token: /accessToken=(\S+)/.exec(output)?.[1] ?? '',
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

async function upload(serve: Serve, token: string, name: string, body: Buffer = SAMPLE_JPEG): Promise<{ status: number; key?: string }> {
  const response = await fetch(`${serve.url}?accessToken=${encodeURIComponent(token)}`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', 'content-disposition': `attachment; filename="${name}"` },
    body,
  });
  const answer = (await response.json()) as { key?: string };
  return { status: response.status, ...(answer.key !== undefined && { key: answer.key }) };
}

const percentile = (values: number[], p: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;

describe('serve with --webhook and --mqtt', { skip: MOSQUITTO_MISSING, timeout: 120_000 }, () => {
  let folder: string;
  let broker: Mosquitto;
  let subscriber: mqtt.MqttClient;
  const messages: Array<{ topic: string; payload: Buffer; retain: boolean; at: number }> = [];
  const webhook = new WebhookEndpoint();
  let serve: Serve;
  let token: string;

  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-events-'));
    broker = await startMosquitto();
    subscriber = await mqtt.connectAsync(broker.url, { reconnectPeriod: 200 });
    subscriber.on('message', (topic, payload, packet) => messages.push({ topic, payload, retain: packet.retain, at: Date.now() }));
    await subscriber.subscribeAsync(['events-test/#', 'homeassistant/#'], { qos: 1 });
    await webhook.up();
    serve = await startServe(folder, ['--store', './images', '--webhook', webhook.url, '--mqtt', broker.url, '--mqtt-topic-prefix', 'events-test', '--mqtt-image', '--silence-grace', '1']);
    token = serve.token;
    assert.ok(token, `a first token in the banner:\n${serve.output()}`);
  });

  after(async () => {
    await serve?.stop();
    await subscriber?.endAsync();
    await webhook.down();
    await broker?.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('says where events go in its banner, without the secret', () => {
    assert.match(serve.output(), new RegExp(`events: +webhook ${webhook.url.replace(/[.?]/g, '\\$&')}, mqtt ${broker.url.replace(/[.?]/g, '\\$&')}`));
    assert.doesNotMatch(serve.output(), new RegExp(SECRET.slice(6, 20)));
  });

  it('tells of an upload within a second: a signed webhook and an MQTT event, both with the stored key; a retained state and thumbnail; Home Assistant discovery', async () => {
    const latencies: number[] = [];
    const keys: string[] = [];
    for (let n = 0; n < 20; n++) {
      const sent = Date.now();
      const answer = await upload(serve, token, `door-${n}.jpg`);
      assert.equal(answer.status, 200);
      keys.push(answer.key!);
      await webhook.until(() => webhook.of('image.stored').some((event) => (event.data as { key: string }).key === answer.key), 1_000, `the webhook for ${answer.key}`);
      latencies.push(Date.now() - sent);
    }
    const stored = webhook.of('image.stored');
    const first = stored.find((event) => (event.data as { key: string }).key === keys[0])!;
    assert.equal(first.specversion, '1.0');
    assert.equal(first.subject, 'camera-1');
    assert.equal(first.datacontenttype, 'application/json');
    assert.match(first.source, /^file:\/\/\//);
    assert.deepEqual(Object.keys(first.data).sort(), ['bytes', 'camera', 'contentType', 'key', 'kind', 'receivedAt', 'store', 'url'].sort());
    assert.equal((first.data as { bytes: number }).bytes, SAMPLE_JPEG.length);
    assert.equal((first.data as { contentType: string }).contentType, 'image/jpeg');

    const deadline = Date.now() + 1_000;
    while (!messages.some((message) => message.topic === 'events-test/camera-1/events' && message.payload.toString().includes(keys.at(-1)!)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const mqttEvents = messages.filter((message) => message.topic === 'events-test/camera-1/events').map((message) => JSON.parse(message.payload.toString()) as ReceiverEvent);
    for (const key of keys) assert.ok(mqttEvents.some((event) => (event.data as { key: string }).key === key), `an MQTT event for ${key}`);
    assert.deepEqual(
      mqttEvents.find((event) => (event.data as { key: string }).key === keys[0]),
      first,
      'the same event on both sinks',
    );
    const states = messages.filter((message) => message.topic === 'events-test/camera-1/state');
    assert.equal((JSON.parse(states.at(-1)!.payload.toString()) as { state: string }).state, 'online');
    const image = messages.findLast((message) => message.topic === 'events-test/camera-1/image');
    assert.ok(image && image.payload[0] === 0xff && image.payload[1] === 0xd8, 'a JPEG thumbnail on the image topic');
    assert.ok(messages.some((message) => message.topic.startsWith('homeassistant/camera/') && message.topic.endsWith('/config')), 'Home Assistant discovery');
    // Printed for the closing note: from the upload's start to the webhook's arrival.
    console.log(`# webhook delivery, upload start to arrival, 20 uploads one after another: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms`);
  });

  it('loses nothing while the webhook is down: every event is delivered, in full, once it is back', async () => {
    await webhook.down();
    const keys: string[] = [];
    for (let n = 0; n < 30; n++) {
      const answer = await upload(serve, token, `outage-${n}.jpg`);
      assert.equal(answer.status, 200, 'uploads go on while a sink is down');
      keys.push(answer.key!);
    }
    // The outbox's thread tells its figures every quarter of a second.
    const pending = /images_to_s3_events_pending\{sink="webhook http:\/\/127\.0\.0\.1:\d+\/hooks\/images"\} [1-9]/;
    let metrics = '';
    for (const deadline = Date.now() + 5_000; !pending.test(metrics) && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      metrics = await (await fetch(`${serve.url}metrics`)).text();
    }
    assert.match(metrics, pending);
    assert.match(metrics, /images_to_s3_events_failed_total\{sink="webhook [^"]+"\} [1-9]/);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await webhook.up();
    await webhook.until(() => keys.every((key) => webhook.of('image.stored').some((event) => (event.data as { key: string }).key === key)), 70_000, 'the backlog');
    assert.deepEqual(webhook.refused, [], 'every delivery carried a valid signature');
  });

  it('tells of a camera going silent (camera.silent) and of it sending again (camera.back)', async () => {
    const camera = 'camera-1';
    // A camera sending every 200 ms, then nothing: silent after max(3 × 200 ms, 200 ms + 1 s).
    // (It was silent before, between the tests above, and came back: the events name the keys.)
    let lastTick = '';
    for (let n = 0; n < 5; n++) {
      const answer = await upload(serve, token, `tick-${n}.jpg`);
      assert.equal(answer.status, 200);
      lastTick = answer.key!;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const silentAfterTicks = (): ReceiverEvent | undefined => webhook.of('camera.silent').find((event) => (event.data as { lastKey: string }).lastKey === lastTick);
    await webhook.until(() => silentAfterTicks() !== undefined, 10_000, 'camera.silent after the last tick');
    const silent = silentAfterTicks()!;
    assert.equal(silent.subject, camera);
    assert.ok((silent.data as { silentSeconds: number }).silentSeconds >= 1);
    const back = await upload(serve, token, 'back.jpg');
    const backEvent = (): ReceiverEvent | undefined => webhook.of('camera.back').find((event) => (event.data as { key: string }).key === back.key);
    await webhook.until(() => backEvent() !== undefined, 10_000, 'camera.back with the image that came after the silence');
    assert.equal(backEvent()!.subject, camera);
    const state = messages.findLast((message) => message.topic === `events-test/${camera}/state`);
    assert.equal((JSON.parse(state!.payload.toString()) as { state: string }).state, 'online');
    assert.ok(
      messages.some((message) => message.topic === `events-test/${camera}/state` && message.payload.toString().includes('"silent"')),
      'the retained state was silent in between',
    );
  });

  it('puts no token and no secret in any event', () => {
    const everything = [...webhook.bodies, ...messages.map((message) => message.payload.toString('latin1'))].join('\n');
    assert.ok(!everything.includes(token), 'no token');
    assert.ok(!everything.includes(SECRET), 'no webhook secret');
  });
});

describe('serve with --webhook, killed with SIGKILL while events wait', { timeout: 120_000 }, () => {
  it('delivers them after it is started again', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-events-kill-'));
    const webhook = new WebhookEndpoint();
    await webhook.up();
    const url = webhook.url;
    await webhook.down();
    try {
      const first = await startServe(folder, ['--store', './images', '--webhook', url]);
      const keys: string[] = [];
      for (let n = 0; n < 10; n++) keys.push((await upload(first, first.token, `kill-${n}.jpg`)).key!);
      await first.stop('SIGKILL');
      await webhook.up();
      const second = await startServe(folder, ['--store', './images', '--webhook', url]);
      try {
        await webhook.until(() => keys.every((key) => webhook.of('image.stored').some((event) => (event.data as { key: string }).key === key)), 20_000, 'the events from before the kill');
      } finally {
        await second.stop();
      }
    } finally {
      await webhook.down();
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe('serve on an S3 store with a spool and --webhook', { timeout: 120_000 }, () => {
  it('tells of an image once it is in the bucket, with its s3:// URL', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-events-s3-'));
    const s3 = await startLocalS3('events');
    const webhook = new WebhookEndpoint();
    await webhook.up();
    const env = { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_REGION: s3.region, AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey };
    const serve = await startServe(folder, ['--store', `s3://${s3.bucket}/site`, '--tokens', path.join(folder, 'tokens.json'), '--webhook', webhook.url, '--forward-max-backoff', '1'], env);
    try {
      await s3.down();
      const answer = await upload(serve, serve.token, 'spooled.jpg');
      assert.equal(answer.status, 200, 'taken into the spool');
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(webhook.of('image.stored').length, 0, 'no event while the image is only in the spool');
      await s3.up();
      await webhook.until(() => webhook.of('image.stored').length === 1, 20_000, 'the event once forwarded');
      const [event] = webhook.of('image.stored');
      assert.equal(event!.source, `s3://${s3.bucket}/site/`);
      assert.equal((event!.data as { url: string }).url, `s3://${s3.bucket}/site/${answer.key}`);
      assert.ok(await s3.object(`site/${answer.key}`), 'the object is there');
    } finally {
      await serve.stop();
      await webhook.down();
      await s3.stop();
      await rm(folder, { recursive: true, force: true });
    }
  });
});
