/**
 * The FTP receiver over loopback, driven by real clients (curl, Python's ftplib, lftp when
 * installed) against a real disk store: what a camera does works, and what a hostile client
 * tries ends inside the camera's space, refused or stored as nothing.
 */
import assert from 'node:assert/strict';
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImageWrite } from '../../src/core/store.js';
import { DiskStore } from '../../src/stores/disk.js';
import { CAMERA, CURL_MISSING, LFTP_MISSING, PYTHON_MISSING, SAMPLE_JPEG_FILE, curl, curlReplies, eventually, filesUnder, python, run, startFtp, storedImages } from './helpers.js';
import type { RunningFtp } from './helpers.js';

const SAMPLE_JPEG = await readFile(SAMPLE_JPEG_FILE);
const missing = CURL_MISSING || PYTHON_MISSING;

/** Today's folder of the camera, as the default key template makes it. */
function today(): string {
  const now = new Date();
  return `${CAMERA}/${now.getUTCFullYear()}/${String(now.getUTCMonth() + 1).padStart(2, '0')}/${String(now.getUTCDate()).padStart(2, '0')}`;
}

/** The stored images whose name starts with `prefix`. */
async function imagesNamed(ftp: RunningFtp, prefix: string): Promise<string[]> {
  return (await storedImages(ftp)).filter((file) => path.basename(file).startsWith(prefix));
}

describe('FTP: uploads, as cameras make them', { skip: missing }, () => {
  let ftp: RunningFtp;
  let upload: string;
  before(async () => {
    ftp = await startFtp();
    upload = path.join(ftp.root, 'upload.jpg');
    await writeFile(upload, SAMPLE_JPEG);
  });
  after(() => ftp.close());

  it('stores a plain FTP upload (curl) byte for byte under the camera\'s key, folders folded into the name', async () => {
    const result = await curl(ftp, ['--ftp-create-dirs', '-T', upload, `ftp://127.0.0.1:${ftp.port}/site/gate/snap.jpg`]);
    assert.equal(result.code, 0, result.stderr);
    const key = `${today()}/site_gate_snap.jpg`;
    assert.ok(curlReplies(result).includes(`226 Stored as ${key} (${SAMPLE_JPEG.byteLength} bytes).`), result.stderr);
    assert.deepEqual(await readFile(path.join(ftp.images, key)), SAMPLE_JPEG);
    const line = ftp.logs.find((entry) => entry.message === 'image stored' && entry.fields.key === key);
    assert.equal(line?.fields.protocol, 'ftp');
    assert.equal(line?.fields.camera, CAMERA);
    assert.equal(line?.fields.remoteAddress, '127.0.0.1');
    // Counted in the same metrics as HTTP uploads (serve shares one set with every way in).
    const metrics = await ftp.metrics.registry.metrics();
    assert.match(metrics, new RegExp(`images_to_s3_uploads_total\\{camera="${CAMERA}",status="200"\\} 1\\n`));
    assert.match(metrics, new RegExp(`images_to_s3_stored_bytes_total\\{camera="${CAMERA}"\\} ${SAMPLE_JPEG.byteLength}\\n`));
  });

  it('lets a camera look around first: PWD, MKD, CWD, CDUP; LIST and NLST show nothing, even its own files', async () => {
    const answers = await python<Record<string, unknown>>(
      ftp,
      `
client = login()
answers = {'pwd': client.pwd(), 'mkd': client.mkd('2026-12-06'), 'cwd': client.cwd('2026-12-06'), 'pwd2': client.pwd()}
answers['store'] = store(client, 'look.jpg', JPEG)
answers['nlst'] = client.nlst()
lines = []
client.retrlines('LIST', lines.append)
answers['list'] = lines
answers['mlsd'] = attempt(lambda: list(client.mlsd()))
answers['cdup'] = client.sendcmd('CDUP')
answers['pwd3'] = client.pwd()
client.quit()
print(json.dumps(answers))
`,
    );
    assert.equal(answers.pwd, '/');
    assert.equal(answers.mkd, '/2026-12-06');
    assert.equal(answers.pwd2, '/2026-12-06');
    assert.match(String(answers.store), /^226 Stored as .*\/2026-12-06_look\.jpg/);
    assert.deepEqual(answers.nlst, []);
    assert.deepEqual(answers.list, []);
    assert.equal(answers.mlsd, '[]');
    assert.equal(answers.pwd3, '/');
    const listing = await curl(ftp, [`ftp://127.0.0.1:${ftp.port}/2026-12-06/`]);
    assert.equal(listing.code, 0, listing.stderr);
    assert.equal(listing.stdout, '');
  });

  it('refuses to give anything back or take anything away: RETR, DELE, RMD, APPE, SIZE and MDTM of a stored file', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `
client = login()
answers = {'store': store(client, 'kept.jpg', JPEG)}
answers['retr'] = attempt(lambda: client.retrbinary('RETR kept.jpg', lambda data: None))
answers['dele'] = attempt(lambda: client.delete('kept.jpg'))
answers['rmd'] = attempt(lambda: client.rmd('/'))
answers['appe'] = attempt(lambda: client.storbinary('APPE kept.jpg', __import__('io').BytesIO(JPEG)))
answers['size'] = attempt(lambda: client.size('kept.jpg'))
answers['mdtm'] = attempt(lambda: client.sendcmd('MDTM kept.jpg'))
print(json.dumps(answers))
`,
    );
    assert.match(answers.retr!, /^error: 550 Nothing can be read back/);
    assert.match(answers.dele!, /^error: 550 Nothing can be deleted/);
    assert.match(answers.rmd!, /^error: 550 /);
    assert.match(answers.appe!, /^error: 550 Appending is not possible/);
    assert.match(answers.size!, /^error: 550 No such file/);
    assert.match(answers.mdtm!, /^error: 550 No such file/);
    const download = await curl(ftp, ['-o', path.join(ftp.root, 'back.jpg'), `ftp://127.0.0.1:${ftp.port}/kept.jpg`]);
    assert.notEqual(download.code, 0);
    assert.equal((await imagesNamed(ftp, 'kept')).length, 1);
  });

  it('answers SIZE and MDTM of a file while it arrives, and stores it once complete', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `
client = login()
data = client.transfercmd('STOR growing.jpg')
data.sendall(JPEG[:20000])
time.sleep(0.3)
answers = {'size': client.sendcmd('SIZE growing.jpg'), 'mdtm': client.sendcmd('MDTM growing.jpg')}
data.sendall(JPEG[20000:])
data.close()
answers['done'] = client.voidresp()
print(json.dumps(answers))
`,
    );
    assert.equal(answers.size, '213 20000');
    assert.match(answers.mdtm!, /^213 \d{14}$/);
    assert.match(answers.done!, /^226 Stored as .*growing\.jpg/);
  });

  it('takes many sessions at once', async () => {
    const count = 24;
    const results = await Promise.all(Array.from({ length: count }, (_, i) => curl(ftp, ['-T', upload, `ftp://127.0.0.1:${ftp.port}/parallel-${i}.jpg`])));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const stored = await imagesNamed(ftp, 'parallel-');
    assert.equal(stored.length, count);
    for (const file of stored) assert.deepEqual(await readFile(path.join(ftp.images, file)), SAMPLE_JPEG);
  });

  it('uploads with lftp, a temporary name and its rename included', { skip: LFTP_MISSING }, async () => {
    const script = `set ftp:passive-mode on; set ftp:ssl-allow no; put ${upload} -o lftp-plain.jpg; set xfer:use-temp-file yes; put ${upload} -o lftp-renamed.jpg; bye`;
    const result = await run('lftp', ['-u', `${CAMERA},${ftp.token}`, '-p', String(ftp.port), '-e', script, '127.0.0.1'], { timeoutMs: 60_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await imagesNamed(ftp, 'lftp-'), [`${today()}/lftp-plain.jpg`, `${today()}/lftp-renamed.jpg`]);
    assert.deepEqual(await readFile(path.join(ftp.images, `${today()}/lftp-renamed.jpg`)), SAMPLE_JPEG);
    assert.deepEqual(await filesUnder(ftp.holdFolder), []);
  });
});

describe('FTP: a temporary name, then the rename (Axis "temporary", lftp, WinSCP)', { skip: missing }, () => {
  let ftp: RunningFtp;
  before(async () => {
    ftp = await startFtp();
  });
  after(() => ftp.close());

  it('stores the file once, under its final name, and the temporary name leaves nothing behind', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `
client = login()
answers = {'mkd': attempt(lambda: client.mkd('axis')), 'cwd': client.cwd('axis')}
answers['stor'] = store(client, 'upload-0001.jpg.tmp', JPEG)
answers['size'] = attempt(lambda: client.size('upload-0001.jpg.tmp'))
answers['rnfr'] = attempt(lambda: client.sendcmd('RNFR upload-0001.jpg.tmp'))
answers['rnto'] = attempt(lambda: client.sendcmd('RNTO gate_2026-12-06_10-15-00.jpg'))
answers['stor2'] = store(client, 'snapshot_tmp.jpg', JPEG)
answers['dele'] = attempt(lambda: client.delete('snapshot.jpg'))
answers['rename2'] = attempt(lambda: client.rename('snapshot_tmp.jpg', 'snapshot.jpg'))
client.quit()
print(json.dumps(answers))
`,
    );
    assert.match(answers.stor!, /^226 Received \/axis\/upload-0001\.jpg\.tmp \(\d+ bytes\); it is stored when renamed/);
    assert.equal(answers.size, String(SAMPLE_JPEG.byteLength));
    assert.match(answers.rnfr!, /^350 /);
    assert.equal(answers.rnto, `250 Stored as ${today()}/axis_gate_2026-12-06_10-15-00.jpg (${SAMPLE_JPEG.byteLength} bytes).`);
    assert.match(answers.dele!, /^error: 550 /);
    assert.match(answers.rename2!, /^250 Stored as .*\/axis_snapshot\.jpg/);
    assert.deepEqual(await storedImages(ftp), [`${today()}/axis_gate_2026-12-06_10-15-00.jpg`, `${today()}/axis_snapshot.jpg`]);
    assert.deepEqual(await readFile(path.join(ftp.images, `${today()}/axis_gate_2026-12-06_10-15-00.jpg`)), SAMPLE_JPEG);
    assert.deepEqual(await filesUnder(ftp.holdFolder), []);
  });

  it('keeps a temporary file that is never renamed: stored under its own name when the session ends', async () => {
    const answers = await python<Record<string, string>>(ftp, `client = login()\nanswers = {'stor': store(client, 'orphan.part', JPEG)}\nclient.quit()\nprint(json.dumps(answers))`);
    assert.match(answers.stor!, /^226 Received/);
    const stored = await eventually(
      () => imagesNamed(ftp, 'orphan'),
      (files) => files.length === 1,
    );
    assert.deepEqual(stored, [`${today()}/orphan.part.jpg`]);
    assert.deepEqual(await eventually(() => filesUnder(ftp.holdFolder), (files) => files.length === 0), []);
  });

  it('answers the rename of a file stored at once, and keeps the name it was stored under', async () => {
    const answers = await python<Record<string, string>>(ftp, `client = login()\nanswers = {'stor': store(client, 'early.jpg', JPEG), 'rename': attempt(lambda: client.rename('early.jpg', 'late.jpg')), 'unknown': attempt(lambda: client.rename('never.jpg', 'x.jpg'))}\nprint(json.dumps(answers))`);
    assert.match(answers.rename!, /^250 \/early\.jpg was stored as .*early\.jpg when its upload ended/);
    assert.match(answers.unknown!, /^error: 550 No such file/);
    assert.deepEqual(await imagesNamed(ftp, 'early'), [`${today()}/early.jpg`]);
    assert.deepEqual(await imagesNamed(ftp, 'late'), []);
  });
});

describe('FTP: log-in', { skip: missing }, () => {
  let ftp: RunningFtp;
  let upload: string;
  before(async () => {
    ftp = await startFtp();
    upload = path.join(ftp.root, 'upload.jpg');
    await writeFile(upload, SAMPLE_JPEG);
  });
  after(() => ftp.close());

  it('refuses a wrong token, another camera\'s token and a revoked one, and never logs a password', async () => {
    const other = await ftp.tokens.create('other-camera');
    const revoked = await ftp.tokens.create(CAMERA);
    await ftp.tokens.revoke(revoked.id);
    for (const password of ['wrong-token-0123456789', other.token, revoked.token]) {
      const result = await curl(ftp, ['-T', upload, `ftp://127.0.0.1:${ftp.port}/refused.jpg`], `${CAMERA}:${password}`);
      assert.equal(result.code, 67, `curl should be refused the log-in: ${result.stderr}`);
      assert.ok(curlReplies(result).some((reply) => reply.startsWith('530 Login incorrect')), result.stderr);
    }
    assert.deepEqual(await imagesNamed(ftp, 'refused'), []);
    const logged = JSON.stringify(ftp.logs);
    for (const secret of [ftp.token, other.token, revoked.token]) assert.ok(!logged.includes(secret), 'a token reached the log');
    assert.ok(ftp.logs.some((line) => line.message === 'ftp: log-in refused'));
  });

  it('stops a session at its next file once its token is revoked', async () => {
    const spare = await ftp.tokens.create(CAMERA);
    const signal = path.join(ftp.root, 'revoke-now');
    // The client stores one file, then waits until the signal file it made is gone.
    const client = python<Record<string, string>>(
      ftp,
      `
client = login(password=os.environ['SPARE'])
answers = {'first': store(client, 'before-revoke.jpg', JPEG)}
open(os.environ['SIGNAL'], 'w').close()
while os.path.exists(os.environ['SIGNAL']):
    time.sleep(0.05)
answers['second'] = store(client, 'after-revoke.jpg', JPEG)
print(json.dumps(answers))
`,
      { SPARE: spare.token, SIGNAL: signal },
    );
    await eventually(
      () => access(signal).then(() => true, () => false),
      (there) => there,
      20_000,
    );
    await ftp.tokens.revoke(spare.id);
    await rm(signal);
    const answers = await client;
    assert.match(answers.first!, /^226 Stored/);
    assert.match(answers.second!, /^error: 421 The camera's access token was revoked/);
    assert.deepEqual(await imagesNamed(ftp, 'after-revoke'), []);
  });

  it('limits failed log-ins per address, as HTTP does: past the limit the session is closed with 421', async () => {
    const limited = await startFtp({ failedAuthLimit: 3 });
    after(() => limited.close());
    const answers = await python<string[]>(
      limited,
      `
answers = []
for attempt_number in range(6):
    client = connect()
    answers.append(attempt(lambda: client.login(USER, 'wrong-token-0123456789')))
print(json.dumps(answers))
`,
    );
    assert.ok(answers.slice(0, 3).every((answer) => answer.startsWith('error: 530')), answers.join('\n'));
    assert.ok(answers.slice(3).every((answer) => /^error: 421 Too many failed log-ins from 127\.0\.0\.1/.test(answer)), answers.join('\n'));
    // A valid token from the same address still logs in.
    const result = await curl(limited, ['-T', upload, `ftp://127.0.0.1:${limited.port}/still-in.jpg`]);
    assert.equal(result.code, 0, result.stderr);
  });
});

describe('FTP: every path ends inside the camera\'s space', { skip: missing }, () => {
  let ftp: RunningFtp;
  before(async () => {
    ftp = await startFtp();
  });
  after(() => ftp.close());

  it('folds ../, absolute paths, backslashes and a rename out of the folder into names under the camera\'s key', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `
client = login()
answers = {}
answers['dotdot'] = store(client, '../../../../escape-dotdot.jpg', JPEG)
answers['absolute'] = store(client, '/etc/escape-absolute.jpg', JPEG)
answers['backslash'] = store(client, '..\\\\..\\\\..\\\\escape-backslash.jpg', JPEG)
answers['cwd'] = client.cwd('../../../../..')
answers['pwd'] = client.pwd()
answers['mixed'] = store(client, 'a/../../b/./../../escape-mixed.jpg', JPEG)
answers['tmp'] = store(client, 'escape-rename.tmp', JPEG)
answers['rnfr'] = attempt(lambda: client.sendcmd('RNFR escape-rename.tmp'))
answers['rnto'] = attempt(lambda: client.sendcmd('RNTO ../../../../../tmp/escape-rename.jpg'))
answers['nul'] = attempt(lambda: client.sendcmd('CWD a\\x00b'))
print(json.dumps(answers))
`,
    );
    assert.equal(answers.pwd, '/');
    assert.match(answers.rnto!, /^250 Stored as /);
    assert.match(answers.nul!, /^error: 550 Not a folder name/);
    assert.deepEqual(await storedImages(ftp), [
      `${today()}/escape-backslash.jpg`,
      `${today()}/escape-dotdot.jpg`,
      `${today()}/escape-mixed.jpg`,
      `${today()}/etc_escape-absolute.jpg`,
      `${today()}/tmp_escape-rename.jpg`,
    ]);
    // Nothing anywhere else under the receiver's folder: the registry, the store, an empty hold folder.
    const everything = await filesUnder(ftp.root);
    assert.deepEqual(
      everything.filter((file) => !file.startsWith(`images${path.sep}${CAMERA}${path.sep}`) && !file.startsWith(`images${path.sep}.`)),
      ['tokens.json'],
    );
  });
});

describe('FTP: what is not a whole image is not stored', { skip: missing }, () => {
  let ftp: RunningFtp;
  before(async () => {
    ftp = await startFtp({ maxBytes: 40_000 });
  });
  after(() => ftp.close());

  it('refuses a file that is not an image with 550 and the contract\'s message', async () => {
    const text = path.join(ftp.root, 'notes.jpg');
    await writeFile(text, 'not an image at all, just text\n'.repeat(10));
    const result = await curl(ftp, ['-T', text, `ftp://127.0.0.1:${ftp.port}/notes.jpg`]);
    assert.notEqual(result.code, 0);
    assert.ok(
      curlReplies(result).some((reply) => reply.startsWith('550 The bytes are not an image or clip of an accepted type')),
      result.stderr,
    );
    assert.deepEqual(await storedImages(ftp), []);
  });

  it('refuses a file over the receiver\'s size limit with 552', async () => {
    const answers = await python<Record<string, string>>(ftp, `client = login()\nprint(json.dumps({'big': store(client, 'big.jpg', JPEG + JPEG)}))`);
    assert.match(answers.big!, /^error: 552 The image is larger than this receiver accepts/);
    assert.deepEqual(await storedImages(ftp), []);
  });

  it('refuses a JPEG without its end marker, though its data connection closed cleanly', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `
client = login()
data = client.transfercmd('STOR cut.jpg')
data.sendall(JPEG[:len(JPEG) // 2])
data.close()
print(json.dumps({'reply': attempt(client.voidresp)}))
`,
    );
    assert.match(answers.reply!, /^error: 550 The file ended before its JPEG image did \(no end-of-image marker FF D9\)/);
    assert.deepEqual(await storedImages(ftp), []);
  });

  it('stores nothing of a session dropped mid-file, nor of a whole file whose control connection was gone first', async () => {
    await python<unknown>(
      ftp,
      `
client = login()
data = client.transfercmd('STOR dropped-mid.jpg')
data.sendall(JPEG[:20000])
client.sock.close()
data.close()
client = login()
data = client.transfercmd('STOR dropped-whole.jpg')
data.sendall(JPEG)
client.sock.close()
time.sleep(0.2)
data.close()
print(json.dumps(None))
`,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(await ftp.files(), []);
  });

  it('stores nothing of an aborted transfer (ABOR)', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `
client = login()
data = client.transfercmd('STOR aborted.jpg')
data.sendall(JPEG[:10000])
answers = {'abort': attempt(client.abort)}
answers['after'] = attempt(client.getresp)
data.close()
answers['noop'] = client.voidcmd('NOOP')
print(json.dumps(answers))
`,
    );
    assert.match(answers.abort!, /^426 /);
    assert.match(answers.after!, /^226 /);
    assert.equal(answers.noop, '200 OK.');
    assert.deepEqual(await storedImages(ftp), []);
  });
});

describe('FTP: passive only, and the session limits', { skip: missing }, () => {
  let ftp: RunningFtp;
  before(async () => {
    ftp = await startFtp({ maxSessions: 3, idleTimeoutMs: 2_000, passivePorts: { from: 40_100, to: 40_119 } });
  });
  after(() => ftp.close());

  it('refuses PORT and EPRT (to a foreign address or any other), so it never connects anywhere', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `
client = login()
answers = {'port': attempt(lambda: client.sendcmd('PORT 10,0,0,1,0,80')), 'eprt': attempt(lambda: client.sendcmd('EPRT |1|169.254.169.254|80|'))}
client.set_pasv(False)
answers['active'] = store(client, 'active.jpg', JPEG)
print(json.dumps(answers))
`,
    );
    for (const answer of [answers.port, answers.eprt, answers.active]) assert.match(answer!, /^error: 502 Active mode \(PORT\/EPRT\) is off/);
    assert.deepEqual(await storedImages(ftp), []);
  });

  it('announces passive ports of the range, and the address of the connection', async () => {
    const answers = await python<Record<string, string>>(ftp, `client = login()\nprint(json.dumps({'pasv': client.sendcmd('PASV'), 'epsv': client.sendcmd('EPSV'), 'stor': store(client, 'ranged.jpg', JPEG)}))`);
    const pasv = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(answers.pasv!);
    assert.deepEqual(pasv?.slice(1, 5), ['127', '0', '0', '1']);
    const port = Number(pasv[5]) * 256 + Number(pasv[6]);
    assert.ok(port >= 40_100 && port <= 40_119, `port ${port}`);
    const epsv = Number(/\(\|\|\|(\d+)\|\)/.exec(answers.epsv!)?.[1]);
    assert.ok(epsv >= 40_100 && epsv <= 40_119, `port ${epsv}`);
    assert.match(answers.stor!, /^226 Stored/);
  });

  it('closes a session idle for the idle time', async () => {
    const answers = await python<Record<string, string>>(ftp, `client = login()\ntime.sleep(3)\nprint(json.dumps({'after': attempt(client.getresp)}))`);
    assert.match(answers.after!, /^error: 421 No command for 2 s: closing the session/);
  });

  it('refuses sessions beyond the most at once with 421, and takes them again once one ends', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `
held = [login() for _ in range(3)]
answers = {'fourth': attempt(lambda: connect().getwelcome())}
held[0].quit()
time.sleep(0.2)
answers['again'] = attempt(lambda: connect().getwelcome())
print(json.dumps(answers))
`,
    );
    assert.match(answers.fourth!, /^error: 421 Too many sessions \(3 at once\)/);
    assert.match(answers.again!, /^220 /);
  });
});

/** A disk store that takes at most `bytesPerSecond`: slower than any client on loopback. */
class SlowDiskStore extends DiskStore {
  constructor(
    folder: string,
    private readonly bytesPerSecond: number,
  ) {
    super(folder);
  }

  override write(image: ImageWrite): Promise<{ key: string }> {
    const { bytesPerSecond } = this;
    async function* slowly(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) {
        await new Promise((resolve) => setTimeout(resolve, (chunk.byteLength / bytesPerSecond) * 1000));
        yield chunk;
      }
    }
    return super.write({ ...image, body: slowly(image.body) });
  }
}

describe('FTP: memory stays flat whatever the file size', { skip: missing }, () => {
  it('holds the client back (TCP backpressure) while the store is slow, rather than buffering the file', async () => {
    const MiB = 1024 * 1024;
    const ftp = await startFtp({ store: (images) => new SlowDiskStore(images, 8 * MiB), maxBytes: 64 * MiB });
    try {
      // A 24 MiB JPEG: the sample with zeros added to its scan data (still a whole JPEG to the end check).
      const answers = await python<{ seconds: number; reply: string; size: number }>(
        ftp,
        `
sos = JPEG.index(b'\\xff\\xda')
cut = sos + 2 + int.from_bytes(JPEG[sos + 2:sos + 4], 'big') + 100
big = JPEG[:cut] + bytes(24 * 1024 * 1024) + JPEG[cut:]
client = login()
data = client.transfercmd('STOR big.jpg')
started = time.monotonic()
data.sendall(big)
seconds = time.monotonic() - started
data.close()
print(json.dumps({'seconds': seconds, 'reply': attempt(client.voidresp), 'size': len(big)}))
`,
      );
      assert.match(answers.reply, /^226 Stored as .*big\.jpg/);
      // At 8 MiB/s the store takes 3 s; the client can only be ahead by what the sockets buffer.
      assert.ok(answers.seconds > 1, `the client sent ${answers.size} bytes in ${answers.seconds.toFixed(2)} s: the receiver buffered them instead of holding the client back`);
      const [stored] = await storedImages(ftp);
      assert.equal((await readFile(path.join(ftp.images, stored!))).byteLength, answers.size);
    } finally {
      await ftp.close();
    }
  });
});
