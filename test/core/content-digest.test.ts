/**
 * The `Content-Digest` request header (RFC 9530) a client may send so the receiver checks the
 * bytes it stores: its sha-256 is read, anything the receiver cannot check is refused with 400.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';

import { announcedSha256 } from '../../src/core/content-digest.js';
import { UploadError } from '../../src/core/errors.js';

const digest = createHash('sha256').update('image bytes').digest();
const refusedWith = (pattern: RegExp) => (error: unknown) => error instanceof UploadError && error.status === 400 && pattern.test(error.message);

describe('announcedSha256', () => {
  it('is undefined without the header', () => {
    assert.equal(announcedSha256(undefined), undefined);
  });

  it('reads the sha-256 member as lowercase hex, beside other algorithms and parameters', () => {
    const sha256 = `sha-256=:${digest.toString('base64')}:`;
    assert.equal(announcedSha256(sha256), digest.toString('hex'));
    assert.equal(announcedSha256(`sha-512=:${Buffer.alloc(64, 7).toString('base64')}:, ${sha256};note=1`), digest.toString('hex'));
  });

  it('refuses a header that is not a structured dictionary', () => {
    assert.throws(() => announcedSha256('sha-256=:unterminated'), refusedWith(/not a valid digest field/));
    assert.throws(() => announcedSha256('SHA-256=:AAAA:'), refusedWith(/not a valid digest field/));
  });

  it('refuses a header without sha-256 rather than ignore it', () => {
    assert.throws(() => announcedSha256(`sha-512=:${Buffer.alloc(64).toString('base64')}:`), refusedWith(/has no sha-256 digest/));
  });

  it('refuses a sha-256 that is not a 32-byte byte sequence', () => {
    assert.throws(() => announcedSha256(`sha-256=:${digest.subarray(0, 16).toString('base64')}:`), refusedWith(/not a 32-byte byte sequence/));
    assert.throws(() => announcedSha256(`sha-256="${digest.toString('hex')}"`), refusedWith(/not a 32-byte byte sequence/));
  });
});
