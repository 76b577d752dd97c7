/**
 * The SHA-256 of an image body: computed only when the store needs it (the S3 store signs it) or the
 * client sent a `Content-Digest` to check, once, while the body streams to the store; given to the
 * store and put in the receipt.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { UploadError } from '../../src/core/errors.js';
import { ImageBody } from '../../src/core/image-body.js';
import { ImageReceiver } from '../../src/core/receiver.js';
import type { ImageStore, ImageWrite } from '../../src/core/store.js';
import { bodyOf, bytesOf, chunked, jpeg, sha256 } from '../stores/helpers.js';

describe('ImageBody.sha256', () => {
  it('is the hash of the whole body, known as soon as the stream ends, the same on every call', async () => {
    const image = jpeg(100_000);
    const body = new ImageBody(bodyOf(chunked(image, 9)), image.length, { sha256: true });
    await body.head(12);

    const read = await bytesOf(body.stream());

    assert.deepEqual(read, image);
    assert.equal(body.sha256(), sha256(image));
    assert.equal(body.sha256(), sha256(image), 'asked a second time');
  });

  it('is the hash of the whole body when the leading bytes read for the signature were all of it', async () => {
    const image = jpeg(10);
    const body = new ImageBody(bodyOf([image]), image.length, { sha256: true });
    await body.head(12);

    await bytesOf(body.stream());

    assert.equal(body.sha256(), sha256(image));
  });

  it('throws while the body is not read to its end, and after it was cancelled', async () => {
    const image = jpeg(100_000);
    const body = new ImageBody(bodyOf(chunked(image, 4)), image.length, { sha256: true });
    const stream = body.stream();

    assert.throws(() => body.sha256(), /only once the body was read to its end/);
    await stream.next();
    assert.throws(() => body.sha256(), /only once the body was read to its end/);
    await body.cancel();
    await bytesOf(stream);
    assert.throws(() => body.sha256(), /only once the body was read to its end/);
  });

  it('is not computed unless asked for', async () => {
    const image = jpeg(1_000);
    const body = new ImageBody(bodyOf([image]), image.length);

    assert.deepEqual(await bytesOf(body.stream()), image);
    assert.throws(() => body.sha256(), /not hashed/);
  });
});

describe('ImageBody with an expected SHA-256', () => {
  it('passes a body that has it', async () => {
    const image = jpeg(100_000);
    const body = new ImageBody(bodyOf(chunked(image, 6)), image.length, { sha256: false, expectedSha256: sha256(image) });

    assert.deepEqual(await bytesOf(body.stream()), image);
    assert.equal(body.sha256(), sha256(image));
  });

  it('fails a body that has another with 400 after its last byte, before the reader sees the end', async () => {
    const image = jpeg(100_000);
    const body = new ImageBody(bodyOf(chunked(image, 6)), image.length, { sha256: false, expectedSha256: sha256(Buffer.from('other')) });
    let passed = 0;

    await assert.rejects(
      async () => {
        for await (const chunk of body.stream()) passed += chunk.byteLength;
      },
      (error: unknown) => error instanceof UploadError && error.status === 400 && /does not match its Content-Digest/.test(error.message),
    );
    assert.equal(passed, image.length);
  });
});

describe('ImageReceiver and the SHA-256 of a body', () => {
  it('gives a store that needs it the hash it puts in the receipt, once the store read the body', async () => {
    const image = jpeg(300_000);

    const { outcome, writes } = await uploadThrough(storeThatKeeps(true), image);

    assert.equal(outcome.status, 200);
    assert.equal(writes.length, 1);
    assert.deepEqual(writes[0]!.bytes, image);
    assert.equal(writes[0]!.sha256, sha256(image));
    assert.equal((outcome.body as { sha256: string }).sha256, sha256(image));
  });

  it('does not hash for a store that needs no hash, and leaves the hash out of the receipt', async () => {
    const { outcome, writes } = await uploadThrough(storeThatKeeps(false), jpeg(300_000));

    assert.equal(outcome.status, 200);
    assert.equal(writes[0]!.hashGiven, false, 'the store was given a hash');
    assert.deepEqual(Object.keys(outcome.body), ['key', 'bytes', 'camera']);
  });

  it('hashes, checks and reports the body of a request with a Content-Digest for any store', async () => {
    const image = jpeg(300_000);
    const digest = `sha-256=:${Buffer.from(sha256(image), 'hex').toString('base64')}:`;

    const { outcome, writes } = await uploadThrough(storeThatKeeps(false), image, { 'content-digest': digest });

    assert.equal(outcome.status, 200);
    assert.deepEqual(writes.map((write) => write.sha256), [sha256(image)]);
    assert.equal((outcome.body as { sha256: string }).sha256, sha256(image));
  });
});

/** What a {@link storeThatKeeps} store was given: the bytes, then (once they were read) the hash, if any. */
interface KeptWrite {
  bytes: Buffer;
  hashGiven: boolean;
  sha256: string | undefined;
}

/** POSTs `image` with a valid token (and `headers`) through a receiver on `store`. */
async function uploadThrough(store: ImageStore & { writes: KeptWrite[] }, image: Buffer, headers: Record<string, string> = {}) {
  const receiver = new ImageReceiver({ tokens: { verify: (token) => Promise.resolve(token === 'secret' ? 'front-door' : undefined) }, store });
  const outcome = await receiver.handle({
    method: 'POST',
    query: new URLSearchParams({ accessToken: 'secret' }),
    headers: { 'content-type': 'image/jpeg', ...headers },
    body: bodyOf(chunked(image, 5)),
  });
  return { outcome, writes: store.writes };
}

/** A store that reads each body to its end and keeps what it was given; nothing else is used here. */
function storeThatKeeps(needsSha256: boolean): ImageStore & { writes: KeptWrite[] } {
  const unused = (): never => {
    throw new Error('not used by these tests');
  };
  const writes: KeptWrite[] = [];
  const write = async (image: ImageWrite): Promise<{ key: string }> => {
    const bytes = await bytesOf(image.body);
    writes.push({ bytes, hashGiven: 'sha256' in image, sha256: image.sha256?.() });
    return { key: image.key };
  };
  return { location: 'test:', needsSha256, writes, open: unused, write, list: unused, read: unused, check: unused, close: unused };
}
