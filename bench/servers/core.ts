/**
 * The contract without the server around it: our `ImageReceiver` (token check, type sniffing,
 * sanitised keys, receipt) and `DiskStore` (temporary file, fsync, create-only link,
 * folder fsync) behind a bare `node:http` handler — no Fastify, logging, metrics, limits or
 * gallery. Between the bare pipe and `images-to-s3 serve` it splits what durability and the
 * contract's own checks cost from what the long-running server adds.
 *
 * Usage: core.ts <folder> <tokens.json>; prints `listening <port>` once it listens on 127.0.0.1.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ImageReceiver } from '../../src/core/receiver.js';
import { DiskStore } from '../../src/stores/disk.js';
import { TokenRegistry } from '../../src/tokens/registry.js';

const [folder, tokensFile] = [process.argv[2]!, process.argv[3]!];
const store = new DiskStore(folder);
await store.open();
const receiver = new ImageReceiver({ tokens: new TokenRegistry(tokensFile), store });

const server = http.createServer((request, response) => {
  const url = request.url ?? '/';
  const mark = url.indexOf('?');
  const head = { method: request.method ?? 'GET', query: new URLSearchParams(mark === -1 ? '' : url.slice(mark + 1)), headers: request.headers };
  void receiver
    .admit(head)
    .then((admission) => ('admitted' in admission ? receiver.receive(admission, request.iterator({ destroyOnReturn: false })) : admission))
    .then((outcome) => {
      response.writeHead(outcome.status, { 'content-type': 'application/json', ...outcome.headers });
      response.end(JSON.stringify(outcome.body));
    });
});
server.keepAliveTimeout = 10_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
