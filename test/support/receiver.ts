import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { ImageReceiver } from '../../src/core/receiver.js';
import { KeyTemplate } from '../../src/core/object-key.js';
import type { ImageStore } from '../../src/core/store.js';
import { createReceiverServer } from '../../src/server/server.js';
import type { ServerLimits, ServerTimeouts } from '../../src/server/server.js';
import { GALLERY_PATH, galleryPlugin } from '../../src/gallery/plugin.js';
import type { GalleryOptions } from '../../src/gallery/plugin.js';
import { DiskStore } from '../../src/stores/disk.js';
import { TokenRegistry } from '../../src/tokens/registry.js';

export const SAMPLE_JPEG = await readFile(fileURLToPath(new URL('../../assets/sample.jpg', import.meta.url)));

/** A receiver on 127.0.0.1 with a disk store in a temp dir, one camera token, and captured logs. */
export interface RunningReceiver {
  url: string;
  port: number;
  root: string;
  token: string;
  tokens: TokenRegistry;
  store: ImageStore;
  logs: string[];
  app: FastifyInstance;
  /** Every file under the store root, relative, including temporary ones. */
  files(): Promise<string[]>;
  close(): Promise<void>;
}

export async function startReceiver(
  options: {
    maxBytes?: number;
    maxClipBytes?: number;
    keyTemplate?: string;
    store?: ImageStore;
    tls?: { cert: string; key: string };
    timeouts?: Partial<ServerTimeouts>;
    limits?: Partial<ServerLimits>;
    trustProxy?: boolean;
    gallery?: GalleryOptions;
  } = {},
): Promise<RunningReceiver> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-receiver-'));
  const store = options.store ?? new DiskStore(path.join(root, 'images'));
  await store.open();
  const tokens = new TokenRegistry(path.join(root, 'tokens.json'));
  const { token } = await tokens.create('camera-1');
  const receiver = new ImageReceiver({
    tokens,
    store,
    ...(options.maxBytes !== undefined && { maxBytes: options.maxBytes }),
    ...(options.maxClipBytes !== undefined && { maxClipBytes: options.maxClipBytes }),
    ...(options.keyTemplate !== undefined && { keyTemplate: new KeyTemplate(options.keyTemplate) }),
  });
  const logs: string[] = [];
  const app = await createReceiverServer({
    receiver,
    store,
    log: { level: 'debug', stream: { write: (line: string) => void logs.push(line) } },
    ...(options.tls && { tls: options.tls }),
    ...(options.timeouts && { timeouts: options.timeouts }),
    ...(options.limits && { limits: options.limits }),
    ...(options.trustProxy !== undefined && { trustProxy: options.trustProxy }),
  });
  // As `serve` composes them.
  if (options.gallery) await app.register(galleryPlugin, { prefix: GALLERY_PATH, store, ...options.gallery });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  const scheme = options.tls ? 'https' : 'http';
  return {
    url: `${scheme}://127.0.0.1:${address.port}/`,
    port: address.port,
    root,
    token,
    tokens,
    store,
    logs,
    app,
    files: () => listFiles(path.join(root, 'images')),
    close: async () => {
      await app.close();
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name))).sort();
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

/** One request shaped like the camera's: POST, raw body, Content-Type and Content-Disposition. */
export function cameraUpload(
  receiver: RunningReceiver,
  options: { token?: string | null; filename?: string; body?: Buffer; contentType?: string | null; headers?: Record<string, string>; query?: string } = {},
): Promise<Response> {
  const token = options.token === undefined ? receiver.token : options.token;
  const query = options.query ?? (token === null ? '' : `?accessToken=${encodeURIComponent(token)}`);
  const headers: Record<string, string> = {};
  if (options.contentType !== null) headers['content-type'] = options.contentType ?? 'image/jpeg';
  headers['content-disposition'] = `attachment; filename="${options.filename ?? 'image26-11-23_10-15-00-12_00001.jpg'}"`;
  return request(`${receiver.url}${query}`, { method: 'POST', headers: { ...headers, ...options.headers }, body: options.body ?? SAMPLE_JPEG });
}

export function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | Buffer[] } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          // not JSON: left empty
        }
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body, json });
      });
      incoming.on('error', reject);
    });
    outgoing.on('error', reject);
    const parts = options.body === undefined ? [] : Array.isArray(options.body) ? options.body : [options.body];
    for (const part of parts) outgoing.write(part);
    outgoing.end();
  });
}
