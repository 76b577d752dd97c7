/**
 * `images-to-s3 serve` and its gallery, as a user starts it: the banner names the gallery's
 * address and, on the first start only, the generated password; `--gallery-password` (or its
 * variable) replaces it; `--no-gallery` turns the gallery off.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from '../support/receiver.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const running = new Set<ChildProcessWithoutNullStreams>();

interface Serving {
  stdout: string;
  base: string;
  stop(): Promise<void>;
}

/** The environment without settings of ours or AWS's that could steer the child. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(IMAGES_TO_S3_|AWS_|NODE_TEST_)/.test(name) && name !== 'NODE_OPTIONS') env[name] = value;
  }
  return { ...env, ...extra };
}

/** Runs `serve` on 127.0.0.1 and port 0 until its banner is out (or it exits). */
function serve(cwd: string, args: string[] = [], env: Record<string, string> = {}): Promise<Serving & { code?: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn', ...args], { cwd, env: cleanEnv(env) });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => (running.delete(child), resolve(code))));
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no banner in 30 s\nstdout: ${stdout}\nstderr: ${stderr}`)), 30_000);
    child.stdout.on('data', () => {
      const port = /^\s*http:\/\/127\.0\.0\.1:(\d+)\/\s*$/m.exec(stdout)?.[1];
      if (port && /images-to-s3 receiver is running[\s\S]*(Access tokens|accessToken=)/.test(stdout) && /\n$/.test(stdout)) {
        clearTimeout(timer);
        resolve({ stdout, stderr, base: `http://127.0.0.1:${port}`, stop });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, base: '', stop });
    });
  });
}

async function logIn(base: string, password: string): Promise<number> {
  const response = await request(`${base}/gallery/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: Buffer.from(new URLSearchParams({ password }).toString()),
  });
  return response.status;
}

describe('serve with the gallery', () => {
  let cwd: string;
  before(async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-gallery-cli-'));
  });
  after(async () => {
    for (const child of running) child.kill('SIGKILL');
    await rm(cwd, { recursive: true, force: true });
  });

  it('prints the gallery address and a generated password at the first start, and only then', async () => {
    const first = await serve(cwd);
    let password: string;
    try {
      assert.match(first.stdout, new RegExp(`Gallery, in a browser:\\n\\s+${first.base}/gallery\\n`));
      const shown = /Gallery password \(shown this once; (.+) keeps only its hash\):\n\s+(\S+)\n/.exec(first.stdout);
      assert.ok(shown, first.stdout);
      password = shown[2]!;
      assert.equal(shown[1], path.join(cwd, 'images', '.images-to-s3', 'gallery.json'));
      assert.ok(!(await readFile(shown[1], 'utf8')).includes(password));
      assert.equal(await logIn(first.base, password), 303);
      assert.equal(await logIn(first.base, 'not it at all'), 401);
    } finally {
      await first.stop();
    }

    const second = await serve(cwd);
    try {
      assert.doesNotMatch(second.stdout, new RegExp(password));
      assert.match(second.stdout, /Gallery password: printed at the first start\. Lost it\?/);
      assert.equal(await logIn(second.base, password), 303);
    } finally {
      await second.stop();
    }
  });

  it('gallery password: a new password, printed once, works on the running receiver within seconds and the old one and its sessions stop', async () => {
    const folder = await mkdtemp(path.join(cwd, 'change-'));
    const receiver = await serve(folder);
    try {
      const old = /Gallery password \(shown this once; .+\):\n\s+(\S+)\n/.exec(receiver.stdout)![1]!;
      const session = await request(`${receiver.base}/gallery/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(new URLSearchParams({ password: old }).toString()),
      });
      const cookie = String(session.headers['set-cookie']).split(';')[0]!;
      assert.equal((await request(`${receiver.base}/gallery`, { headers: { cookie } })).status, 200);

      const changed = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', TSX, MAIN, 'gallery', 'password', '--store', 'file:images'], { cwd: folder, env: cleanEnv({}) });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`gallery password exited ${code}: ${out}`))));
      });
      const fresh = /New gallery password \(shown this once; .+ keeps only its hash\):\n\s+(\S+)\n/.exec(changed)![1]!;
      assert.notEqual(fresh, old);
      const deadline = Date.now() + 5_000;
      while ((await request(`${receiver.base}/gallery`, { headers: { cookie } })).status === 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      // Every worker of `serve --workers` reads the document again within the same bound (a second): past it, none takes the old session.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.notEqual((await request(`${receiver.base}/gallery`, { headers: { cookie } })).status, 200, 'the old session still works');
      assert.equal(await logIn(receiver.base, old), 401);
      assert.equal(await logIn(receiver.base, fresh), 303);
    } finally {
      await receiver.stop();
    }
  });

  it('takes the password from IMAGES_TO_S3_GALLERY_PASSWORD instead', async () => {
    const serving = await serve(cwd, [], { IMAGES_TO_S3_GALLERY_PASSWORD: 'from the environment' });
    try {
      assert.match(serving.stdout, /Gallery password: the one given with --gallery-password\./);
      assert.equal(await logIn(serving.base, 'from the environment'), 303);
    } finally {
      await serving.stop();
    }
  });

  it('has no gallery with --no-gallery', async () => {
    const serving = await serve(cwd, ['--no-gallery']);
    try {
      assert.doesNotMatch(serving.stdout, /Gallery/);
      assert.equal((await request(`${serving.base}/gallery`)).status, 404);
    } finally {
      await serving.stop();
    }
  });

  it('refuses a recipient path inside the gallery, and a short password', async () => {
    const inside = await serve(cwd, ['--recipient-path', '/gallery/upload']);
    assert.equal(inside.code, 1);
    assert.match(inside.stderr, /--recipient-path cannot be inside \/gallery/);
    const short = await serve(cwd, ['--gallery-password', 'short']);
    assert.equal(short.code, 1);
    assert.match(short.stderr, /at least 8 characters/);
  });
});
