import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

/** The part of s3rver's API the tests use. */
export interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export interface S3rverOptions {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
}

// s3rver 3.7.1 is CommonJS without type declarations.
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: S3rverOptions) => S3rverInstance;

/** The credentials s3rver accepts (and the only ones). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Starts s3rver on 127.0.0.1 (port 0 picks a free one), serving `directory`. */
export async function startS3rver(directory: string, port = 0): Promise<{ server: S3rverInstance; port: number; endpoint: string }> {
  const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory });
  const address = await server.run();
  return { server, port: address.port, endpoint: `http://127.0.0.1:${address.port}` };
}
