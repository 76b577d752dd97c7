import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { StoreFullError, StoreKeysTakenError } from '../../src/core/errors.js';
import { MAX_KEY_ATTEMPTS } from '../../src/core/store.js';
import { Spool } from '../../src/spool/spool.js';
import { MemoryBudget } from '../../src/stores/memory-budget.js';
import { bodyOf, bytesOf, failingBody, imageWrite, jpeg, sha256 } from '../stores/helpers.js';
import { onTmpfs } from '../support/tmpfs.js';

const folders: string[] = [];
after(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

async function newFolder(): Promise<string> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-spool-unit-'));
  folders.push(folder);
  return folder;
}

const metadata = { camera: 'yard', 'received-at': '2026-12-02T10:00:00.000Z' };
const image = (key: string, chunks: readonly Uint8Array[]): ReturnType<typeof imageWrite> => imageWrite(key, bodyOf(chunks), { metadata });

describe('Spool', () => {
  it('keeps an image with its facts across a restart, oldest first', async () => {
    const folder = await newFolder();
    const spool = new Spool({ folder, maxBytes: 1e9 });
    await spool.open();
    const body = jpeg(5000);
    const first = await spool.add(image('yard/a.jpg', [body.subarray(0, 100), body.subarray(100)]));
    const second = await spool.add(image('yard/b.jpg', [Buffer.from('second')]));
    assert.equal(first.sha256, sha256(body));
    assert.equal(first.size, body.length);
    assert.equal(first.receivedAt.toISOString(), metadata['received-at']);

    const reopened = new Spool({ folder, maxBytes: 1e9 });
    assert.deepEqual(await reopened.open(), { images: 2, bytes: body.length + 6, damaged: [] });
    const waiting = [...reopened.waiting()];
    assert.deepEqual(
      waiting.map((entry) => entry.key),
      ['yard/a.jpg', 'yard/b.jpg'],
    );
    assert.deepEqual({ ...waiting[0], file: '' }, { ...first, file: '' });
    assert.deepEqual(await bytesOf(await reopened.bodyOf(waiting[0]!)), body);
    assert.deepEqual(await bytesOf(await reopened.bodyOf(waiting[1]!)), Buffer.from('second'));
    assert.equal(reopened.find('yard/b.jpg')?.sha256, second.sha256);
    assert.deepEqual(
      waiting.map((entry) => entry.camera),
      ['yard', 'yard'],
    );
  });

  it('leaves nothing of an image whose body failed, and frees its key', async () => {
    const folder = await newFolder();
    const spool = new Spool({ folder, maxBytes: 1e9 });
    await spool.open();
    await assert.rejects(spool.add(imageWrite('yard/a.jpg', failingBody([Buffer.from('part')], new Error('connection reset')), { metadata })), /connection reset/);
    assert.deepEqual(await readdir(path.join(folder, 'incoming')), []);
    assert.deepEqual(await readdir(path.join(folder, 'ready')), []);
    assert.equal((await spool.add(image('yard/a.jpg', [Buffer.from('again')]))).key, 'yard/a.jpg');
  });

  it('moves files that are not complete images to damaged/ (never deletes them) and drops unacknowledged temporaries', async () => {
    const folder = await newFolder();
    const spool = new Spool({ folder, maxBytes: 1e9 });
    await spool.open();
    const kept = await spool.add(image('yard/kept.jpg', [Buffer.from('kept')]));
    const cut = await spool.add(image('yard/cut.jpg', [jpeg(5000)]));
    // A file cut short (as --no-fsync and a power cut can leave it), a stranger, a temporary file.
    await truncate(cut.file, 1000);
    await writeFile(path.join(folder, 'ready', 'zz-stranger.image'), 'not a spooled image');
    await writeFile(path.join(folder, 'incoming', 'interrupted.part'), 'half an upload');

    const reopened = new Spool({ folder, maxBytes: 1e9 });
    const recovery = await reopened.open();
    assert.equal(recovery.images, 1);
    assert.deepEqual(recovery.damaged.sort(), [path.basename(cut.file), 'zz-stranger.image'].sort());
    assert.deepEqual([...reopened.waiting()].map((entry) => entry.key), [kept.key]);
    assert.equal((await readFile(path.join(folder, 'damaged', path.basename(cut.file)))).length, 1000);
    assert.deepEqual(await readdir(path.join(folder, 'incoming')), []);
  });

  it('gives an image whose key another one waiting (or just forwarded) has an alternate key', async () => {
    const folder = await newFolder();
    const spool = new Spool({ folder, maxBytes: 1e9 });
    await spool.open();
    const first = await spool.add(image('yard/image.jpg', [Buffer.from('1')]));
    const write = image('yard/image.jpg', [Buffer.from('2')]);
    const second = await spool.add(write);
    assert.deepEqual([second.key], write.alternates);
    await spool.remove(first);
    assert.equal(spool.find('yard/image.jpg'), undefined);
    const again = image('yard/image.jpg', [Buffer.from('3')]);
    const third = await spool.add(again);
    assert.deepEqual([third.key], again.alternates, 'a key just forwarded is taken in the store');
  });

  it(`gives up with StoreKeysTakenError after ${MAX_KEY_ATTEMPTS} keys taken by images waiting, leaving nothing behind`, async () => {
    const folder = await newFolder();
    const spool = new Spool({ folder, maxBytes: 1e9 });
    await spool.open();
    await spool.add(image('yard/image.jpg', [Buffer.from('1')]));
    let alternates = 0;
    const write = { ...image('yard/image.jpg', [Buffer.from('2')]), alternateKey: () => (alternates++, 'yard/image.jpg') };

    await assert.rejects(spool.add(write), StoreKeysTakenError);

    assert.equal(alternates, MAX_KEY_ATTEMPTS - 1);
    assert.deepEqual([...spool.waiting()].map((entry) => entry.key), ['yard/image.jpg']);
    assert.deepEqual(await readdir(path.join(folder, 'incoming')), []);
  });

  it('rethrows the error its body failed with as it is, even one with an errno code', async () => {
    const folder = await newFolder();
    const spool = new Spool({ folder, maxBytes: 1e9 });
    await spool.open();
    const error = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read', path: '/somewhere/else' });

    await assert.rejects(spool.add(imageWrite('yard/a.jpg', failingBody([Buffer.from('part')], error), { metadata })), (thrown) => thrown === error);
    assert.deepEqual(await readdir(path.join(folder, 'ready')), []);
  });

  it('counts room by announced size, and by the largest image so far when none is announced', async () => {
    const folder = await newFolder();
    const spool = new Spool({ folder, maxBytes: 100 });
    await spool.open();
    assert.equal(spool.hasRoomFor(100), true);
    assert.equal(spool.hasRoomFor(101), false);
    await spool.add(image('yard/a.jpg', [Buffer.alloc(60)]));
    assert.equal(spool.hasRoomFor(40), true);
    assert.equal(spool.hasRoomFor(), false, 'another image like the largest does not fit');
  });

  it('reports a full filesystem as StoreFullError, and ENOSPC while writing too, leaving nothing behind', async (t) =>
    onTmpfs(t, path.join(await newFolder(), 'small'), '1m', async (mount) => {
      const spool = new Spool({ folder: mount, maxBytes: 1e9, minFreeBytes: 2 * 1024 * 1024 });
      await spool.open();
      await assert.rejects(spool.check(), StoreFullError);
      const roomy = new Spool({ folder: mount, maxBytes: 1e9, minFreeBytes: 0 });
      await roomy.open();
      await assert.rejects(roomy.add(image('yard/big.jpg', [jpeg(2 * 1024 * 1024)])), StoreFullError);
      assert.deepEqual(await readdir(path.join(mount, 'incoming')), []);
      assert.deepEqual(await readdir(path.join(mount, 'ready')), []);
    }));
});

describe('MemoryBudget', () => {
  it('grants reservations in order, whole, and never more than the budget at once', async () => {
    const budget = new MemoryBudget(10);
    const releaseA = await budget.reserve(6);
    const order: string[] = [];
    const b = budget.reserve(6).then((release) => (order.push('b'), release));
    const c = budget.reserve(2).then((release) => (order.push('c'), release));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, [], 'c waits behind b, though it would fit: first come, first served');
    assert.equal(budget.reservedBytes, 6);
    releaseA();
    const releaseB = await b;
    const releaseC = await c;
    assert.deepEqual(order, ['b', 'c']);
    assert.equal(budget.reservedBytes, 8);
    releaseB();
    releaseB();
    assert.equal(budget.reservedBytes, 2, 'a second release gives nothing back twice');
    releaseC();
    assert.equal(budget.reservedBytes, 0);
    const all = await budget.reserve(1000);
    assert.equal(budget.reservedBytes, 10, 'a reservation larger than the budget takes the whole budget');
    all();
  });
});
