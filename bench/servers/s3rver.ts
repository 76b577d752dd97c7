/**
 * The local S3-protocol server of S2: s3rver in a process of its own (so that neither the receiver
 * nor the load generator shares its event loop), serving `<folder>` with one bucket.
 *
 * Usage: s3rver.ts <folder> <bucket> [port]; prints `listening <port>` once it listens on 127.0.0.1
 * (on `port` when given, e.g. one reserved for a store that comes up only later; any free one otherwise).
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
const [folder, bucket, port] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4] ?? 0)];
const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory: folder, configureBuckets: [{ name: bucket }] });
const address = await server.run();
process.stdout.write(`listening ${address.port}\n`);
process.on('SIGTERM', () => void server.close().finally(() => process.exit(0)));
