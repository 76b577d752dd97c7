import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SAMPLE_JPEG } from '../support/receiver.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

describe('serve shuts down gracefully', () => {
  const folders: string[] = [];
  after(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it('on SIGTERM refuses new connections, finishes the upload in flight, stores it and exits 0', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-shutdown-'));
    folders.push(folder);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', '0', '--store', `file:${folder}/images`], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const deadline = Date.now() + 20_000;
      while (!/accessToken=\w+/.test(output) || !/http:\/\/127\.0\.0\.1:\d+\//.test(output)) {
        assert.ok(Date.now() < deadline, `serve did not print its recipient URL and token in time:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(output)![0];
      const token = /accessToken=(\w+)/.exec(output)![1]!;

      // Start an upload and send only half of the image before asking the server to stop.
      const response = new Promise<{ status: number; key: string }>((resolve, reject) => {
        const outgoing = http.request(`${url}?accessToken=${token}`, {
          method: 'POST',
          agent: new http.Agent({ keepAlive: true }),
          headers: { 'content-type': 'image/jpeg', 'content-length': SAMPLE_JPEG.length, 'content-disposition': 'attachment; filename="in-flight.jpg"' },
        });
        outgoing.on('response', (incoming) => {
          let body = '';
          incoming.on('data', (chunk: Buffer) => (body += chunk.toString()));
          incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, key: String((JSON.parse(body) as { key: string }).key) }));
        });
        outgoing.on('error', reject);
        outgoing.write(SAMPLE_JPEG.subarray(0, 25_000), () => {
          child.kill('SIGTERM');
          setTimeout(() => outgoing.end(SAMPLE_JPEG.subarray(25_000)), 300);
        });
      });

      await new Promise((resolve) => setTimeout(resolve, 150));
      const refused = await new Promise<string>((resolve) => {
        http.get(url, { agent: false }, () => resolve('accepted')).on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      assert.equal(refused, 'ECONNREFUSED');

      const stored = await response;
      assert.equal(stored.status, 200);
      assert.equal(await exited, 0);
      assert.deepEqual(await readFile(path.join(folder, 'images', stored.key)), SAMPLE_JPEG);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
