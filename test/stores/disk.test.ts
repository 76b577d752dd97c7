import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, readFile, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { TestContext } from 'node:test';

import { StoreFullError, StoreUnavailableError } from '../../src/core/errors.js';
import { DiskStore } from '../../src/stores/disk.js';
import { bodyOf, bytesOf, chunked, imageWrite, jpeg, keysOf } from './helpers.js';
import { onTmpfs } from '../support/tmpfs.js';

/** Every file under `folder`, as paths relative to it. */
async function filesUnder(folder: string): Promise<string[]> {
  const files: string[] = [];
  for (const name of await readdir(folder, { recursive: true })) {
    if ((await stat(path.join(folder, name))).isFile()) files.push(name);
  }
  return files.sort();
}

let sandbox: string;
let root: string;
let store: DiskStore;

beforeEach(async () => {
  // The store's root is a folder inside the sandbox, so anything escaping it would be seen.
  sandbox = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-disk-'));
  root = path.join(sandbox, 'images');
  store = new DiskStore(root);
  await store.open();
});

afterEach(async () => {
  await store.close();
  await rm(sandbox, { recursive: true, force: true });
});

// What every store guarantees (no overwrite, listing, reading back, errors) is in guarantees.test.ts;
// here what only the disk store does.

describe('DiskStore writes', () => {
  it('stores an image as the file <root>/<key>, leaving nothing in .incoming', async () => {
    const image = jpeg(300_000);

    const { key } = await store.write(imageWrite('front-door/2024/05/06/snap.jpg', bodyOf(chunked(image, 37))));

    assert.equal(key, 'front-door/2024/05/06/snap.jpg');
    assert.deepEqual(await readFile(path.join(root, 'front-door', '2024', '05', '06', 'snap.jpg')), image);
    assert.deepEqual(await readdir(path.join(root, '.incoming')), []);
  });

  it('reads an object back with its size and a content type from its extension', async () => {
    const image = jpeg(5_000);
    const png = Buffer.from('\x89PNG\r\n\x1a\n-not-really', 'latin1');
    await store.write(imageWrite('cam/a.jpg', bodyOf([image])));
    await store.write(imageWrite('cam/b.PNG', bodyOf([png]), { contentType: 'image/png' }));
    await store.write(imageWrite('cam/c.bin', bodyOf([Buffer.from('x')]), { contentType: 'application/octet-stream' }));

    const jpegObject = await store.read('cam/a.jpg');
    const pngObject = await store.read('cam/b.PNG');
    const other = await store.read('cam/c.bin');

    assert.ok(jpegObject && pngObject && other);
    assert.equal(jpegObject.key, 'cam/a.jpg');
    assert.equal(jpegObject.size, image.length);
    assert.equal(jpegObject.contentType, 'image/jpeg');
    assert.deepEqual(await bytesOf(jpegObject.body), image);
    assert.equal(pngObject.contentType, 'image/png');
    assert.deepEqual(await bytesOf(pngObject.body), png);
    assert.equal(other.contentType, 'application/octet-stream');
    await bytesOf(other.body);
  });

  /**
   * The paths of the files fsynced (FileHandle sync or datasync) while `run` runs, read from
   * /proc/self/fd at the moment of each call.
   */
  async function fsyncedDuring(t: TestContext, run: () => Promise<unknown>): Promise<string[]> {
    const probe = await open(path.join(sandbox, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const synced: string[] = [];
    for (const method of ['sync', 'datasync'] as const) {
      const { value: original } = Object.getOwnPropertyDescriptor(prototype, method) as { value: (this: FileHandle) => Promise<void> };
      t.mock.method(prototype, method, async function (this: FileHandle): Promise<void> {
        synced.push(await readlink(`/proc/self/fd/${this.fd}`));
        return original.call(this);
      });
    }
    await run();
    t.mock.restoreAll();
    return synced;
  }

  it('fsyncs each image, then its folder (and a new folder\'s parent), before the write returns, unless told not to', async (t) => {
    const byDefault = new DiskStore(root);
    await byDefault.open();
    const synced = await fsyncedDuring(t, () => byDefault.write(imageWrite('cam/2024/a.jpg', bodyOf([jpeg(5_000)]))));

    assert.equal(byDefault.fsync, true);
    assert.match(synced[0]!, /\/\.incoming\/[^/]+\.part$/, 'the image, while still a temporary file');
    assert.deepEqual(synced.slice(1, -1).sort(), [root, path.join(root, 'cam')].sort(), 'the folders the new folders cam/ and cam/2024/ were made in');
    assert.equal(synced.at(-1), path.join(root, 'cam', '2024'), 'then the folder its name is in');

    const again = await fsyncedDuring(t, () => byDefault.write(imageWrite('cam/2024/c.jpg', bodyOf([jpeg(5_000)]))));
    assert.equal(again.length, 2, `into a folder there already: the image and its folder (${again.join(', ')})`);

    const unsynced = new DiskStore(root, undefined, { fsync: false });
    assert.deepEqual(await fsyncedDuring(t, () => unsynced.write(imageWrite('cam/2024/b.jpg', bodyOf([jpeg(5_000)])))), []);
  });

  it('without fsync still stores exact bytes (arriving faster than they are written), never overwriting', async () => {
    const unsynced = new DiskStore(root, undefined, { fsync: false });
    assert.equal(unsynced.fsync, false);
    const first = jpeg(3_000_000);
    const second = jpeg(1_000_000);
    await unsynced.write(imageWrite('cam/snap.jpg', bodyOf(chunked(first, 47))));
    const { key } = await unsynced.write(imageWrite('cam/snap.jpg', bodyOf(chunked(second, 400))));

    assert.notEqual(key, 'cam/snap.jpg');
    assert.deepEqual(await readFile(path.join(root, 'cam', 'snap.jpg')), first);
    assert.deepEqual(await readFile(path.join(root, ...key.split('/'))), second);
    assert.deepEqual(await readdir(path.join(root, '.incoming')), []);
  });

  it('refuses keys that would leave the root or reach a hidden folder, writing nothing', async () => {
    await writeFile(path.join(sandbox, 'secret.jpg'), 'outside');

    for (const key of ['../x.jpg', 'a/../../x.jpg', '..', '', '.hidden/x.jpg', '.incoming/x.jpg', 'cam/.x.jpg', 'a/./b.jpg']) {
      await assert.rejects(store.write(imageWrite(key, bodyOf([jpeg(100)]))), /outside the store/, JSON.stringify(key));
    }
    await assert.rejects(store.read('../secret.jpg'), /outside the store/);

    assert.deepEqual(await filesUnder(sandbox), ['secret.jpg']);
    assert.deepEqual(await readdir(root), ['.incoming']);
  });
});

describe('DiskStore listing', () => {
  it('lists neither its own dot-folders nor dot-files, whatever the prefix', async () => {
    for (const key of ['front/a.jpg', 'front.jpg']) await store.write(imageWrite(key, bodyOf([jpeg(100)])));
    await mkdir(path.join(root, '.images-to-s3'));
    await writeFile(path.join(root, '.images-to-s3', 'tokens.json'), '{}');
    await writeFile(path.join(root, '.incoming', 'left-over.part'), 'partial');
    await writeFile(path.join(root, 'front', '.hidden.jpg'), 'hidden');

    assert.deepEqual(await keysOf(store.list()), ['front.jpg', 'front/a.jpg']);
    assert.deepEqual(await keysOf(store.list('front/')), ['front/a.jpg']);
    assert.deepEqual(await keysOf(store.list('.images-to-s3/')), []);
    assert.deepEqual(await keysOf(store.list('.incoming')), []);
    assert.deepEqual(await store.listFolders(''), ['front']);
  });
});

describe('DiskStore open and check', () => {
  it('removes temporary files older than an hour on open, and keeps fresh ones', async () => {
    const incoming = path.join(root, '.incoming');
    await writeFile(path.join(incoming, 'stale.part'), 'crashed');
    await writeFile(path.join(incoming, 'fresh.part'), 'in progress');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(path.join(incoming, 'stale.part'), twoHoursAgo, twoHoursAgo);

    await new DiskStore(root).open();

    assert.deepEqual(await readdir(incoming), ['fresh.part']);
  });

  it('creates the root on open and reports it unavailable once it is gone', async () => {
    const fresh = new DiskStore(path.join(sandbox, 'new', 'images'));
    await fresh.open();
    await fresh.check();

    await rm(path.join(sandbox, 'new'), { recursive: true });

    await assert.rejects(fresh.check(), StoreUnavailableError);
  });
});


describe('DiskStore on a small real filesystem', () => {
  it('leaves no partial file on a full disk, and gives the space of the failed write back', (t) =>
    onTmpfs(t, path.join(sandbox, 'small'), '64k', async (mountPoint) => {
      const small = new DiskStore(mountPoint);
      await small.open();

      await assert.rejects(small.write(imageWrite('cam/big.jpg', bodyOf(chunked(jpeg(256 * 1024), 16)))), StoreFullError);

      assert.deepEqual(await filesUnder(mountPoint), []);
      // The space of the failed write is given back: a small image still fits.
      const image = jpeg(8 * 1024);
      const { key } = await small.write(imageWrite('cam/small.jpg', bodyOf([image])));
      assert.deepEqual(await readFile(path.join(mountPoint, ...key.split('/'))), image);
    }));

  it('reports a read-only filesystem as StoreUnavailableError', (t) =>
    onTmpfs(t, path.join(sandbox, 'readonly'), '64k', async (mountPoint) => {
      const readonly = new DiskStore(mountPoint);
      await readonly.open();
      execFileSync('mount', ['-o', 'remount,ro', mountPoint]);

      await assert.rejects(readonly.check(), StoreUnavailableError);
      await assert.rejects(readonly.write(imageWrite('cam/a.jpg', bodyOf([jpeg(100)]))), StoreUnavailableError);
    }));
});

describe('DiskStore retention', () => {
  const old = new Date(Date.now() - 10 * 24 * 60 * 60 * 1000);
  const cutoff = new Date(Date.now() - 24 * 60 * 60 * 1000);

  /** Writes `count` images under camera/2020/01/0N/ and makes them (and their folders) ten days old. */
  async function oldImages(count: number): Promise<string[]> {
    const keys: string[] = [];
    for (let i = 0; i < count; i++) {
      const { key } = await store.write(imageWrite(`yard/2020/01/0${1 + (i % 3)}/old-${i}.jpg`, bodyOf([jpeg(2_000)])));
      await utimes(path.join(root, ...key.split('/')), old, old);
      keys.push(key);
    }
    for (const day of ['01', '02', '03']) {
      for (const folder of [`yard/2020/01/${day}`, 'yard/2020/01', 'yard/2020']) await utimes(path.join(root, ...folder.split('/')), old, old).catch(() => undefined);
    }
    return keys;
  }

  it('removes images older than the cutoff, keeping newer ones', async () => {
    await oldImages(6);
    const { key: fresh } = await store.write(imageWrite('yard/2026/12/06/fresh.jpg', bodyOf([jpeg(2_000)])));
    assert.deepEqual(await store.removeOlderThan(cutoff), { removed: 6, bytes: 12_000 });
    assert.deepEqual(await keysOf(store.list()), [fresh]);
  });

  it('is safe when several receivers on one disk store run it at once, while images arrive in the folders it empties', async () => {
    await oldImages(30);
    // Three receivers' passes over the same folder, and uploads landing in the old day folders meanwhile.
    const others = [new DiskStore(root), new DiskStore(root)];
    for (const other of others) await other.open();
    const arriving = Array.from({ length: 12 }, (_, i) => store.write(imageWrite(`yard/2020/01/0${1 + (i % 3)}/late-${i}.jpg`, bodyOf([jpeg(1_000)]))));
    const passes = await Promise.all([store, ...others].map((each) => each.removeOlderThan(cutoff)));
    const late = await Promise.all(arriving);

    // Every old image removed exactly once between them, no pass failed, every new image kept.
    assert.equal(passes.reduce((sum, pass) => sum + pass.removed, 0), 30);
    assert.deepEqual((await keysOf(store.list())).sort(), late.map(({ key }) => key).sort());
    for (const { key } of late) assert.equal((await stat(path.join(root, ...key.split('/')))).size, 1_000);
  });
});
