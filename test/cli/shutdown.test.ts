import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SAMPLE_JPEG } from '../support/receiver.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Starts `serve` in a child process on a free port; resolves once it printed its URL and first token. */
async function startServe(folder: string): Promise<{ child: ChildProcess; url: string; token: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', '0', '--store', `file:${folder}/images`], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 20_000;
  while (!/accessToken=\w+/.test(output) || !/http:\/\/127\.0\.0\.1:\d+\//.test(output)) {
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`serve did not print its recipient URL and token in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, url: /http:\/\/127\.0\.0\.1:\d+\//.exec(output)![0], token: /accessToken=(\w+)/.exec(output)![1]!, exited };
}

/** Starts an upload and sends the first `sentBytes` of the image; `finish()` sends the rest, `response` resolves with the answer. */
function startUpload(url: string, token: string, filename: string, sentBytes: number): { finish(): void; response: Promise<{ status: number; key: string }> } {
  const outgoing = http.request(`${url}?accessToken=${token}`, {
    method: 'POST',
    agent: new http.Agent({ keepAlive: true }),
    headers: { 'content-type': 'image/jpeg', 'content-length': SAMPLE_JPEG.length, 'content-disposition': `attachment; filename="${filename}"` },
  });
  const response = new Promise<{ status: number; key: string }>((resolve, reject) => {
    outgoing.on('response', (incoming) => {
      let body = '';
      incoming.on('data', (chunk: Buffer) => (body += chunk.toString()));
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, key: String((JSON.parse(body) as { key: string }).key) }));
    });
    outgoing.on('error', reject);
  });
  outgoing.write(SAMPLE_JPEG.subarray(0, sentBytes));
  return { finish: () => outgoing.end(SAMPLE_JPEG.subarray(sentBytes)), response };
}

const connectionRefused = (url: string): Promise<string> =>
  new Promise((resolve) => {
    http.get(url, { agent: false }, (response) => resolve(`answered ${response.statusCode}`)).on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });

describe('serve shuts down gracefully', () => {
  const folders: string[] = [];
  after(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it('on SIGTERM refuses new connections, finishes the upload in flight, stores it and exits 0', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-shutdown-'));
    folders.push(folder);
    const { child, url, token, exited } = await startServe(folder);
    try {
      const upload = startUpload(url, token, 'in-flight.jpg', 25_000);
      await new Promise((resolve) => setTimeout(resolve, 150));
      child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(await connectionRefused(url), 'ECONNREFUSED');
      upload.finish();
      const stored = await upload.response;
      assert.equal(stored.status, 200);
      assert.equal(await exited, 0);
      assert.deepEqual(await readFile(path.join(folder, 'images', stored.key)), SAMPLE_JPEG);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('under load, every upload that got a 2xx is on disk byte for byte after SIGTERM', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-shutdown-load-'));
    folders.push(folder);
    const { child, url, token, exited } = await startServe(folder);
    try {
      const uploads = Array.from({ length: 40 }, (_, i) => startUpload(url, token, `load-${i}.jpg`, 1_000 + i * 1_000));
      await new Promise((resolve) => setTimeout(resolve, 300));
      child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const upload of uploads) upload.finish();
      const answers = await Promise.all(uploads.map((upload) => upload.response.catch(() => ({ status: 0, key: '' }))));
      assert.equal(await exited, 0);
      const stored = answers.filter((answer) => answer.status === 200);
      assert.equal(stored.length, uploads.length, 'uploads in flight at SIGTERM are finished, not dropped');
      for (const answer of stored) assert.deepEqual(await readFile(path.join(folder, 'images', answer.key)), SAMPLE_JPEG);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
