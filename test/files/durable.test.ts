import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { createFileAtomically, writeFileAtomically } from '../../src/files/durable.js';

let folder: string;

beforeEach(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-durable-'));
});

afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('writeFileAtomically', () => {
  it('writes text or bytes, owner-only, into a folder it makes, and leaves no temporary file', async () => {
    const file = path.join(folder, 'made', 'deeper', 'doc.json');
    await writeFileAtomically(file, 'first');
    await writeFileAtomically(file, Uint8Array.from([0xff, 0xd8, 0xff]));
    assert.deepEqual(await readFile(file), Buffer.from([0xff, 0xd8, 0xff]));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(path.dirname(file)), ['doc.json']);
  });
});

describe('createFileAtomically', () => {
  it('creates a missing file, and leaves an existing one as it is', async () => {
    const file = path.join(folder, 'doc.json');
    assert.equal(await createFileAtomically(file, 'first'), true);
    assert.equal(await createFileAtomically(file, 'second'), false);
    assert.equal(await readFile(file, 'utf8'), 'first');
    assert.deepEqual(await readdir(folder), ['doc.json']);
  });
});
