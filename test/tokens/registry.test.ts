import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';

import {
  DuplicateTokenError,
  generateToken,
  InvalidCameraNameError,
  InvalidTokenError,
  RegistryFileError,
  TOKEN_RULE,
  TokenRegistry,
} from '../../src/tokens/registry.js';
import { CAMERA_NAME_RULE } from '../../src/core/camera-name.js';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { DocumentUnreachableError } from '../../src/state/document.js';
import { FileDocument } from '../../src/state/file-document.js';

let directory: string;
let filePath: string;

beforeEach(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-tokens-'));
  filePath = path.join(directory, 'tokens.json');
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('generateToken', () => {
  it('produces 32 URL-safe alphanumeric characters, different each time', () => {
    const tokens = new Set(Array.from({ length: 200 }, generateToken));
    assert.equal(tokens.size, 200);
    for (const token of tokens) assert.match(token, /^[A-Za-z0-9]{32}$/);
  });
});

describe('TokenRegistry', () => {
  it('starts empty when the file does not exist, without creating it', async () => {
    const registry = new TokenRegistry(filePath);
    assert.deepEqual(await registry.list(), []);
    assert.equal(await registry.verify(generateToken()), undefined);
    assert.deepEqual(await registry.revoke('front-door'), []);
    await assert.rejects(stat(filePath), { code: 'ENOENT' });
  });

  it('creates, lists and verifies tokens', async () => {
    const registry = new TokenRegistry(filePath);
    const created = await registry.create('front-door');

    assert.match(created.id, /^tok_[0-9a-f]{10}$/);
    assert.equal(created.camera, 'front-door');
    assert.match(created.token, /^[A-Za-z0-9]{32}$/);
    assert.ok(!Number.isNaN(Date.parse(created.createdAt)));

    assert.deepEqual(await registry.list(), [
      { id: created.id, camera: 'front-door', createdAt: created.createdAt },
    ]);
    assert.equal(await registry.verify(created.token), 'front-door');
    assert.equal(await registry.verify(generateToken()), undefined);
    assert.equal(await registry.verify(''), undefined);
    assert.equal(await registry.verify(created.token.slice(0, -1)), undefined);
  });

  it('keeps only hashes at rest, in a 0600 file in a created directory', async () => {
    const nestedPath = path.join(directory, 'config', 'nested', 'tokens.json');
    const registry = new TokenRegistry(nestedPath);
    const created = await registry.create('front-door');

    const raw = await readFile(nestedPath, 'utf8');
    assert.ok(!raw.includes(created.token), 'the token must not be stored');
    const document = JSON.parse(raw) as { version: number; tokens: Array<Record<string, unknown>> };
    assert.equal(document.version, 1);
    assert.deepEqual(Object.keys(document.tokens[0] ?? {}).sort(), ['camera', 'createdAt', 'id', 'sha256']);
    assert.match(String(document.tokens[0]?.sha256), /^[0-9a-f]{64}$/);

    if (process.platform !== 'win32') {
      assert.equal((await stat(nestedPath)).mode & 0o777, 0o600);
    }
    // No temporary files left behind.
    assert.deepEqual(await readdir(path.dirname(nestedPath)), ['tokens.json']);
  });

  it('never returns tokens or hashes from list', async () => {
    const registry = new TokenRegistry(filePath);
    await registry.create('front-door');
    for (const entry of await registry.list()) {
      assert.deepEqual(Object.keys(entry).sort(), ['camera', 'createdAt', 'id']);
    }
  });

  it('keeps several tokens per camera valid at once (rotation)', async () => {
    const registry = new TokenRegistry(filePath);
    const old = await registry.create('front-door');
    const rotated = await registry.create('front-door');
    const other = await registry.create('back-yard');

    assert.notEqual(old.token, rotated.token);
    assert.equal(await registry.verify(old.token), 'front-door');
    assert.equal(await registry.verify(rotated.token), 'front-door');
    assert.equal(await registry.verify(other.token), 'back-yard');

    // Retire the old token only: the new one keeps working.
    const removed = await registry.revoke(old.id);
    assert.deepEqual(removed, [{ id: old.id, camera: 'front-door', createdAt: old.createdAt }]);
    assert.equal(await registry.verify(old.token), undefined);
    assert.equal(await registry.verify(rotated.token), 'front-door');
    assert.deepEqual(
      (await registry.list()).map((entry) => entry.id),
      [rotated.id, other.id],
    );
  });

  it('revokes all tokens of a camera by name', async () => {
    const registry = new TokenRegistry(filePath);
    const first = await registry.create('front-door');
    const second = await registry.create('front-door');
    const other = await registry.create('back-yard');

    const removed = await registry.revoke('front-door');
    assert.deepEqual(
      removed.map((entry) => entry.id),
      [first.id, second.id],
    );
    assert.equal(await registry.verify(first.token), undefined);
    assert.equal(await registry.verify(second.token), undefined);
    assert.equal(await registry.verify(other.token), 'back-yard');
    assert.deepEqual(await registry.revoke('front-door'), []);
    assert.deepEqual(await registry.revoke('tok_0000000000'), []);
  });

  it('lets a second instance with recheckMs 0 see revocations and new tokens at its next call', async () => {
    const cli = new TokenRegistry(filePath);
    const server = new TokenRegistry(filePath, { recheckMs: 0 });
    const created = await cli.create('front-door');
    assert.equal(await server.verify(created.token), 'front-door');

    await cli.revoke(created.id);
    assert.equal(await server.verify(created.token), undefined);

    const fresh = await cli.create('front-door');
    assert.equal(await server.verify(fresh.token), 'front-door');
  });

  it('checks the file at most once per recheckMs, so another process\'s revocation applies within it', async () => {
    const recheckMs = 300;
    const cli = new TokenRegistry(filePath);
    const server = new TokenRegistry(filePath, { recheckMs });
    const created = await cli.create('front-door');
    assert.equal(await server.verify(created.token), 'front-door');

    const revokedAt = performance.now();
    await cli.revoke(created.id);
    // Not checked again yet: what the last check found still holds (no stat per upload).
    assert.equal(await server.verify(created.token), 'front-door');
    await new Promise((resolve) => setTimeout(resolve, recheckMs - (performance.now() - revokedAt) + 20));
    assert.equal(await server.verify(created.token), undefined);
  });

  it('applies changes made through the same instance at once, whatever recheckMs', async () => {
    const registry = new TokenRegistry(filePath, { recheckMs: 60_000 });
    const created = await registry.create('front-door');
    assert.equal(await registry.verify(created.token), 'front-door');
    await registry.revoke(created.id);
    assert.equal(await registry.verify(created.token), undefined);
  });

  it('treats a file deleted under a running server as an empty registry', async () => {
    const cli = new TokenRegistry(filePath);
    const server = new TokenRegistry(filePath, { recheckMs: 0 });
    const created = await cli.create('front-door');
    assert.equal(await server.verify(created.token), 'front-door');

    await unlink(filePath);
    assert.equal(await server.verify(created.token), undefined);
  });

  it('registers an existing seed-style token', async () => {
    const registry = new TokenRegistry(filePath);
    // Secrets Manager style: 32 alphanumerics, like the AWS reference stack's shared token.
    const seed = 'q7Rk2ZpW9xLm4TvB8nYc3HdJ6sGf1AeU';
    const created = await registry.create('front-door', { token: seed });
    assert.equal(created.token, seed);
    assert.equal(await registry.verify(seed), 'front-door');

    const punctuated = 'abc.DEF_123~xyz-789';
    await registry.create('back-yard', { token: punctuated });
    assert.equal(await registry.verify(punctuated), 'back-yard');
    assert.ok(!(await readFile(filePath, 'utf8')).includes(seed));
  });

  it('refuses to register a token that is already registered', async () => {
    const registry = new TokenRegistry(filePath);
    const created = await registry.create('front-door');

    await assert.rejects(registry.create('back-yard', { token: created.token }), (error: unknown) => {
      assert.ok(error instanceof DuplicateTokenError);
      assert.match(error.message, new RegExp(created.id));
      assert.ok(!error.message.includes(created.token));
      return true;
    });
    assert.equal((await registry.list()).length, 1);
    assert.equal(await registry.verify(created.token), 'front-door');
  });

  it('rejects invalid camera names with the naming rule', async () => {
    const registry = new TokenRegistry(filePath);
    for (const camera of ['', '../etc', 'a/b', 'x'.repeat(64)]) {
      await assert.rejects(registry.create(camera), (error: unknown) => {
        assert.ok(error instanceof InvalidCameraNameError);
        assert.ok(error.message.includes(CAMERA_NAME_RULE));
        assert.ok(error.message.includes(JSON.stringify(camera)));
        return true;
      });
    }
    await assert.rejects(stat(filePath), { code: 'ENOENT' });
  });

  it('rejects invalid user-supplied tokens without echoing them', async () => {
    const registry = new TokenRegistry(filePath);
    const invalid = [
      'x'.repeat(15),
      'x'.repeat(257),
      'abcdefgh12345678&other=1',
      'abcdefgh 12345678',
      'abcdefgh+12345678/',
      'abcdefgh12345678ä',
    ];
    for (const token of invalid) {
      await assert.rejects(registry.create('front-door', { token }), (error: unknown) => {
        assert.ok(error instanceof InvalidTokenError);
        assert.ok(error.message.includes(TOKEN_RULE));
        assert.ok(!error.message.includes(token));
        return true;
      });
    }
    assert.deepEqual(await registry.list(), []);
  });

  it('reports a corrupt file by name and never overwrites it', async () => {
    const corruptions = [
      '{"version": 1, "tokens": [',
      '[]',
      '{"version": 2, "tokens": []}',
      '{"version": 1}',
      '{"version": 1, "tokens": [{"id": "tok_0123456789", "camera": "front-door", "createdAt": "2025-01-01T00:00:00.000Z"}]}',
    ];
    for (const content of corruptions) {
      await writeFile(filePath, content);
      const registry = new TokenRegistry(filePath);
      const namesFile = (error: unknown): boolean => {
        assert.ok(error instanceof RegistryFileError);
        assert.equal(error.filePath, filePath);
        assert.ok(error.message.includes(filePath));
        return true;
      };
      await assert.rejects(registry.list(), namesFile);
      await assert.rejects(registry.verify(generateToken()), namesFile);
      await assert.rejects(registry.create('front-door'), namesFile);
      await assert.rejects(registry.revoke('front-door'), namesFile);
      assert.equal(await readFile(filePath, 'utf8'), content);
    }
  });

  it('fails verification loudly when a loaded file becomes corrupt', async () => {
    const registry = new TokenRegistry(filePath, { recheckMs: 0 });
    const created = await registry.create('front-door');
    assert.equal(await registry.verify(created.token), 'front-door');

    await writeFile(filePath, 'garbage that is not JSON');
    await assert.rejects(registry.verify(created.token), RegistryFileError);
  });

  it('keeps every entry when creates run concurrently', async () => {
    const registry = new TokenRegistry(filePath);
    const other = new TokenRegistry(filePath);
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? registry : other).create(`camera-${i % 5}`)),
    );

    const listed = await registry.list();
    assert.equal(listed.length, 20);
    assert.deepEqual(
      new Set(listed.map((entry) => entry.id)),
      new Set(created.map((entry) => entry.id)),
    );
    for (const entry of created) assert.equal(await other.verify(entry.token), entry.camera);
    assert.deepEqual(await readdir(directory), ['tokens.json']);
  });

  it('keeps every change when creates and revokes interleave', async () => {
    const registry = new TokenRegistry(filePath);
    const doomed = await registry.create('old-camera');
    const [, revoked, kept] = await Promise.all([
      registry.create('front-door'),
      registry.revoke('old-camera'),
      registry.create('back-yard'),
    ]);
    assert.deepEqual(
      revoked.map((entry) => entry.id),
      [doomed.id],
    );
    assert.equal(await registry.verify(doomed.token), undefined);
    assert.equal(await registry.verify(kept.token), 'back-yard');
    assert.deepEqual((await registry.list()).map((entry) => entry.camera).sort(), ['back-yard', 'front-door']);
  });
});

describe('TokenRegistry.watch (what serve does)', () => {
  /** The registry file, behind a switch that makes it unreachable as a remote store can be. */
  class SwitchableDocument extends FileDocument {
    reachable = true;
    reads = 0;
    override read(): ReturnType<FileDocument['read']> {
      this.reads++;
      return this.reachable ? super.read() : Promise.reject(new DocumentUnreachableError(this.location, 'switched off'));
    }
    override readIfChanged(tag: string | undefined): ReturnType<FileDocument['readIfChanged']> {
      this.reads++;
      return this.reachable ? super.readIfChanged(tag) : Promise.reject(new DocumentUnreachableError(this.location, 'switched off'));
    }
  }

  it('sees another process\'s revocation within recheckMs without being asked, and a new token at once', async () => {
    const cli = new TokenRegistry(filePath);
    const old = await cli.create('front-door');
    const document = new SwitchableDocument(filePath);
    const served = new TokenRegistry(document, { recheckMs: 1_000 });
    const watch = await served.watch(() => undefined);
    try {
      assert.equal(await served.verify(old.token), 'front-door');
      // Created elsewhere right after the watch's last look: found by the look it takes before refusing.
      const fresh = await cli.create('back-yard');
      assert.equal(await served.verify(fresh.token), 'back-yard');
      // Unknown tokens share those looks: at most one per 250 ms, however many arrive.
      const readsBeforeUnknown = document.reads;
      await Promise.all(Array.from({ length: 20 }, () => served.verify(generateToken())));
      assert.ok(document.reads - readsBeforeUnknown <= 2, `${document.reads - readsBeforeUnknown} reads for 20 unknown tokens`);
      assert.deepEqual((await served.cameras()).sort(), ['back-yard', 'front-door']);

      await cli.revoke('front-door');
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const readsBefore = document.reads;
      assert.equal(await served.verify(fresh.token), 'back-yard');
      assert.equal(document.reads, readsBefore, 'a known token is checked against what the watch read, without a read of its own');
      assert.equal(await served.verify(old.token), undefined);
    } finally {
      watch.stop();
    }
  });

  it('keeps the tokens read last while the backend is unreachable, says so, and fails loudly on a malformed document', async () => {
    const created = await new TokenRegistry(filePath).create('front-door');
    const document = new SwitchableDocument(filePath);
    const troubles: Array<{ usingLastRead: boolean } | undefined> = [];
    const served = new TokenRegistry(document, { recheckMs: 50 });
    const watch = await served.watch((trouble) => troubles.push(trouble && { usingLastRead: trouble.usingLastRead }));
    try {
      document.reachable = false;
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(troubles.some((trouble) => trouble?.usingLastRead === true));
      assert.equal(await served.verify(created.token), 'front-door');

      document.reachable = true;
      await writeFile(filePath, 'not JSON');
      await new Promise((resolve) => setTimeout(resolve, 200));
      await assert.rejects(served.verify(created.token), RegistryFileError);
    } finally {
      watch.stop();
    }
  });

  it('refuses with 503 (StoreUnavailableError) when it has never read the registry', async () => {
    const document = new SwitchableDocument(filePath);
    document.reachable = false;
    const served = new TokenRegistry(document, { recheckMs: 50 });
    const watch = await served.watch(() => undefined);
    try {
      await assert.rejects(served.verify(generateToken()), (error: unknown) => error instanceof StoreUnavailableError && error.status === 503);
    } finally {
      watch.stop();
    }
  });
});
