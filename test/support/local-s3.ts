import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/stores/s3.js';
import { startS3rver } from './s3rver.js';

/** An S3-protocol server on 127.0.0.1 that honours `If-None-Match: *` as AWS S3 does. */
export interface LocalS3 {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  bucket: string;
  /** The bytes stored under `key`, or undefined. */
  object(key: string): Promise<Buffer | undefined>;
  /** Every key in the bucket, sorted. */
  keys(): Promise<string[]>;
  /** Requests seen, as `METHOD /path` with `signed` when they carried a SigV4 Authorization. */
  requests: Array<{ method: string; path: string; signed: boolean; ifNoneMatch: string | undefined }>;
  /** Stops listening and cuts every open connection, as a store that went away: connections are refused. */
  down(): Promise<void>;
  /** Listens again on the same port, with the same objects. */
  up(): Promise<void>;
  /** While set, every request is answered with this status and an S3 error body (503: SlowDown). */
  failWith: number | undefined;
  /**
   * While set, writes (PUT, POST) are refused as Ceph RGW refuses them over a bucket quota: 403
   * QuotaExceeded; reads still work.
   */
  full: boolean;
  stop(): Promise<void>;
}

/**
 * s3rver in-process, behind a small proxy that adds what s3rver lacks and AWS S3 has: a
 * `PutObject` with `If-None-Match: *` on an existing key is refused with 412 PreconditionFailed
 * (check and write as one step, so of two such PUTs at once one is refused),
 * and a PUT cut off before its body ended stores nothing. Everything else passes through unchanged.
 * With `conditionalWrites: false` it ignores `If-None-Match` as s3rver does: a store that honours
 * no conditional write, but keeps no cut-off PUT either (as no real S3 server does).
 */
export async function startLocalS3(bucket = 'images', options: { conditionalWrites?: boolean } = {}): Promise<LocalS3> {
  const conditionalWrites = options.conditionalWrites ?? true;
  const directory = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-lambda-s3-'));
  const { server: s3rver, port: backendPort } = await startS3rver(directory);
  const requests: LocalS3['requests'] = [];
  // Its own agent, so that stop() can cut what is still open towards s3rver (whose close() waits for it).
  const backend = new http.Agent({ keepAlive: false });

  const exists = (urlPath: string): Promise<boolean> =>
    new Promise((resolve, reject) => {
      const head = http.request({ host: '127.0.0.1', port: backendPort, method: 'HEAD', path: urlPath, agent: backend }, (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      });
      head.on('error', reject);
      head.end();
    });

  const sockets = new Set<Socket>();
  /** Requests passed on to s3rver and not yet answered: stop() lets them finish before it removes s3rver's folder. */
  const forwarded = new Set<Promise<void>>();
  /** Create-only PUTs under way, per key: each waits for the one before it. */
  const creating = new Map<string, Promise<void>>();
  let failWith: number | undefined;
  let full = false;
  const proxy = http.createServer((incoming, outgoing) => {
    void (async () => {
      const urlPath = incoming.url ?? '/';
      const ifNoneMatch = incoming.headers['if-none-match'];
      requests.push({ method: incoming.method ?? '', path: urlPath.split('?')[0]!, signed: /^AWS4-HMAC-SHA256 /.test(incoming.headers.authorization ?? ''), ifNoneMatch });
      if (failWith !== undefined) {
        incoming.resume();
        const code = failWith === 503 ? 'SlowDown' : 'InternalError';
        outgoing.writeHead(failWith, { 'content-type': 'application/xml' });
        outgoing.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>Please reduce your request rate.</Message></Error>`);
        return;
      }
      if (full && (incoming.method === 'PUT' || incoming.method === 'POST')) {
        incoming.resume();
        outgoing.writeHead(403, { 'content-type': 'application/xml' });
        outgoing.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>QuotaExceeded</Code></Error>');
        return;
      }
      if (incoming.method === 'PUT' && ifNoneMatch === '*' && conditionalWrites) {
        // Check and write as one step, as AWS S3 does: the next create-only PUT of the key waits for this one's answer.
        const key = urlPath.split('?')[0]!;
        const previous = creating.get(key) ?? Promise.resolve();
        let release!: () => void;
        const mine = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
        creating.set(key, mine);
        outgoing.on('close', () => {
          void previous.then(() => {
            release();
            if (creating.get(key) === mine) creating.delete(key);
          });
        });
        await previous;
      }
      if (incoming.method === 'PUT' && ifNoneMatch === '*' && conditionalWrites && (await exists(urlPath.split('?')[0]!))) {
        incoming.resume();
        outgoing.writeHead(412, { 'content-type': 'application/xml' });
        outgoing.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>');
        return;
      }
      // A PUT reaches s3rver only once its body is complete: AWS S3 never keeps a cut-off PutObject,
      // s3rver would keep what arrived.
      let body: Buffer | undefined;
      if (incoming.method === 'PUT') {
        const chunks: Buffer[] = [];
        const complete = await new Promise<boolean>((resolve) => {
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('end', () => resolve(true));
          incoming.on('close', () => resolve(incoming.complete));
        });
        if (!complete) return;
        body = Buffer.concat(chunks);
      }
      const forward = http.request(
        { host: '127.0.0.1', port: backendPort, method: incoming.method, path: urlPath, headers: { ...incoming.headers, connection: 'close' }, agent: backend },
        (response) => {
          outgoing.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(outgoing);
        },
      );
      forward.on('error', () => outgoing.destroy());
      const settled = new Promise<void>((resolve) => forward.on('close', resolve));
      forwarded.add(settled);
      void settled.then(() => forwarded.delete(settled));
      if (body === undefined) {
        // A client cut off (see down()) must not leave s3rver holding a half-sent request.
        outgoing.on('close', () => forward.destroy());
        incoming.pipe(forward);
      } else {
        // A complete PUT is stored whole even when its client is gone before the answer.
        forward.end(body);
      }
    })();
  });
  proxy.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const region = 'us-east-1';

  const admin = createS3Client({ endpoint, region, credentials });
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  admin.destroy();
  requests.length = 0;

  const objectFile = (key: string): string => {
    const parts = key.split('/');
    return path.join(directory, bucket, ...parts.slice(0, -1), `${parts.at(-1)}._S3rver_object`);
  };
  const local: LocalS3 = {
    endpoint,
    region,
    credentials,
    bucket,
    requests,
    get failWith() {
      return failWith;
    },
    set failWith(status) {
      failWith = status;
    },
    get full() {
      return full;
    },
    set full(value) {
      full = value;
    },
    down: async () => {
      const closed = new Promise<void>((resolve) => proxy.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    up: () => new Promise<void>((resolve, reject) => proxy.once('error', reject).listen(port, '127.0.0.1', () => resolve())),
    object: (key) => readFile(objectFile(key)).catch(() => undefined),
    keys: async () => {
      const { readdir } = await import('node:fs/promises');
      const root = path.join(directory, bucket);
      const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
      return entries
        .filter((entry) => entry.isFile() && entry.name.endsWith('._S3rver_object'))
        .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name.slice(0, -'._S3rver_object'.length))).split(path.sep).join('/'))
        .sort();
    },
    stop: async () => {
      if (proxy.listening) await local.down();
      // A complete PUT whose client is gone is still being written by s3rver: removing its folder
      // under it would end in an uncaught ENOENT inside s3rver.
      await Promise.race([Promise.all(forwarded), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      backend.destroy();
      await s3rver.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
  return local;
}
