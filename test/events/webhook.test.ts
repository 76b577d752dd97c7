import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { imageStoredEvent } from '../../src/events/cloud-event.js';
import type { ReceiverEvent } from '../../src/events/cloud-event.js';
import { WebhookDeliveryError, WebhookSink } from '../../src/events/webhook.js';
import { freePort } from '../support/ports.js';

/*
 * The webhook sink against a real HTTP server on loopback: what a receiver gets (headers, a body
 * the Standard Webhooks library verifies), and how each way a delivery fails reads in the log.
 */

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const SECRET_BYTES = SECRET.slice('whsec_'.length);

function sampleEvent(key = '2024/05/01/camera-1/12-00-00.jpg'): ReceiverEvent {
  return imageStoredEvent('s3://images/prefix', {
    camera: 'camera-1',
    key,
    bytes: 12_345,
    contentType: 'image/jpeg',
    kind: 'image',
    receivedAt: '2024-05-01T12:00:00.000Z',
    store: 's3://images/prefix',
    url: `s3://images/prefix/${key}`,
  });
}

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  port: number;
  url: string;
  received: Received[];
  /** Sockets the server accepted, to check that the sink closes them. */
  sockets: net.Socket[];
  /** Resolves with the next request as soon as its headers arrived (before it is answered). */
  nextRequest(): Promise<void>;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records each request and lets `answer` reply (or not). */
async function startReceiver(answer: (request: http.IncomingMessage, response: http.ServerResponse, body: string) => void): Promise<Receiver> {
  const received: Received[] = [];
  const sockets: net.Socket[] = [];
  let waiting: (() => void)[] = [];
  const server = http.createServer((request, response) => {
    for (const resolve of waiting) resolve();
    waiting = [];
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body });
      answer(request, response, body);
    });
  });
  server.on('connection', (socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}/hooks/cameras`,
    received,
    sockets,
    nextRequest: () => new Promise((resolve) => waiting.push(resolve)),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves once `socket` is closed, or rejects after `ms`. */
function closed(socket: net.Socket | undefined, ms: number): Promise<void> {
  assert.ok(socket, 'the server accepted a connection');
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the socket was still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The error `promise` rejects with, checked to be a delivery error without the secret. */
async function failure(promise: Promise<void>): Promise<WebhookDeliveryError> {
  const error = await promise.then(
    () => assert.fail('the delivery was acknowledged'),
    (reason: unknown) => reason,
  );
  assert.ok(error instanceof WebhookDeliveryError, `not a WebhookDeliveryError: ${String(error)}`);
  assert.ok(!error.message.includes(SECRET_BYTES), `the secret is in: ${error.message}`);
  return error;
}

describe('webhook sink: delivery', () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver((request, response) => {
      if (request.url?.startsWith('/fail')) {
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`database down; your key is ${new URL(request.url, 'http://x').searchParams.get('key') ?? ''}`);
      } else if (request.url?.startsWith('/html')) {
        response.writeHead(502, { 'content-type': 'text/html' }).end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      } else if (request.url?.startsWith('/moved')) {
        response.writeHead(302, { location: 'https://new.example/hooks/in?token=redirect-secret-123' }).end();
      } else if (request.url?.startsWith('/with-body')) {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: true, padding: 'x'.repeat(10_000) }));
      } else if (request.url?.startsWith('/gone')) {
        response.writeHead(404).end();
      } else {
        response.writeHead(204).end();
      }
    });
  });
  after(() => receiver.close());

  it('POSTs the event as CloudEvents JSON, signed so that the Standard Webhooks library verifies it, with the event id as webhook-id', async () => {
    const sink = new WebhookSink({ url: receiver.url, secret: SECRET });
    const event = sampleEvent();
    const before = Math.floor(Date.now() / 1000);
    try {
      await sink.deliver(event);
    } finally {
      await sink.close();
    }
    const [request] = receiver.received.splice(0);
    assert.ok(request);
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/hooks/cameras');
    assert.equal(request.headers['content-type'], 'application/cloudevents+json; charset=utf-8');
    assert.equal(request.headers['user-agent'], 'images-to-s3');
    assert.equal(request.headers['webhook-id'], event.id);
    const timestamp = Number(request.headers['webhook-timestamp']);
    assert.ok(timestamp >= before && timestamp <= Math.floor(Date.now() / 1000), `webhook-timestamp ${timestamp} is not now`);
    assert.match(String(request.headers['webhook-signature']), /^v1,[A-Za-z0-9+/]+=*$/);
    assert.equal(request.body, JSON.stringify(event));
    const verified = new Webhook(SECRET).verify(request.body, {
      'webhook-id': String(request.headers['webhook-id']),
      'webhook-timestamp': String(request.headers['webhook-timestamp']),
      'webhook-signature': String(request.headers['webhook-signature']),
    });
    assert.deepEqual(verified, event);
  });

  it('a receiver with another secret does not verify the signature', async () => {
    const sink = new WebhookSink({ url: receiver.url, secret: SECRET });
    try {
      await sink.deliver(sampleEvent());
    } finally {
      await sink.close();
    }
    const [request] = receiver.received.splice(0);
    assert.ok(request);
    const other = new Webhook(`whsec_${randomBytes(32).toString('base64')}`);
    assert.throws(() => other.verify(request.body, request.headers as Record<string, string>), /No matching signature/);
  });

  it('delivers 8 events at once, each signed with its own id', async () => {
    const sink = new WebhookSink({ url: receiver.url, secret: SECRET });
    assert.equal(sink.concurrency, 8);
    const events = Array.from({ length: 8 }, (_, index) => sampleEvent(`2024/05/01/camera-1/${index}.jpg`));
    try {
      await Promise.all(events.map((event) => sink.deliver(event)));
    } finally {
      await sink.close();
    }
    const received = receiver.received.splice(0);
    assert.deepEqual(received.map((request) => request.headers['webhook-id']).sort(), events.map((event) => event.id).sort());
    const webhook = new Webhook(SECRET);
    for (const request of received) webhook.verify(request.body, request.headers as Record<string, string>);
  });

  it('reads each answer to its end, so one connection carries delivery after delivery', async () => {
    const sink = new WebhookSink({ url: `http://127.0.0.1:${receiver.port}/with-body`, secret: SECRET });
    const connections = receiver.sockets.length;
    try {
      for (let index = 0; index < 3; index += 1) await sink.deliver(sampleEvent(`2024/05/01/camera-1/${index}.jpg`));
    } finally {
      await sink.close();
    }
    assert.equal(receiver.received.splice(0).length, 3);
    assert.equal(receiver.sockets.length - connections, 1);
  });

  it('rejects a 500 with the status and the receiver\'s words, but not the key from the URL\'s query', async () => {
    const sink = new WebhookSink({ url: `http://127.0.0.1:${receiver.port}/fail?key=query-secret-abc`, secret: SECRET });
    try {
      const error = await failure(sink.deliver(sampleEvent()));
      assert.equal(error.status, 500);
      assert.match(error.message, /^webhook http:\/\/127\.0\.0\.1:\d+\/fail: answered 500 Internal Server Error: "database down; your key is …"$/);
      assert.ok(!error.message.includes('query-secret-abc'));
    } finally {
      await sink.close();
      receiver.received.splice(0);
    }
  });

  it('rejects a 502 with an HTML page with the status only, and a 404 with a hint at the path', async () => {
    const html = new WebhookSink({ url: `http://127.0.0.1:${receiver.port}/html`, secret: SECRET });
    const gone = new WebhookSink({ url: `http://127.0.0.1:${receiver.port}/gone`, secret: SECRET });
    try {
      assert.match((await failure(html.deliver(sampleEvent()))).message, /: answered 502 Bad Gateway$/);
      assert.match((await failure(gone.deliver(sampleEvent()))).message, /: answered 404 Not Found \(check the path in --webhook\)$/);
    } finally {
      await html.close();
      await gone.close();
      receiver.received.splice(0);
    }
  });

  it('does not follow a redirect: it rejects naming the target, without the target\'s query', async () => {
    const sink = new WebhookSink({ url: `http://127.0.0.1:${receiver.port}/moved`, secret: SECRET });
    try {
      const error = await failure(sink.deliver(sampleEvent()));
      assert.equal(error.status, 302);
      assert.match(error.message, /answered 302 Found: redirects to https:\/\/new\.example\/hooks\/in \(not followed/);
      assert.ok(!error.message.includes('redirect-secret-123'));
      assert.equal(receiver.received.splice(0).length, 1, 'one request, to the configured URL only');
    } finally {
      await sink.close();
    }
  });

  it('rejects when the connection is refused (nothing listens on the port)', async () => {
    const port = await freePort();
    const sink = new WebhookSink({ url: `http://127.0.0.1:${port}/hook`, secret: SECRET });
    try {
      const error = await failure(sink.deliver(sampleEvent()));
      assert.equal(error.code, 'ECONNREFUSED');
      assert.match(error.message, new RegExp(`^webhook http://127\\.0\\.0\\.1:${port}/hook: connection refused \\(nothing listens on 127\\.0\\.0\\.1:${port}`));
    } finally {
      await sink.close();
    }
  });

  it('sends user:password as Basic authentication and keeps them out of its name', async () => {
    const sink = new WebhookSink({ url: `http://vms:pass%20word@127.0.0.1:${receiver.port}/hooks/cameras`, secret: SECRET });
    try {
      await sink.deliver(sampleEvent());
      assert.equal(sink.name, `webhook http://127.0.0.1:${receiver.port}/hooks/cameras`);
    } finally {
      await sink.close();
    }
    const [request] = receiver.received.splice(0);
    assert.equal(request?.headers.authorization, `Basic ${Buffer.from('vms:pass word').toString('base64')}`);
  });
});

describe('webhook sink: an endpoint that never answers', () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver(() => undefined);
  });
  after(() => receiver.close());

  it('rejects at the timeout and closes the connection', async () => {
    const sink = new WebhookSink({ url: receiver.url, secret: SECRET, timeoutMs: 300 });
    const started = Date.now();
    try {
      const error = await failure(sink.deliver(sampleEvent()));
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 280 && elapsed < 2_000, `rejected after ${elapsed} ms`);
      assert.equal(error.code, 'ETIMEDOUT');
      assert.match(error.message, /: timed out after 300 ms waiting for an answer$/);
      await closed(receiver.sockets.at(-1), 1_000);
    } finally {
      await sink.close();
    }
  });

  it('close() aborts a delivery under way and closes its connection', async () => {
    const sink = new WebhookSink({ url: receiver.url, secret: SECRET });
    const arrived = receiver.nextRequest();
    const delivery = sink.deliver(sampleEvent());
    await arrived;
    const started = Date.now();
    await sink.close();
    const error = await failure(delivery);
    assert.ok(Date.now() - started < 1_000);
    assert.equal(error.code, 'ABORT_ERR');
    assert.match(error.message, /delivery aborted: the sink is closing/);
    await closed(receiver.sockets.at(-1), 1_000);
  });

  it('after close(), refuses deliveries until it is opened again', async () => {
    const sink = new WebhookSink({ url: receiver.url, secret: SECRET, timeoutMs: 200 });
    await sink.close();
    assert.match((await failure(sink.deliver(sampleEvent()))).message, /the sink is closed/);
    await sink.open();
    assert.equal((await failure(sink.deliver(sampleEvent()))).code, 'ETIMEDOUT', 'it tried again');
    await sink.close();
  });
});

describe('webhook sink: settings', () => {
  it('is named by the URL without user, password, query or fragment', () => {
    const sink = new WebhookSink({ url: 'https://user:pass@vms.example:8443/hooks/in?key=abc123#top', secret: SECRET });
    assert.equal(sink.name, 'webhook https://vms.example:8443/hooks/in');
    assert.equal(new WebhookSink({ url: 'http://vms.example', secret: SECRET }).name, 'webhook http://vms.example/');
  });

  it('refuses a URL that is not http(s), naming --webhook and never repeating a malformed one', () => {
    for (const url of ['ftp://vms.example/in', 'mqtt://broker:1883', 'file:///tmp/hook', 'vms.example/hook', '', 'http://']) {
      assert.throws(() => new WebhookSink({ url, secret: SECRET }), (error: Error) => {
        assert.match(error.message, /^--webhook /);
        return true;
      }, url);
    }
    assert.throws(() => new WebhookSink({ url: 'not a url?key=secret-in-query', secret: SECRET }), (error: Error) => {
      assert.ok(!error.message.includes('secret-in-query'), error.message);
      return true;
    });
  });

  it('refuses a secret that is not whsec_ and base64 of 24 bytes or more, saying how to make one and never showing it', () => {
    const bad = [
      '',
      'hunter2-hunter2-hunter2-hunter2',
      SECRET_BYTES,
      'whsec_',
      'whsec_not base64 at all!',
      'whsec_YWJj%%%',
      `whsec_${randomBytes(16).toString('base64')}`,
    ];
    for (const secret of bad) {
      assert.throws(() => new WebhookSink({ url: 'https://vms.example/hook', secret }), (error: Error) => {
        assert.match(error.message, /^--webhook-secret /);
        assert.match(error.message, /echo "whsec_\$\(openssl rand -base64 32\)"/);
        if (secret.length > 6) assert.ok(!error.message.includes(secret) && !error.message.includes(secret.slice(6)), error.message);
        return true;
      }, secret);
    }
  });

  it('takes a secret as Standard Webhooks providers issue it (24 bytes, no padding) and with a trailing newline', () => {
    assert.doesNotThrow(() => new WebhookSink({ url: 'https://vms.example/hook', secret: `whsec_${randomBytes(24).toString('base64')}` }));
    assert.doesNotThrow(() => new WebhookSink({ url: 'https://vms.example/hook', secret: `${SECRET}\n` }));
  });
});
