/** The camera's virtual folder (src/file-transfer/virtual-folder.ts): no path leaves it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_PATH_LENGTH, absolute, ingestName, isTemporaryName, resolvePath } from '../../src/file-transfer/virtual-folder.js';

describe('resolvePath', () => {
  it('resolves relative paths from the current folder, absolute ones from the camera\'s root', () => {
    assert.deepEqual(resolvePath('snap.jpg', ['day']), ['day', 'snap.jpg']);
    assert.deepEqual(resolvePath('/snap.jpg', ['day']), ['snap.jpg']);
    assert.deepEqual(resolvePath('./a//b/./c.jpg'), ['a', 'b', 'c.jpg']);
    assert.deepEqual(resolvePath('', ['day']), ['day']);
  });

  it('never goes above the root, whatever the form: ../, absolute, backslashes, mixed', () => {
    assert.deepEqual(resolvePath('../../../../etc/passwd', ['day']), ['etc', 'passwd']);
    assert.deepEqual(resolvePath('/../../etc/passwd'), ['etc', 'passwd']);
    assert.deepEqual(resolvePath('..\\..\\windows\\win.ini', ['a', 'b']), ['windows', 'win.ini']);
    assert.deepEqual(resolvePath('\\\\server\\share\\x.jpg'), ['server', 'share', 'x.jpg']);
    assert.deepEqual(resolvePath('a/../../b/./../../c.jpg', ['x']), ['c.jpg']);
    assert.deepEqual(resolvePath('..', []), []);
  });

  it('refuses what cannot be a path: control characters, too long, too deep', () => {
    assert.equal(resolvePath('a\0b'), undefined);
    assert.equal(resolvePath('a\r\nDELE x'), undefined);
    assert.equal(resolvePath('x'.repeat(MAX_PATH_LENGTH + 1)), undefined);
    assert.equal(resolvePath('a/'.repeat(65)), undefined);
  });

  it('shows the path from the root, and hands the contract the folders with the name', () => {
    assert.equal(absolute([]), '/');
    assert.equal(absolute(['day', 'snap.jpg']), '/day/snap.jpg');
    assert.equal(ingestName(['day', 'snap.jpg']), 'day/snap.jpg');
  });
});

describe('isTemporaryName', () => {
  it('knows the names clients upload under before a rename', () => {
    for (const name of ['x.jpg.tmp', 'x.TMP', 'x.part', 'x.jpg.partial', 'x.filepart', 'x.upload', 'x.temp', '.in.x.jpg.', '.x.jpg.Ab12Cd', 'camera_tmp.jpg', 'tmp-0001.jpg', 'TMP_snap.jpg']) {
      assert.ok(isTemporaryName(['day', name]), name);
    }
  });

  it('takes final names for final names, temperature readings included', () => {
    for (const name of ['snap.jpg', 'image25-12-06_10-15-00-12_00001.jpg', 'temp_21C.jpg', 'attempt.jpg', 'tmpl.jpg', 'clip.mkv']) {
      assert.ok(!isTemporaryName(['day', name]), name);
    }
    assert.ok(!isTemporaryName([]));
  });
});
