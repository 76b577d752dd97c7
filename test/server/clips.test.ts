/**
 * Video clips through the upload contract, over real sockets with real files: clips made with
 * ffmpeg (MP4 and Matroska with H.264, WebM with VP8 where ffmpeg has libvpx), stored byte for byte
 * under their own extension on disk and in S3 (s3rver, with and without the spool); the clip size
 * limit beside the image limit; raw and multipart framing; the clip time bound beside the image
 * bound; memory that does not grow with a 500 MB clip; `simulate --clip`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { SpooledStore } from '../../src/spool/spooled-store.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { TokenRegistry } from '../../src/tokens/registry.js';
import { clipBody, ffmpegMissing, makeClips, pieces, streamUpload } from '../support/clips.js';
import type { MadeClip } from '../support/clips.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import { FORM_CONTENT_TYPE, multipartBody } from '../support/multipart.js';
import { SAMPLE_JPEG, cameraUpload, startReceiver } from '../support/receiver.js';
import type { RunningReceiver } from '../support/receiver.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** tsx's loader by absolute URL, so the child processes can run from any working directory. */
const TSX = import.meta.resolve('tsx');
const KiB = 1024;
const MiB = 1024 * 1024;
const today = (): string => new Date().toISOString().slice(0, 10).replaceAll('-', '/');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const missing = ffmpegMissing();
if (missing) process.stdout.write(`NOTICE: clip tests skipped: ${missing}\n`);

let work: string;
let clips: MadeClip[] = [];
/** The Matroska clip (Axis cameras record Matroska). */
const mkv = (): MadeClip => clips.find((clip) => clip.container === 'mkv')!;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-clips-'));
  if (!missing) clips = await makeClips(work);
});
after(() => rm(work, { recursive: true, force: true }));

/** `bytes` of a clip: the Matroska clip's own bytes, then filler (only the head is sniffed). */
function largeClip(bytes: number): Buffer {
  return Buffer.concat([...clipBody(mkv().bytes, bytes)]);
}

/** The upload headers a camera sends for a raw body. */
function cameraHeaders(receiver: RunningReceiver, contentType: string, filename: string, length?: number): [string, Record<string, string>] {
  return [
    `${receiver.url}?accessToken=${receiver.token}`,
    { 'content-type': contentType, 'content-disposition': `attachment; filename="${filename}"`, ...(length !== undefined && { 'content-length': String(length) }) },
  ];
}

/** Sends only a request's head and returns the answer, which must come before any body. */
function answerToHead(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let received = '';
    socket.on('data', (data) => {
      received += data.toString('latin1');
      if (/\r\n\r\n[\s\S]*\}/.test(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

async function storedBytes(receiver: RunningReceiver, key: unknown): Promise<Buffer> {
  return readFile(path.join(receiver.root, 'images', String(key)));
}

describe('clips through the upload contract, disk store', { skip: missing }, () => {
  let receiver: RunningReceiver;
  before(async () => {
    receiver = await startReceiver({ maxBytes: 256 * KiB, maxClipBytes: 1 * MiB });
  });
  after(() => receiver.close());

  it('makes MP4 and Matroska clips with ffmpeg (and WebM where it has libvpx)', () => {
    const made = clips.map((clip) => clip.container);
    assert.ok(made.includes('mp4') && made.includes('mkv'), `ffmpeg made ${made.join(', ')}; libx264 missing?`);
    if (!made.includes('webm')) process.stdout.write('NOTICE: this ffmpeg has no libvpx: no WebM clip tested\n');
  });

  it('stores each clip byte for byte under its own extension, logged as "clip stored"', async () => {
    for (const clip of clips) {
      const filename = `event_20261206_101500_00001${clip.extension}`;
      const response = await cameraUpload(receiver, { contentType: clip.mediaType, body: clip.bytes, filename });
      assert.equal(response.status, 200, response.body);
      assert.deepEqual(response.json, { key: `camera-1/${today()}/${filename}`, bytes: clip.bytes.byteLength, camera: 'camera-1' });
      assert.deepEqual(await storedBytes(receiver, response.json.key), clip.bytes, `${clip.container} differs`);
      const line = receiver.logs.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.key === response.json.key);
      assert.equal(line?.msg, 'clip stored');
      assert.equal(line?.kind, 'clip');
    }
  });

  it('gives a clip its own extension when the camera\'s name has another, and a generated clip name when it has none', async () => {
    const clip = mkv();
    const renamed = await cameraUpload(receiver, { contentType: 'video/x-matroska', body: clip.bytes, filename: 'event.bin' });
    assert.equal(renamed.json.key, `camera-1/${today()}/event.bin.mkv`);
    const unnamed = await cameraUpload(receiver, { contentType: 'video/mkv', body: clip.bytes, headers: { 'content-disposition': '' } });
    assert.equal(unnamed.status, 200, unnamed.body);
    assert.match(String(unnamed.json.key), new RegExp(`^camera-1/${today()}/clip-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d-\\d{3}Z(-[0-9a-z]+)?\\.mkv$`));
  });

  it('recognises clips and images sent as application/octet-stream by their bytes, and refuses other bytes with 415', async () => {
    for (const clip of clips) {
      const response = await cameraUpload(receiver, { contentType: 'application/octet-stream', body: clip.bytes, filename: `octet-${clip.container}` });
      assert.equal(response.status, 200, response.body);
      assert.equal(response.json.key, `camera-1/${today()}/octet-${clip.container}${clip.extension}`);
      assert.deepEqual(await storedBytes(receiver, response.json.key), clip.bytes);
    }
    const image = await cameraUpload(receiver, { contentType: 'application/octet-stream', filename: 'octet-image' });
    assert.equal(image.json.key, `camera-1/${today()}/octet-image.jpg`);
    const before = await receiver.files();
    const text = await cameraUpload(receiver, { contentType: 'application/octet-stream', body: Buffer.from('just some text, not a clip'), filename: 'text' });
    assert.equal(text.status, 415);
    assert.match(String(text.json.message), /not an image or clip of an accepted type \(image\/jpeg.*video\/x-matroska, video\/webm, video\/mp4\)/);
    // A HEIC photo is an ISO BMFF file as MP4 is, of an image brand: not a clip.
    const heic = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1'), Buffer.alloc(200)]);
    assert.equal((await cameraUpload(receiver, { contentType: 'application/octet-stream', body: heic, filename: 'photo.heic' })).status, 415);
    assert.deepEqual(await receiver.files(), before);
  });

  it('refuses with 415 bytes that claim to be video and are not, and video types it does not take, storing nothing', async () => {
    const before = await receiver.files();
    const cases: Array<[string, Buffer, RegExp]> = [
      ['video/mp4', SAMPLE_JPEG, /^Content-Type says video\/mp4 but the bytes are image\/jpeg\.$/],
      ['video/x-matroska', Buffer.from('RIFF....AVI LIST'.repeat(8)), /^Content-Type says video\/x-matroska but the bytes are not an image or clip of an accepted type\.$/],
      ['video/webm', mkv().bytes, /^Content-Type says video\/webm but the bytes are video\/x-matroska\.$/],
      ['video/mp4', mkv().bytes.subarray(0, 40), /^Content-Type says video\/mp4 but the bytes are/],
      ['video/quicktime', clips[0]!.bytes, /^Content-Type "video\/quicktime" is not an accepted image or clip type\. Accepted: .*video\/mp4, or application\/octet-stream/],
    ];
    for (const [contentType, body, message] of cases) {
      const response = await cameraUpload(receiver, { contentType, body, filename: 'claimed.mkv' });
      assert.equal(response.status, 415, `${contentType}: ${response.body}`);
      assert.match(String(response.json.message), message);
    }
    assert.deepEqual(await receiver.files(), before);
  });

  it('stores the one file part of a multipart/form-data body, by the part\'s filename and type, raw or chunked', async () => {
    for (const clip of clips) {
      const form = multipartBody([
        { name: 'camera', body: Buffer.from('front door') },
        { name: 'file', filename: `form-${clip.container}${clip.extension}`, contentType: clip.mediaType, body: clip.bytes },
        { name: 'note', body: Buffer.from('after the file') },
      ]);
      const response = await cameraUpload(receiver, { contentType: FORM_CONTENT_TYPE, body: form, headers: { 'content-disposition': '' } });
      assert.equal(response.status, 200, response.body);
      assert.deepEqual(response.json, { key: `camera-1/${today()}/form-${clip.container}${clip.extension}`, bytes: clip.bytes.byteLength, camera: 'camera-1' });
      assert.deepEqual(await storedBytes(receiver, response.json.key), clip.bytes);
    }
    // A part sent as application/octet-stream, or without a type, is recognised by its bytes; a path in its name is folded.
    for (const contentType of ['application/octet-stream', undefined]) {
      const form = multipartBody([{ name: 'file', filename: 'uploads/../event', ...(contentType && { contentType }), body: mkv().bytes }]);
      const [url, headers] = cameraHeaders(receiver, FORM_CONTENT_TYPE, 'ignored.bin');
      const chunked = await streamUpload(url, { ...headers, 'transfer-encoding': 'chunked' }, pieces(form, 7));
      assert.equal(chunked.status, 200, chunked.body);
      assert.match(String(chunked.json.key), new RegExp(`^camera-1/${today()}/uploads_event(-[0-9a-z]+)?\\.mkv$`));
      assert.deepEqual(await storedBytes(receiver, chunked.json.key), mkv().bytes);
    }
    const image = await cameraUpload(receiver, { contentType: FORM_CONTENT_TYPE, body: multipartBody([{ name: 'file', filename: 'snapshot.jpg', contentType: 'image/jpeg', body: SAMPLE_JPEG }]) });
    assert.equal(image.json.key, `camera-1/${today()}/snapshot.jpg`);
  });

  it('refuses a multipart body without exactly one usable file part with 400 (415 for a part of another type), storing nothing', async () => {
    const before = await receiver.files();
    const clip = mkv();
    const cut = multipartBody([{ name: 'file', filename: 'cut.mkv', contentType: 'video/x-matroska', body: clip.bytes }]);
    const cases: Array<[string, Buffer, number, RegExp, string?]> = [
      [
        'two file parts',
        multipartBody([
          { name: 'file', filename: 'one.mkv', contentType: 'video/x-matroska', body: clip.bytes },
          { name: 'file', filename: 'two.mkv', contentType: 'video/x-matroska', body: clip.bytes },
        ]),
        400,
        /^The multipart body holds more than one file; nothing was stored\. Send one file part/,
      ],
      ['no file part', multipartBody([{ name: 'note', body: Buffer.from('no file here') }]), 400, /has no file part/],
      ['a video part without a filename', multipartBody([{ name: 'file', contentType: 'video/mp4', body: clips[0]!.bytes }]), 400, /part of type video\/mp4 without a filename/],
      ['a form cut off before its closing boundary', cut.subarray(0, cut.byteLength - 30), 400, /multipart body is malformed \(Unexpected end of form\)/],
      ['no boundary', clip.bytes, 400, /multipart body cannot be read \(Multipart: Boundary not found\)/, 'multipart/form-data'],
      ['a part of a type not taken', multipartBody([{ name: 'file', filename: 'x.mov', contentType: 'video/quicktime', body: clip.bytes }]), 415, /"video\/quicktime" \(of the multipart body's file part\) is not an accepted/],
    ];
    for (const [name, body, status, message, contentType] of cases) {
      const response = await cameraUpload(receiver, { contentType: contentType ?? FORM_CONTENT_TYPE, body, headers: { 'content-disposition': '' } });
      assert.equal(response.status, status, `${name}: ${response.body}`);
      assert.match(String(response.json.message), message, name);
    }
    const digest = await cameraUpload(receiver, { contentType: FORM_CONTENT_TYPE, body: cut, headers: { 'content-digest': `sha-256=:${Buffer.alloc(32).toString('base64')}:` } });
    assert.equal(digest.status, 400);
    assert.match(String(digest.json.message), /Content-Digest is checked against a raw body only/);
    assert.deepEqual(await receiver.files(), before, 'a refused multipart upload left a file');
  });
});

describe('clip and image size limits (--max-clip-bytes 1 MB, --max-bytes 256 KB)', { skip: missing }, () => {
  let receiver: RunningReceiver;
  before(async () => {
    receiver = await startReceiver({ maxBytes: 256 * KiB, maxClipBytes: 1 * MiB });
  });
  after(() => receiver.close());

  const head = (contentType: string, length: number): string =>
    `POST /?accessToken=${receiver.token} HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nContent-Disposition: attachment; filename="big"\r\nContent-Length: ${length}\r\n\r\n`;

  it('refuses a clip announced over --max-clip-bytes before its body, naming --max-clip-bytes; an image over --max-bytes names --max-bytes', async () => {
    const clip = await answerToHead(receiver.port, head('video/x-matroska', 2 * MiB));
    assert.match(clip, /^HTTP\/1\.1 413 /);
    assert.match(clip, /The clip is larger than this receiver accepts \(1 MB\).*--max-clip-bytes/);
    // Sent as octet-stream it could be either: over both limits it is refused at once, as a clip.
    const either = await answerToHead(receiver.port, head('application/octet-stream', 2 * MiB));
    assert.match(either, /^HTTP\/1\.1 413 [\s\S]*--max-clip-bytes/);
    const image = await answerToHead(receiver.port, head('image/jpeg', 512 * KiB));
    assert.match(image, /^HTTP\/1\.1 413 /);
    assert.match(image, /The image is larger than this receiver accepts \(256 KB\).*--max-bytes\./);
  });

  it('takes a clip over the image limit and under the clip limit, declared or by its bytes', async () => {
    const body = largeClip(700 * KiB);
    for (const contentType of ['video/x-matroska', 'application/octet-stream']) {
      const response = await cameraUpload(receiver, { contentType, body, filename: 'between.mkv' });
      assert.equal(response.status, 200, response.body);
      assert.deepEqual(await storedBytes(receiver, response.json.key), body);
    }
  });

  it('holds each kind to its own limit while streaming: 413 naming the right option, and nothing stored', async () => {
    const before = await receiver.files();
    const jpeg = Buffer.concat([SAMPLE_JPEG, Buffer.alloc(300 * KiB, 1)]);
    const cases: Array<[string, string, Buffer, boolean, RegExp]> = [
      ['chunked clip over the clip limit', 'video/x-matroska', largeClip(1.5 * MiB), true, /clip is larger.*--max-clip-bytes/],
      ['chunked clip over the clip limit, by its bytes', 'application/octet-stream', largeClip(1.5 * MiB), true, /clip is larger.*--max-clip-bytes/],
      ['chunked image over the image limit', 'image/jpeg', jpeg, true, /image is larger.*--max-bytes\./],
      ['image over the image limit, by its bytes, announced', 'application/octet-stream', jpeg, false, /image is larger.*--max-bytes\./],
      ['image over the image limit, by its bytes, chunked', 'application/octet-stream', jpeg, true, /image is larger.*--max-bytes\./],
    ];
    for (const [name, contentType, body, chunked, message] of cases) {
      const [url, headers] = cameraHeaders(receiver, contentType, 'big', chunked ? undefined : body.byteLength);
      const response = await streamUpload(url, { ...headers, ...(chunked && { 'transfer-encoding': 'chunked' }) }, pieces(body, 20));
      assert.equal(response.status, 413, `${name}: ${response.body}`);
      assert.match(String(response.json.message), message, name);
    }
    const form = multipartBody([{ name: 'file', filename: 'big.mkv', contentType: 'video/x-matroska', body: largeClip(1.5 * MiB) }]);
    const multipart = await cameraUpload(receiver, { contentType: FORM_CONTENT_TYPE, body: form });
    assert.equal(multipart.status, 413);
    assert.match(String(multipart.json.message), /clip is larger.*--max-clip-bytes/);
    assert.deepEqual(await receiver.files(), before);
  });
});

describe('slow uplinks: a clip gets --clip-timeout, an image --request-timeout (here 3 s)', { skip: missing }, () => {
  let receiver: RunningReceiver;
  before(async () => {
    receiver = await startReceiver({ maxClipBytes: 16 * MiB, timeouts: { requestMs: 3_000, clipRequestMs: 60_000 } });
  });
  after(() => receiver.close());

  it('stores 3 MB clips that take 10 s to arrive (declared, by their bytes, multipart), while an image that slow gets 408', async () => {
    const body = largeClip(3 * MiB);
    const slow = (contentType: string, bytes: Buffer, filename: string) => {
      const [url, headers] = cameraHeaders(receiver, contentType, filename, bytes.byteLength);
      return streamUpload(url, headers, pieces(bytes, 40), 250);
    };
    const before = await receiver.files();
    const [declared, sniffed, form, image] = await Promise.all([
      slow('video/x-matroska', body, 'slow-declared.mkv'),
      slow('application/octet-stream', body, 'slow-sniffed.mkv'),
      slow(FORM_CONTENT_TYPE, multipartBody([{ name: 'file', filename: 'slow-form.mkv', contentType: 'video/x-matroska', body }]), 'ignored'),
      slow('image/jpeg', SAMPLE_JPEG, 'slow.jpg'),
    ]);
    for (const [name, response] of [['declared', declared], ['by its bytes', sniffed], ['multipart', form]] as const) {
      assert.equal(response.status, 200, `${name}: ${response.body}`);
      assert.ok(response.elapsedMs > 8_000, `${name} arrived in ${response.elapsedMs} ms, not slowly`);
      assert.deepEqual(await storedBytes(receiver, response.json.key), body, name);
    }
    assert.equal(image.status, 408, image.body);
    assert.match(String(image.json.message), /did not arrive within 3 s \(--request-timeout, the bound for images/);
    assert.ok(image.elapsedMs < 6_000, `the slow image was cut after ${image.elapsedMs} ms`);
    assert.deepEqual((await receiver.files()).filter((file) => !before.includes(file)).length, 3, 'only the three clips are stored');
  });

  it('answers 408 naming --clip-timeout to a clip slower than that, and cuts a clip whose body stops', async () => {
    const bounded = await startReceiver({ timeouts: { requestMs: 1_000, clipRequestMs: 2_500, idleMs: 1_500 } });
    try {
      const body = largeClip(1 * MiB);
      const [url, headers] = cameraHeaders(bounded, 'video/x-matroska', 'too-slow.mkv', body.byteLength);
      const tooSlow = await streamUpload(url, headers, pieces(body, 20), 250);
      assert.equal(tooSlow.status, 408, tooSlow.body);
      assert.match(String(tooSlow.json.message), /The clip did not arrive within 2\.5 s \(--clip-timeout\)/);
      assert.ok(tooSlow.elapsedMs >= 2_400 && tooSlow.elapsedMs < 4_500, `answered after ${tooSlow.elapsedMs} ms`);

      // The camera sends a first part, then nothing: the silent connection is closed.
      const stalled = await new Promise<{ closedAfterMs: number }>((resolve) => {
        const started = Date.now();
        const socket = net.connect(bounded.port, '127.0.0.1', () => {
          socket.write(`POST /?accessToken=${bounded.token} HTTP/1.1\r\nHost: x\r\nContent-Type: video/x-matroska\r\nContent-Length: ${body.byteLength}\r\n\r\n`);
          socket.write(body.subarray(0, 64 * KiB));
        });
        socket.on('error', () => undefined);
        socket.on('close', () => resolve({ closedAfterMs: Date.now() - started }));
      });
      assert.ok(stalled.closedAfterMs >= 1_400 && stalled.closedAfterMs < 2_400, `closed after ${stalled.closedAfterMs} ms`);
      await sleep(100);
      assert.deepEqual(await bounded.files(), [], 'a cut clip left a file');
    } finally {
      await bounded.close();
    }
  });
});

describe('clips in S3 (s3rver): through the spool, and streamed in parts without it', { skip: missing }, () => {
  let s3: LocalS3;
  before(async () => {
    s3 = await startLocalS3('clips');
  });
  after(() => s3.stop());

  const client = () => createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, requestTimeoutMs: 5_000 });

  it('stores each clip byte for byte under its own extension and video type, through the spool', async () => {
    const spool = await mkdtemp(path.join(work, 'spool-'));
    const store = new SpooledStore(new S3Store({ client: client(), bucket: s3.bucket, prefix: 'spooled/' }), {
      folder: spool,
      maxBytes: 64 * MiB,
      forwardConcurrency: 2,
      backoff: { initialMs: 50, maxMs: 400 },
    });
    const receiver = await startReceiver({ store });
    try {
      for (const clip of clips) {
        const response = await cameraUpload(receiver, { contentType: clip.mediaType, body: clip.bytes, filename: `spooled${clip.extension}`, headers: { 'content-length': String(clip.bytes.byteLength) } });
        assert.equal(response.status, 200, response.body);
        const key = `spooled/${String(response.json.key)}`;
        for (let waited = 0; waited < 10_000 && (await s3.object(key)) === undefined; waited += 50) await sleep(50);
        assert.deepEqual(await s3.object(key), clip.bytes, `${clip.container} in the bucket differs`);
        assert.equal((await store.target.head!(String(response.json.key)))?.contentType, clip.mediaType);
      }
    } finally {
      await receiver.close();
    }
  });

  it('streams a 12 MB clip straight to S3 in 5 MB parts (--no-spool), byte for byte', async () => {
    const store = new S3Store({ client: client(), bucket: s3.bucket, prefix: 'direct/', partSize: 5 * MiB, conditionalWrites: 'yes' });
    const receiver = await startReceiver({ store });
    try {
      const body = largeClip(12 * MiB);
      const [url, headers] = cameraHeaders(receiver, 'application/octet-stream', 'direct', body.byteLength);
      const response = await streamUpload(url, headers, pieces(body, 48));
      assert.equal(response.status, 200, response.body);
      assert.equal(response.json.key, `camera-1/${today()}/direct.mkv`);
      assert.deepEqual(await s3.object(`direct/${String(response.json.key)}`), body);
    } finally {
      await receiver.close();
    }
  });
});

/** A `serve` process on 127.0.0.1 from the sources (tsx), disk store in `folder`. */
async function startServe(folder: string, extra: string[]): Promise<{ child: ChildProcess; url: string; token: string; stop(): Promise<void> }> {
  const tokens = path.join(folder, 'tokens.json');
  const { token } = await new TokenRegistry(tokens).create('camera-1');
  const child = spawn(
    process.execPath,
    ['--import', TSX, path.join(ROOT, 'src/cli/main.ts'), 'serve', '--host', '127.0.0.1', '--port', '0', '--store', `file:${path.join(folder, 'images')}`, '--tokens', tokens, '--no-gallery', '--log-level', 'warn', ...extra],
    { cwd: folder, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1' } },
  );
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(output);
      if (match) resolve(match[0]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${output}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    url,
    token,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Resident memory of a process, MB (`VmRSS` of /proc/<pid>/status). */
async function rssMb(pid: number): Promise<number> {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

describe('memory: a 500 MB clip streamed to a `serve` process', { skip: missing ?? (process.platform !== 'linux' && 'reads /proc') }, () => {
  it('stores it while the process grows by less than 100 MB', async () => {
    const folder = await mkdtemp(path.join(work, 'serve-'));
    const server = await startServe(folder, ['--max-clip-bytes', '600MB']);
    try {
      const pid = server.child.pid!;
      const upload = `${server.url}?accessToken=${server.token}`;
      // Warm: every code path of an upload has run once.
      const warm = await streamUpload(upload, { 'content-type': 'video/x-matroska', 'content-length': String(mkv().bytes.byteLength) }, [mkv().bytes]);
      assert.equal(warm.status, 200, warm.body);
      await sleep(300);
      const idle = await rssMb(pid);
      let peak = idle;
      const sampler = setInterval(() => void rssMb(pid).then((rss) => (peak = Math.max(peak, rss)), () => undefined), 20);
      const size = 500 * 1000 * 1000;
      const answer = await streamUpload(upload, { 'content-type': 'video/x-matroska', 'content-disposition': 'attachment; filename="long-event.mkv"', 'content-length': String(size) }, clipBody(mkv().bytes, size));
      clearInterval(sampler);
      peak = Math.max(peak, await rssMb(pid));
      process.stdout.write(`500 MB clip: idle RSS ${idle.toFixed(1)} MB, peak ${peak.toFixed(1)} MB (+${(peak - idle).toFixed(1)} MB), ${(answer.elapsedMs / 1000).toFixed(1)} s\n`);
      assert.equal(answer.status, 200, answer.body);
      const file = path.join(folder, 'images', String(answer.json.key));
      assert.equal((await stat(file)).size, size);
      const handle = await open(file, 'r');
      const { buffer: stored } = await handle.read(Buffer.alloc(mkv().bytes.byteLength), 0, mkv().bytes.byteLength, 0).finally(() => handle.close());
      assert.deepEqual(stored, mkv().bytes);
      await rm(file);
      assert.ok(peak - idle < 100, `RSS grew by ${(peak - idle).toFixed(1)} MB for a 500 MB clip (idle ${idle.toFixed(1)} MB, peak ${peak.toFixed(1)} MB)`);
    } finally {
      await server.stop();
    }
  });
});

describe('simulate --clip', { skip: missing }, () => {
  it('sends a clip as a camera is assumed to: raw body, its video type from its bytes, a clip filename; each stored byte for byte', async () => {
    const receiver = await startReceiver();
    try {
      const file = path.join(work, 'simulated.mkv');
      await writeFile(file, mkv().bytes);
      const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', TSX, path.join(ROOT, 'src/cli/main.ts'), 'simulate', '--recipient', receiver.url, '--token', receiver.token, '--clip', file, '--count', '2', '--json'], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, NODE_NO_WARNINGS: '1' },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.once('exit', (code) => resolve({ code, stdout, stderr }));
      });
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout) as { accepted: number; contentType: string; acceptedKeys: string[] };
      assert.equal(summary.accepted, 2);
      assert.equal(summary.contentType, 'video/x-matroska');
      for (const key of summary.acceptedKeys) {
        assert.match(key, new RegExp(`^camera-1/${today()}/clip\\d{2}-\\d{2}-\\d{2}_\\d{2}-\\d{2}-\\d{2}-\\d{2}_0000[12]\\.mkv$`));
        assert.deepEqual(await storedBytes(receiver, key), mkv().bytes);
      }
    } finally {
      await receiver.close();
    }
  });
});
