/**
 * `serve --workers 2` is one receiver: the real CLI (through tsx) in a child process, on port 0,
 * its workers told apart by the pid in their log lines. Every request goes on a connection of its
 * own (as cameras send), so that node:cluster hands them to both workers.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SAMPLE_JPEG } from '../support/receiver.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const WAIT_MS = 30_000;

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^(IMAGES_TO_S3_|NODE_TEST_)/.test(name) && name !== 'NODE_OPTIONS') env[name] = value;
  return env;
}

async function until<T>(value: () => T | undefined | Promise<T | undefined>, what: () => string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const got = await value();
    if (got !== undefined && got !== false) return got;
    if (Date.now() > deadline) throw new Error(`waited ${WAIT_MS} ms: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Receiver {
  child: ChildProcess;
  folder: string;
  base: string;
  token: string;
  password: string;
  output: () => string;
  /** Pids of the workers that logged "Server listening", in order. */
  workers: () => number[];
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];
const folders: string[] = [];

async function startServe(extra: string[] = []): Promise<Receiver> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-workers-'));
  folders.push(folder);
  const child = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--store', `file:${folder}/images`, '--workers', '2', ...extra], {
    cwd: folder,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const workers = (): number[] => [...output.matchAll(/"pid":(\d+),[^\n]*"msg":"Server listening at/g)].map((match) => Number(match[1]));
  await until(() => workers().length >= 2 || child.exitCode !== null, () => `two workers did not start:\n${output}`);
  return {
    child,
    folder,
    base: /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!,
    token: /accessToken=(\w+)/.exec(output)![1]!,
    password: /Gallery password \(shown this once; .+\):\n\s+(\S+)\n/.exec(output)![1]!,
    output: () => output,
    workers,
    exited,
  };
}

/** A request on a connection of its own. */
function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(url, { method: options.method ?? 'GET', agent: false, headers: { connection: 'close', ...options.headers } }, (incoming) => {
      let body = '';
      incoming.on('data', (chunk: Buffer) => (body += chunk.toString()));
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body, headers: incoming.headers }));
    });
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

const upload = (receiver: Receiver, token = receiver.token): Promise<{ status: number; body: string }> =>
  send(`${receiver.base}/?accessToken=${token}`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: SAMPLE_JPEG });

function metric(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('serve --workers 2', () => {
  after(async () => {
    for (const child of running) child.kill('SIGKILL');
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it('runs two workers on one port behind one banner, with one /metrics summing both, and stops both on SIGTERM once uploads in flight are answered', async () => {
    const receiver = await startServe();
    const [first, second] = receiver.workers();
    assert.notEqual(first, second);
    assert.notEqual(first, receiver.child.pid, 'the primary serves nothing itself');
    assert.equal(receiver.output().match(/images-to-s3 receiver is running\./g)?.length, 1, 'one banner');
    // Both listen on the port that --port 0 gave the first.
    assert.deepEqual(new Set([...receiver.output().matchAll(/Server listening at (\S+)"/g)].map((match) => match[1])).size, 1);

    for (let n = 0; n < 12; n++) assert.equal((await upload(receiver)).status, 200);
    // Both took some (node:cluster hands connections out in turn).
    const answered = new Set([...receiver.output().matchAll(/"pid":(\d+),[^\n]*"msg":"image stored"/g)].map((match) => Number(match[1])));
    assert.equal(answered.size, 2, receiver.output());
    // Whichever worker answers, /metrics counts the uploads of both.
    for (let n = 0; n < 4; n++) {
      const scrape = await send(`${receiver.base}/metrics`);
      assert.equal(scrape.status, 200);
      assert.equal(metric(scrape.body, 'images_to_s3_uploads_total{camera="camera-1",status="200"}'), 12, scrape.body);
      assert.ok(metric(scrape.body, 'images_to_s3_process_resident_memory_bytes') > 0);
    }

    // An upload in flight when SIGTERM comes is answered, then every process exits 0.
    const slow = http.request(`${receiver.base}/?accessToken=${receiver.token}`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'image/jpeg', 'content-length': String(SAMPLE_JPEG.length) },
    });
    const answer = new Promise<number>((resolve, reject) => {
      slow.on('response', (incoming) => {
        incoming.resume();
        resolve(incoming.statusCode ?? 0);
      });
      slow.on('error', reject);
    });
    slow.write(SAMPLE_JPEG.subarray(0, 1000));
    await new Promise((resolve) => setTimeout(resolve, 300));
    receiver.child.kill('SIGTERM');
    await until(() => (receiver.output().match(/shutting down: no new uploads/g)?.length ?? 0) >= 2 || undefined, () => `both workers did not begin to stop:\n${receiver.output()}`);
    slow.end(SAMPLE_JPEG.subarray(1000));
    assert.equal(await answer, 200);
    assert.equal(await receiver.exited, 0);
    for (const pid of receiver.workers()) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
  });

  it('counts failed token checks on every worker towards the one limit, and sees a token created meanwhile on every worker', async () => {
    const receiver = await startServe(['--failed-auth-limit', '3']);
    const statuses: number[] = [];
    for (let n = 0; n < 7; n++) {
      statuses.push((await upload(receiver, 'not-a-token-of-this-receiver')).status);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(statuses, [403, 403, 403, 429, 429, 429, 429]);

    const created = await promisify(execFile)(process.execPath, ['--import', TSX, MAIN, 'token', 'create', 'gate', '--json', '--store', `file:${receiver.folder}/images`], { env: cleanEnv() });
    const token = (JSON.parse(created.stdout) as { token: string }).token;
    // Within the registry's recheck bound, on both workers: six uploads in a row all taken.
    await until(async () => ((await upload(receiver, token)).status === 200 ? true : undefined), () => 'the new token was not taken');
    for (let n = 0; n < 6; n++) assert.equal((await upload(receiver, token)).status, 200);
  });

  it('shows an image stored by one worker on the gallery pages of both at once, and starts a worker that died again', async () => {
    const receiver = await startServe();
    const login = await send(`${receiver.base}/gallery/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.from(new URLSearchParams({ password: receiver.password }).toString()),
    });
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const day = new Date().toISOString().slice(0, 10);
    const listed = async (): Promise<string[]> => {
      const page = await send(`${receiver.base}/gallery/api/cameras/camera-1/days/${day}`, { headers: { cookie } });
      assert.equal(page.status, 200, page.body);
      return (JSON.parse(page.body) as { images: Array<{ key: string }> }).images.map((image) => image.key);
    };
    // Both workers have the day's list cached (empty), then an image arrives at one of them.
    for (let n = 0; n < 4; n++) assert.deepEqual(await listed(), []);
    const stored = JSON.parse((await upload(receiver)).body) as { key: string };
    for (let n = 0; n < 6; n++) assert.deepEqual(await listed(), [stored.key]);

    const [victim] = receiver.workers();
    process.kill(victim!, 'SIGKILL');
    await until(() => (receiver.workers().length >= 3 ? true : undefined), () => `the worker was not started again:\n${receiver.output()}`);
    assert.match(receiver.output(), /worker \d stopped unexpectedly \(SIGKILL\); starting it again/);
    for (let n = 0; n < 6; n++) assert.equal((await upload(receiver)).status, 200);
  });
});
