/**
 * `images-to-s3 serve --sftp-port` as a user runs it, in child processes: on an S3 store (s3rver
 * in-process, behind the proxy that makes it behave as AWS S3), two receivers of one fleet make
 * the host keys once, keep them in the bucket beside the token registry and present the same ones;
 * an upload over SFTP reaches the bucket byte for byte. On a disk store the keys are a file of mode
 * 0600, `sftp fingerprints` prints what the banner printed, and SIGTERM ends it cleanly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import { fingerprints } from '../../src/sftp/host-keys.js';
import { SAMPLE_JPEG } from '../support/contract-cases.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import { call, eventually, run } from '../support/sftp.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const main = path.join(projectRoot, 'src', 'cli', 'main.ts');
const PREFIX = 'site-a';

interface Serve {
  child: ChildProcess;
  sftpPort: number;
  output: () => string;
  exited: Promise<number | null>;
}

/** `serve` in a child process, until its banner shows the SFTP address. */
async function startServe(cwd: string, store: string, env: NodeJS.ProcessEnv = {}): Promise<Serve> {
  const args = ['--import', import.meta.resolve('tsx'), main, 'serve', '--host', '127.0.0.1', '--port', '0', '--sftp-port', '0', '--store', store, '--no-gallery', '--log-level', 'warn'];
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await eventually(() => /Ed25519 +SHA256:/.test(output) || child.exitCode !== null, 60_000, 'the SFTP lines of the banner');
  const port = /sftp:\/\/127\.0\.0\.1:(\d+)\//.exec(output);
  if (port === null) throw new Error(`serve did not start its SFTP receiver:\n${output}`);
  return { child, sftpPort: Number(port[1]), output: () => output, exited };
}

/** The fingerprint lines of a banner or of `sftp fingerprints`. */
function fingerprintLines(output: string): string[] {
  return output.split('\n').flatMap((line) => (/^\s*(RSA|Ed25519)\s+SHA256:/.test(line) ? [line.trim()] : []));
}

/** Uploads over SFTP with ssh2's client, checking the host key against the printed SHA-256 fingerprints. */
async function uploadOverSftp(port: number, user: string, password: string, name: string, pinned: string[]): Promise<void> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({ host: '127.0.0.1', port, username: user, password, readyTimeout: 10_000, hostVerifier: (key: Buffer) => pinned.includes(fingerprints(key).sha256) });
  });
  try {
    const sftp = await call<ssh2.SFTPWrapper>((done) => client.sftp(done));
    await call<void>((done) => sftp.writeFile(name, SAMPLE_JPEG, done));
  } finally {
    client.end();
  }
}

describe('serve --sftp-port', () => {
  let s3: LocalS3;
  let folder: string;
  const running: Serve[] = [];

  before(async () => {
    s3 = await startLocalS3();
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-sftp-serve-'));
  });
  after(async () => {
    for (const serve of running) serve.child.kill('SIGKILL');
    await s3.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it('on an S3 store: two receivers present the same keys, kept in the bucket, and an upload lands in the bucket byte for byte', async () => {
    const env = { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_REGION: s3.region, AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey };
    const store = `s3://${s3.bucket}/${PREFIX}`;
    const first = await startServe(await mkdtemp(path.join(folder, 'r1-')), store, env);
    running.push(first);
    const second = await startServe(await mkdtemp(path.join(folder, 'r2-')), store, env);
    running.push(second);

    assert.match(first.output(), /Made new SFTP host keys, kept in s3:\/\/images\/site-a\/\.images-to-s3\/sftp-host-keys\.json/);
    assert.doesNotMatch(second.output(), /Made new SFTP host keys/);
    const printed = fingerprintLines(first.output());
    assert.equal(printed.length, 2);
    assert.deepEqual(fingerprintLines(second.output()), printed);
    assert.ok((await s3.keys()).includes(`${PREFIX}/.images-to-s3/sftp-host-keys.json`));

    const token = /accessToken=(\w+)/.exec(first.output())![1]!;
    const pinned = printed.map((line) => /SHA256:\S+/.exec(line)![0]);
    await uploadOverSftp(first.sftpPort, 'camera-1', token, 'cam/one.jpg', pinned);
    await uploadOverSftp(second.sftpPort, 'camera-1', token, 'cam/two.jpg', pinned);
    for (const name of ['cam_one.jpg', 'cam_two.jpg']) {
      let key: string | undefined;
      await eventually(async () => (key = (await s3.keys()).find((candidate) => candidate.endsWith(`/${name}`))) !== undefined, 20_000, `${name} to be forwarded to the bucket`);
      assert.match(key!, new RegExp(`^${PREFIX}/camera-1/\\d{4}/\\d{2}/\\d{2}/${name}$`));
      assert.deepEqual(await s3.object(key!), SAMPLE_JPEG);
    }

    for (const serve of [first, second]) serve.child.kill('SIGTERM');
    assert.deepEqual(await Promise.all([first.exited, second.exited]), [0, 0]);
  });

  it('on a disk store: the keys are a file of mode 0600, `sftp fingerprints` prints what the banner did, SIGTERM ends it', async () => {
    const images = path.join(folder, 'images');
    const serve = await startServe(folder, `file:${images}`);
    running.push(serve);
    const keysFile = path.join(images, '.images-to-s3', 'sftp-host-keys.json');
    assert.equal((await stat(keysFile)).mode & 0o777, 0o600);

    const printed = await run(process.execPath, ['--import', import.meta.resolve('tsx'), main, 'sftp', 'fingerprints', '--store', `file:${images}`]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.deepEqual(fingerprintLines(printed.stdout), fingerprintLines(serve.output()));
    assert.match(printed.stdout, /RSA +SHA256:[A-Za-z0-9+/]{43} +MD5 ([0-9a-f]{2}:){15}[0-9a-f]{2}/);
    const json = await run(process.execPath, ['--import', import.meta.resolve('tsx'), main, 'sftp', 'fingerprints', '--store', `file:${images}`, '--json']);
    const keys = JSON.parse(json.stdout) as Array<{ type: string; sha256: string; sha256Hex: string; md5: string }>;
    assert.deepEqual(keys.map((key) => key.type), ['ssh-rsa', 'ssh-ed25519']);
    assert.equal(Buffer.from(keys[0]!.sha256.slice(7), 'base64').toString('hex'), keys[0]!.sha256Hex.replaceAll(':', ''));

    const token = /accessToken=(\w+)/.exec(serve.output())![1]!;
    await uploadOverSftp(serve.sftpPort, 'camera-1', token, 'disk.jpg', keys.map((key) => key.sha256));
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
  });

  it('names --sftp-port when its port is taken', async () => {
    const serve = await startServe(folder, `file:${path.join(folder, 'images')}`);
    running.push(serve);
    const clash = await run(process.execPath, ['--import', import.meta.resolve('tsx'), main, 'serve', '--host', '127.0.0.1', '--port', '0', '--sftp-port', String(serve.sftpPort), '--store', `file:${path.join(folder, 'other')}`]);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /Cannot listen on --sftp-host 127\.0\.0\.1 --sftp-port \d+ \(EADDRINUSE\): .*choose another --sftp-port/);
    serve.child.kill('SIGTERM');
    await serve.exited;
  });
});
