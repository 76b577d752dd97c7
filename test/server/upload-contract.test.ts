import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { SAMPLE_JPEG, cameraUpload, request, startReceiver } from '../support/receiver.js';
import type { RunningReceiver } from '../support/receiver.js';

const today = (): string => new Date().toISOString().slice(0, 10).replaceAll('-', '/');
const PNG_HEAD = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);

/** Sends raw bytes on a fresh connection and returns everything the server wrote until it closed or `until` matched. */
function rawExchange(port: number, chunks: Array<string | Buffer>, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (data) => {
      received += data.toString('latin1');
      if (until?.test(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    for (const chunk of chunks) socket.write(chunk);
  });
}

describe('upload contract over HTTP, disk store', () => {
  let receiver: RunningReceiver;
  before(async () => {
    receiver = await startReceiver({ maxBytes: 256 * 1024 });
  });
  after(() => receiver.close());

  it('answers GET and HEAD on the recipient URL with 200 and no token (the camera\'s Test button)', async () => {
    const get = await request(receiver.url);
    assert.equal(get.status, 200);
    assert.match(String(get.json.message), /ready/);
    const head = await request(receiver.url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  it('refuses other methods with 405 and an Allow header', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const response = await request(`${receiver.url}?accessToken=${receiver.token}`, {
        method,
        headers: { 'content-type': 'image/jpeg', 'content-length': String(SAMPLE_JPEG.length) },
        body: SAMPLE_JPEG,
      });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.allow, 'GET, HEAD, POST');
      assert.match(String(response.json.message), new RegExp(`${method} is not allowed`));
    }
  });

  it('stores a camera-shaped upload byte for byte under camera/date/filename and reports key, bytes and camera', async () => {
    const response = await cameraUpload(receiver, { filename: 'image26-11-23_10-15-00-12_00001.jpg' });
    assert.equal(response.status, 200);
    const key = `camera-1/${today()}/image26-11-23_10-15-00-12_00001.jpg`;
    assert.deepEqual(response.json, { key, bytes: SAMPLE_JPEG.length, camera: 'camera-1' });
    assert.deepEqual(await readFile(path.join(receiver.root, 'images', key)), SAMPLE_JPEG);
  });

  it('never overwrites: the same filename again is stored under a distinct name-suffix.ext key', async () => {
    const first = await cameraUpload(receiver, { filename: 'snapshot.jpg' });
    const differentBytes = Buffer.concat([SAMPLE_JPEG.subarray(0, -2), Buffer.from([0xff, 0xd9])]);
    differentBytes[100] = (differentBytes[100]! + 1) % 256;
    const second = await cameraUpload(receiver, { filename: 'snapshot.jpg', body: differentBytes });
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal(first.json.key, `camera-1/${today()}/snapshot.jpg`);
    assert.match(String(second.json.key), new RegExp(`^camera-1/${today()}/snapshot-[0-9a-z]+\\.jpg$`));
    assert.deepEqual(await readFile(path.join(receiver.root, 'images', String(first.json.key))), SAMPLE_JPEG);
    assert.deepEqual(await readFile(path.join(receiver.root, 'images', String(second.json.key))), differentBytes);
  });

  it('keeps a hostile filename inside the camera\'s own folder', async () => {
    const response = await cameraUpload(receiver, { filename: '../../../etc/passwd.jpg' });
    assert.equal(response.status, 200);
    assert.equal(response.json.key, `camera-1/${today()}/etc_passwd.jpg`);
  });

  it('generates a name from the receive time when Content-Disposition is missing or malformed', async () => {
    for (const disposition of [undefined, 'attachment; filename="unterminated']) {
      const headers: Record<string, string> = { 'content-type': 'image/jpeg' };
      if (disposition) headers['content-disposition'] = disposition;
      const response = await request(`${receiver.url}?accessToken=${receiver.token}`, { method: 'POST', headers, body: SAMPLE_JPEG });
      assert.equal(response.status, 200);
      assert.match(String(response.json.key), new RegExp(`^camera-1/${today()}/image-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d-\\d{3}Z(-[0-9a-z]+)?\\.jpg$`));
    }
  });

  it('answers 401 without a token and 403 for an unknown one, storing nothing', async () => {
    const before = await receiver.files();
    const missing = await cameraUpload(receiver, { token: null });
    assert.equal(missing.status, 401);
    assert.match(String(missing.json.message), /accessToken/);
    const empty = await cameraUpload(receiver, { token: '' });
    assert.equal(empty.status, 401);
    const wrong = await cameraUpload(receiver, { token: 'x'.repeat(32) });
    assert.equal(wrong.status, 403);
    assert.match(String(wrong.json.message), /not valid/);
    assert.deepEqual(await receiver.files(), before);
  });

  it('answers 403 for a revoked token at once, while the camera\'s other token keeps working', async () => {
    const spare = await receiver.tokens.create('camera-2');
    const rotated = await receiver.tokens.create('camera-2');
    assert.equal((await cameraUpload(receiver, { token: spare.token })).status, 200);
    await receiver.tokens.revoke(spare.id);
    assert.equal((await cameraUpload(receiver, { token: spare.token })).status, 403);
    const stillValid = await cameraUpload(receiver, { token: rotated.token });
    assert.equal(stillValid.status, 200);
    assert.match(String(stillValid.json.key), /^camera-2\//);
  });

  it('answers 400 when accessToken is given twice with different values', async () => {
    const response = await cameraUpload(receiver, { query: `?accessToken=${receiver.token}&accessToken=other` });
    assert.equal(response.status, 400);
    assert.match(String(response.json.message), /more than once/);
  });

  it('answers 415 for a content type that is not an accepted image or clip, or missing', async () => {
    for (const contentType of ['text/plain', 'image/svg+xml', 'video/quicktime', null]) {
      const response = await cameraUpload(receiver, { contentType });
      assert.equal(response.status, 415, String(contentType));
      assert.match(String(response.json.message), /Accepted: image\/jpeg/);
    }
  });

  it('answers 415 when the bytes do not match the content type, storing nothing', async () => {
    const before = await receiver.files();
    const pngAsJpeg = await cameraUpload(receiver, { body: PNG_HEAD });
    assert.equal(pngAsJpeg.status, 415);
    assert.equal(pngAsJpeg.json.message, 'Content-Type says image/jpeg but the bytes are image/png.');
    const text = await cameraUpload(receiver, { body: Buffer.from('<html><script>alert(1)</script></html>') });
    assert.equal(text.status, 415);
    assert.match(String(text.json.message), /not an image/);
    // A large refused body is not read to the end, yet the answer still reaches the camera.
    const large = await cameraUpload(receiver, { body: Buffer.alloc(200_000, 0x41), headers: { 'transfer-encoding': 'chunked' } });
    assert.equal(large.status, 415);
    assert.deepEqual(await receiver.files(), before);
  });

  it('accepts PNG, GIF, WebP and BMP with their own extensions', async () => {
    const bodies: Array<[string, Buffer, string]> = [
      ['image/png', PNG_HEAD, '.png'],
      ['image/gif', Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'), '.gif'],
      ['image/webp', Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 ')]), '.webp'],
      ['image/bmp', Buffer.concat([Buffer.from('BM'), Buffer.from([0x3a, 0, 0, 0]), Buffer.alloc(8)]), '.bmp'],
    ];
    for (const [contentType, body, extension] of bodies) {
      const response = await cameraUpload(receiver, { contentType, body, filename: 'picture' });
      assert.equal(response.status, 200, contentType);
      assert.ok(String(response.json.key).endsWith(`/picture${extension}`), String(response.json.key));
    }
  });

  it('answers 400 for an empty body, with Content-Length 0 or chunked', async () => {
    const announced = await cameraUpload(receiver, { body: Buffer.alloc(0) });
    assert.equal(announced.status, 400);
    assert.match(String(announced.json.message), /empty/);
    const chunked = await cameraUpload(receiver, { body: Buffer.alloc(0), headers: { 'transfer-encoding': 'chunked' } });
    assert.equal(chunked.status, 400);
  });

  it('answers 413 before reading the body when Content-Length is over the limit', async () => {
    const reply = await rawExchange(
      receiver.port,
      [`POST /?accessToken=${receiver.token} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${1024 * 1024}\r\n\r\n`],
      /\r\n\r\n[\s\S]*\}/,
    );
    assert.match(reply, /^HTTP\/1\.1 413 /);
    assert.match(reply, /larger than this receiver accepts \(256 KB\)/);
  });

  it('answers 413 for a chunked body that grows over the limit, leaving no file or temporary file', async () => {
    const before = await receiver.files();
    const big = Buffer.concat([SAMPLE_JPEG, Buffer.alloc(300 * 1024, 1)]);
    const response = await cameraUpload(receiver, { body: big, headers: { 'transfer-encoding': 'chunked' }, filename: 'too-big.jpg' });
    assert.equal(response.status, 413);
    assert.equal(response.headers.connection, 'close');
    assert.deepEqual(await receiver.files(), before);
  });

  it('answers Expect: 100-continue with 100 only for an upload it will take', async () => {
    const refused = await rawExchange(
      receiver.port,
      [`POST /?accessToken=wrongwrongwrongwrong HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${SAMPLE_JPEG.length}\r\nExpect: 100-continue\r\n\r\n`],
      /\r\n\r\n[\s\S]*\}/,
    );
    assert.match(refused, /^HTTP\/1\.1 403 /);
    assert.doesNotMatch(refused, /100 Continue/);

    const accepted = await new Promise<{ continued: boolean; status: number; key: string }>((resolve, reject) => {
      let continued = false;
      const outgoing = http.request(`${receiver.url}?accessToken=${receiver.token}`, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'image/jpeg', 'content-length': SAMPLE_JPEG.length, expect: '100-continue', 'content-disposition': 'attachment; filename="continued.jpg"' },
      });
      outgoing.on('continue', () => {
        continued = true;
        outgoing.end(SAMPLE_JPEG);
      });
      outgoing.on('response', (incoming) => {
        let body = '';
        incoming.on('data', (chunk: Buffer) => (body += chunk.toString()));
        incoming.on('end', () => resolve({ continued, status: incoming.statusCode ?? 0, key: String((JSON.parse(body) as { key: string }).key) }));
      });
      outgoing.on('error', reject);
    });
    assert.deepEqual(accepted, { continued: true, status: 200, key: `camera-1/${today()}/continued.jpg` });
  });

  it('leaves no file and no temporary file when the camera disconnects mid-body, and keeps serving', async () => {
    const before = await receiver.files();
    await new Promise<void>((resolve) => {
      const socket = net.connect(receiver.port, '127.0.0.1', () => {
        socket.write(
          `POST /?accessToken=${receiver.token} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename="cut.jpg"\r\nContent-Length: ${SAMPLE_JPEG.length}\r\n\r\n`,
        );
        socket.write(SAMPLE_JPEG.subarray(0, 20_000), () => setTimeout(() => socket.destroy(), 100));
      });
      socket.on('close', () => resolve());
    });
    // The server notices the reset asynchronously; give it a moment before looking.
    for (let attempt = 0; attempt < 50 && receiver.logs.every((line) => !line.includes('cut.jpg')); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(await receiver.files(), before);
    assert.equal((await cameraUpload(receiver, { filename: 'after-cut.jpg' })).status, 200);
  });

  it('logs one line per upload with camera, key, bytes, status and duration, and never the token', () => {
    const uploads = receiver.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'image stored');
    assert.ok(uploads.length >= 5);
    for (const line of uploads) {
      assert.equal(typeof line.camera, 'string');
      assert.equal(typeof line.key, 'string');
      assert.equal(typeof line.bytes, 'number');
      assert.equal(line.status, 200);
      assert.equal(typeof line.durationMs, 'number');
    }
    const all = receiver.logs.join('\n');
    assert.ok(!all.includes(receiver.token), 'a log line holds the camera token');
    const withQuery = receiver.logs.filter((line) => /accessToken=(?!<token>)/.test(line));
    assert.deepEqual(withQuery, [], 'a log line holds a query string');
  });

  it('serves /healthz and /readyz, and a JSON 404 elsewhere', async () => {
    assert.equal((await request(`http://127.0.0.1:${receiver.port}/healthz`)).status, 200);
    const ready = await request(`http://127.0.0.1:${receiver.port}/readyz`);
    assert.equal(ready.status, 200);
    const missing = await request(`http://127.0.0.1:${receiver.port}/nothing-here`);
    assert.equal(missing.status, 404);
    assert.match(String(missing.json.message), /cameras send images and clips to \//);
  });
});

describe('upload contract, other settings', () => {
  it('uses the Axis reference layout with --key-template {filename}', async () => {
    const receiver = await startReceiver({ keyTemplate: '{filename}' });
    try {
      const response = await cameraUpload(receiver, { filename: 'front.jpg' });
      assert.equal(response.json.key, 'front.jpg');
      assert.deepEqual(await readFile(path.join(receiver.root, 'images', 'front.jpg')), SAMPLE_JPEG);
    } finally {
      await receiver.close();
    }
  });

  it('answers 503 with Retry-After when the store is unreachable, and the message says the image was not stored', async () => {
    // An S3 store pointed at a port nobody listens on; `open` would fail, so it is skipped.
    const unreachable = new (class extends S3Store {
      override open(): Promise<void> {
        return Promise.resolve();
      }
    })({
      client: createS3Client({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
      bucket: 'images',
      conditionalWrites: 'yes',
    });
    const receiver = await startReceiver({ store: unreachable });
    try {
      const response = await cameraUpload(receiver);
      assert.equal(response.status, 503);
      assert.equal(response.headers['retry-after'], '10');
      assert.match(String(response.json.message), /not available.*not stored/);
      const ready = await request(`http://127.0.0.1:${receiver.port}/readyz`);
      assert.equal(ready.status, 503);
    } finally {
      await receiver.close();
    }
  });
});
