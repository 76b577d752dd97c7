import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FORM_CONTENT_TYPE, multipartBody } from './multipart.js';

/**
 * One table of requests and the answers the upload contract promises, run against both runtimes:
 * the self-hosted server over HTTP (test/server/contract-table.test.ts) and the AWS stack's
 * functions behind an API Gateway HTTP API emulation (test/lambda/contract-table.test.ts).
 * Where API Gateway answers before our code runs, the case says how AWS differs, and why.
 */

export const SAMPLE_JPEG = await readFile(fileURLToPath(new URL('../../assets/sample.jpg', import.meta.url)));
export const PNG_HEAD = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
/**
 * The start of an MP4 file as ffmpeg writes it (a `ftyp` box of brand isom, a `free` box, then an
 * `mdat` box of media data): what the receiver recognises a clip by. (test/server/clips.test.ts
 * sends whole clips made with ffmpeg.)
 */
export const MP4_CLIP = Buffer.concat([
  isoBox('ftyp', Buffer.concat([Buffer.from('isom'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2avc1mp41')])),
  isoBox('free', Buffer.alloc(0)),
  isoBox('mdat', Buffer.alloc(2000, 0x5a)),
]);

/** An ISO BMFF box: its size, its type, its payload. */
function isoBox(type: string, payload: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt32BE(8 + payload.byteLength);
  return Buffer.concat([size, Buffer.from(type, 'latin1'), payload]);
}
/** The size limit both runtimes are started with for the table. */
export const CONTRACT_MAX_BYTES = 256 * 1024;
/** The camera the valid token belongs to. */
export const CONTRACT_CAMERA = 'camera-1';
export const WRONG_TOKEN = 'x'.repeat(32);

/** Which `accessToken` the request carries. */
export type TokenChoice = 'valid' | 'none' | 'empty' | 'wrong' | 'valid-twice' | 'valid-and-other';

export interface ContractRequest {
  method: string;
  token: TokenChoice;
  /** `image/jpeg` unless given; null sends none. */
  contentType?: string | null;
  /** The Content-Disposition filename; null sends no Content-Disposition. */
  filename?: string | null;
  /** A Content-Disposition header value to send as it is. */
  disposition?: string;
  /** The sample JPEG unless given. */
  body?: Buffer;
  /**
   * A `Content-Digest` header: `right` (sha-256 of the body), `wrong` (sha-256 of other bytes),
   * or a value to send as it is.
   */
  digest?: 'right' | 'wrong' | { header: string };
}

export interface ContractExpectation {
  status: number;
  /** Matches the JSON body's `message`. */
  message?: RegExp;
  /** Matches the stored key; `today` is `yyyy/MM/dd` (UTC). The body is then checked in the store. */
  key?: (today: string) => RegExp;
  /** The bytes stored, when they are not the request's body (a multipart form's file). */
  stored?: Buffer;
  /** A camera's push: each image stored (its key and bytes, in the order of its parts), and the event's facts in the answer. */
  push?: { images: Array<{ key: (today: string) => RegExp; stored: Buffer }>; event: Record<string, string> };
  /** The answer has no body (HEAD). */
  emptyBody?: boolean;
  allow?: string;
}

export interface ContractCase {
  name: string;
  request: ContractRequest;
  expect: ContractExpectation;
  /** Send the same request again with these bytes: the first object must stay, the second get this key. */
  again?: { body: Buffer; key: (today: string) => RegExp };
  /** Where the AWS stack answers differently because API Gateway decides first. */
  onAws?: { expect: ContractExpectation; because: string };
}

const clipsNotOnAws = /does not take video clips.*self-hosted receiver \(images-to-s3 serve\)/;
const sha256Of = (bytes: Buffer): Buffer => createHash('sha256').update(bytes).digest();
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const keyIs = (name: string) => (today: string) => new RegExp(`^${CONTRACT_CAMERA}/${escape(today)}/${escape(name)}$`);
const otherBytes = Buffer.concat([SAMPLE_JPEG.subarray(0, 200), Buffer.from('different'), SAMPLE_JPEG.subarray(200)]);

/** Hikvision's ANPR event (EventNotificationAlert), shortened, as its HTTP listening sends it beside the pictures. */
const ANPR_XML = Buffer.from(
  '<?xml version="1.0" encoding="UTF-8"?>\n<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">\n' +
    '<ipAddress>10.2.124.188</ipAddress><portNo>80</portNo><protocol>HTTP</protocol><channelID>1</channelID>\n' +
    '<dateTime>2026-11-23T13:49:00+01:00</dateTime><activePostCount>1</activePostCount><eventType>ANPR</eventType>\n' +
    '<eventState>active</eventState><eventDescription>ANPR</eventDescription>\n' +
    '<ANPR><licensePlate>KH35192</licensePlate><direction>forward</direction><confidenceLevel>100</confidenceLevel></ANPR>\n' +
    '<picNum>2</picNum></EventNotificationAlert>\n',
);
const ANPR_EVENT = { type: 'ANPR', state: 'active', channel: '1', time: '2026-11-23T13:49:00+01:00', plate: 'KH35192', direction: 'forward' };

export const CONTRACT_CASES: readonly ContractCase[] = [
  { name: 'GET answers 200 without a token (the camera\'s Test button)', request: { method: 'GET', token: 'none', body: Buffer.alloc(0) }, expect: { status: 200, message: /ready/ } },
  { name: 'HEAD answers 200 without a token or body', request: { method: 'HEAD', token: 'none', body: Buffer.alloc(0) }, expect: { status: 200, emptyBody: true } },
  { name: 'PUT is refused with 405 and Allow', request: { method: 'PUT', token: 'valid' }, expect: { status: 405, message: /PUT is not allowed/, allow: 'GET, HEAD, POST' } },
  { name: 'DELETE is refused with 405', request: { method: 'DELETE', token: 'valid', body: Buffer.alloc(0) }, expect: { status: 405, message: /DELETE is not allowed/ } },
  {
    name: 'POST stores a camera-shaped upload under camera/date/filename',
    request: { method: 'POST', token: 'valid', filename: 'image26-11-23_10-15-00-12_00001.jpg' },
    expect: { status: 200, key: keyIs('image26-11-23_10-15-00-12_00001.jpg') },
  },
  {
    name: 'the same filename again is stored under a new key, the first image untouched',
    request: { method: 'POST', token: 'valid', filename: 'snapshot.jpg' },
    expect: { status: 200, key: keyIs('snapshot.jpg') },
    again: { body: otherBytes, key: (today) => new RegExp(`^${CONTRACT_CAMERA}/${escape(today)}/snapshot-[0-9a-z]+\\.jpg$`) },
  },
  {
    name: 'no accessToken is 401',
    request: { method: 'POST', token: 'none' },
    expect: { status: 401, message: /No access token/ },
    onAws: { expect: { status: 401, message: /^Unauthorized$/ }, because: 'API Gateway answers itself when the identity source ($request.querystring.accessToken) is missing' },
  },
  {
    name: 'an empty accessToken is 401',
    request: { method: 'POST', token: 'empty' },
    expect: { status: 401, message: /No access token/ },
    onAws: { expect: { status: 401, message: /^Unauthorized$/ }, because: 'API Gateway answers itself when the identity source is empty' },
  },
  {
    name: 'an unknown accessToken is 403',
    request: { method: 'POST', token: 'wrong' },
    expect: { status: 403, message: /not valid/ },
    onAws: { expect: { status: 403, message: /^Forbidden$/ }, because: 'API Gateway words the 403 when the authorizer says isAuthorized: false' },
  },
  { name: 'the same accessToken twice is accepted', request: { method: 'POST', token: 'valid-twice', filename: 'twice.jpg' }, expect: { status: 200, key: keyIs('twice.jpg') } },
  {
    name: 'two different accessTokens are refused',
    request: { method: 'POST', token: 'valid-and-other' },
    expect: { status: 400, message: /more than once/ },
    onAws: { expect: { status: 403, message: /^Forbidden$/ }, because: 'a REQUEST authorizer can only allow or deny; it denies an ambiguous token' },
  },
  { name: 'a non-image Content-Type is 415', request: { method: 'POST', token: 'valid', contentType: 'text/plain' }, expect: { status: 415, message: /Accepted: image\/jpeg/ } },
  { name: 'a missing Content-Type is 415', request: { method: 'POST', token: 'valid', contentType: null }, expect: { status: 415, message: /Content-Type none is not an accepted image or clip type/ } },
  {
    name: 'PNG bytes sent as JPEG are 415',
    request: { method: 'POST', token: 'valid', body: PNG_HEAD },
    expect: { status: 415, message: /^Content-Type says image\/jpeg but the bytes are image\/png\.$/ },
  },
  { name: 'HTML sent as JPEG is 415', request: { method: 'POST', token: 'valid', body: Buffer.from('<html><script>alert(1)</script></html>') }, expect: { status: 415, message: /not an image/ } },
  { name: 'an empty body is 400', request: { method: 'POST', token: 'valid', body: Buffer.alloc(0) }, expect: { status: 400, message: /body is empty/ } },
  {
    name: 'an image over the size limit is 413 before anything is stored',
    request: { method: 'POST', token: 'valid', body: Buffer.concat([SAMPLE_JPEG, Buffer.alloc(CONTRACT_MAX_BYTES, 1)]) },
    expect: { status: 413, message: /larger than this receiver accepts/ },
    onAws: { expect: { status: 413, message: /larger than this AWS receiver accepts.*self-hosted receiver/ }, because: 'the AWS message points to the self-hosted receiver for large images' },
  },
  {
    name: 'a Content-Digest that matches the bytes is checked and its sha256 is in the receipt',
    request: { method: 'POST', token: 'valid', filename: 'checked.jpg', digest: 'right' },
    expect: { status: 200, key: keyIs('checked.jpg') },
  },
  {
    name: 'a Content-Digest that does not match the bytes is 400 and nothing is stored',
    request: { method: 'POST', token: 'valid', digest: 'wrong' },
    expect: { status: 400, message: /does not match its Content-Digest.*Nothing was stored/ },
  },
  {
    name: 'a Content-Digest without sha-256 is 400, not ignored',
    request: { method: 'POST', token: 'valid', digest: { header: `sha-512=:${Buffer.alloc(64).toString('base64')}:` } },
    expect: { status: 400, message: /has no sha-256 digest/ },
  },
  {
    name: 'a malformed Content-Digest is 400',
    request: { method: 'POST', token: 'valid', digest: { header: 'sha-256=:deadbeef' } },
    expect: { status: 400, message: /not a valid digest field/ },
  },
  { name: 'a hostile filename stays in the camera\'s folder', request: { method: 'POST', token: 'valid', filename: '../../../etc/passwd.jpg' }, expect: { status: 200, key: keyIs('etc_passwd.jpg') } },
  {
    name: 'a filename with the wrong extension gets the right one',
    request: { method: 'POST', token: 'valid', filename: 'shell.php' },
    expect: { status: 200, key: keyIs('shell.php.jpg') },
  },
  {
    name: 'no Content-Disposition gives a name from the receive time',
    request: { method: 'POST', token: 'valid', filename: null },
    expect: { status: 200, key: (today) => new RegExp(`^${CONTRACT_CAMERA}/${escape(today)}/image-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d-\\d{3}Z(-[0-9a-z]+)?\\.jpg$`) },
  },
  { name: 'an unquoted filename is read', request: { method: 'POST', token: 'valid', disposition: 'attachment; filename=plain.jpg' }, expect: { status: 200, key: keyIs('plain.jpg') } },
  {
    name: 'PNG is stored with a .png extension',
    request: { method: 'POST', token: 'valid', contentType: 'image/png', body: PNG_HEAD, filename: 'picture' },
    expect: { status: 200, key: keyIs('picture.png') },
  },
  {
    name: 'an image sent as application/octet-stream is recognised by its bytes',
    request: { method: 'POST', token: 'valid', contentType: 'application/octet-stream', filename: 'octet' },
    expect: { status: 200, key: keyIs('octet.jpg') },
  },
  {
    name: 'a clip (video/mp4) is stored under its own extension',
    request: { method: 'POST', token: 'valid', contentType: 'video/mp4', body: MP4_CLIP, filename: 'event_00001.mp4' },
    expect: { status: 200, key: keyIs('event_00001.mp4') },
    onAws: { expect: { status: 413, message: clipsNotOnAws }, because: 'API Gateway and Lambda cannot carry clips: the stack refuses every clip and points at the self-hosted receiver' },
  },
  {
    name: 'a clip sent as application/octet-stream is recognised by its bytes',
    request: { method: 'POST', token: 'valid', contentType: 'application/octet-stream', body: MP4_CLIP, filename: 'event_00002' },
    expect: { status: 200, key: keyIs('event_00002.mp4') },
    onAws: { expect: { status: 413, message: clipsNotOnAws }, because: 'the stack refuses a clip once its bytes show it is one' },
  },
  {
    name: 'bytes that claim to be video and are not are 415',
    request: { method: 'POST', token: 'valid', contentType: 'video/x-matroska', filename: 'fake.mkv' },
    expect: { status: 415, message: /^Content-Type says video\/x-matroska but the bytes are image\/jpeg\.$/ },
    onAws: { expect: { status: 413, message: clipsNotOnAws }, because: 'the stack refuses what is declared a clip before reading it' },
  },
  {
    name: 'a multipart/form-data body with one file part is stored under the part\'s filename',
    request: {
      method: 'POST',
      token: 'valid',
      contentType: FORM_CONTENT_TYPE,
      filename: null,
      body: multipartBody([
        { name: 'note', body: Buffer.from('front door') },
        { name: 'file', filename: 'form_00001.jpg', contentType: 'image/jpeg', body: SAMPLE_JPEG },
      ]),
    },
    expect: { status: 200, key: keyIs('form_00001.jpg'), stored: SAMPLE_JPEG },
  },
  {
    name: 'a multipart/form-data body with two file parts is 400 and nothing is stored',
    request: {
      method: 'POST',
      token: 'valid',
      contentType: FORM_CONTENT_TYPE,
      filename: null,
      body: multipartBody([
        { name: 'file', filename: 'one.jpg', contentType: 'image/jpeg', body: SAMPLE_JPEG },
        { name: 'file', filename: 'two.jpg', contentType: 'image/jpeg', body: SAMPLE_JPEG },
      ]),
    },
    expect: { status: 400, message: /more than one file.*nothing was stored/ },
  },
  {
    name: 'a camera\'s push (Hikvision ANPR: an XML event part, then two JPEG parts) stores each image under its part\'s filename',
    request: {
      method: 'POST',
      token: 'valid',
      contentType: FORM_CONTENT_TYPE,
      filename: null,
      body: multipartBody([
        { name: 'anpr.xml', filename: 'anpr.xml', contentType: 'application/xml; charset="UTF-8"', body: ANPR_XML },
        { name: 'licensePlatePicture.jpg', filename: 'licensePlatePicture.jpg', contentType: 'image/jpeg', body: SAMPLE_JPEG },
        { name: 'detectionPicture.jpg', filename: 'detectionPicture.jpg', contentType: 'image/jpeg', body: otherBytes },
      ]),
    },
    expect: {
      status: 200,
      push: {
        images: [
          { key: (today) => new RegExp(`^${CONTRACT_CAMERA}/${escape(today)}/licensePlatePicture(-[0-9a-z]+)?\\.jpg$`), stored: SAMPLE_JPEG },
          { key: (today) => new RegExp(`^${CONTRACT_CAMERA}/${escape(today)}/detectionPicture(-[0-9a-z]+)?\\.jpg$`), stored: otherBytes },
        ],
        event: ANPR_EVENT,
      },
    },
  },
  {
    name: 'a camera\'s push with a JSON event part (Hikvision event_log) stores its image',
    request: {
      method: 'POST',
      token: 'valid',
      contentType: FORM_CONTENT_TYPE,
      filename: null,
      body: multipartBody([
        { name: 'event_log', contentType: 'application/json', body: Buffer.from(JSON.stringify({ eventType: 'AccessControllerEvent', eventState: 'active', channelID: 1, dateTime: '2026-11-23T13:50:00+01:00' })) },
        { name: 'Picture', filename: 'Picture.jpg', contentType: 'image/jpeg', body: SAMPLE_JPEG },
      ]),
    },
    expect: {
      status: 200,
      push: {
        images: [{ key: (today) => new RegExp(`^${CONTRACT_CAMERA}/${escape(today)}/Picture(-[0-9a-z]+)?\\.jpg$`), stored: SAMPLE_JPEG }],
        event: { type: 'AccessControllerEvent', state: 'active', channel: '1', time: '2026-11-23T13:50:00+01:00' },
      },
    },
  },
  {
    name: 'a camera\'s push whose image part is not an image is 415 and nothing is stored',
    request: {
      method: 'POST',
      token: 'valid',
      contentType: FORM_CONTENT_TYPE,
      filename: null,
      body: multipartBody([
        { name: 'anpr.xml', filename: 'anpr.xml', contentType: 'application/xml', body: ANPR_XML },
        { name: 'licensePlatePicture.jpg', filename: 'licensePlatePicture.jpg', contentType: 'image/jpeg', body: Buffer.from('<html><script>alert(1)</script></html>') },
      ]),
    },
    expect: { status: 415, message: /but the bytes are not an image.*image part 1 of the push.*Nothing of the push was stored\.$/ },
  },
];

/** A runtime the table runs against. */
export interface ContractTarget {
  runtime: 'server' | 'aws';
  /** A valid token of {@link CONTRACT_CAMERA}. */
  token: string;
  send(request: { method: string; query: string; headers: Record<string, string>; body: Buffer }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; json: Record<string, unknown> }>;
  /** Every stored key. */
  keys(): Promise<string[]>;
  /** The bytes stored under a key. */
  object(key: string): Promise<Buffer | undefined>;
  /** The store signs every body with its SHA-256 (S3), so every receipt carries it. */
  hashesEveryBody: boolean;
}

function queryFor(choice: TokenChoice, token: string): string {
  switch (choice) {
    case 'valid':
      return `accessToken=${token}`;
    case 'none':
      return '';
    case 'empty':
      return 'accessToken=';
    case 'wrong':
      return `accessToken=${WRONG_TOKEN}`;
    case 'valid-twice':
      return `accessToken=${token}&accessToken=${token}`;
    case 'valid-and-other':
      return `accessToken=${token}&accessToken=${WRONG_TOKEN}`;
  }
}

function headersFor(request: ContractRequest, body: Buffer): Record<string, string> {
  const headers: Record<string, string> = { 'content-length': String(body.byteLength) };
  if (request.contentType !== null) headers['content-type'] = request.contentType ?? 'image/jpeg';
  if (request.disposition !== undefined) headers['content-disposition'] = request.disposition;
  else if (request.filename !== null) headers['content-disposition'] = `attachment; filename="${request.filename ?? 'image26-11-23_10-15-00-12_00001.jpg'}"`;
  if (request.digest === 'right') headers['content-digest'] = `sha-256=:${sha256Of(body).toString('base64')}:`;
  else if (request.digest === 'wrong') headers['content-digest'] = `sha-256=:${sha256Of(Buffer.from('other bytes')).toString('base64')}:`;
  else if (request.digest !== undefined) headers['content-digest'] = request.digest.header;
  return headers;
}

/** Sends one case to a runtime and checks the answer and the store against the table. */
export async function checkContractCase(target: ContractTarget, testCase: ContractCase): Promise<void> {
  const expected = target.runtime === 'aws' && testCase.onAws ? testCase.onAws.expect : testCase.expect;
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const body = testCase.request.body ?? SAMPLE_JPEG;
  const send = (bytes: Buffer) =>
    target.send({ method: testCase.request.method, query: queryFor(testCase.request.token, target.token), headers: headersFor(testCase.request, bytes), body: bytes });

  const before = await target.keys();
  const response = await send(body);
  assert.equal(response.status, expected.status, `${target.runtime}: ${response.body}`);
  if (expected.message) assert.match(String(response.json.message), expected.message);
  if (expected.emptyBody) assert.equal(response.body, '');
  if (expected.allow) assert.equal(response.headers.allow, expected.allow);
  assert.ok(!response.body.includes(target.token), 'the answer echoes the token');

  const push = expected.push;
  if (push) {
    const images = response.json.images as Array<{ key: string; bytes: number; sha256?: string }>;
    assert.equal(images.length, push.images.length, response.body);
    assert.deepEqual(response.json.event, push.event);
    assert.equal(response.json.camera, CONTRACT_CAMERA);
    for (const [n, image] of images.entries()) {
      const want: { key: (today: string) => RegExp; stored: Buffer } = push.images[n]!;
      assert.match(image.key, want.key(today));
      assert.deepEqual(image, { key: image.key, bytes: want.stored.byteLength, ...(target.hashesEveryBody && { sha256: sha256Of(want.stored).toString('hex') }) });
      assert.deepEqual(await target.object(image.key), want.stored, `the stored bytes of ${image.key} differ from those sent`);
    }
    return;
  }
  if (expected.key === undefined) {
    assert.deepEqual(await target.keys(), before, 'a refused request stored something');
    return;
  }
  const key = String(response.json.key);
  assert.match(key, expected.key(today));
  const hashed = target.hashesEveryBody || testCase.request.digest === 'right';
  const stored = expected.stored ?? body;
  assert.deepEqual(response.json, { key, bytes: stored.byteLength, ...(hashed && { sha256: sha256Of(stored).toString('hex') }), camera: CONTRACT_CAMERA });
  assert.deepEqual(await target.object(key), stored, 'the stored bytes differ from those sent');

  if (testCase.again) {
    const second = await send(testCase.again.body);
    assert.equal(second.status, 200, second.body);
    assert.match(String(second.json.key), testCase.again.key(today));
    assert.deepEqual(await target.object(String(second.json.key)), testCase.again.body);
    assert.deepEqual(await target.object(key), body, 'the first image was overwritten');
  }
}
