import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { cameraNameFrom, isValidCameraName, MAX_CAMERA_NAME_LENGTH } from '../../src/core/camera-name.js';
import { sanitiseSegment } from '../../src/core/key-segment.js';

describe('isValidCameraName', () => {
  it('accepts names usable as a key prefix', () => {
    for (const name of ['a', '0', 'front-door', 'Cam_01.v2', 'x'.repeat(MAX_CAMERA_NAME_LENGTH)]) {
      assert.equal(isValidCameraName(name), true, name);
    }
  });

  it('rejects empty, too long, path-like and non-ASCII names', () => {
    for (const name of ['', '-front', '.', '..', '.hidden', '_x', 'a/b', 'a\\b', 'a b', 'front\n', 'kamera-ä', 'x'.repeat(MAX_CAMERA_NAME_LENGTH + 1)]) {
      assert.equal(isValidCameraName(name), false, JSON.stringify(name));
    }
    assert.equal(isValidCameraName(42), false);
  });

  it('a valid name is a key segment the sanitiser keeps, unless it folds repeated or trailing "_"', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }).map(cameraNameFrom), (name) => {
        if (name === '' || /__|_$/.test(name)) return;
        assert.equal(sanitiseSegment(name), name);
      }),
    );
  });
});

describe('cameraNameFrom', () => {
  it('makes a valid name from any text, or nothing', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        const name = cameraNameFrom(text);
        assert.ok(name === '' || isValidCameraName(name), JSON.stringify(name));
      }),
    );
  });

  it('keeps a valid name as it is, and replaces what the rule does not allow', () => {
    assert.equal(cameraNameFrom('front-door_2.v1'), 'front-door_2.v1');
    assert.equal(cameraNameFrom('fe80::1-8443'), 'fe80--1-8443');
    assert.equal(cameraNameFrom('..hidden cam'), 'hidden-cam');
    assert.equal(cameraNameFrom('./:'), '');
    assert.equal(cameraNameFrom('x'.repeat(100)), 'x'.repeat(MAX_CAMERA_NAME_LENGTH));
  });
});
