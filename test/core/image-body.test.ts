/**
 * The SHA-256 of an image body: computed once, while the body streams to the store, and given both
 * to the store (the S3 store signs it) and to the camera in the receipt.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ImageBody } from '../../src/core/image-body.js';
import { ImageReceiver } from '../../src/core/receiver.js';
import type { ImageStore, ImageWrite } from '../../src/core/store.js';
import { bodyOf, bytesOf, chunked, jpeg, sha256 } from '../stores/helpers.js';

describe('ImageBody.sha256', () => {
  it('is the hash of the whole body, known as soon as the stream ends, the same on every call', async () => {
    const image = jpeg(100_000);
    const body = new ImageBody(bodyOf(chunked(image, 9)), image.length);
    await body.head(12);

    const read = await bytesOf(body.stream());

    assert.deepEqual(read, image);
    assert.equal(body.sha256(), sha256(image));
    assert.equal(body.sha256(), sha256(image), 'asked a second time');
  });

  it('is the hash of the whole body when the leading bytes read for the signature were all of it', async () => {
    const image = jpeg(10);
    const body = new ImageBody(bodyOf([image]), image.length);
    await body.head(12);

    await bytesOf(body.stream());

    assert.equal(body.sha256(), sha256(image));
  });

  it('throws while the body is not read to its end, and after it was cancelled', async () => {
    const image = jpeg(100_000);
    const body = new ImageBody(bodyOf(chunked(image, 4)), image.length);
    const stream = body.stream();

    assert.throws(() => body.sha256(), /only once the body was read to its end/);
    await stream.next();
    assert.throws(() => body.sha256(), /only once the body was read to its end/);
    await body.cancel();
    await bytesOf(stream);
    assert.throws(() => body.sha256(), /only once the body was read to its end/);
  });
});

describe('ImageReceiver and the SHA-256 of a body', () => {
  it('gives the store the hash it puts in the receipt, once the store read the body', async () => {
    const image = jpeg(300_000);
    const writes: Array<{ bytes: Buffer; sha256: string | undefined }> = [];
    const receiver = new ImageReceiver({
      tokens: { verify: (token) => Promise.resolve(token === 'secret' ? 'front-door' : undefined) },
      store: storeThatKeeps(async (written) => {
        writes.push({ bytes: await bytesOf(written.body), sha256: written.sha256?.() });
        return { key: written.key };
      }),
    });

    const outcome = await receiver.handle({
      method: 'POST',
      query: new URLSearchParams({ accessToken: 'secret' }),
      headers: { 'content-type': 'image/jpeg' },
      body: bodyOf(chunked(image, 5)),
    });

    assert.equal(outcome.status, 200);
    assert.equal(writes.length, 1);
    assert.deepEqual(writes[0]!.bytes, image);
    assert.equal(writes[0]!.sha256, sha256(image));
    assert.equal((outcome.body as { sha256: string }).sha256, sha256(image));
  });
});

/** A store whose writes go to `write`; nothing else is used here. */
function storeThatKeeps(write: (image: ImageWrite) => Promise<{ key: string }>): ImageStore {
  const unused = (): never => {
    throw new Error('not used by these tests');
  };
  return { location: 'test:', open: unused, write, list: unused, read: unused, check: unused, close: unused };
}
