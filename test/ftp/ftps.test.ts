/**
 * Explicit FTPS (AUTH TLS, PBSZ 0, PROT P) with the receiver's own certificate, checked by the
 * clients as a camera with certificate validation does; and `--ftp-require-tls`.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPENSSL_MISSING } from '../support/tls.js';
import { CAMERA, CURL_MISSING, LFTP_MISSING, PYTHON_MISSING, SAMPLE_JPEG_FILE, curl, curlReplies, python, run, startFtp, storedImages } from './helpers.js';
import type { RunningFtp } from './helpers.js';

const SAMPLE_JPEG = await readFile(SAMPLE_JPEG_FILE);
const missing = OPENSSL_MISSING || CURL_MISSING || PYTHON_MISSING;

describe('FTPS (explicit): uploads over TLS', { skip: missing }, () => {
  let ftp: RunningFtp;
  let upload: string;
  before(async () => {
    ftp = await startFtp({ tls: true });
    upload = path.join(ftp.root, 'upload.jpg');
    await writeFile(upload, SAMPLE_JPEG);
  });
  after(() => ftp.close());

  it('stores an FTPS upload (curl --ssl-reqd, certificate checked) byte for byte, control and data protected', async () => {
    const result = await curl(ftp, ['--ssl-reqd', '--cacert', ftp.tls!.cert, '-T', upload, `ftp://127.0.0.1:${ftp.port}/secure.jpg`]);
    assert.equal(result.code, 0, result.stderr);
    const replies = curlReplies(result);
    assert.ok(replies.some((reply) => reply.startsWith('234 ')), result.stderr);
    assert.ok(result.stderr.includes('> PROT P') && replies.includes('200 Data connections are protected.'), result.stderr);
    const [stored] = await storedImages(ftp);
    assert.match(stored!, /\/secure\.jpg$/);
    assert.deepEqual(await readFile(path.join(ftp.images, stored!)), SAMPLE_JPEG);
  });

  it('takes an FTPS upload from Python, with a temporary name and its rename, and lists nothing over TLS', async () => {
    const answers = await python<Record<string, unknown>>(
      ftp,
      `
client = login(secure=True)
answers = {'stor': store(client, 'tls-upload.tmp', JPEG), 'rename': attempt(lambda: client.rename('tls-upload.tmp', 'tls-final.jpg')), 'nlst': client.nlst()}
client.quit()
print(json.dumps(answers))
`,
    );
    assert.match(String(answers.stor), /^226 Received/);
    assert.match(String(answers.rename), /^250 Stored as .*\/tls-final\.jpg/);
    assert.deepEqual(answers.nlst, []);
  });

  it('takes plain FTP too when TLS is not required', async () => {
    const result = await curl(ftp, ['-T', upload, `ftp://127.0.0.1:${ftp.port}/clear.jpg`]);
    assert.equal(result.code, 0, result.stderr);
  });

  it('uploads with lftp over FTPS', { skip: LFTP_MISSING }, async () => {
    const script = `set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:ca-file ${ftp.tls!.cert}; put ${upload} -o lftp-secure.jpg; bye`;
    const result = await run('lftp', ['-u', `${CAMERA},${ftp.token}`, '-p', String(ftp.port), '-e', script, '127.0.0.1']);
    assert.equal(result.code, 0, result.stderr);
    assert.ok((await storedImages(ftp)).some((file) => file.endsWith('/lftp-secure.jpg')));
  });
});

describe('FTPS: --ftp-require-tls', { skip: missing }, () => {
  let ftp: RunningFtp;
  let upload: string;
  before(async () => {
    ftp = await startFtp({ tls: true, requireTls: true });
    upload = path.join(ftp.root, 'upload.jpg');
    await writeFile(upload, SAMPLE_JPEG);
  });
  after(() => ftp.close());

  it('refuses USER before AUTH TLS, and transfers before PROT P', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `
plain = connect()
answers = {'welcome': plain.getwelcome(), 'user': attempt(lambda: plain.sendcmd('USER ' + USER))}
secure = connect(secure=True)
secure.login(USER, TOKEN)
answers['prot_c'] = attempt(lambda: secure.sendcmd('PROT C'))
answers['clear_data'] = store(secure, 'unprotected.jpg', JPEG)
secure.prot_p()
answers['protected'] = store(secure, 'protected.jpg', JPEG)
print(json.dumps(answers))
`,
    );
    assert.match(answers.welcome!, /TLS is required: start with AUTH TLS/);
    assert.match(answers.user!, /^error: 530 This receiver requires TLS/);
    assert.match(answers.prot_c!, /^error: 534 /);
    assert.match(answers.clear_data!, /^error: 521 Data connections must be protected/);
    assert.match(answers.protected!, /^226 Stored as /);
    const names = (await storedImages(ftp)).map((file) => path.basename(file));
    assert.deepEqual(names, ['protected.jpg']);
  });

  it('refuses plain curl, and takes curl --ssl-reqd', async () => {
    const plain = await curl(ftp, ['-T', upload, `ftp://127.0.0.1:${ftp.port}/plain.jpg`]);
    assert.notEqual(plain.code, 0);
    assert.ok(curlReplies(plain).some((reply) => reply.startsWith('530 This receiver requires TLS')), plain.stderr);
    const secure = await curl(ftp, ['--ssl-reqd', '--cacert', ftp.tls!.cert, '-T', upload, `ftp://127.0.0.1:${ftp.port}/secure.jpg`]);
    assert.equal(secure.code, 0, secure.stderr);
  });
});
