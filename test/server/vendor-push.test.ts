/**
 * Other vendors' HTTP pushes: a multipart POST of an event part (Hikvision's XML or JSON
 * `EventNotificationAlert`, a Dahua JSON event) and one or more image parts, with the token in the
 * query or in the path (`/t/<token>/`). Each image goes through the contract and is stored under
 * its part's filename, with the event's facts as object metadata (checked on S3, s3rver in-process).
 *
 * The Hikvision bodies follow public captures: the ANPR push of a Hikvision camera's HTTP listening
 * (boundary, `anpr.xml` part with its own Content-Length, `licensePlatePicture.jpg` and
 * `detectionPicture.jpg` parts), the element names of maciej-or/hikvision_next's fixtures, and an
 * access-control terminal's `event_log` JSON part with a `Picture.jpg`. The Dahua body is assumed
 * (see README, "Other cameras (HTTP push)").
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SpooledStore } from '../../src/spool/spooled-store.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import { SAMPLE_JPEG, request, startReceiver } from '../support/receiver.js';
import type { Response, RunningReceiver } from '../support/receiver.js';

const day = (): string => new Date().toISOString().slice(0, 10).replaceAll('-', '/');
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A second JPEG, other bytes than the sample's (an extra APP segment's worth of text inside). */
const OTHER_JPEG = Buffer.concat([SAMPLE_JPEG.subarray(0, 200), Buffer.from('another picture'), SAMPLE_JPEG.subarray(200)]);
const HTML = Buffer.from('<html><script>alert(1)</script></html>');

/** The boundary of the public Hikvision ANPR capture. */
const HIK_BOUNDARY = '---------------------------7e13971310878';

interface Part {
  /** The whole Content-Disposition value. */
  disposition: string;
  contentType?: string;
  body: Buffer;
  /** Hikvision gives every part its own Content-Length. */
  length?: boolean;
}

function form(parts: Part[], boundary = HIK_BOUNDARY): { contentType: string; body: Buffer } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const headers = [
      `Content-Disposition: ${part.disposition}`,
      ...(part.contentType === undefined ? [] : [`Content-Type: ${part.contentType}`]),
      ...(part.length === false ? [] : [`Content-Length: ${part.body.byteLength}`]),
    ];
    chunks.push(Buffer.from(`--${boundary}\r\n${headers.join('\r\n')}\r\n\r\n`), part.body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(chunks) };
}

/** An ANPR EventNotificationAlert as a Hikvision camera sends it (shortened; the elements a receiver reads are all there). */
function anprXml(plate = 'KH35192'): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<ipAddress>192.168.100.248</ipAddress>
<portNo>80</portNo>
<protocol>HTTP</protocol>
<macAddress>44:a6:42:f7:3a:21</macAddress>
<channelID>1</channelID>
<dateTime>2026-11-23T10:15:30+01:00</dateTime>
<activePostCount>1</activePostCount>
<eventType>ANPR</eventType>
<eventState>active</eventState>
<eventDescription>ANPR</eventDescription>
<channelName>Gate</channelName>
<ANPR>
<country>5</country>
<licensePlate>${plate}</licensePlate>
<line>1</line>
<direction>forward</direction>
<confidenceLevel>98</confidenceLevel>
<plateType>unknown</plateType>
<vehicleInfo><index>39</index><color>white</color></vehicleInfo>
<pictureInfoList>
<pictureInfo><fileName>licensePlatePicture.jpg</fileName><type>licensePlatePicture</type><dataType>0</dataType></pictureInfo>
<pictureInfo><fileName>detectionPicture.jpg</fileName><type>detectionPicture</type><dataType>0</dataType>
<plateRect><X>375</X><Y>645</Y><width>227</width><height>118</height></plateRect></pictureInfo>
</pictureInfoList>
</ANPR>
<UUID>46dd0716-1dd2-11b2-821f-8ba17e6f56b7</UUID>
<picNum>2</picNum>
<isDataRetransmission>false</isDataRetransmission>
</EventNotificationAlert>
`);
}

const xmlPart = (xml: Buffer = anprXml()): Part => ({ disposition: 'form-data; name="anpr.xml";filename="anpr.xml"', contentType: 'application/xml; charset="UTF-8"', body: xml });
const imagePart = (filename: string, body: Buffer = SAMPLE_JPEG, contentType = 'image/jpeg'): Part => ({
  disposition: `form-data;name="${filename}";filename="${filename}"`,
  contentType,
  body,
});

/** Hikvision's ANPR push: the XML event, the plate crop, the scene. */
const anprPush = (plate?: string) => form([xmlPart(anprXml(plate)), imagePart('licensePlatePicture.jpg', SAMPLE_JPEG), imagePart('detectionPicture.jpg', OTHER_JPEG)]);

function post(receiver: RunningReceiver, pushed: { contentType: string; body: Buffer }, target = `?accessToken=${receiver.token}`): Promise<Response> {
  return request(`${receiver.url.replace(/\/$/, '')}/${target.replace(/^\//, '')}`, {
    method: 'POST',
    headers: { 'content-type': pushed.contentType, 'content-length': String(pushed.body.byteLength) },
    body: pushed.body,
  });
}

const stored = (receiver: RunningReceiver, key: unknown): Promise<Buffer> => readFile(path.join(receiver.root, 'images', String(key)));
const images = (response: Response): Array<{ key: string; bytes: number }> => response.json.images as Array<{ key: string; bytes: number }>;

describe('camera pushes (event part + images), disk store', () => {
  let receiver: RunningReceiver;
  before(async () => {
    receiver = await startReceiver({ limits: { failedAuthPerMinute: 3 } });
  });
  after(() => receiver.close());

  it('stores each image of a Hikvision ANPR push under its part\'s filename, byte for byte, and answers the keys and the event', async () => {
    const response = await post(receiver, anprPush());
    assert.equal(response.status, 200, response.body);
    assert.deepEqual(response.json, {
      camera: 'camera-1',
      images: [
        { key: `camera-1/${day()}/licensePlatePicture.jpg`, bytes: SAMPLE_JPEG.byteLength },
        { key: `camera-1/${day()}/detectionPicture.jpg`, bytes: OTHER_JPEG.byteLength },
      ],
      event: { type: 'ANPR', state: 'active', channel: '1', time: '2026-11-23T10:15:30+01:00', plate: 'KH35192', direction: 'forward' },
    });
    assert.deepEqual(await stored(receiver, images(response)[0]!.key), SAMPLE_JPEG);
    assert.deepEqual(await stored(receiver, images(response)[1]!.key), OTHER_JPEG);

    // The next push names its images the same: they get keys of their own, the first ones stay.
    const again = await post(receiver, anprPush('AB12345'));
    assert.equal(again.status, 200, again.body);
    assert.match(images(again)[0]!.key, new RegExp(`^camera-1/${escape(day())}/licensePlatePicture-[0-9a-z]+\\.jpg$`));
    assert.match(images(again)[1]!.key, new RegExp(`^camera-1/${escape(day())}/detectionPicture-[0-9a-z]+\\.jpg$`));
    assert.equal((again.json.event as Record<string, string>).plate, 'AB12345');
    assert.deepEqual(await stored(receiver, images(response)[0]!.key), SAMPLE_JPEG);
    assert.deepEqual(await stored(receiver, images(again)[1]!.key), OTHER_JPEG);
  });

  it('takes the token in the path (/t/<token>/), with or without a trailing slash or more path after it', async () => {
    for (const target of [`t/${receiver.token}/`, `t/${receiver.token}`, `t/${receiver.token}/hikvision/anpr`]) {
      const response = await post(receiver, anprPush(), target);
      assert.equal(response.status, 200, `${target}: ${response.body}`);
      assert.equal(images(response).length, 2);
    }
    // The camera's Test button (GET) answers there too; a plain upload works there as well.
    assert.equal((await request(`${receiver.url}t/${receiver.token}/`)).status, 200);
    const plain = await request(`${receiver.url}t/${receiver.token}/`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg', 'content-disposition': 'attachment; filename="plain-in-path.jpg"' },
      body: SAMPLE_JPEG,
    });
    assert.equal(plain.status, 200, plain.body);
    assert.equal(plain.json.key, `camera-1/${day()}/plain-in-path.jpg`);
  });

  it('refuses a token in the path as one in the query: 403 for an unknown one, 400 beside another in the query, nothing stored', async () => {
    const before = await receiver.files();
    const wrong = 'wrong-token-in-the-path-0123456789';
    const unknown = await post(receiver, anprPush(), `t/${wrong}/`);
    assert.equal(unknown.status, 403, unknown.body);
    assert.match(String(unknown.json.message), /not valid/);
    const both = await post(receiver, anprPush(), `t/${receiver.token}/?accessToken=${wrong}`);
    assert.equal(both.status, 400, both.body);
    assert.match(String(both.json.message), /more than once with different values/);
    const same = await post(receiver, form([xmlPart(), imagePart('same-token.jpg')]), `t/${receiver.token}/?accessToken=${receiver.token}`);
    assert.equal(same.status, 200, same.body);
    assert.deepEqual((await receiver.files()).filter((file) => !before.includes(file)), [`camera-1/${day()}/same-token.jpg`]);
    const notFound = await request(`${receiver.url}elsewhere/t/${receiver.token}/`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: SAMPLE_JPEG });
    assert.equal(notFound.status, 404);
    assert.ok(!notFound.body.includes(receiver.token), 'the 404 echoes the token in the path');
    assert.match(String(notFound.json.message), /Nothing at \/elsewhere\/t\/<token>\//);
  });

  it('never logs a token from the path', () => {
    const lines = receiver.logs.join('\n');
    assert.ok(lines.length > 0);
    assert.ok(!lines.includes(receiver.token), 'a log line holds the camera token');
    assert.ok(!lines.includes('wrong-token-in-the-path'), 'a log line holds the wrong token sent in the path');
    const pushes = receiver.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'push stored');
    assert.ok(pushes.length > 0);
    assert.deepEqual(pushes[0]!.keys, [`camera-1/${day()}/licensePlatePicture.jpg`, `camera-1/${day()}/detectionPicture.jpg`]);
    assert.equal(pushes[0]!.eventType, 'ANPR');
  });

  it('stores the images of Hikvision\'s JSON event (an access-control terminal\'s event_log part and Picture.jpg)', async () => {
    const event = {
      ipAddress: '192.168.1.64',
      portNo: 80,
      protocol: 'HTTP',
      macAddress: '24:0f:9b:00:00:01',
      channelID: 1,
      dateTime: '2026-11-23T10:16:00+01:00',
      activePostCount: 1,
      eventType: 'AccessControllerEvent',
      eventState: 'active',
      eventDescription: 'Access Controller Event',
      AccessControllerEvent: { deviceName: 'Door', majorEventType: 5, subEventType: 75, name: 'Example User', employeeNoString: '123', picturesNumber: 1 },
    };
    const response = await post(
      receiver,
      form(
        [
          { disposition: 'form-data; name="event_log"', contentType: 'application/json', body: Buffer.from(JSON.stringify(event)) },
          { disposition: 'form-data; name="Picture"; filename="Picture.jpg"', contentType: 'image/jpeg', body: SAMPLE_JPEG },
        ],
        'MIME_boundary',
      ),
    );
    assert.equal(response.status, 200, response.body);
    assert.deepEqual(response.json.event, { type: 'AccessControllerEvent', state: 'active', channel: '1', time: '2026-11-23T10:16:00+01:00' });
    assert.match(images(response)[0]!.key, new RegExp(`^camera-1/${escape(day())}/Picture(-[0-9a-z]+)?\\.jpg$`));
    assert.deepEqual(await stored(receiver, images(response)[0]!.key), SAMPLE_JPEG);
  });

  it('stores the images of a Dahua-like push (a JSON event part, then JPEG parts; the shape is assumed)', async () => {
    const event = {
      Code: 'TrafficJunction',
      Action: 'Pulse',
      Index: 0,
      Data: { LocaleTime: '2026-11-23 10:17:00', UTC: 1795342620, TrafficCar: { PlateNumber: 'ABC1234', Direction: 'Obverse' }, Object: { ObjectType: 'Plate', Text: 'ABC1234' } },
    };
    const response = await post(
      receiver,
      form(
        [
          { disposition: 'form-data; name="info"; filename="event.json"', contentType: 'application/json', body: Buffer.from(JSON.stringify(event)) },
          { disposition: 'form-data; name="image"; filename="TrafficJunction_1.jpg"', contentType: 'image/jpeg', body: SAMPLE_JPEG, length: false },
          { disposition: 'form-data; name="image"; filename="TrafficJunction_2.jpg"', contentType: 'image/jpeg', body: OTHER_JPEG, length: false },
        ],
        'myboundary',
      ),
    );
    assert.equal(response.status, 200, response.body);
    assert.deepEqual(response.json.event, { type: 'TrafficJunction', state: 'Pulse', channel: '0', time: '2026-11-23 10:17:00', plate: 'ABC1234', direction: 'Obverse', target: 'Plate' });
    assert.deepEqual(
      images(response).map((image) => image.key),
      [`camera-1/${day()}/TrafficJunction_1.jpg`, `camera-1/${day()}/TrafficJunction_2.jpg`],
    );
    assert.deepEqual(await stored(receiver, images(response)[1]!.key), OTHER_JPEG);
  });

  it('reads an XML event part sent without a type (text/plain), and a part named *.xml whatever its type', async () => {
    for (const part of [
      { disposition: 'form-data; name="fielddetection"', body: anprXml('UNTYPED1') },
      { disposition: 'form-data; name="anpr.xml"; filename="anpr.xml"', contentType: 'application/octet-stream', body: anprXml('NAMED1') },
    ]) {
      const response = await post(receiver, form([part, imagePart('untyped.jpg')]));
      assert.equal(response.status, 200, response.body);
      assert.match(String((response.json.event as Record<string, string>).plate), /^(UNTYPED1|NAMED1)$/);
    }
  });

  it('refuses a push whose event part or first image is not acceptable, storing nothing', async () => {
    const before = await receiver.files();
    const billionLaughs = Buffer.from('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><EventNotificationAlert><eventType>&lol2;</eventType></EventNotificationAlert>');
    const cases: Array<[string, { contentType: string; body: Buffer }, number, RegExp]> = [
      ['the first image is HTML sent as JPEG', form([xmlPart(), imagePart('fake.jpg', HTML)]), 415, /^Content-Type says image\/jpeg but the bytes are not an image.*image part 1 of the push \("fake\.jpg"\)\. Nothing of the push was stored\.$/],
      ['the first image part is of a type not taken', form([xmlPart(), imagePart('page.html', HTML, 'text/html')]), 415, /"text\/html" \(of an image part of the push\) is not an accepted.*Nothing of the push was stored\./],
      ['an image part without a type that is no image', form([xmlPart(), { disposition: 'form-data; name="x"; filename="x.bin"', body: HTML }]), 415, /bytes are not an image or clip/],
      ['malformed XML', form([xmlPart(Buffer.from('<EventNotificationAlert><eventType>ANPR</eventTyp></EventNotificationAlert>')), imagePart('a.jpg')]), 400, /event part cannot be read \(not well-formed XML/],
      ['a document type declaration (entity expansion)', form([xmlPart(billionLaughs), imagePart('a.jpg')]), 400, /document type declarations are not accepted/],
      ['malformed JSON', form([{ disposition: 'form-data; name="event_log"', contentType: 'application/json', body: Buffer.from('{"eventType": ') }, imagePart('a.jpg')]), 400, /event part cannot be read \(not JSON/],
      ['an event part over 64 KB', form([xmlPart(Buffer.from(`<EventNotificationAlert><eventType>${'x'.repeat(70_000)}</eventType></EventNotificationAlert>`)), imagePart('a.jpg')]), 413, /event part is larger than 64 KB/],
      ['an event part over 64 KB, as a field', form([{ disposition: 'form-data; name="event_log"', contentType: 'application/json', body: Buffer.from(`{"eventType":"${'x'.repeat(70_000)}"}`) }, imagePart('a.jpg')]), 413, /event part is larger than 64 KB/],
      ['an event without images', form([xmlPart()]), 400, /event part but no image part; nothing was stored/],
      ['two event parts', form([xmlPart(), xmlPart(), imagePart('a.jpg')]), 400, /more than one event part/],
      ['an event part after the image', form([imagePart('first.jpg'), xmlPart()]), 400, /event part after its file; nothing was stored/],
      ['an image part without a filename', form([xmlPart(), { disposition: 'form-data; name="Picture"', contentType: 'image/jpeg', body: SAMPLE_JPEG }]), 400, /part of type image\/jpeg without a filename/],
    ];
    for (const [name, pushed, status, message] of cases) {
      const response = await post(receiver, pushed);
      assert.equal(response.status, status, `${name}: ${response.body}`);
      assert.match(String(response.json.message), message, name);
      assert.deepEqual(await receiver.files(), before, `${name}: something was stored`);
    }
  });

  it('a part that fails after stored ones ends the push: its status, and the images before it stay (durable, listed), nothing after', async () => {
    const before = await receiver.files();
    const response = await post(receiver, form([xmlPart(), imagePart('kept.jpg'), imagePart('fake.jpg', HTML), imagePart('after.jpg', OTHER_JPEG)]));
    assert.equal(response.status, 415, response.body);
    const key = `camera-1/${day()}/kept.jpg`;
    assert.match(String(response.json.message), new RegExp(`image part 2 of the push \\("fake\\.jpg"\\)\\. Stored before the failure: ${escape(key)}; nothing after it\\.$`));
    assert.deepEqual(response.json.stored, [{ key, bytes: SAMPLE_JPEG.byteLength }]);
    assert.deepEqual((await receiver.files()).filter((file) => !before.includes(file)), [key]);
    assert.deepEqual(await stored(receiver, key), SAMPLE_JPEG);
  });

  it('a push cut off in its second image keeps the first (whole) and nothing of the second, no temporary file either', async () => {
    const before = await receiver.files();
    const pushed = form([xmlPart(), imagePart('whole.jpg'), imagePart('cut.jpg', OTHER_JPEG)]);
    const cutAt = pushed.body.indexOf(Buffer.from('filename="cut.jpg"')) + 2_000;
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(receiver.port, '127.0.0.1', () => {
        socket.write(`POST /t/${receiver.token}/ HTTP/1.1\r\nHost: x\r\nContent-Type: ${pushed.contentType}\r\nContent-Length: ${pushed.body.byteLength}\r\n\r\n`);
        socket.write(pushed.body.subarray(0, cutAt));
        // The first image is stored before the second part is read: wait for it, then drop the connection.
        void (async () => {
          for (let tries = 0; tries < 100 && !(await receiver.files()).includes(`camera-1/${day()}/whole.jpg`); tries++) await new Promise((r) => setTimeout(r, 20));
          socket.destroy();
          resolve();
        })().catch(reject);
      });
      socket.on('error', () => undefined);
    });
    // The receiver notices the cut (the part's body fails) and removes what it had of the second image.
    for (let tries = 0; tries < 100 && (await receiver.files()).some((file) => file.startsWith('.incoming/') && !before.includes(file)); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual((await receiver.files()).filter((file) => !before.includes(file)), [`camera-1/${day()}/whole.jpg`]);
    assert.deepEqual(await stored(receiver, `camera-1/${day()}/whole.jpg`), SAMPLE_JPEG);
  });

  it('holds a push to 8 images: a ninth is refused (400), the eight before it are stored', async () => {
    const before = await receiver.files();
    const parts = Array.from({ length: 9 }, (_, n) => imagePart(`many-${n + 1}.jpg`));
    const response = await post(receiver, form([xmlPart(), ...parts]));
    assert.equal(response.status, 400, response.body);
    assert.match(String(response.json.message), /more than 8 images/);
    assert.equal((response.json.stored as unknown[]).length, 8);
    assert.equal((await receiver.files()).filter((file) => !before.includes(file)).length, 8);
  });

  it('keeps today\'s rule for a form without an event part: one file part, two are refused (400) with nothing stored', async () => {
    const before = await receiver.files();
    const two = await post(receiver, form([imagePart('one.jpg'), imagePart('two.jpg')]));
    assert.equal(two.status, 400, two.body);
    assert.match(String(two.json.message), /^The multipart body holds more than one file; nothing was stored\./);
    assert.deepEqual(await receiver.files(), before);
    const one = await post(receiver, form([{ disposition: 'form-data; name="note"', body: Buffer.from('front door') }, imagePart('alone.jpg')]));
    assert.equal(one.status, 200, one.body);
    assert.deepEqual(Object.keys(one.json).sort(), ['bytes', 'camera', 'key']);
  });

  it('answers Dahua\'s keep-alive GETs (/PictureHttpUpload/keepalive, /EventHttpUpload/keepalive)', async () => {
    for (const keepalive of ['PictureHttpUpload/keepalive', 'EventHttpUpload/keepalive']) {
      assert.equal((await request(`${receiver.url}${keepalive}`)).status, 200);
    }
  });
});

describe('token in the path: failed tokens count as in the query (429)', () => {
  let receiver: RunningReceiver;
  before(async () => {
    receiver = await startReceiver({ limits: { failedAuthPerMinute: 2 } });
  });
  after(() => receiver.close());

  it('counts unknown tokens in the path and in the query together, then answers 429 with Retry-After', async () => {
    const statuses = [
      (await post(receiver, anprPush(), 't/unknown-token-path-0123456789/')).status,
      (await post(receiver, anprPush(), '?accessToken=unknown-token-query-0123456789')).status,
      (await post(receiver, anprPush(), 't/unknown-token-path-0123456789/')).status,
    ];
    assert.deepEqual(statuses, [403, 403, 429]);
    const limited = await post(receiver, anprPush(), 't/unknown-token-path-0123456789/');
    assert.equal(limited.status, 429);
    assert.ok(limited.headers['retry-after']);
    assert.equal((await receiver.files()).length, 0);
  });
});

describe('camera pushes into S3 (s3rver): event facts as object metadata, images byte for byte', () => {
  let s3: LocalS3;
  let work: string;
  before(async () => {
    s3 = await startLocalS3('pushes');
    work = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-push-s3-'));
  });
  after(async () => {
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  });

  const client = () => createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, requestTimeoutMs: 5_000 });

  async function checkPush(receiver: RunningReceiver, prefix: string, bucket: S3Store): Promise<void> {
    // A plate in Thai script: metadata must be ASCII, so it is URL-encoded as camera-filename is.
    const response = await post(receiver, anprPush('1กข2345'), `t/${receiver.token}/`);
    assert.equal(response.status, 200, response.body);
    const [plate, scene] = images(response);
    for (const [image, bytes] of [
      [plate!, SAMPLE_JPEG],
      [scene!, OTHER_JPEG],
    ] as const) {
      const object = await waitFor(() => s3.object(`${prefix}${image.key}`));
      assert.deepEqual(object, bytes, `${image.key} differs from what was sent`);
      const facts = await bucket.head(image.key);
      assert.ok(facts, image.key);
      const { 'received-at': receivedAt, ...metadata } = facts.metadata;
      assert.match(String(receivedAt), /^\d{4}-\d\d-\d\dT/);
      assert.deepEqual(metadata, {
        camera: 'camera-1',
        'camera-filename': image.key.endsWith('detectionPicture.jpg') ? 'detectionPicture.jpg' : 'licensePlatePicture.jpg',
        'event-type': 'ANPR',
        'event-state': 'active',
        'event-channel': '1',
        'event-time': encodeURIComponent('2026-11-23T10:15:30+01:00'),
        'event-plate': encodeURIComponent('1กข2345'),
        'event-direction': 'forward',
        ...(metadata.sha256 !== undefined && { sha256: metadata.sha256 }),
      });
      assert.equal(decodeURIComponent(String(metadata['event-plate'])), '1กข2345');
      assert.ok(Object.values(facts.metadata).every((value) => /^[\x20-\x7e]*$/.test(value)), 'metadata values are ASCII');
    }
  }

  it('straight into the bucket (no spool)', async () => {
    const bucket = new S3Store({ client: client(), bucket: s3.bucket, prefix: 'direct/', conditionalWrites: 'yes' });
    const receiver = await startReceiver({ store: bucket });
    try {
      await checkPush(receiver, 'direct/', bucket);
    } finally {
      await receiver.close();
    }
  });

  it('through the spool, as serve runs by default', async () => {
    const bucket = new S3Store({ client: client(), bucket: s3.bucket, prefix: 'spooled/', conditionalWrites: 'yes' });
    await bucket.open();
    const spool = await mkdtemp(path.join(work, 'spool-'));
    const store = new SpooledStore(new S3Store({ client: client(), bucket: s3.bucket, prefix: 'spooled/', conditionalWrites: 'yes' }), {
      folder: spool,
      maxBytes: 64 * 1024 * 1024,
      forwardConcurrency: 2,
      backoff: { initialMs: 50, maxMs: 400 },
    });
    const receiver = await startReceiver({ store });
    try {
      await checkPush(receiver, 'spooled/', bucket);
    } finally {
      await receiver.close();
      await bucket.close();
    }
  });
});

async function waitFor<T>(read: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('not there in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
