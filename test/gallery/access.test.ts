import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GalleryAccess, generatePassword } from '../../src/gallery/access.js';
import { FileDocument } from '../../src/state/file-document.js';

describe('GalleryAccess', () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-access-'));
  });
  after(() => rm(folder, { recursive: true, force: true }));

  it('generates a password at the first start, shows it once and keeps only its scrypt hash', async () => {
    const file = path.join(folder, 'first', 'gallery.json');
    const first = await GalleryAccess.open({ document: file });
    assert.equal(first.source, 'generated');
    assert.match(first.generatedPassword!, /^[a-z2-9]{5}(-[a-z2-9]{5}){3}$/);

    const text = await readFile(file, 'utf8');
    assert.ok(!text.includes(first.generatedPassword!), 'the file does not hold the password');
    assert.match(text, /"algorithm": "scrypt"/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    const again = await GalleryAccess.open({ document: file });
    assert.equal(again.source, 'file');
    assert.equal(again.generatedPassword, undefined, 'shown once only');
    assert.equal(await again.access.verifyPassword(first.generatedPassword!), true);
    assert.equal(await again.access.verifyPassword(`${first.generatedPassword!}x`), false);
    assert.equal(await again.access.verifyPassword(''), false);
    // Both read the same session secret: a session of one is good at the other (several instances).
    assert.equal(again.access.validSession(first.access.issueSession()), true);
  });

  it('takes the password given instead, and ends every session when the password changes', async () => {
    const file = path.join(folder, 'given', 'gallery.json');
    const one = await GalleryAccess.open({ document: file, password: 'first password' });
    assert.equal(one.source, 'option');
    assert.equal(one.generatedPassword, undefined);
    assert.equal(await one.access.verifyPassword('first password'), true);
    assert.equal(await one.access.verifyPassword('first passwor'), false);
    const session = one.access.issueSession();

    const same = await GalleryAccess.open({ document: file, password: 'first password' });
    assert.equal(same.access.validSession(session), true);
    const changed = await GalleryAccess.open({ document: file, password: 'second password' });
    assert.equal(changed.access.validSession(session), false);
  });

  it('gallery password: a new password ends the sessions of every instance reading the document, at its next reload', async () => {
    const file = path.join(folder, 'shared', 'gallery.json');
    const [one, two] = await Promise.all([GalleryAccess.open({ document: file }), GalleryAccess.open({ document: file })]);
    // Of two first starts at once, one generated the password and the other reads it.
    assert.equal([one, two].filter((opened) => opened.generatedPassword !== undefined).length, 1);
    const password = (one.generatedPassword ?? two.generatedPassword)!;
    assert.equal(await two.access.verifyPassword(password), true);
    const session = one.access.issueSession();
    assert.equal(two.access.validSession(session), true);

    const replaced = await GalleryAccess.changePassword(new FileDocument(file));
    assert.notEqual(replaced, password);
    assert.equal(two.access.validSession(session), true, 'before its reload, an instance keeps what it read');
    await two.access.reload();
    assert.equal(two.access.validSession(session), false);
    assert.equal(await two.access.verifyPassword(password), false);
    assert.equal(await two.access.verifyPassword(replaced), true);
    assert.equal(two.access.validSession(two.access.issueSession()), true);
  });

  it('refuses passwords shorter than eight characters', async () => {
    await assert.rejects(GalleryAccess.open({ document: path.join(folder, 'short.json'), password: 'seven77' }), /at least 8 characters/);
  });

  it('accepts only untampered, unexpired sessions', async () => {
    let now = new Date('2026-11-23T10:00:00Z');
    const { access } = await GalleryAccess.open({ document: path.join(folder, 'sessions.json'), password: 'a good password', clock: () => now, sessionSeconds: 3600 });
    const session = access.issueSession();
    assert.equal(access.validSession(session), true);
    assert.equal(access.validSession(undefined), false);
    assert.equal(access.validSession(''), false);
    const [version, expires, nonce, mac] = session.split('.');
    assert.equal(access.validSession([version, Number(expires) + 3600, nonce, mac].join('.')), false, 'a later expiry');
    // The first character: the last one of a base64url MAC also carries padding bits, which decode to the same bytes.
    assert.equal(access.validSession([version, expires, nonce, `${mac!.startsWith('A') ? 'B' : 'A'}${mac!.slice(1)}`].join('.')), false, 'another MAC');
    now = new Date('2026-11-23T10:59:59Z');
    assert.equal(access.validSession(session), true);
    now = new Date('2026-11-23T11:00:01Z');
    assert.equal(access.validSession(session), false, 'expired');
  });

  it('explains a damaged file instead of starting with a new password', async () => {
    const file = path.join(folder, 'damaged.json');
    await writeFile(file, '{"version": 1, "sessionSecret": "short"}');
    await assert.rejects(GalleryAccess.open({ document: file }), /not valid \(sessionSecret\); fix it, or delete it/);
  });

  it('generates different passwords', () => {
    const passwords = new Set(Array.from({ length: 50 }, generatePassword));
    assert.equal(passwords.size, 50);
  });
});
