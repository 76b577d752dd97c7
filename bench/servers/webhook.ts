/**
 * The events scenario's webhook endpoint: checks each delivery's Standard Webhooks signature (as
 * a real consumer does), answers 204, and keeps the time from each image's receipt
 * (`data.receivedAt`) to the delivery's arrival. `GET /stats` answers those latencies (ms) and how
 * many deliveries came and were forged; `DELETE /stats` forgets them.
 *
 * Usage: webhook.ts <secret>; prints `listening <port>` once it listens on 127.0.0.1.
 */
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

const verifier = new Webhook(process.argv[2]!);
let latencies: number[] = [];
let forged = 0;
let delivered = 0;

const server = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    if (request.url === '/stats') {
      if (request.method === 'DELETE') {
        latencies = [];
        forged = 0;
        delivered = 0;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ delivered, forged, latencies }));
      return;
    }
    const arrived = Date.now();
    try {
      const event = verifier.verify(Buffer.concat(chunks).toString('utf8'), request.headers as Record<string, string>) as { type: string; data: { receivedAt?: string } };
      delivered++;
      if (event.type === 'image.stored' && event.data.receivedAt) latencies.push(arrived - Date.parse(event.data.receivedAt));
      response.writeHead(204).end();
    } catch {
      forged++;
      response.writeHead(400).end();
    }
  });
});
server.keepAliveTimeout = 10_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
