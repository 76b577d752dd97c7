import { createHash, randomBytes } from 'node:crypto';

import { alternateKey } from '../../src/core/object-key.js';
import type { ImageWrite } from '../../src/core/store.js';

/** A JPEG-looking image of `size` bytes (random after the signature, so no two are alike). */
export function jpeg(size: number): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(size - 4)]);
}

/** `bytes` cut into `count` chunks of about the same size, as a request body arrives. */
export function chunked(bytes: Buffer, count: number): Buffer[] {
  const size = Math.ceil(bytes.length / count);
  return Array.from({ length: count }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
}

export async function* bodyOf(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) {
    await Promise.resolve();
    yield chunk;
  }
}

/** A body that delivers `chunks`, then fails with `error` as a broken connection does. */
export async function* failingBody(chunks: readonly Uint8Array[], error: Error): AsyncGenerator<Uint8Array> {
  yield* bodyOf(chunks);
  throw error;
}

export const RECEIVED_AT = new Date('2024-05-06T07:08:09.123Z');

/** What the receiver hands a store; the alternate keys handed out are recorded. */
export function imageWrite(
  key: string,
  body: AsyncIterable<Uint8Array>,
  { contentType = 'image/jpeg', metadata = { camera: 'front-door' } }: { contentType?: string; metadata?: Record<string, string> } = {},
): ImageWrite & { alternates: string[] } {
  const alternates: string[] = [];
  return {
    key,
    alternateKey: () => {
      const next = alternateKey(key, RECEIVED_AT);
      alternates.push(next);
      return next;
    },
    body,
    contentType,
    metadata,
    alternates,
  };
}

export async function bytesOf(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function keysOf(objects: AsyncIterable<{ key: string }>): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of objects) keys.push(object.key);
  return keys;
}
