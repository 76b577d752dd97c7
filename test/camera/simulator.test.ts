import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';

import { AXIS_DEFAULT_FILENAME_PATTERN } from '../../src/camera/filename-pattern.js';
import { formatSummary, simulate, type UploadResult } from '../../src/camera/simulator.js';
import { OPENSSL_MISSING, selfSignedCertificate } from '../support/tls.js';

const image = readFileSync(new URL('../../assets/sample.jpg', import.meta.url));
const TOKEN = 's3cr3tToken42';

interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  remotePort: number;
}

interface Answer {
  status: number;
  body?: string;
  contentType?: string;
  delayMs?: number;
}

interface Receiver {
  url: string;
  requests: RecordedRequest[];
  maxInFlight: () => number;
  close: () => Promise<void>;
}

/** A receiver that records every request and answers as `answer` decides. */
async function startReceiver(
  answer: (request: RecordedRequest) => Answer,
  tls?: { key: Buffer; cert: Buffer },
): Promise<Receiver> {
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  // Pending delayed answers, cleared on close so that they do not keep the test process alive.
  const pending = new Set<NodeJS.Timeout>();
  const handler: http.RequestListener = (req, res) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => {
      inFlight -= 1;
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        remotePort: req.socket.remotePort ?? 0,
      };
      requests.push(recorded);
      const { status, body = '', contentType = 'text/plain', delayMs = 0 } = answer(recorded);
      const timer = setTimeout(() => {
        pending.delete(timer);
        res.writeHead(status, { 'Content-Type': contentType });
        res.end(body);
      }, delayMs);
      pending.add(timer);
    });
  };
  const server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    requests,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of pending) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The sequence number a request's default-pattern filename carries. */
function sequenceOf(request: RecordedRequest): number {
  const match = /_(\d{5})\.jpg"$/.exec(request.headers['content-disposition'] ?? '');
  return Number(match?.[1]);
}

/** A port on 127.0.0.1 where nothing listens. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('simulate', () => {
  it('sends exactly what an Axis camera sends and counts the answers', async () => {
    // Every 5th image is refused, image 7 gets a plain-text answer like the Axis AWS reference.
    const receiver = await startReceiver((request) => {
      const sequence = sequenceOf(request);
      if (sequence % 5 === 0) {
        return { status: 403, body: JSON.stringify({ message: 'invalid token' }), contentType: 'application/json', delayMs: 15 };
      }
      if (sequence === 7) return { status: 200, body: 'OK', delayMs: 15 };
      return { status: 201, body: JSON.stringify({ key: `stored/${sequence}.jpg` }), contentType: 'application/json', delayMs: 15 };
    });
    const reported: UploadResult[] = [];
    try {
      const summary = await simulate({
        recipient: `${receiver.url}/upload/cam1?site=north&note=a%20b`,
        token: TOKEN,
        count: 20,
        concurrency: 4,
        image,
        filenamePattern: AXIS_DEFAULT_FILENAME_PATTERN,
        hostName: 'axis-test',
        onResult: (result) => reported.push(result),
      });

      assert.equal(receiver.requests.length, 20);
      for (const request of receiver.requests) {
        assert.equal(request.method, 'POST');
        assert.equal(request.url, `/upload/cam1?site=north&note=a%20b&accessToken=${TOKEN}`);
        assert.deepEqual(Object.keys(request.headers).sort(), [
          'connection',
          'content-disposition',
          'content-length',
          'content-type',
          'host',
        ]);
        assert.equal(request.headers['content-type'], 'image/jpeg');
        assert.equal(request.headers['content-length'], String(image.length));
        assert.match(
          request.headers['content-disposition'] ?? '',
          /^attachment; filename="image\d{2}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}-\d{2}_\d{5}\.jpg"$/,
        );
        assert.ok(request.body.equals(image), 'body is the image, byte for byte');
      }
      const sequences = receiver.requests.map(sequenceOf).sort((a, b) => a - b);
      assert.deepEqual(sequences, Array.from({ length: 20 }, (_, i) => i + 1));

      assert.ok(receiver.maxInFlight() <= 4, `at most 4 in flight, saw ${receiver.maxInFlight()}`);
      assert.ok(receiver.maxInFlight() >= 2, `uploads overlap, saw ${receiver.maxInFlight()}`);
      const sockets = new Set(receiver.requests.map((request) => request.remotePort));
      assert.ok(sockets.size <= 4, `keep-alive sockets are reused, saw ${sockets.size}`);

      assert.equal(summary.sent, 20);
      assert.equal(summary.accepted, 16);
      assert.equal(summary.rejected, 4);
      assert.deepEqual(summary.rejectedByStatus, { 403: 4 });
      assert.equal(summary.networkErrors, 0);
      assert.deepEqual(summary.networkErrorsByCode, {});
      assert.deepEqual(summary.errorMessages, ['403: invalid token']);
      assert.deepEqual(
        summary.acceptedKeys,
        [1, 2, 3, 4, 6, 8, 9, 11, 12, 13, 14, 16, 17, 18, 19].map((sequence) => `stored/${sequence}.jpg`),
      );
      assert.equal(summary.imageBytes, image.length);
      assert.equal(summary.concurrency, 4);
      assert.ok(summary.elapsedSeconds > 0);
      assert.ok(Math.abs(summary.imagesPerSecond - 16 / summary.elapsedSeconds) < 1e-6);
      assert.ok(Math.abs(summary.megabytesPerSecond - (16 * image.length) / 1024 ** 2 / summary.elapsedSeconds) < 1e-6);
      const latency = summary.latencyMs;
      assert.ok(latency !== undefined);
      assert.ok(latency.p50 >= 10 && latency.p50 <= latency.p95 && latency.p95 <= latency.p99 && latency.p99 <= latency.max);

      assert.equal(reported.length, 20);
      const seven = reported.find((result) => result.sequence === 7);
      assert.deepEqual(seven && { accepted: seven.accepted, status: seven.status, key: seven.key }, {
        accepted: true,
        status: 200,
        key: undefined,
      });

      const text = formatSummary(summary);
      assert.ok(!text.includes(TOKEN), 'the summary never shows the token');
      assert.ok(!JSON.stringify(summary).includes(TOKEN), 'the summary object never holds the token');
      assert.match(text, /\?site=north&note=a%20b&accessToken=\*\*\*/);
      assert.match(text, /Accepted 16, rejected 4 \(403×4\), network errors 0/);
      assert.match(text, /Latency ms: p50 /);
      assert.match(text, /403: invalid token/);
    } finally {
      await receiver.close();
    }
  });

  it('starts at the given sequence number and sends no query without a token', async () => {
    const receiver = await startReceiver(() => ({ status: 200 }));
    try {
      const summary = await simulate({
        recipient: receiver.url,
        count: 3,
        concurrency: 1,
        image,
        filenamePattern: '#n/cam_#s.jpg',
        hostName: 'gate',
        startSequence: 42,
      });
      assert.deepEqual(
        receiver.requests.map((request) => [request.url, request.headers['content-disposition']]),
        [
          ['/', 'attachment; filename="gate/cam_00042.jpg"'],
          ['/', 'attachment; filename="gate/cam_00043.jpg"'],
          ['/', 'attachment; filename="gate/cam_00044.jpg"'],
        ],
      );
      assert.equal(summary.accepted, 3);
      assert.deepEqual(summary.acceptedKeys, []);
      assert.equal(summary.recipient, `${receiver.url}/`);
    } finally {
      await receiver.close();
    }
  });

  it('sends a non-ASCII filename as its UTF-8 bytes, as a camera does', async () => {
    const receiver = await startReceiver(() => ({ status: 200 }));
    try {
      const summary = await simulate({ recipient: receiver.url, count: 1, concurrency: 1, image, filenamePattern: 'Küche-€_#s.jpg' });
      assert.equal(summary.accepted, 1);
      // Node reads header bytes as Latin-1: turning them back into bytes gives what was on the wire.
      const onTheWire = Buffer.from(receiver.requests[0]?.headers['content-disposition'] ?? '', 'latin1');
      assert.deepEqual(onTheWire, Buffer.from('attachment; filename="Küche-€_00001.jpg"', 'utf8'));
      assert.deepEqual(receiver.requests[0]?.body, image);
    } finally {
      await receiver.close();
    }
  });

  it('reports receiver messages one-lined, truncated, distinct and without the token', async () => {
    const receiver = await startReceiver((request) =>
      sequenceOf(request) % 2 === 0
        ? { status: 401, body: `bad token ${TOKEN}\nfor this camera` }
        : { status: 500, body: 'x'.repeat(1000) },
    );
    try {
      const summary = await simulate({
        recipient: receiver.url,
        token: TOKEN,
        count: 6,
        concurrency: 2,
        image,
        filenamePattern: AXIS_DEFAULT_FILENAME_PATTERN,
      });
      assert.deepEqual(summary.rejectedByStatus, { 401: 3, 500: 3 });
      assert.equal(summary.errorMessages.length, 2);
      assert.ok(summary.errorMessages.includes('401: bad token *** for this camera'));
      const long = summary.errorMessages.find((message) => message.startsWith('500: '));
      assert.ok(long !== undefined && long.length <= 205 && long.endsWith('…'));
      assert.ok(!formatSummary(summary).includes(TOKEN));
    } finally {
      await receiver.close();
    }
  });

  it('reports an unreachable recipient as network errors instead of failing', async () => {
    const port = await closedPort();
    const reported: UploadResult[] = [];
    const summary = await simulate({
      recipient: `http://127.0.0.1:${port}/`,
      token: TOKEN,
      count: 5,
      concurrency: 2,
      image,
      filenamePattern: AXIS_DEFAULT_FILENAME_PATTERN,
      onResult: (result) => reported.push(result),
    });
    assert.equal(summary.sent, 5);
    assert.equal(summary.accepted, 0);
    assert.equal(summary.rejected, 0);
    assert.equal(summary.networkErrors, 5);
    assert.deepEqual(summary.networkErrorsByCode, { ECONNREFUSED: 5 });
    assert.equal(summary.latencyMs, undefined);
    assert.equal(summary.errorMessages.length, 1);
    assert.match(summary.errorMessages[0] ?? '', /^ECONNREFUSED: /);
    assert.ok(reported.every((result) => result.status === undefined && result.errorCode === 'ECONNREFUSED'));
    const text = formatSummary(summary);
    assert.match(text, /network errors 5 \(ECONNREFUSED×5\)/);
    assert.doesNotMatch(text, /Latency/);
    assert.ok(!text.includes(TOKEN));
  });

  it('gives up on a receiver that does not answer in time', async () => {
    const receiver = await startReceiver(() => ({ status: 200, delayMs: 10_000 }));
    try {
      const summary = await simulate({
        recipient: receiver.url,
        count: 3,
        concurrency: 3,
        image,
        filenamePattern: AXIS_DEFAULT_FILENAME_PATTERN,
        timeoutMs: 100,
      });
      assert.deepEqual(summary.networkErrorsByCode, { ETIMEDOUT: 3 });
      assert.deepEqual(summary.errorMessages, ['ETIMEDOUT: no response within 100 ms']);
      assert.ok(summary.elapsedSeconds < 5);
    } finally {
      await receiver.close();
    }
  });

  it('rejects invalid options before sending anything', async () => {
    const base = { count: 1, concurrency: 1, image, filenamePattern: 'a.jpg' };
    await assert.rejects(simulate({ ...base, recipient: 'ftp://127.0.0.1/' }), TypeError);
    await assert.rejects(simulate({ ...base, recipient: 'not a url' }), TypeError);
    await assert.rejects(simulate({ ...base, recipient: 'http://127.0.0.1/', concurrency: 0 }), RangeError);
    await assert.rejects(simulate({ ...base, recipient: 'http://127.0.0.1/', count: 1.5 }), RangeError);
  });

  it('sends nothing for a count of 0', async () => {
    const summary = await simulate({
      recipient: 'http://127.0.0.1:9/',
      count: 0,
      concurrency: 4,
      image,
      filenamePattern: 'a.jpg',
    });
    assert.equal(summary.sent, 0);
    assert.equal(summary.imagesPerSecond, 0);
  });

  it('stops and rejects when the progress callback throws', async () => {
    const receiver = await startReceiver(() => ({ status: 200 }));
    try {
      await assert.rejects(
        simulate({
          recipient: receiver.url,
          count: 50,
          concurrency: 2,
          image,
          filenamePattern: 'a.jpg',
          onResult: () => {
            throw new Error('progress display broke');
          },
        }),
        /progress display broke/,
      );
      assert.ok(receiver.requests.length < 50);
    } finally {
      await receiver.close();
    }
  });

  it('accepts a self-signed certificate only when trusted with ca, or when insecure, and says which to use', { skip: OPENSSL_MISSING }, async () => {
    {
      const tls = selfSignedCertificate();
      const receiver = await startReceiver(() => ({ status: 200, body: '{"key":"k"}', contentType: 'application/json' }), tls);
      try {
        const options = { recipient: receiver.url, token: TOKEN, count: 2, concurrency: 1, image, filenamePattern: 'a.jpg' };
        const strict = await simulate(options);
        assert.equal(strict.networkErrors, 2);
        assert.match(Object.keys(strict.networkErrorsByCode)[0] ?? '', /SELF_SIGNED|CERT/);
        assert.match(strict.errorMessages[0] ?? '', /not trusted: give it with --ca FILE, or --insecure/);

        // Trusting the receiver's own certificate, as a camera with it in its CA store does.
        const trusted = await simulate({ ...options, ca: tls.cert });
        assert.equal(trusted.accepted, 2);

        const insecure = await simulate({ ...options, insecure: true });
        assert.equal(insecure.accepted, 2);
        assert.deepEqual(insecure.acceptedKeys, ['k', 'k']);
        assert.equal(receiver.requests[0]?.url, `/?accessToken=${TOKEN}`);
      } finally {
        await receiver.close();
      }
    }
  });
});
