/**
 * The ingest entry point every way in uses (`ImageReceiver.ingest`): a camera the caller has
 * authenticated sends a named file as a byte stream, with or without a declared type. Against a
 * real disk store in a temp folder.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ImageReceiver } from '../../src/core/receiver.js';
import { DiskStore } from '../../src/stores/disk.js';
import { SAMPLE_JPEG } from '../support/contract-cases.js';

const AT = new Date('2026-12-06T10:15:03.042Z');
const DAY = 'yard/2026/12/06';

/** A body that arrives in these parts. */
function chunks(...parts: Buffer[]): AsyncIterable<Uint8Array> {
  return Readable.from(parts);
}

describe('ImageReceiver.ingest', () => {
  let root: string;
  let store: DiskStore;
  let receiver: ImageReceiver;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-ingest-'));
    store = new DiskStore(path.join(root, 'images'));
    await store.open();
    receiver = new ImageReceiver({ store, maxBytes: 100_000, maxClipBytes: 1_000_000, clock: () => AT });
  });
  after(() => rm(root, { recursive: true, force: true }));

  const stored = async (): Promise<string[]> => {
    const keys: string[] = [];
    for await (const object of store.list(DAY)) keys.push(object.key);
    return keys.sort();
  };

  it('stores a file without a declared type by what its bytes are, under its folded, sanitised name', async () => {
    const outcome = await receiver.ingest({ camera: 'yard', filename: 'upload/2026/../snap shot.jpg', body: chunks(SAMPLE_JPEG.subarray(0, 100), SAMPLE_JPEG.subarray(100)) });
    assert.equal(outcome.status, 200, JSON.stringify(outcome.body));
    assert.deepEqual(outcome.body, { key: `${DAY}/upload_2026_snap_shot.jpg`, bytes: SAMPLE_JPEG.byteLength, camera: 'yard' });
    assert.deepEqual(await readFile(path.join(root, 'images', `${DAY}/upload_2026_snap_shot.jpg`)), SAMPLE_JPEG);
  });

  it('never overwrites: the same name again is stored beside the first', async () => {
    const outcome = await receiver.ingest({ camera: 'yard', filename: 'same.jpg', contentType: 'image/jpeg', body: chunks(SAMPLE_JPEG) });
    const again = await receiver.ingest({ camera: 'yard', filename: 'same.jpg', contentType: 'image/jpeg', body: chunks(SAMPLE_JPEG) });
    assert.equal(outcome.status, 200);
    assert.equal(again.status, 200);
    assert.notEqual((again.body as { key: string }).key, (outcome.body as { key: string }).key);
    assert.match((again.body as { key: string }).key, /^yard\/2026\/12\/06\/same-\d{9}\w+\.jpg$/);
  });

  it('refuses what is not an image, a declared type the bytes contradict, an empty file and an oversize one, storing nothing', async () => {
    const before = await stored();
    let pulled = false;
    const cases = [
      [await receiver.ingest({ camera: 'yard', filename: 'notes.txt', body: chunks(Buffer.from('hello, this is not an image at all')) }), 415, /not an image or clip of an accepted type/],
      [await receiver.ingest({ camera: 'yard', filename: 'a.png', contentType: 'image/png', body: chunks(SAMPLE_JPEG) }), 415, /says image\/png but the bytes are image\/jpeg/],
      [await receiver.ingest({ camera: 'yard', filename: 'a.gif', contentType: 'text/plain', body: chunks(SAMPLE_JPEG) }), 415, /"text\/plain" is not an accepted image or clip type/],
      [await receiver.ingest({ camera: 'yard', filename: 'empty.jpg', body: chunks() }), 400, /body is empty/],
      [await receiver.ingest({ camera: 'yard', filename: 'big.jpg', body: chunks(SAMPLE_JPEG, Buffer.alloc(100_000)) }), 413, /image is larger than this receiver accepts/],
      // Without a declared type it could be a clip, until its first bytes say it is an image.
      [await receiver.ingest({ camera: 'yard', filename: 'big.jpg', size: 200_000, body: chunks(SAMPLE_JPEG, Buffer.alloc(200_000 - SAMPLE_JPEG.length)) }), 413, /image is larger.*--max-bytes/],
      [
        await receiver.ingest({
          camera: 'yard',
          filename: 'announced.jpg',
          size: 2_000_000,
          body: {
            [Symbol.asyncIterator]: () => {
              pulled = true;
              return Readable.from([SAMPLE_JPEG])[Symbol.asyncIterator]();
            },
          },
        }),
        413,
        /larger/,
      ],
    ] as const;
    for (const [outcome, status, message] of cases) {
      assert.equal(outcome.status, status, JSON.stringify(outcome.body));
      assert.match((outcome.body as { message: string }).message, message);
      assert.equal(outcome.log.camera, 'yard');
    }
    assert.equal(pulled, false, 'a file announced over every limit is refused before a byte is read');
    assert.deepEqual(await stored(), before);
  });

  it('says what the runtime tells it to when a file is too large', async () => {
    const lambdaLike = new ImageReceiver({ store, maxBytes: 1000, maxClipBytes: 0, tooLargeMessage: (kind, max) => `Too large for this receiver (${kind}, ${max}): send it elsewhere.`, clock: () => AT });
    const outcome = await lambdaLike.ingest({ camera: 'yard', filename: 'big.jpg', body: chunks(SAMPLE_JPEG) });
    assert.equal(outcome.status, 413);
    assert.deepEqual(outcome.body, { message: 'Too large for this receiver (image, 1000): send it elsewhere.' });
  });
});
