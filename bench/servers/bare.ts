/**
 * The S1 baseline: a bare `node:http` server that pipes each request body to a new file, with no
 * checks at all (no token, no type sniffing, no sanitising, no logging, no metrics), and — unless
 * started with `--fsync` — no fsync either: its 200 does not mean the image survives a power cut.
 * With `--fsync` it fsyncs the file and then the folder before answering, the least a server
 * must do for a 2xx to mean "on disk" (no temporary file, so a crash can leave partial files).
 *
 * Usage: bare.ts <folder> [--fsync]; prints `listening <port>` once it listens on 127.0.0.1.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream';

const folder = process.argv[2]!;
const durable = process.argv.includes('--fsync');
let count = 0;

const server = http.createServer((request, response) => {
  const file = path.join(folder, `${process.pid}-${count++}.jpg`);
  const output = fs.createWriteStream(file, durable ? { flush: true } : {});
  pipeline(request, output, (error) => {
    if (error || !durable) {
      response.statusCode = error ? 500 : 200;
      response.end(error ? 'failed' : '{"stored":true}');
      return;
    }
    fs.open(folder, 'r', (openError, fd) => {
      if (openError) {
        response.statusCode = 500;
        response.end('failed');
        return;
      }
      fs.fsync(fd, (syncError) => {
        fs.close(fd, () => undefined);
        response.statusCode = syncError ? 500 : 200;
        response.end(syncError ? 'failed' : '{"stored":true}');
      });
    });
  });
});
server.keepAliveTimeout = 10_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
