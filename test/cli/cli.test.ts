/**
 * The CLI end to end, as a user runs it: `serve`, `token create|list|revoke` and `simulate` in
 * child processes (the TypeScript entry through tsx, no build), against the disk store and against
 * the S3 store on an in-process s3rver. Every child is killed in a hook, every wait is bounded.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, GetObjectCommand, S3Client, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import type { GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { S3RVER_CREDENTIALS, startS3rver } from '../support/s3rver.js';
import { until } from '../spool/helpers.js';
import { OPENSSL_MISSING, selfSignedCertificate } from '../support/tls.js';
import type { S3rverInstance } from '../support/s3rver.js';
import { DEFAULT_RECHECK_MS } from '../../src/tokens/registry.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = path.join(projectRoot, 'src', 'cli', 'main.ts');
/** tsx's loader by absolute URL, so the children can run from any working directory. */
const TSX = import.meta.resolve('tsx');
const SAMPLE_JPEG = await readFile(path.join(projectRoot, 'assets', 'sample.jpg'));

const START_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

// ------------------------------------------------------------------------------------ children

const running = new Set<ChildProcessWithoutNullStreams>();

/** The environment of the machine, without settings of ours or AWS's that could steer a child. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(IMAGES_TO_S3_|AWS_|NODE_TEST_)/.test(name) || name === 'NODE_OPTIONS') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

interface Child {
  process: ChildProcessWithoutNullStreams;
  /** Everything written so far. */
  readonly stdout: string;
  readonly stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], options: { cwd: string; env?: Record<string, string> }): Child {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    process: child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
  };
}

function kill(child: Child): void {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
}

/** Kills whatever is still running: for `after` hooks, so that nothing outlives a failed test. */
function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

async function within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message()} (waited ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Completed {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to its end. */
async function cli(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Completed> {
  const child = start(args, options);
  try {
    const { code } = await within(child.exited, COMMAND_TIMEOUT_MS, () => `images-to-s3 ${args[0]} ${args[1] ?? ''} did not finish\nstdout: ${child.stdout}\nstderr: ${child.stderr}`);
    return { code, stdout: child.stdout, stderr: child.stderr };
  } finally {
    kill(child);
  }
}

// ------------------------------------------------------------------------------------ serve

interface Serving {
  child: Child;
  url: string;
  port: number;
  /** The token created on first start, from the banner. */
  firstToken: string;
}

/** Starts `serve` on 127.0.0.1 with port 0 and waits for its banner. */
async function startServe(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Serving> {
  const child = start(['serve', '--host', '127.0.0.1', '--port', '0', ...args], options);
  const banner = /^\s*(http:\/\/127\.0\.0\.1:(\d+)\/)\s*$[\s\S]*^\s*accessToken=(\S+)\s*$/m;
  const ready = new Promise<RegExpExecArray>((resolve, reject) => {
    const check = (): void => {
      const match = banner.exec(child.stdout);
      if (match) resolve(match);
    };
    child.process.stdout.on('data', check);
    void child.exited.then(({ code, signal }) => reject(new Error(`serve exited (code ${code}, signal ${signal}) before printing its banner\nstdout: ${child.stdout}\nstderr: ${child.stderr}`)));
  });
  try {
    const match = await within(ready, START_TIMEOUT_MS, () => `serve did not print its recipient URL and first token\nstdout: ${child.stdout}\nstderr: ${child.stderr}`);
    return { child, url: match[1]!, port: Number(match[2]), firstToken: match[3]! };
  } catch (error) {
    kill(child);
    throw error;
  }
}

/** SIGTERM, then the exit code; bounded. */
async function stopServe(serving: Serving): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  serving.child.process.kill('SIGTERM');
  return within(serving.child.exited, STOP_TIMEOUT_MS, () => `serve did not exit after SIGTERM\nstdout: ${serving.child.stdout}\nstderr: ${serving.child.stderr}`);
}

/** One request on its own connection; resolves with the status (and the body with `httpExchange`). */
function httpExchange(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}
const httpRequest = async (...args: Parameters<typeof httpExchange>): Promise<number> => (await httpExchange(...args)).status;

// ------------------------------------------------------------------------------------ checks

interface Summary {
  recipient: string;
  sent: number;
  accepted: number;
  rejected: number;
  rejectedByStatus: Record<string, number>;
  networkErrors: number;
  errorMessages: string[];
  acceptedKeys: string[];
}

function parseSummary(run: Completed): Summary {
  try {
    return JSON.parse(run.stdout) as Summary;
  } catch {
    assert.fail(`simulate --json printed no JSON (exit ${run.code})\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  }
}

const utcDay = (at: Date): string => at.toISOString().slice(0, 10).replace(/-/g, '/');

/** Each key is `<camera>/YYYY/MM/DD/<name>.jpg` with the UTC date of the run (either side of midnight). */
function assertDatedKeys(keys: readonly string[], camera: string, started: Date, ended: Date): void {
  const days = new Set([utcDay(started), utcDay(ended)]);
  for (const key of keys) {
    const match = /^([^/]+)\/(\d{4}\/\d{2}\/\d{2})\/[^/]+\.jpg$/.exec(key);
    assert.ok(match, `key ${key} is not <camera>/YYYY/MM/DD/<name>.jpg`);
    assert.equal(match[1], camera, `key ${key} is not in ${camera}/`);
    assert.ok(days.has(match[2]!), `key ${key} is not dated ${[...days].join(' or ')}`);
  }
  assert.equal(new Set(keys).size, keys.length, 'two uploads got the same key');
}

const occurrences = (text: string, needle: string): number => text.split(needle).length - 1;

/**
 * The first-start token appears once, on the banner's `accessToken=` line; other tokens never.
 * No JSON log line carries a token or the query string.
 */
function assertNoTokenLeak(serving: Serving, otherTokens: readonly string[]): void {
  const { stdout, stderr } = serving.child;
  const all = stdout + stderr;
  // Twice in the banner: as the Axis action's accessToken=, and in the path for cameras that take a path only.
  assert.equal(occurrences(all, serving.firstToken), 2, 'the first-start token appears in serve\'s output other than its two banner lines');
  const bannerLines = stdout.split('\n').filter((line) => line.includes(serving.firstToken));
  assert.match(bannerLines[0] ?? '', /^\s*accessToken=\S+$/, 'the first-start token appears outside the banner\'s accessToken= line');
  assert.equal(bannerLines[1]?.trim(), `/t/${serving.firstToken}/`, 'the banner\'s token-in-path line');
  for (const token of otherTokens) {
    assert.equal(occurrences(all, token), 0, 'a camera token appears in serve\'s output');
    assert.equal(occurrences(all, encodeURIComponent(token)), 0, 'a camera token appears URL-encoded in serve\'s output');
  }
  const logLines = stdout.split('\n').filter((line) => line.startsWith('{'));
  assert.ok(logLines.length > 0, 'serve logged no JSON lines');
  for (const line of logLines) {
    assert.doesNotThrow(() => JSON.parse(line), `log line is not JSON: ${line}`);
    assert.ok(!line.includes('accessToken='), `a log line holds the query string: ${line}`);
  }
}

/** JSON log lines of serve with the given message. */
function logLinesOf(serving: Serving, msg: string): Array<Record<string, unknown>> {
  return serving.child.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.msg === msg);
}

/** serve's warning and error log lines, for failure messages. */
function problemsOf(serving: Serving): string {
  const lines = serving.child.stdout.split('\n').filter((line) => /^\{"level":[4-6]0/.test(line));
  return `serve logged:\n${lines.slice(0, 5).join('\n') || '(no warnings or errors)'}\nserve stderr:\n${serving.child.stderr.slice(-2000)}`;
}

/** Relative paths of every file under `root`, dot-folders included. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
}

// ------------------------------------------------------------------------------------ tests

describe('images-to-s3 --help', () => {
  let cwd: string;
  before(async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-cli-help-'));
  });
  after(async () => {
    killAll();
    await rm(cwd, { recursive: true, force: true });
  });

  it('works for every command, and each command with options names their environment variables', async () => {
    const commands: Array<{ args: string[]; env: string[] }> = [
      { args: [], env: [] },
      { args: ['serve'], env: ['IMAGES_TO_S3_STORE', 'IMAGES_TO_S3_PORT', 'IMAGES_TO_S3_TOKENS', 'IMAGES_TO_S3_KEY_TEMPLATE'] },
      { args: ['token'], env: [] },
      { args: ['token', 'create'], env: ['IMAGES_TO_S3_STORE', 'IMAGES_TO_S3_TOKENS'] },
      { args: ['token', 'list'], env: ['IMAGES_TO_S3_STORE', 'IMAGES_TO_S3_TOKENS'] },
      { args: ['token', 'revoke'], env: ['IMAGES_TO_S3_STORE', 'IMAGES_TO_S3_TOKENS'] },
      { args: ['simulate'], env: ['IMAGES_TO_S3_RECIPIENT', 'IMAGES_TO_S3_TOKEN'] },
    ];
    const runs = await Promise.all(commands.map(({ args }) => cli([...args, '--help'], { cwd })));
    commands.forEach(({ args, env }, i) => {
      const run = runs[i]!;
      const name = ['images-to-s3', ...args].join(' ');
      assert.equal(run.code, 0, `${name} --help exited ${run.code}: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`^Usage: ${name} `), `${name} --help printed no usage`);
      for (const variable of env) assert.ok(run.stdout.includes(variable), `${name} --help does not mention ${variable}`);
    });
    assert.match(runs[0]!.stdout, /serve[\s\S]*token[\s\S]*simulate/, 'the top-level help does not list the commands');
    assert.match(runs[2]!.stdout, /create[\s\S]*list[\s\S]*revoke/, 'token --help does not list its commands');
  });

  it('refuses a key template that could escape its folder, before listening', async () => {
    const run = await cli(['serve', '--host', '127.0.0.1', '--port', '0', '--store', `file:${cwd}/images`, '--key-template', '../{filename}'], { cwd });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /Invalid key template "\.\.\/\{filename\}"/);
    assert.doesNotMatch(run.stdout, /receiver is running/);
  });
});

describe('first use without surprises', () => {
  let cwd: string;
  before(async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-cli-first-'));
  });
  after(async () => {
    killAll();
    await rm(cwd, { recursive: true, force: true });
  });

  it('refuses a --store that is neither file:, s3:// nor clearly a path, listing the forms, and makes no folder of it', async () => {
    for (const store of ['s3:/nobucket', 'bogus', 'http://example.invalid/x']) {
      const run = await cli(['serve', '--host', '127.0.0.1', '--port', '0', '--store', store], { cwd });
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, new RegExp(`Unknown store "${store.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}": use file:<folder>, s3://bucket\\[/prefix\\], or a folder path`));
      assert.doesNotMatch(run.stdout, /receiver is running/);
    }
    assert.deepEqual(await readdir(cwd), [], 'a mistyped store left something behind');
  });

  it('names the S3 endpoint and where the credentials came from when the store cannot be opened', async () => {
    const folder = await mkdtemp(path.join(cwd, 's3-'));
    const run = await cli(['serve', '--host', '127.0.0.1', '--port', '0', '--store', 's3://nobucket', '--no-spool', '--store-timeout', '5'], {
      cwd: folder,
      env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'not-a-secret', AWS_REGION: 'us-east-1' },
    });
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stderr, /Cannot open the store s3:\/\/nobucket\/ \(endpoint http:\/\/127\.0\.0\.1:9, credentials from AWS_ACCESS_KEY_ID\): .*ECONNREFUSED/);
    assert.deepEqual(await readdir(folder), [], 'a start that failed left a token registry or password behind');
  });

  it('answers an option error with its one line and a pointer to --help, not the whole help', async () => {
    for (const args of [['serve', '--max-bytes', '10XB'], ['simulate', '--count', '3']]) {
      const run = await cli(args, { cwd });
      assert.equal(run.code, 1);
      const lines = run.stderr.split('\n').filter((line) => line.trim() !== '' && !/Warning|node >=22|published after|receiving updates|security updates|a\.co\/|trace-warnings/i.test(line));
      assert.equal(lines.length, 2, run.stderr);
      assert.match(lines[0]!, /^error: /);
      assert.match(lines[1]!, /--help/);
      assert.doesNotMatch(run.stderr, /Usage:/);
    }
  });

  it('names --tls-cert and --port in startup errors, and creates the first token only at a start that succeeds', async () => {
    const images = path.join(cwd, 'first-images');
    const store = ['--store', `file:${images}`];
    const tls = await cli(['serve', '--host', '127.0.0.1', '--port', '0', ...store, '--tls-cert', path.join(cwd, 'nope.pem'), '--tls-key', path.join(cwd, 'nope.key')], { cwd });
    assert.equal(tls.code, 1);
    assert.match(tls.stderr, /--tls-cert \S+nope\.pem: cannot read it \(ENOENT/);

    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const busy = await cli(['serve', '--host', '127.0.0.1', '--port', String(port), ...store], { cwd });
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, new RegExp(`Cannot listen on --host 127\\.0\\.0\\.1 --port ${port} \\(EADDRINUSE\\): .*choose another --port`));
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
    await assert.rejects(readdir(path.join(images, '.images-to-s3')), { code: 'ENOENT' }, 'a failed start created the token registry or the gallery password');

    // The next start that succeeds is the first: it shows the token and the password.
    const serving = await startServe(store, { cwd });
    try {
      assert.match(serving.firstToken, /^[A-Za-z0-9]{32}$/);
      assert.match(serving.child.stdout, /Gallery password \(shown this once/);
      // Listening on loopback: the banner says no camera can reach it.
      assert.match(serving.child.stdout, /Note: --host 127\.0\.0\.1 listens on this machine only; no camera can reach it\./);
    } finally {
      await stopServe(serving);
    }
  });

  it('over HTTPS, logs an https:// address, and simulate trusts the receiver\'s certificate with --ca (or says how)', { skip: OPENSSL_MISSING }, async () => {
    const folder = await mkdtemp(path.join(cwd, 'tls-'));
    const { cert, key } = selfSignedCertificate('127.0.0.1');
    await writeFile(path.join(folder, 'cert.pem'), cert);
    await writeFile(path.join(folder, 'key.pem'), key, { mode: 0o600 });
    const child = start(['serve', '--host', '127.0.0.1', '--port', '0', '--store', 'file:images', '--tls-cert', 'cert.pem', '--tls-key', 'key.pem'], { cwd: folder });
    const banner = /^\s*(https:\/\/127\.0\.0\.1:\d+\/)\s*$[\s\S]*^\s*accessToken=(\S+)\s*$/m;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!banner.test(child.stdout) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const [, url, token] = banner.exec(child.stdout) ?? [];
    assert.ok(url && token, `no banner:\n${child.stdout}\n${child.stderr}`);
    assert.match(child.stdout, /"msg":"Server listening at https:\/\/127\.0\.0\.1:\d+"/);
    assert.doesNotMatch(child.stdout, /listening at http:\/\//);

    const untrusted = await cli(['simulate', '--recipient', url, '--token', token, '--count', '1'], { cwd: folder });
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stdout, /DEPTH_ZERO_SELF_SIGNED_CERT: .*give it with --ca FILE, or --insecure/);
    const trusted = await cli(['simulate', '--recipient', url, '--token', token, '--count', '1', '--ca', 'cert.pem'], { cwd: folder });
    assert.equal(trusted.code, 0, trusted.stdout + trusted.stderr);
    kill(child);
  });

  it('offers an ECDSA certificate beside an RSA one (each client gets one it takes), and names the options when their counts differ', { skip: OPENSSL_MISSING }, async () => {
    const folder = await mkdtemp(path.join(cwd, 'tls-two-'));
    for (const [name, pair] of [['rsa', selfSignedCertificate('127.0.0.1', 'rsa')], ['ec', selfSignedCertificate('127.0.0.1', 'ecdsa')]] as const) {
      await writeFile(path.join(folder, `${name}.pem`), pair.cert);
      await writeFile(path.join(folder, `${name}.key`), pair.key, { mode: 0o600 });
    }
    const uneven = await cli(['serve', '--host', '127.0.0.1', '--port', '0', '--store', 'file:images', '--tls-cert', 'rsa.pem', '--tls-cert', 'ec.pem', '--tls-key', 'rsa.key'], { cwd: folder });
    assert.equal(uneven.code, 1);
    assert.match(uneven.stderr, /--tls-cert and --tls-key go together, one key per certificate in the same order/);

    const child = start(['serve', '--host', '127.0.0.1', '--port', '0', '--store', 'file:images', '--tls-cert', 'rsa.pem', '--tls-key', 'rsa.key', '--tls-cert', 'ec.pem', '--tls-key', 'ec.key'], { cwd: folder });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!/Server listening at https:\/\/127\.0\.0\.1:(\d+)/.test(child.stdout) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const port = Number(/Server listening at https:\/\/127\.0\.0\.1:(\d+)/.exec(child.stdout)?.[1]);
    assert.ok(port > 0, `no listening line:\n${child.stdout}\n${child.stderr}`);
    // A client that signs with ECDSA only gets the ECDSA certificate; one with RSA only, the RSA one.
    const offered = (sigalgs: string): Promise<tls.PeerCertificate> =>
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, sigalgs, maxVersion: 'TLSv1.2' }, () => {
          resolve(socket.getPeerCertificate());
          socket.end();
        });
        socket.on('error', reject);
      });
    assert.equal((await offered('ECDSA+SHA256')).asn1Curve, 'prime256v1');
    const rsa = await offered('RSA-PSS+SHA256:RSA+SHA256');
    assert.equal(rsa.asn1Curve, undefined);
    assert.equal(rsa.bits, 2048);
    kill(child);
  });
});

describe('serve + token + simulate with the disk store', () => {
  let folder: string;
  let images: string;
  let serving: Serving | undefined;
  let camB: { camera: string; token: string; id: string } | undefined;
  const acceptedKeys: string[] = [];

  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-cli-disk-'));
    images = path.join(folder, 'images');
    serving = await startServe(['--store', `file:${images}`], { cwd: folder });
  });
  after(async () => {
    killAll();
    await rm(folder, { recursive: true, force: true });
  });

  const server = (): Serving => {
    assert.ok(serving, 'serve is not running');
    return serving;
  };
  const store = ['--store', 'file:images'];

  it('with --port 0 prints the real port, and the camera Test button (GET) reaches it', async () => {
    const { port, url } = server();
    assert.ok(port > 0 && port < 65536, `printed port ${port}`);
    assert.equal(await httpRequest(url), 200);
  });

  it('token create --json gives a token for cam-b, from the same registry serve reads', async () => {
    // A relative location: with the temp folder as working directory it names serve's store.
    const run = await cli(['token', 'create', 'cam-b', '--json', ...store], { cwd: folder });
    assert.equal(run.code, 0, run.stderr);
    camB = JSON.parse(run.stdout) as { camera: string; token: string; id: string };
    assert.equal(camB.camera, 'cam-b');
    assert.match(camB.token, /^[A-Za-z0-9]{32}$/);
    assert.match(camB.id, /^tok_[0-9a-f]{10}$/);
  });

  it('simulate --count 25 --concurrency 5: all accepted, each stored byte for byte under cam-b/YYYY/MM/DD/', async () => {
    assert.ok(camB, 'no cam-b token');
    const started = new Date();
    const run = await cli(['simulate', '--recipient', server().url, '--token', camB.token, '--count', '25', '--concurrency', '5', '--json'], { cwd: folder });
    const ended = new Date();
    const summary = parseSummary(run);
    assert.equal(run.code, 0, `simulate failed: ${summary.errorMessages.join('; ')}\n${problemsOf(server())}`);
    assert.deepEqual([summary.sent, summary.accepted, summary.rejected, summary.networkErrors], [25, 25, 0, 0]);
    assert.equal(summary.acceptedKeys.length, 25);
    assert.ok(!run.stdout.includes(camB.token), 'simulate printed the token');
    assertDatedKeys(summary.acceptedKeys, 'cam-b', started, ended);
    for (const key of summary.acceptedKeys) {
      const stored = await readFile(path.join(images, ...key.split('/')));
      assert.ok(stored.equals(SAMPLE_JPEG), `${key} differs from assets/sample.jpg (${stored.length} bytes)`);
    }
    acceptedKeys.push(...summary.acceptedKeys);

    const logged = logLinesOf(server(), 'image stored');
    assert.deepEqual(new Set(logged.map((line) => line.key)), new Set(summary.acceptedKeys), 'not one "image stored" log line per upload');
    assert.ok(logged.every((line) => line.camera === 'cam-b' && line.bytes === SAMPLE_JPEG.length));
  });

  it('uploads with the first-start token go to camera-1/', async () => {
    const started = new Date();
    const run = await cli(['simulate', '--recipient', server().url, '--token', server().firstToken, '--count', '3', '--json'], { cwd: folder });
    const summary = parseSummary(run);
    assert.equal(run.code, 0, summary.errorMessages.join('; '));
    assert.equal(summary.accepted, 3);
    assertDatedKeys(summary.acceptedKeys, 'camera-1', started, new Date());
    acceptedKeys.push(...summary.acceptedKeys);
  });

  it('keeps a non-ASCII filename a camera sends as raw UTF-8 bytes', async () => {
    const started = new Date();
    // Node's client writes header text as Latin-1: this string of Latin-1 characters puts the
    // name's UTF-8 bytes on the wire, as a camera does.
    const disposition = Buffer.from('attachment; filename="Küche-é.jpg"', 'utf8').toString('latin1');
    const { status, body } = await httpExchange(`${server().url}?accessToken=${server().firstToken}`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg', 'content-disposition': disposition },
      body: SAMPLE_JPEG,
    });
    assert.equal(status, 200, body);
    const { key } = JSON.parse(body) as { key: string };
    assertDatedKeys([key], 'camera-1', started, new Date());
    assert.equal(key.split('/').at(-1), 'Küche-é.jpg');
    assert.ok((await readFile(path.join(images, ...key.split('/')))).equals(SAMPLE_JPEG));
    acceptedKeys.push(key);
  });

  it('stores nothing but the accepted images (no temporary files left)', async () => {
    const files = await filesUnder(images);
    const images_ = files.filter((file) => !file.startsWith('.images-to-s3/'));
    assert.deepEqual(images_.sort(), [...acceptedKeys].sort());
  });

  it('token list shows both cameras and never a token', async () => {
    assert.ok(camB, 'no cam-b token');
    const [table, json] = await Promise.all([
      cli(['token', 'list', ...store], { cwd: folder }),
      cli(['token', 'list', '--json', ...store], { cwd: folder }),
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+CAMERA\s+CREATED$/m);
    assert.match(table.stdout, /^tok_[0-9a-f]{10}\s+camera-1\s/m);
    assert.match(table.stdout, new RegExp(`^${camB.id}\\s+cam-b\\s`, 'm'));
    assert.equal(json.code, 0, json.stderr);
    const entries = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(entries.map((entry) => entry.camera).sort(), ['cam-b', 'camera-1']);
    for (const output of [table.stdout, table.stderr, json.stdout, json.stderr]) {
      assert.ok(!output.includes(camB.token) && !output.includes(server().firstToken), 'token list printed a token');
      assert.doesNotMatch(output, /[0-9a-f]{64}/, 'token list printed a token hash');
    }
  });

  it('token revoke cam-b: the running serve answers 403 to its token within a second, and still accepts the others', async () => {
    assert.ok(camB, 'no cam-b token');
    const revoked = await cli(['token', 'revoke', 'cam-b', ...store], { cwd: folder });
    const revokedAt = performance.now();
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`Revoked ${camB.id} \\(camera "cam-b"\\)`));
    // serve checks the registry file at most once a second (DEFAULT_RECHECK_MS).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, DEFAULT_RECHECK_MS - (performance.now() - revokedAt))));

    const refused = await cli(['simulate', '--recipient', server().url, '--token', camB.token, '--count', '3', '--json'], { cwd: folder });
    const summary = parseSummary(refused);
    assert.equal(refused.code, 1);
    assert.equal(summary.accepted, 0);
    assert.deepEqual(summary.rejectedByStatus, { 403: 3 });

    const still = await cli(['simulate', '--recipient', server().url, '--token', server().firstToken, '--count', '1', '--json'], { cwd: folder });
    assert.equal(parseSummary(still).accepted, 1, 'the first-start token stopped working');
    assert.equal(logLinesOf(server(), 'upload rejected').filter((line) => line.status === 403).length, 3);
  });

  it('never prints a token after the banner, in its text or its JSON log lines, refusals and errors included', async () => {
    assert.ok(camB, 'no cam-b token');
    const { url, firstToken } = server();
    const jpeg = { 'content-type': 'image/jpeg', 'content-disposition': 'attachment; filename="x.jpg"' };
    // Requests that carry a valid token into the paths that log a warning or an error.
    assert.equal(await httpRequest(`${url}?accessToken=${firstToken}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }), 415);
    assert.equal(await httpRequest(`${url}?accessToken=${firstToken}`, { method: 'POST', headers: jpeg, body: 'not a jpeg' }), 415);
    assert.equal(await httpRequest(`${url}?accessToken=${firstToken}`, { method: 'POST', headers: jpeg, body: '' }), 400);
    assert.equal(await httpRequest(`${url}?accessToken=${firstToken}&accessToken=${camB.token}`, { method: 'POST', headers: jpeg, body: SAMPLE_JPEG }), 400);
    assert.equal(await httpRequest(`${url}?accessToken=${firstToken}`, { method: 'DELETE' }), 405);
    assert.equal(await httpRequest(`${url}nowhere?accessToken=${firstToken}`, { method: 'POST', headers: jpeg, body: SAMPLE_JPEG }), 404);
    assert.equal(await httpRequest(`${url}?accessToken=${firstToken}`), 200);
    // The log lines of those requests are written before the answers; give stdout a moment to arrive.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assertNoTokenLeak(server(), [camB.token]);
  });

  it('exits 0 on SIGTERM', async () => {
    const { code, signal } = await stopServe(server());
    assert.equal(signal, null, `serve died of ${signal}`);
    assert.equal(code, 0, `serve exited ${code}\nstderr: ${server().child.stderr}`);
  });
});

// ------------------------------------------------------------------------------------ S3

describe('serve + simulate with the S3 store (s3rver)', () => {
  const BUCKET = 'camera-images';
  let folder: string;
  let s3rver: S3rverInstance | undefined;
  let client: S3Client | undefined;
  let serving: Serving | undefined;

  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-cli-s3-'));
    let endpoint: string;
    ({ server: s3rver, endpoint } = await startS3rver(path.join(folder, 's3rver')));
    client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    serving = await startServe(['--store', `s3://${BUCKET}/prefix`, '--tokens', path.join(folder, 'tokens.json')], {
      cwd: folder,
      env: {
        AWS_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_REGION: 'us-east-1',
        // Nothing from the machine's AWS configuration.
        AWS_CONFIG_FILE: path.join(folder, 'no-aws-config'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(folder, 'no-aws-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
  });
  after(async () => {
    killAll();
    client?.destroy();
    await s3rver?.close().catch(() => undefined);
    await rm(folder, { recursive: true, force: true });
  });

  it('stores 25 simulated uploads as objects byte-identical to what was sent, logs no token, exits 0 on SIGTERM', async () => {
    assert.ok(serving && client, 'serve or s3rver did not start');
    const created = await cli(['token', 'create', 'cam-b', '--json', '--store', `s3://${BUCKET}/prefix`, '--tokens', path.join(folder, 'tokens.json')], { cwd: folder });
    assert.equal(created.code, 0, created.stderr);
    const { token } = JSON.parse(created.stdout) as { token: string };

    const started = new Date();
    const run = await cli(['simulate', '--recipient', serving.url, '--token', token, '--count', '25', '--concurrency', '5', '--json'], { cwd: folder });
    const summary = parseSummary(run);
    assert.equal(run.code, 0, `simulate failed: ${summary.errorMessages.join('; ')}\n${problemsOf(serving)}`);
    assert.equal(summary.accepted, 25);
    assertDatedKeys(summary.acceptedKeys, 'cam-b', started, new Date());

    // A 200 means spooled: the forwarder puts each image into the bucket moments later.
    const listKeys = async (): Promise<string[]> => {
      const keys: string[] = [];
      for await (const page of paginateListObjectsV2({ client: client! }, { Bucket: BUCKET, Prefix: 'prefix/cam-b/' })) for (const object of page.Contents ?? []) keys.push(object.Key!);
      return keys;
    };
    await until(async () => (await listKeys()).length >= 25, 'the 25 images in the bucket');
    for (const key of summary.acceptedKeys) {
      const object: GetObjectCommandOutput = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `prefix/${key}` }));
      const bytes = Buffer.from(await object.Body!.transformToByteArray());
      assert.ok(bytes.equals(SAMPLE_JPEG), `prefix/${key} differs from what was sent (${bytes.length} bytes)`);
      assert.equal(object.ContentType, 'image/jpeg');
      assert.equal(object.Metadata?.camera, 'cam-b');
    }
    const listed: string[] = [];
    for await (const page of paginateListObjectsV2({ client }, { Bucket: BUCKET })) {
      for (const object of page.Contents ?? []) listed.push(object.Key!);
    }
    assert.deepEqual(listed.sort(), summary.acceptedKeys.map((key) => `prefix/${key}`).sort(), 'the bucket holds other objects than the images (a probe left behind?)');

    assertNoTokenLeak(serving, [token]);
    const { code, signal } = await stopServe(serving);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `serve stderr: ${serving.child.stderr}`);
  });
});
