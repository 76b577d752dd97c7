/**
 * HTTP Digest access authentication, client side (RFC 7616), as Axis cameras require it for
 * VAPIX: MD5, SHA-256 and SHA-512-256 (and their `-sess` variants), `qop=auth`, nonce
 * counting, `userhash`, and `username*` for names that are not plain ASCII.
 *
 * Written here rather than taken from npm: the package that exists for this (digest-fetch)
 * takes the algorithm from client options instead of the challenge, strips spaces from quoted
 * values, keeps one mutable nonce and counter for all concurrent requests, retries whatever
 * the server says (no `stale` handling) and has no `userhash` or `username*`.
 *
 * @module
 */

import { createHash, randomBytes } from 'node:crypto';

/** The algorithms of RFC 7616 §6.1, strongest first. */
export const DIGEST_ALGORITHMS = ['SHA-512-256', 'SHA-512-256-sess', 'SHA-256', 'SHA-256-sess', 'MD5', 'MD5-sess'] as const;

/** A Digest algorithm this client can compute. */
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

const NODE_HASH: Record<DigestAlgorithm, string> = {
  MD5: 'md5',
  'MD5-sess': 'md5',
  'SHA-256': 'sha256',
  'SHA-256-sess': 'sha256',
  'SHA-512-256': 'sha512-256',
  'SHA-512-256-sess': 'sha512-256',
};

/** One challenge of a `WWW-Authenticate` header: a scheme and its parameters. */
export interface AuthChallenge {
  /** As sent, e.g. `Digest` or `Basic`; compare case-insensitively. */
  scheme: string;
  /** Parameter names lower-cased, quoted values unescaped. */
  params: Record<string, string>;
  /** The token68 form (`Negotiate abc==`), when the challenge has one instead of parameters. */
  token68?: string;
}

/** A Digest challenge this client can answer. */
export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: DigestAlgorithm;
  /** Whether the server named the algorithm; if not, MD5 is implied and none is sent back. */
  algorithmNamed: boolean;
  /** `auth`, or `undefined` for an RFC 2069 server that offers no qop. */
  qop: 'auth' | undefined;
  /** The server says the previous nonce merely expired: retry without asking for credentials. */
  stale: boolean;
  /** Send `H(username:realm)` instead of the user name (RFC 7616 §3.4.4). */
  userhash: boolean;
}

/** The user name and password a Digest response proves knowledge of. */
export interface DigestCredentials {
  username: string;
  password: string;
}

/** Everything one `Authorization` header is computed from. */
export interface DigestResponseInput {
  challenge: DigestChallenge;
  credentials: DigestCredentials;
  /** The request method, e.g. `POST`. */
  method: string;
  /** The request-target exactly as sent on the request line, e.g. `/vapix/services`. */
  uri: string;
  /** The nonce count: 1 for the first request with this nonce, then 2, 3, … */
  nc: number;
  /** The client nonce for this request. */
  cnonce: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/;

/**
 * Parses the values of one or more `WWW-Authenticate` headers into challenges
 * (RFC 7235 §4.1): several challenges may share one header, separated by commas, and quoted
 * values may contain commas, spaces and backslash escapes.
 *
 * @example
 * parseAuthenticateHeader('Digest realm="cam", nonce="n", qop="auth", Basic realm="cam"')
 * // → [{ scheme: 'Digest', params: { realm: 'cam', nonce: 'n', qop: 'auth' } },
 * //    { scheme: 'Basic', params: { realm: 'cam' } }]
 */
export function parseAuthenticateHeader(values: string | readonly string[] | undefined): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  for (const value of typeof values === 'string' ? [values] : (values ?? [])) challenges.push(...parseOneHeader(value));
  return challenges;
}

function parseOneHeader(text: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let current: AuthChallenge | undefined;
  let pos = 0;
  const skip = (pattern: RegExp): number => {
    const start = pos;
    while (pos < text.length && pattern.test(text[pos] as string)) pos += 1;
    return pos - start;
  };
  const token = (): string => {
    const start = pos;
    while (pos < text.length && TCHAR.test(text[pos] as string)) pos += 1;
    return text.slice(start, pos);
  };
  const quoted = (): string => {
    let value = '';
    pos += 1; // opening quote
    while (pos < text.length && text[pos] !== '"') {
      if (text[pos] === '\\' && pos + 1 < text.length) pos += 1;
      value += text[pos];
      pos += 1;
    }
    pos += 1; // closing quote
    return value;
  };

  while (pos < text.length) {
    skip(/[ \t,]/);
    if (pos >= text.length) break;
    const name = token();
    if (name === '') {
      pos += 1; // not a token character: skip it rather than loop forever
      continue;
    }
    const spaces = skip(/[ \t]/);
    if (text[pos] === '=' && current !== undefined) {
      pos += 1;
      skip(/[ \t]/);
      current.params[name.toLowerCase()] = text[pos] === '"' ? quoted() : token();
      continue;
    }
    current = { scheme: name, params: {} };
    challenges.push(current);
    if (spaces > 0) {
      const rest = text.slice(pos);
      const token68 = TOKEN68.exec(rest);
      // `realm=x` is a parameter, not a token68 followed by garbage.
      if (token68 && !/^[^=\s,]+[ \t]*=[ \t]*[^=\s,]/.test(rest)) {
        current.token68 = token68[0];
        pos += token68[0].length;
      }
    }
  }
  return challenges;
}

/** The challenge as a {@link DigestChallenge}, or `undefined` if it is not one this client can answer. */
export function toDigestChallenge(challenge: AuthChallenge): DigestChallenge | undefined {
  if (challenge.scheme.toLowerCase() !== 'digest') return undefined;
  const { realm, nonce, opaque, algorithm: named, qop, stale, userhash } = challenge.params;
  if (realm === undefined || nonce === undefined) return undefined;
  const algorithm = DIGEST_ALGORITHMS.find((candidate) => candidate.toLowerCase() === (named ?? 'MD5').toLowerCase());
  if (algorithm === undefined) return undefined;
  const qops = (qop ?? '').split(',').map((value) => value.trim().toLowerCase());
  // A server that offers only auth-int cannot be answered without hashing bodies; skip it.
  if (qop !== undefined && !qops.includes('auth')) return undefined;
  return {
    realm,
    nonce,
    ...(opaque !== undefined && { opaque }),
    algorithm,
    algorithmNamed: named !== undefined,
    qop: qop === undefined ? undefined : 'auth',
    stale: stale?.toLowerCase() === 'true',
    userhash: userhash?.toLowerCase() === 'true',
  };
}

/**
 * The strongest Digest challenge among `challenges` that this client can answer: with
 * `qop=auth` before without, then SHA-512-256, SHA-256, MD5 (RFC 7616 §3.7: servers list
 * their preferred challenge first, but clients pick the strongest they support).
 */
export function chooseDigestChallenge(challenges: readonly AuthChallenge[]): DigestChallenge | undefined {
  const candidates = challenges.map(toDigestChallenge).filter((challenge) => challenge !== undefined);
  const rank = (challenge: DigestChallenge): number =>
    (challenge.qop === 'auth' ? 0 : 100) + DIGEST_ALGORITHMS.indexOf(challenge.algorithm);
  return candidates.sort((a, b) => rank(a) - rank(b))[0];
}

function hashHex(algorithm: DigestAlgorithm, data: string): string {
  return createHash(NODE_HASH[algorithm]).update(data, 'utf8').digest('hex');
}

/**
 * The `response` value of RFC 7616 §3.4.1 for one request.
 *
 * @example
 * // RFC 7616 §3.9.1 with MD5
 * digestResponse({ challenge: { realm: 'http-auth@example.org', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
 *   algorithm: 'MD5', algorithmNamed: true, qop: 'auth', stale: false, userhash: false },
 *   credentials: { username: 'Mufasa', password: 'Circle of Life' }, method: 'GET', uri: '/dir/index.html',
 *   nc: 1, cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' }) // → '8ca523f5e9506fed4657c9700eebdbec'
 */
export function digestResponse({ challenge, credentials, method, uri, nc, cnonce }: DigestResponseInput): string {
  const { algorithm, realm, nonce, qop } = challenge;
  let ha1 = hashHex(algorithm, `${credentials.username}:${realm}:${credentials.password}`);
  if (algorithm.endsWith('-sess')) ha1 = hashHex(algorithm, `${ha1}:${nonce}:${cnonce}`);
  const ha2 = hashHex(algorithm, `${method}:${uri}`);
  return qop === undefined
    ? hashHex(algorithm, `${ha1}:${nonce}:${ha2}`)
    : hashHex(algorithm, `${ha1}:${nonce}:${formatNonceCount(nc)}:${cnonce}:${qop}:${ha2}`);
}

/** The nonce count as sent: 8 lower-case hex digits. */
export function formatNonceCount(nc: number): string {
  return nc.toString(16).padStart(8, '0');
}

/** `value` as an HTTP quoted-string. */
function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (char) => `\\${char}`)}"`;
}

/** Whether `value` may travel as a quoted-string without loss (visible ASCII and spaces). */
function isPlainAscii(value: string): boolean {
  return /^[\x20-\x7e]*$/.test(value);
}

/** RFC 8187 ext-value: `UTF-8''` and the percent-encoded UTF-8 bytes. */
function extValue(value: string): string {
  const attrChar = /[A-Za-z0-9!#$&+\-.^_`|~]/;
  let encoded = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte);
    encoded += byte < 0x80 && attrChar.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return `UTF-8''${encoded}`;
}

/**
 * The complete `Authorization` header value for one request (RFC 7616 §3.4).
 *
 * The user name is sent hashed when the server asks for `userhash`, as `username*` when it
 * is not plain ASCII, and as a quoted string otherwise.
 */
export function digestAuthorization(input: DigestResponseInput): string {
  const { challenge, credentials, uri, nc, cnonce } = input;
  const parts: string[] = [];
  if (challenge.userhash) {
    parts.push(`username=${quote(hashHex(challenge.algorithm, `${credentials.username}:${challenge.realm}`))}`);
  } else if (isPlainAscii(credentials.username)) {
    parts.push(`username=${quote(credentials.username)}`);
  } else {
    parts.push(`username*=${extValue(credentials.username)}`);
  }
  parts.push(`realm=${quote(challenge.realm)}`, `uri=${quote(uri)}`);
  if (challenge.algorithmNamed) parts.push(`algorithm=${challenge.algorithm}`);
  parts.push(`nonce=${quote(challenge.nonce)}`);
  if (challenge.qop !== undefined) parts.push(`nc=${formatNonceCount(nc)}`, `cnonce=${quote(cnonce)}`, `qop=${challenge.qop}`);
  parts.push(`response=${quote(digestResponse(input))}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
  if (challenge.userhash) parts.push('userhash=true');
  return `Digest ${parts.join(', ')}`;
}

/** A fresh client nonce: 128 random bits, hex. */
export function newClientNonce(): string {
  return randomBytes(16).toString('hex');
}

/**
 * One server nonce and its counter: every call to {@link DigestSession.authorize} uses the
 * next nonce count, so concurrent requests never reuse one (servers reject a replayed count).
 */
export class DigestSession {
  #nc = 0;

  /**
   * @param challenge - the challenge to answer until the server sends a new one.
   * @param credentials - the camera's user name and password; kept only in memory.
   * @param clientNonce - source of cnonce values (tests pass a fixed one).
   */
  constructor(
    readonly challenge: DigestChallenge,
    readonly credentials: DigestCredentials,
    private readonly clientNonce: () => string = newClientNonce,
  ) {}

  /** How many requests this session has authorised. */
  get nonceCount(): number {
    return this.#nc;
  }

  /** The `Authorization` header for the next request. */
  authorize(method: string, uri: string): string {
    this.#nc += 1;
    return digestAuthorization({ challenge: this.challenge, credentials: this.credentials, method, uri, nc: this.#nc, cnonce: this.clientNonce() });
  }
}
