/**
 * A fleet: three real `images-to-s3 serve` processes, each in a working directory of its own
 * (its own spool and thumbnail cache), on one S3 store that holds the images, the token registry
 * and the gallery's password and session secret, behind a real Debian haproxy on loopback that
 * checks each receiver's /readyz. Runs against s3rver, and against Ceph RGW when S3_TEST_* are set.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DeleteBucketCommand, DeleteObjectsCommand, GetObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/stores/s3.js';
import { freePort } from '../../bench/processes.js';
import { haproxyBinary, haproxyConfig, haproxyStatus } from '../support/haproxy.js';
import { startLocalS3 } from '../support/local-s3.js';
import { createTestBucket, realS3FromEnv } from '../support/real-s3.js';
import { request } from '../support/receiver.js';
import type { Response } from '../support/receiver.js';
import { distinctJpeg as jpeg, until } from '../spool/helpers.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = path.join(projectRoot, 'src', 'cli', 'main.ts');
/** tsx by its file URL: the receivers run in working directories outside the project. */
const TSX = import.meta.resolve('tsx');
const PREFIX = 'site-a';
const RECEIVERS = 3;

/** One S3 server and a bucket of the fleet's own. */
interface FleetStore {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  bucket: string;
  stop(): Promise<void>;
}

async function s3rverStore(): Promise<FleetStore> {
  const s3 = await startLocalS3('fleet');
  // The proxy in front of s3rver honours If-None-Match: * (create-only) but not If-Match: edits are written and read back.
  return { endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, bucket: s3.bucket, stop: () => s3.stop() };
}

/**
 * s3rver ignoring If-None-Match and If-Match alike, so every edit is a plain write read back (behind
 * the same proxy, so that a PUT cut off by a killed receiver stores nothing, as on a real server).
 */
async function unconditionalStore(): Promise<FleetStore> {
  const s3 = await startLocalS3('fleet', { conditionalWrites: false });
  return { endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, bucket: s3.bucket, stop: () => s3.stop() };
}

/** Ceph RGW from scripts/ceph-rgw.sh (`. DIR/env`), with a bucket removed again at the end. */
async function cephStore(): Promise<FleetStore> {
  const server = realS3FromEnv()!;
  const { endpoint, region, credentials } = server;
  const bucket = await createTestBucket(server, 'fleet');
  return {
    endpoint,
    region,
    credentials,
    bucket,
    stop: async () => {
      const admin = createS3Client({ endpoint, region, credentials });
      try {
        for await (const page of paginateListObjectsV2({ client: admin }, { Bucket: bucket })) {
          const keys = (page.Contents ?? []).map((object) => ({ Key: object.Key! }));
          if (keys.length > 0) await admin.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
        }
        await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
      } finally {
        admin.destroy();
      }
    },
  };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A child process with its output kept, and a promise of its end. */
interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<void>;
}

function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Running {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, output: () => output, exited };
}

/** Ends a child started here and waits for it (SIGKILL after 10 s of SIGTERM). */
async function end(running: Running, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill(signal);
  const killer = setTimeout(() => running.child.kill('SIGKILL'), 10_000);
  await running.exited;
  clearTimeout(killer);
}

/** One receiver of the fleet: its port, its working directory, and its process while it runs. */
interface Receiver {
  name: string;
  port: number;
  cwd: string;
  url: string;
  process: Running;
}

interface Fleet {
  store: FleetStore;
  receivers: Receiver[];
  haproxy: Running;
  socket: string;
  /** haproxy's frontend. */
  url: string;
  storeUrl: string;
  /** The start banners of the first starts. */
  banners: string[];
  /** Runs the CLI (`token …`) against the fleet's store, from a working directory of its own. */
  cli(...args: string[]): Promise<string>;
  /** Starts (or starts again, in the same working directory and port) a receiver. */
  start(receiver: Receiver): Promise<void>;
  stop(): Promise<void>;
}

async function startFleet(makeStore: () => Promise<FleetStore>, haproxy: string): Promise<Fleet> {
  const store = await makeStore();
  const folders: string[] = [];
  const folder = async (name: string): Promise<string> => {
    const made = await mkdtemp(path.join(os.tmpdir(), `images-to-s3-fleet-${name}-`));
    folders.push(made);
    return made;
  };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ENDPOINT_URL_S3: store.endpoint,
    AWS_REGION: store.region,
    AWS_ACCESS_KEY_ID: store.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: store.credentials.secretAccessKey,
    NODE_NO_WARNINGS: '1',
  };
  const storeUrl = `s3://${store.bucket}/${PREFIX}`;
  const receivers: Receiver[] = [];
  for (let n = 1; n <= RECEIVERS; n++) {
    const port = await freePort();
    receivers.push({ name: `r${n}`, port, cwd: await folder(`r${n}`), url: `http://127.0.0.1:${port}/`, process: undefined as unknown as Running });
  }
  const cliFolder = await folder('cli');
  const haproxyFolder = await folder('haproxy');
  const socket = path.join(haproxyFolder, 'admin.sock');
  const frontendPort = await freePort();
  let proxy: Running | undefined;

  const start = async (receiver: Receiver): Promise<void> => {
    // --failed-auth-limit 0: the test polls each receiver with a token it does not know yet (or no
    // longer), which would soon be answered 429 instead of 403.
    const args = ['--import', TSX, MAIN, 'serve', '--host', '127.0.0.1', '--port', String(receiver.port), '--store', storeUrl];
    args.push('--log-level', 'warn', '--forward-max-backoff', '2', '--failed-auth-limit', '0');
    receiver.process = run(process.execPath, args, { cwd: receiver.cwd, env });
    const running = receiver.process;
    const deadline = Date.now() + 30_000;
    while (!running.output().includes(receiver.url)) {
      if (Date.now() > deadline || running.child.exitCode !== null || running.child.signalCode !== null) {
        running.child.kill('SIGKILL');
        throw new Error(`${receiver.name} did not start:\n${running.output()}`);
      }
      await pause(50);
    }
  };

  const stop = async (): Promise<void> => {
    await Promise.all([...receivers.filter((receiver) => receiver.process !== undefined).map((receiver) => end(receiver.process)), ...(proxy ? [end(proxy)] : [])]);
    for (const made of folders) await rm(made, { recursive: true, force: true });
    await store.stop();
  };

  try {
    // All three at once on a fresh bucket, as a fleet's machines start: one of them creates the first token.
    await Promise.all(receivers.map(start));
    const banners = receivers.map((receiver) => receiver.process.output());
    await writeFile(path.join(haproxyFolder, 'haproxy.cfg'), haproxyConfig({ frontendPort, receiverPorts: receivers.map((receiver) => receiver.port), socket, checkInterval: '100ms' }));
    proxy = run(haproxy, ['-f', path.join(haproxyFolder, 'haproxy.cfg'), '-db'], { cwd: haproxyFolder, env: process.env });
    const running = proxy;
    await until(
      async () => {
        if (running.child.exitCode !== null || running.child.signalCode !== null) throw new Error(`haproxy exited:\n${running.output()}`);
        if (!existsSync(socket)) return false;
        const status = await haproxyStatus(socket).catch(() => new Map<string, string>());
        return receivers.every((receiver) => status.get(receiver.name) === 'UP');
      },
      'haproxy to see every receiver up',
      15_000,
    );
    return {
      store,
      receivers,
      haproxy: proxy,
      socket,
      url: `http://127.0.0.1:${frontendPort}/`,
      storeUrl,
      banners,
      cli: async (...args) => (await promisify(execFile)(process.execPath, ['--import', TSX, MAIN, ...args, '--store', storeUrl], { cwd: cliFolder, env })).stdout,
      start,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A camera's upload: POST, raw JPEG, Content-Disposition filename, token in the query. */
function upload(url: string, token: string, body: Buffer, filename: string, extraHeaders: Record<string, string> = {}): Promise<Response> {
  return request(`${url}?accessToken=${encodeURIComponent(token)}`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', 'content-length': String(body.length), 'content-disposition': `attachment; filename="${filename}"`, ...extraHeaders },
    body,
  });
}

let probes = 0;

/**
 * Milliseconds until every receiver answers an upload with `token` with `status` (200 or 403),
 * polled every 50 ms on each receiver's own port, or a failure after `timeoutMs`.
 */
async function untilEveryReceiver(fleet: Fleet, token: string, status: number, timeoutMs: number): Promise<number[]> {
  const began = performance.now();
  return Promise.all(
    fleet.receivers.map(async (receiver) => {
      // Each probe on a connection of its own, and four answers in a row: a receiver runs a worker
      // per core (`serve --workers`), each reading the registry again within the bound, and
      // node:cluster hands new connections to its workers in turn.
      let inARow = 0;
      for (;;) {
        const answer = await upload(receiver.url, token, jpeg(1_000_000 + probes), `probe-${probes++}.jpg`, { connection: 'close' });
        const at = performance.now() - began;
        inARow = answer.status === status ? inARow + 1 : 0;
        if (inARow === 4) return at;
        if (inARow > 0) continue;
        assert.ok([200, 403].includes(answer.status), `${receiver.name} answered ${answer.status}: ${answer.body}`);
        if (at > timeoutMs) assert.fail(`${receiver.name} still answered ${answer.status} instead of ${status} ${Math.round(at)} ms after the command returned`);
        await pause(50);
      }
    }),
  );
}

/** Every object under `<prefix>/<under>`, by key relative to the prefix (as receipts name them), with its ETag. */
async function listObjects(store: FleetStore, under: string): Promise<Map<string, string>> {
  const client = createS3Client({ endpoint: store.endpoint, region: store.region, credentials: store.credentials });
  const found = new Map<string, string>();
  try {
    for await (const page of paginateListObjectsV2({ client }, { Bucket: store.bucket, Prefix: `${PREFIX}/${under}` })) {
      for (const object of page.Contents ?? []) found.set(object.Key!.slice(PREFIX.length + 1), (object.ETag ?? '').replaceAll('"', ''));
    }
  } finally {
    client.destroy();
  }
  return found;
}

/** The bytes of an object, by key relative to the prefix. */
async function objectBytes(store: FleetStore, key: string): Promise<Buffer> {
  const client = createS3Client({ endpoint: store.endpoint, region: store.region, credentials: store.credentials });
  try {
    const got = await client.send(new GetObjectCommand({ Bucket: store.bucket, Key: `${PREFIX}/${key}` }));
    return Buffer.from(await got.Body!.transformToByteArray());
  } finally {
    client.destroy();
  }
}

/** Images waiting in a receiver's spool, from its /readyz; undefined while it does not answer. */
async function spooled(receiver: Receiver): Promise<number | undefined> {
  const answer = await request(`${receiver.url}readyz`).catch(() => undefined);
  return typeof answer?.json.spooled === 'number' ? answer.json.spooled : undefined;
}

/** The session cookie from a log-in on `receiver`. */
async function logIn(receiver: Receiver, password: string): Promise<string> {
  const form = Buffer.from(new URLSearchParams({ password, next: '/gallery' }).toString());
  const answer = await request(`${receiver.url}gallery/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(form.length) }, body: form });
  assert.equal(answer.status, 303, `log-in on ${receiver.name}: ${answer.status} ${answer.body.slice(0, 300)}`);
  const setCookie = ([] as string[]).concat(answer.headers['set-cookie'] ?? []);
  const session = setCookie.map((line) => /^images_to_s3_gallery=([^;]+)/.exec(line)?.[1]).find((value) => value);
  assert.ok(session, `log-in on ${receiver.name} set no session cookie: ${setCookie.join(' | ')}`);
  return `images_to_s3_gallery=${session}`;
}

function fleetSuite(name: string, makeStore: () => Promise<FleetStore>, skip: string | undefined): void {
  describe(`a fleet of ${RECEIVERS} receivers behind haproxy on one ${name} store`, { skip: skip ?? false, timeout: 120_000 }, () => {
    let fleet: Fleet;
    before(async () => {
      fleet = await startFleet(makeStore, haproxyBinary()!);
    });
    after(async () => {
      await fleet?.stop();
    });

    it('starts three receivers at once on a fresh bucket with one first token and one gallery password, whichever receiver made them', async () => {
      const created = fleet.banners.filter((banner) => /Created an access token for camera "camera-1"/.test(banner));
      assert.equal(created.length, 1, `exactly one receiver creates the first token:\n${fleet.banners.join('\n----\n')}`);
      const passwords = fleet.banners.filter((banner) => /Gallery password \(shown this once/.test(banner));
      assert.equal(passwords.length, 1, `exactly one receiver generates the gallery password:\n${fleet.banners.join('\n----\n')}`);
      const list = JSON.parse(await fleet.cli('token', 'list', '--json')) as Array<{ camera: string }>;
      assert.deepEqual(list.map((entry) => entry.camera), ['camera-1']);
      const firstToken = /accessToken=(\S+)/.exec(created[0]!)![1]!;
      await untilEveryReceiver(fleet, firstToken, 200, 5_000);
    });

    it('accepts a token created once with the CLI on every receiver within 2 s, and refuses it on every receiver within 2 s of its revocation', async (t) => {
      const { token } = JSON.parse(await fleet.cli('token', 'create', 'cam', '--json')) as { token: string };
      const accepted = await untilEveryReceiver(fleet, token, 200, 2_000);
      t.diagnostic(`accepted after ${accepted.map((ms) => Math.round(ms)).join(', ')} ms`);
      assert.ok(Math.max(...accepted) <= 2_000, `accepted after ${accepted.join(', ')} ms`);

      assert.match(await fleet.cli('token', 'revoke', 'cam'), /Revoked tok_\S+ \(camera "cam"\)/);
      const refused = await untilEveryReceiver(fleet, token, 403, 2_000);
      t.diagnostic(`refused after ${refused.map((ms) => Math.round(ms)).join(', ')} ms`);
      assert.ok(Math.max(...refused) <= 2_000, `refused after ${refused.join(', ')} ms`);
      for (const receiver of fleet.receivers) assert.equal((await upload(fleet.url, token, jpeg(7), 'after-revoke.jpg')).status, 403, `through haproxy (${receiver.name}'s turn)`);
    });

    it('takes a gallery session from one receiver on the others', async () => {
      const banner = fleet.banners.find((text) => /Gallery password \(shown this once/.test(text))!;
      const password = /Gallery password \(shown this once[^\n]*\n\s*(\S+)/.exec(banner)![1]!;
      const first = fleet.receivers[0]!;
      const cookie = await logIn(first, password);
      for (const receiver of fleet.receivers) {
        const page = await request(`${receiver.url}gallery`, { headers: { cookie } });
        assert.equal(page.status, 200, `${receiver.name} with the session of ${first.name}: ${page.status} ${page.headers.location ?? ''}`);
        assert.match(page.headers['content-type'] ?? '', /text\/html/);
        const without = await request(`${receiver.url}gallery`);
        assert.equal(without.status, 303, `${receiver.name} without a session leads to the log-in page`);
        const forged = await request(`${receiver.url}gallery`, { headers: { cookie: `${cookie.slice(0, -4)}AAAA` } });
        assert.equal(forged.status, 303, `${receiver.name} refuses a tampered session`);
      }
    });

    it('routes uploads around a receiver killed with SIGKILL mid-load, and every upload answered 200 is in the bucket once it is back', async (t) => {
      const { token } = JSON.parse(await fleet.cli('token', 'create', 'yard', '--json')) as { token: string };
      await untilEveryReceiver(fleet, token, 200, 5_000);
      const victim = fleet.receivers[1]!;
      const count = 300;
      const concurrency = 8;
      const bodies = Array.from({ length: count }, (_, n) => jpeg(n));
      const results: Array<{ n: number; startedAt: number; status: number; key?: string; error?: string }> = [];
      let killedAt = Number.POSITIVE_INFINITY;
      let next = 0;
      const camera = async (): Promise<void> => {
        while (next < count) {
          const n = next++;
          if (n === Math.floor(count / 3)) {
            // Mid-load: a third sent, the rest still to come, uploads in flight on every receiver.
            victim.process.child.kill('SIGKILL');
            await victim.process.exited;
            killedAt = performance.now();
          }
          const startedAt = performance.now();
          try {
            const answer = await upload(fleet.url, token, bodies[n]!, `yard-${n}.jpg`);
            results.push({ n, startedAt, status: answer.status, ...(answer.status === 200 && { key: String(answer.json.key) }), ...(answer.status !== 200 && { error: answer.body.replace(/<[^>]*>|\s+/g, ' ').trim().slice(0, 120) }) });
          } catch (error) {
            results.push({ n, startedAt, status: 0, error: (error as Error).message });
          }
        }
      };
      const began = performance.now();
      const phases: string[] = [];
      const phase = (name: string): number => phases.push(`${name} ${((performance.now() - began) / 1000).toFixed(1)} s`);
      await Promise.all(Array.from({ length: concurrency }, camera));
      phase('load');
      assert.ok(Number.isFinite(killedAt), 'the receiver was killed during the load');
      await until(async () => (await haproxyStatus(fleet.socket)).get(victim.name)?.startsWith('DOWN') === true, `haproxy to mark ${victim.name} down`, 5_000);
      phase('marked down');

      const failed = results.filter((result) => result.status !== 200);
      const afterKill = results.filter((result) => result.startedAt >= killedAt);
      t.diagnostic(`${results.length - failed.length} of ${count} answered 200; failed: ${failed.map((result) => `#${result.n} ${result.status} ${result.error ?? ''}`).join('; ') || 'none'}`);
      assert.ok(afterKill.length >= count / 2, `most of the load came after the kill (${afterKill.length})`);
      assert.deepEqual(afterKill.filter((result) => result.status !== 200), [], 'every upload started after the kill succeeded: haproxy routed around the dead receiver');
      assert.ok(failed.length <= concurrency, `only uploads in flight at the kill may fail (${failed.length})`);

      // Back, in the same working directory: what its spool held is forwarded.
      await fleet.start(victim);
      phase('restarted');
      await until(async () => (await haproxyStatus(fleet.socket)).get(victim.name) === 'UP', `haproxy to take ${victim.name} in again`, 10_000);
      phase('up again');
      for (const receiver of fleet.receivers) await until(async () => (await spooled(receiver)) === 0, `${receiver.name}'s spool to be empty`, 30_000);
      phase('spools empty');

      const stored = await listObjects(fleet.store, 'yard/');
      const receipts = results.filter((result) => result.status === 200);
      for (const receipt of receipts) {
        assert.ok(stored.has(receipt.key!), `the image of receipt ${receipt.key} is in the bucket`);
        // A single PUT's ETag is the MD5 of its bytes on s3rver and Ceph; where it is not, the bytes are compared.
        if (stored.get(receipt.key!) !== createHash('md5').update(bodies[receipt.n]!).digest('hex')) {
          assert.deepEqual(await objectBytes(fleet.store, receipt.key!), bodies[receipt.n], `${receipt.key} holds the bytes uploaded`);
        }
      }
      // Nothing twice: no upload stored under two keys (haproxy resends no upload), none unknown.
      const names = [...stored.keys()].map((key) => key.slice(key.lastIndexOf('/') + 1)).filter((name) => !name.startsWith('probe-'));
      assert.equal(new Set(names).size, names.length, 'no image is stored twice');
      for (const name of names) assert.match(name, /^yard-\d+\.jpg$/);
      phase('checked');
      t.diagnostic(`${stored.size} images in the bucket for ${receipts.length} receipts; ${phases.join(', ')}`);
    });
  });
}

const haproxyMissing = haproxyBinary() === undefined ? 'haproxy is not installed (apt-get install haproxy, or set HAPROXY): the fleet test needs a real load balancer' : undefined;
if (haproxyMissing) process.stderr.write(`NOTICE: ${haproxyMissing}; skipped.\n`);
fleetSuite('s3rver', s3rverStore, haproxyMissing);
fleetSuite('s3rver without conditional writes', unconditionalStore, haproxyMissing);
const cephConfigured = realS3FromEnv() !== undefined;
fleetSuite('Ceph RGW', cephStore, haproxyMissing ?? (cephConfigured ? undefined : 'set S3_TEST_* (scripts/ceph-rgw.sh start, then . DIR/env) to run against Ceph RGW'));
