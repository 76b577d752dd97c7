import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SAMPLE_JPEG, cameraUpload, request, startReceiver } from '../support/receiver.js';
import type { RunningReceiver } from '../support/receiver.js';

const day = (): string => new Date().toISOString().slice(0, 10).replaceAll('-', '/');

/** Sends a raw request on a fresh connection; resolves with the status line's code (0 if the server just closed). */
function rawStatus(port: number, head: Buffer | string, body: Buffer = Buffer.alloc(0)): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(head);
      socket.write(body);
    });
    let reply = '';
    socket.on('data', (data) => (reply += data.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0)));
    setTimeout(() => reject(new Error('no answer in 5 s')), 5_000).unref();
  });
}

/** Every file under the receiver's folder that is not an image under a camera's own prefix. */
async function strayFiles(receiver: RunningReceiver): Promise<string[]> {
  const entries = await readdir(receiver.root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(receiver.root, path.join(entry.parentPath, entry.name)))
    .filter((file) => file !== 'tokens.json' && !/^images\/camera-1\/\d{4}\/\d\d\/\d\d\/[^/]+$/.test(file));
}

describe('hostile filenames are stored inside the camera\'s folder, sanitised', () => {
  let receiver: RunningReceiver;
  before(async () => {
    receiver = await startReceiver();
  });
  after(() => receiver.close());

  const cases: Array<[label: string, disposition: string, expected: RegExp]> = [
    ['parent traversal', 'attachment; filename="../../../../etc/cron.d/x.jpg"', /^etc_cron\.d_x\.jpg$/],
    ['backslash traversal', 'attachment; filename="..\\\\..\\\\windows\\\\x.jpg"', /^windows_x\.jpg$/],
    ['absolute path', 'attachment; filename="/etc/passwd"', /^etc_passwd\.jpg$/],
    ['drive letter', 'attachment; filename="C:\\\\Windows\\\\win.ini"', /^C_Windows_win\.ini\.jpg$/],
    ['encoded traversal stays literal', 'attachment; filename="%2e%2e%2f%2e%2e%2fx.jpg"', /^2e_2e_2f_2e_2e_2fx\.jpg$/],
    ['traversal in filename*', "attachment; filename*=UTF-8''..%2F..%2Fx.jpg", /^x\.jpg$/],
    ['only dots', 'attachment; filename=".."', /^image-.*\.jpg$/],
    ['hidden file', 'attachment; filename=".htaccess"', /^htaccess\.jpg$/],
    ['tab and encoded control characters', "attachment; filename*=UTF-8''a%09b%1Bc%7F.jpg", /^a_b_c\.jpg$/],
    ['right-to-left override', "attachment; filename*=UTF-8''photo%E2%80%AEgpj.exe", /^photo_gpj\.exe\.jpg$/],
    ['fullwidth solidus', "attachment; filename*=UTF-8''..%EF%BC%8F..%EF%BC%8Fx.jpg", /^x\.jpg$/],
    ['overlong name', `attachment; filename="${'a'.repeat(5000)}.jpg"`, /^a{96}\.jpg$/],
    ['script extension', 'attachment; filename="shell.php"', /^shell\.php\.jpg$/],
    ['html extension', 'attachment; filename="page.html"', /^page\.html\.jpg$/],
    ['two filenames', 'attachment; filename="a.jpg"; filename="../b.jpg"', /^(a|b|image-.*)\.jpg$/],
  ];
  for (const [label, disposition, expected] of cases) {
    it(label, async () => {
      const response = await request(`${receiver.url}?accessToken=${receiver.token}`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg', 'content-disposition': disposition },
        body: SAMPLE_JPEG,
      });
      assert.equal(response.status, 200, response.body);
      const key = String(response.json.key);
      assert.ok(key.startsWith(`camera-1/${day()}/`), key);
      const name = key.slice(`camera-1/${day()}/`.length);
      assert.match(name.replace(/-\d{9}[0-9a-z]{10}(?=\.)/, ''), expected);
      assert.deepEqual(await strayFiles(receiver), []);
    });
  }

  for (const control of ['\0', '\x1b', '\x7f']) {
    it(`a raw ${JSON.stringify(control)} in the header is refused by the HTTP parser, and nothing is stored`, async () => {
      const head = Buffer.from(
        `POST /?accessToken=${receiver.token} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename="a${control}b.jpg"\r\nContent-Length: ${SAMPLE_JPEG.length}\r\n\r\n`,
        'latin1',
      );
      assert.equal(await rawStatus(receiver.port, head, SAMPLE_JPEG), 400);
      assert.deepEqual(await strayFiles(receiver), []);
    });
  }
});

describe('hostile requests get the right status and store nothing', () => {
  let receiver: RunningReceiver;
  before(async () => {
    receiver = await startReceiver({ limits: { failedAuthPerMinute: 1000 } });
  });
  after(() => receiver.close());

  const storedFiles = async (): Promise<string[]> =>
    (await readdir(path.join(receiver.root, 'images'), { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
  const storedCount = async (): Promise<number> => (await storedFiles()).length;

  it('lying, wrong and doubled content types', async () => {
    const before = await storedCount();
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);
    const cases: Array<[contentType: string, body: Buffer, status: number]> = [
      ['image/png', SAMPLE_JPEG, 415],
      ['image/jpeg', png, 415],
      ['image/svg+xml', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), 415],
      ['text/html', Buffer.from('<script>alert(1)</script>'), 415],
      ['image/jpeg, text/html', Buffer.from('<script>alert(1)</script>'), 415],
      ['image/gif', Buffer.from('GIF89a<script>alert(1)</script>'.padEnd(40, ' ')), 200],
    ];
    for (const [contentType, body, status] of cases) {
      const response = await cameraUpload(receiver, { contentType, body, filename: 'x.html' });
      assert.equal(response.status, status, `${contentType}: ${response.body}`);
    }
    assert.equal(await storedCount(), before + 1);
  });

  it('a JPEG/HTML polyglot is stored as a JPEG, never under a name a browser would run', async () => {
    const polyglot = Buffer.concat([SAMPLE_JPEG.subarray(0, 4), Buffer.from('<html><script>alert(1)</script></html>')]);
    const response = await cameraUpload(receiver, { body: polyglot, filename: 'index.html' });
    assert.equal(response.status, 200);
    assert.match(String(response.json.key), /\/index\.html\.jpg$/);
    const stored = await receiver.store.read(String(response.json.key));
    assert.equal(stored?.contentType, 'image/jpeg');
  });

  it('tokens in odd places and encodings', async () => {
    const cases: Array<[query: string, status: number]> = [
      [`?accessToken=${receiver.token}&accessToken=${receiver.token}`, 200],
      [`?accessToken=${receiver.token}&accessToken=other`, 400],
      [`?accesstoken=${receiver.token}`, 401],
      [`?ACCESSTOKEN=${receiver.token}`, 401],
      [`?accessToken=${[...receiver.token].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}`, 200],
      [`?accessToken=${receiver.token}%20`, 403],
      [`?accessToken=${receiver.token}%00`, 403],
      [`?accessToken=${receiver.token.toLowerCase()}`, 403],
      [`?accessToken=${'A'.repeat(8000)}`, 403],
      ['?accessToken=%E2%80%AE%F0%9F%92%A9', 403],
      ['?accessToken[]=x', 401],
      ['?accessToken', 401],
      ['', 401],
    ];
    for (const [query, status] of cases) {
      const response = await cameraUpload(receiver, { query });
      assert.equal(response.status, status, `${query.slice(0, 60)}: ${response.body}`);
    }
    const viaHeader = await cameraUpload(receiver, { token: null, headers: { authorization: `Bearer ${receiver.token}` } });
    assert.equal(viaHeader.status, 401, 'a token in a header is not the contract');
  });

  it('huge headers are refused with 431 and the server keeps serving', async () => {
    const head = `POST /?accessToken=${receiver.token} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nX-Padding: ${'a'.repeat(64 * 1024)}\r\nContent-Length: ${SAMPLE_JPEG.length}\r\n\r\n`;
    assert.equal(await rawStatus(receiver.port, head, SAMPLE_JPEG), 431);
    assert.equal((await request(receiver.url)).status, 200);
  });

  it('a Content-Length shorter than the body: the rest is a malformed request (400), and no byte beyond the announced length is stored', async () => {
    const before = await storedFiles();
    const head = `POST /?accessToken=${receiver.token} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename="short.jpg"\r\nContent-Length: 10\r\nConnection: close\r\n\r\n`;
    assert.equal(await rawStatus(receiver.port, head, SAMPLE_JPEG), 400);
    // The first 10 bytes are a complete request by HTTP's rules, which the receiver may have taken
    // before the parser reached the bytes after them; whatever it kept is exactly those 10 bytes.
    let added: string[] = [];
    for (let wait = 0; wait < 50; wait++) {
      added = (await storedFiles()).filter((file) => !before.includes(file));
      if (!added.some((file) => file.includes('.incoming'))) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(added.length <= 1, `more than one file appeared: ${added.join(', ')}`);
    for (const file of added) {
      assert.match(file, /short\.jpg$/);
      assert.deepEqual(await readFile(file), SAMPLE_JPEG.subarray(0, 10));
    }
  });

  it('no log line holds a token, whatever was sent', () => {
    const all = receiver.logs.join('\n');
    assert.ok(!all.includes(receiver.token), 'the token appears in the log');
    assert.ok(!all.includes(receiver.token.toLowerCase()), 'a variant of the token appears in the log');
  });
});

describe('failed-authentication rate limit', () => {
  it('answers 429 after the limit per address, keeps valid cameras working, and counts addresses apart', async () => {
    const receiver = await startReceiver({ limits: { failedAuthPerMinute: 5 }, trustProxy: true });
    try {
      const from = (address: string, token: string | null): ReturnType<typeof cameraUpload> => cameraUpload(receiver, { token, headers: { 'x-forwarded-for': address } });
      for (let i = 0; i < 5; i++) assert.equal((await from('198.51.100.7', 'w'.repeat(32))).status, 403);
      const limited = await from('198.51.100.7', 'w'.repeat(32));
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 60);
      assert.equal((await from('198.51.100.7', null)).status, 429);
      assert.equal((await from('198.51.100.7', receiver.token)).status, 200, 'a valid camera behind the same address is not refused');
      assert.equal((await from('198.51.100.8', 'w'.repeat(32))).status, 403, 'another address has its own count');
      const metrics = await request(`http://127.0.0.1:${receiver.port}/metrics`);
      assert.match(metrics.body, /images_to_s3_auth_failures_total\{reason="rate_limited"\} 2/);
      assert.match(metrics.body, /images_to_s3_auth_failures_total\{reason="invalid"\} 6/);
    } finally {
      await receiver.close();
    }
  });
});
