import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';

import {
  chooseDigestChallenge,
  digestAuthorization,
  digestResponse,
  DigestSession,
  parseAuthenticateHeader,
  toDigestChallenge,
} from '../../src/camera/vapix/digest.js';
import type { DigestChallenge } from '../../src/camera/vapix/digest.js';

/** Splits an Authorization header into its parameters (values unquoted). */
function fieldsOf(header: string): Map<string, string> {
  assert.match(header, /^Digest /);
  const fields = new Map<string, string>();
  for (const match of header.slice(7).matchAll(/([a-zA-Z*]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g)) {
    fields.set(match[1] as string, match[2] ?? (match[3] as string));
  }
  return fields;
}

// RFC 7616 §3.9.1: the same challenge with SHA-256 and with MD5.
const RFC_391_HEADERS = [
  'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
  'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
];
const RFC_391 = {
  credentials: { username: 'Mufasa', password: 'Circle of Life' },
  method: 'GET',
  uri: '/dir/index.html',
  nc: 1,
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
};

describe('Digest against the RFC 7616 examples', () => {
  it('§3.9.1 with SHA-256 and with MD5: the exact response values of the RFC', () => {
    const challenges = parseAuthenticateHeader(RFC_391_HEADERS);
    const [sha256, md5] = challenges.map(toDigestChallenge) as [DigestChallenge, DigestChallenge];
    assert.equal(sha256.algorithm, 'SHA-256');
    assert.equal(md5.algorithm, 'MD5');

    assert.equal(digestResponse({ ...RFC_391, challenge: sha256 }), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
    assert.equal(digestResponse({ ...RFC_391, challenge: md5 }), '8ca523f5e9506fed4657c9700eebdbec');

    const header = fieldsOf(digestAuthorization({ ...RFC_391, challenge: sha256 }));
    assert.deepEqual(Object.fromEntries(header), {
      username: 'Mufasa',
      realm: 'http-auth@example.org',
      uri: '/dir/index.html',
      algorithm: 'SHA-256',
      nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
      nc: '00000001',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
      qop: 'auth',
      response: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
      opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
    });
  });

  it('picks SHA-256 over MD5 when a server offers both (RFC 7616 §3.7)', () => {
    assert.equal(chooseDigestChallenge(parseAuthenticateHeader([...RFC_391_HEADERS].reverse()))?.algorithm, 'SHA-256');
  });

  it('§3.9.2 SHA-512-256 with userhash and a UTF-8 user name (values as corrected by erratum 4897)', () => {
    const [challenge] = parseAuthenticateHeader(
      'Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", ' +
        'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true',
    ).map(toDigestChallenge) as [DigestChallenge];
    const input = {
      challenge,
      credentials: { username: 'J\u00e4s\u00f8n Doe', password: 'Secret, or not?' },
      method: 'GET',
      uri: '/doe.json',
      nc: 1,
      cnonce: 'NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v',
    };
    const header = fieldsOf(digestAuthorization(input));
    assert.equal(header.get('username'), '793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b');
    assert.equal(header.get('response'), '3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5');
    assert.equal(header.get('userhash'), 'true');
    assert.equal(header.get('algorithm'), 'SHA-512-256');

    // Without userhash the same name travels as username* (RFC 7616 §3.4.4 / RFC 8187).
    const plain = fieldsOf(digestAuthorization({ ...input, challenge: { ...challenge, userhash: false } }));
    assert.equal(plain.get('username*'), "UTF-8''J%C3%A4s%C3%B8n%20Doe");
    assert.equal(plain.has('username'), false);
  });
});

describe('parseAuthenticateHeader', () => {
  it('splits several challenges in one header, keeping commas and escapes inside quoted values', () => {
    const challenges = parseAuthenticateHeader(
      'Digest realm="a, \\"quoted\\" realm", domain="/x /y", nonce=abc, qop="auth,auth-int", Basic realm="b", Negotiate dG9rZW4=, Bearer',
    );
    assert.deepEqual(challenges, [
      { scheme: 'Digest', params: { realm: 'a, "quoted" realm', domain: '/x /y', nonce: 'abc', qop: 'auth,auth-int' } },
      { scheme: 'Basic', params: { realm: 'b' } },
      { scheme: 'Negotiate', params: {}, token68: 'dG9rZW4=' },
      { scheme: 'Bearer', params: {} },
    ]);
  });

  it('reads parameter names case-insensitively, with spaces around "="', () => {
    const [challenge] = parseAuthenticateHeader('DIGEST Realm = "r" , NONCE="n", Algorithm=md5, QOP="auth", Stale=TRUE');
    const digest = toDigestChallenge(challenge as never);
    assert.deepEqual(digest, { realm: 'r', nonce: 'n', algorithm: 'MD5', algorithmNamed: true, qop: 'auth', stale: true, userhash: false });
  });

  it('refuses what it cannot answer: unknown algorithms, auth-int only, missing nonce', () => {
    assert.equal(chooseDigestChallenge(parseAuthenticateHeader('Digest realm="r", nonce="n", algorithm=SHA-1, qop="auth"')), undefined);
    assert.equal(chooseDigestChallenge(parseAuthenticateHeader('Digest realm="r", nonce="n", qop="auth-int"')), undefined);
    assert.equal(chooseDigestChallenge(parseAuthenticateHeader('Digest realm="r", qop="auth"')), undefined);
    assert.equal(chooseDigestChallenge(parseAuthenticateHeader('Basic realm="r"')), undefined);
  });
});

describe('digestResponse', () => {
  it('computes -sess variants with H(H(user:realm:password):nonce:cnonce) as HA1', () => {
    const h = (data: string): string => createHash('sha256').update(data).digest('hex');
    const challenge: DigestChallenge = { realm: 'cam', nonce: 'n0', algorithm: 'SHA-256-sess', algorithmNamed: true, qop: 'auth', stale: false, userhash: false };
    const ha1 = h(`${h('root:cam:pw')}:n0:c0`);
    const expected = h(`${ha1}:n0:0000000a:c0:auth:${h('POST:/vapix/services')}`);
    assert.equal(digestResponse({ challenge, credentials: { username: 'root', password: 'pw' }, method: 'POST', uri: '/vapix/services', nc: 10, cnonce: 'c0' }), expected);
  });

  it('answers an RFC 2069 server (no qop) without nc and cnonce, and without naming an algorithm it did not name', () => {
    const [challenge] = parseAuthenticateHeader('Digest realm="cam", nonce="n"').map(toDigestChallenge) as [DigestChallenge];
    const md5 = (data: string): string => createHash('md5').update(data).digest('hex');
    const header = fieldsOf(digestAuthorization({ challenge, credentials: { username: 'root', password: 'pw' }, method: 'POST', uri: '/x', nc: 1, cnonce: 'c' }));
    assert.equal(header.get('response'), md5(`${md5('root:cam:pw')}:n:${md5('POST:/x')}`));
    assert.deepEqual([...header.keys()].sort(), ['nonce', 'realm', 'response', 'uri', 'username']);
  });

  it('escapes quotes and backslashes in the user name', () => {
    const challenge: DigestChallenge = { realm: 'cam', nonce: 'n', algorithm: 'MD5', algorithmNamed: true, qop: 'auth', stale: false, userhash: false };
    const header = digestAuthorization({ challenge, credentials: { username: 'we"ird\\user', password: 'p' }, method: 'GET', uri: '/', nc: 1, cnonce: 'c' });
    assert.match(header, /username="we\\"ird\\\\user"/);
  });
});

describe('DigestSession', () => {
  it('counts nonces 1, 2, 3 … with a fresh cnonce each time, even for requests made at once', async () => {
    const challenge: DigestChallenge = { realm: 'cam', nonce: 'n', algorithm: 'SHA-256', algorithmNamed: true, qop: 'auth', stale: false, userhash: false };
    const session = new DigestSession(challenge, { username: 'root', password: 'pw' });
    const headers = await Promise.all(Array.from({ length: 20 }, () => Promise.resolve().then(() => session.authorize('POST', '/vapix/services'))));
    const counts = headers.map((header) => fieldsOf(header).get('nc'));
    assert.deepEqual(counts, Array.from({ length: 20 }, (_, index) => (index + 1).toString(16).padStart(8, '0')));
    assert.equal(new Set(headers.map((header) => fieldsOf(header).get('cnonce'))).size, 20);
    assert.equal(session.nonceCount, 20);
  });
});
