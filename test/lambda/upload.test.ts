import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { LAMBDA_MAX_IMAGE_BYTES, uploadSettingsFrom } from '../../src/lambda/settings.js';
import { createUploadHandler } from '../../src/lambda/upload-handler.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { HttpApiEmulator } from '../support/api-gateway.js';
import { MP4_CLIP, SAMPLE_JPEG } from '../support/contract-cases.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import { uploadEvent } from './events.js';
import { captureStdout } from './helpers.js';

const today = (): string => new Date().toISOString().slice(0, 10).replaceAll('-', '/');
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('upload function (real SDK v3 against a local S3 server)', () => {
  let s3: LocalS3;
  const output = captureStdout();
  before(async () => {
    s3 = await startLocalS3();
  });
  after(() => s3.stop());
  afterEach(() => output.stop());

  function handler(options: { maxBytes?: number; endpoint?: string } = {}) {
    const client = createS3Client({ endpoint: options.endpoint ?? s3.endpoint, region: s3.region, credentials: s3.credentials, requestTimeoutMs: 5_000 });
    return createUploadHandler({
      store: new S3Store({ client, bucket: s3.bucket, conditionalWrites: 'yes' }),
      maxBytes: options.maxBytes ?? LAMBDA_MAX_IMAGE_BYTES,
      logger: new Logger({ serviceName: 'upload-test' }),
      metrics: new Metrics({ namespace: 'images-to-s3', serviceName: 'upload-test' }),
    });
  }

  it('stores a base64 body byte for byte with one signed, create-only PutObject, content type and metadata', async () => {
    s3.requests.length = 0;
    output.start();
    const result = await handler()(uploadEvent({ body: SAMPLE_JPEG, camera: 'front-door' }));
    assert.equal(result.statusCode, 200);
    assert.equal(result.headers?.['content-type'], 'application/json; charset=utf-8');
    const key = `front-door/${today()}/image26-11-23_10-15-00-12_00001.jpg`;
    assert.deepEqual(JSON.parse(result.body!), { key, bytes: SAMPLE_JPEG.length, sha256: sha256(SAMPLE_JPEG), camera: 'front-door' });
    assert.deepEqual(await s3.object(key), SAMPLE_JPEG);
    assert.deepEqual(s3.requests.map(({ method, signed, ifNoneMatch }) => ({ method, signed, ifNoneMatch })), [{ method: 'PUT', signed: true, ifNoneMatch: '*' }]);

    const client = createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials });
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    client.destroy();
    assert.equal(head.ContentType, 'image/jpeg');
    assert.equal(head.Metadata?.camera, 'front-door');
    assert.equal(head.Metadata?.['camera-filename'], 'image26-11-23_10-15-00-12_00001.jpg');
    assert.ok(head.Metadata?.['received-at']);
  });

  it('takes a body that is not base64-encoded as text, which is not an image (415)', async () => {
    output.start();
    const result = await handler()(uploadEvent({ body: 'hello', isBase64Encoded: false, headers: { 'content-type': 'text/plain' } }));
    assert.equal(result.statusCode, 415);
  });

  it('answers 403 to a POST that reached it without an authorizer context, storing nothing', async () => {
    const before = await s3.keys();
    output.start();
    const result = await handler()(uploadEvent({ body: SAMPLE_JPEG, camera: null }));
    assert.equal(result.statusCode, 403);
    assert.deepEqual(await s3.keys(), before);
  });

  it('answers HEAD with 200 and no body', async () => {
    const result = await handler()(uploadEvent({ method: 'HEAD', rawQueryString: '', camera: null }));
    assert.equal(result.statusCode, 200);
    assert.equal(result.body, '');
  });

  it('takes the largest image Lambda can receive through API Gateway, and refuses one byte more with a message that points to the self-hosted receiver', async () => {
    const api = new HttpApiEmulator({ authorizer: () => Promise.resolve({ isAuthorized: true, context: { camera: 'front-door' } }), upload: handler() });
    const largest = Buffer.concat([SAMPLE_JPEG, Buffer.alloc(LAMBDA_MAX_IMAGE_BYTES - SAMPLE_JPEG.length, 7)]);
    const headers = { 'content-type': 'image/jpeg', 'content-disposition': 'attachment; filename="large.jpg"', 'user-agent': 'Axis camera with a long user agent string' };
    output.start();
    const stored = await api.send({ method: 'POST', query: 'accessToken=abcdefghijklmnopqrstuvwxyz012345', headers, body: largest });
    assert.equal(stored.status, 200, stored.body);
    assert.deepEqual(await s3.object(String(stored.json.key)), largest);

    const over = await api.send({ method: 'POST', query: 'accessToken=abcdefghijklmnopqrstuvwxyz012345', headers, body: Buffer.concat([largest, Buffer.from([0])]) });
    assert.equal(over.status, 413);
    assert.match(String(over.json.message), /larger than this AWS receiver accepts \(4\.5 MB; AWS Lambda takes at most about 4\.5 MB per image\).*self-hosted receiver \(images-to-s3 serve\)/);
  });

  it('refuses every clip with 413, declared or found by its bytes, saying the stack cannot carry clips and where to send them; nothing is stored', async () => {
    const before = await s3.keys();
    output.lines.length = 0;
    output.start();
    const upload = handler();
    const clipHeaders = (contentType: string): Record<string, string> => ({ 'content-type': contentType, 'content-disposition': 'attachment; filename="event_00001.mp4"' });
    const declared = await upload(uploadEvent({ body: MP4_CLIP, headers: clipHeaders('video/mp4') }));
    const sniffed = await upload(uploadEvent({ body: MP4_CLIP, headers: clipHeaders('application/octet-stream') }));
    output.stop();
    for (const result of [declared, sniffed]) {
      assert.equal(result.statusCode, 413, result.body);
      assert.match(
        (JSON.parse(result.body!) as { message: string }).message,
        /^This AWS receiver does not take video clips: API Gateway and Lambda carry at most about 4\.5 MB per request, and must answer within 30 s\. Send clips to the self-hosted receiver \(images-to-s3 serve\)/,
      );
    }
    assert.deepEqual(await s3.keys(), before);
    assert.deepEqual(output.json().filter((line) => '_aws' in line).map((line) => line.UploadsRejected), [1, 1]);
  });

  it('answers 503 with Retry-After when S3 cannot be reached, and counts it as failed', async () => {
    output.lines.length = 0;
    output.start();
    const result = await handler({ endpoint: 'http://127.0.0.1:9' })(uploadEvent({ body: SAMPLE_JPEG }));
    output.stop();
    assert.equal(result.statusCode, 503);
    assert.equal(result.headers?.['retry-after'], '10');
    assert.match((JSON.parse(result.body!) as { message: string }).message, /not available.*not stored/);
    const metrics = output.json().filter((line) => '_aws' in line);
    assert.deepEqual(metrics.map((line) => line.UploadsFailed), [1]);
    const failure = output.json().find((line) => line.message === 'upload failed');
    assert.equal(failure?.level, 'ERROR');
    assert.equal(failure?.status, 503);
  });

  it('publishes EMF metrics for accepted and rejected uploads and bytes, and logs one line per upload without the token', async () => {
    const token = 'TokenThatMustNotBeLogged0123456789';
    output.lines.length = 0;
    output.start();
    const upload = handler();
    await upload(uploadEvent({ body: SAMPLE_JPEG, rawQueryString: `accessToken=${token}` }));
    await upload(uploadEvent({ body: Buffer.from('not an image'), rawQueryString: `accessToken=${token}` }));
    output.stop();
    const lines = output.json();
    const metrics = lines.filter((line) => '_aws' in line);
    assert.equal(metrics.length, 2);
    const [accepted, rejected] = metrics as Array<Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Metrics: Array<{ Name: string; Unit: string }> }> } }>;
    assert.equal(accepted!._aws.CloudWatchMetrics[0]!.Namespace, 'images-to-s3');
    assert.deepEqual(accepted!._aws.CloudWatchMetrics[0]!.Metrics, [
      { Name: 'ImagesAccepted', Unit: 'Count' },
      { Name: 'ImageBytes', Unit: 'Bytes' },
    ]);
    assert.equal(accepted!.ImageBytes, SAMPLE_JPEG.length);
    assert.equal(rejected!.UploadsRejected, 1);

    const logs = lines.filter((line) => typeof line.message === 'string');
    assert.deepEqual(logs.map((line) => [line.level, line.message, line.status]), [
      ['INFO', 'image stored', 200],
      ['WARN', 'upload rejected', 415],
    ]);
    assert.equal(logs[0]!.camera, 'front-door');
    assert.equal(logs[0]!.bytes, SAMPLE_JPEG.length);
    assert.match(String(logs[0]!.key), /^front-door\//);
    assert.ok(!output.lines.join('\n').includes(token), 'a log line holds the token');
  });
});

describe('upload entry point (src/lambda/upload.ts), configured by environment as the stack does', () => {
  it('stores through AWS_ENDPOINT_URL_S3 with the key template and size limit from the environment', async () => {
    const s3 = await startLocalS3('stack-bucket');
    const output = captureStdout();
    const saved = { ...process.env };
    try {
      Object.assign(process.env, {
        IMAGES_BUCKET: 'stack-bucket',
        IMAGES_KEY_TEMPLATE: '{filename}',
        IMAGES_MAX_BYTES: '100000',
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        POWERTOOLS_METRICS_NAMESPACE: 'images-to-s3',
      });
      output.start();
      const { handler } = await import('../../src/lambda/upload.js');
      const stored = await handler(uploadEvent({ body: SAMPLE_JPEG }));
      assert.equal(stored.statusCode, 200, stored.body);
      assert.deepEqual(await s3.object('image26-11-23_10-15-00-12_00001.jpg'), SAMPLE_JPEG);
      const tooLarge = await handler(uploadEvent({ body: Buffer.concat([SAMPLE_JPEG, Buffer.alloc(100_000)]) }));
      assert.equal(tooLarge.statusCode, 413);
    } finally {
      output.stop();
      process.env = saved;
      await s3.stop();
    }
  });

  it('refuses a configuration Lambda could not serve', () => {
    assert.throws(() => uploadSettingsFrom({}), /IMAGES_BUCKET is not set/);
    assert.throws(() => uploadSettingsFrom({ IMAGES_BUCKET: 'b', IMAGES_MAX_BYTES: String(LAMBDA_MAX_IMAGE_BYTES + 1) }), /what Lambda can receive/);
    assert.throws(() => uploadSettingsFrom({ IMAGES_BUCKET: 'b', IMAGES_KEY_TEMPLATE: '../{filename}' }), /Invalid key template/);
    assert.equal(uploadSettingsFrom({ IMAGES_BUCKET: 'b' }).maxBytes, LAMBDA_MAX_IMAGE_BYTES);
  });
});
