/**
 * Authenticated HTTP requests to one camera: Digest (RFC 7616) by default, Basic only over
 * HTTPS, certificate checks that can be switched off for the self-signed certificates cameras
 * ship with, a deadline per request, and bounded response sizes.
 *
 * @module
 */

import http from 'node:http';
import https from 'node:https';

import { chooseDigestChallenge, DigestSession, parseAuthenticateHeader } from './digest.js';
import {
  CameraAuthenticationError,
  CameraConnectionError,
  InvalidCameraAddressError,
  redactSecrets,
  UnsupportedAuthenticationError,
} from './errors.js';

/** How to reach and log in to one camera. */
export interface CameraConnectionOptions {
  /** `http://host[:port]`, `https://host[:port]`, or a bare host (then `http:`). */
  address: string;
  user: string;
  password: string;
  /** Check the camera's TLS certificate (default true); cameras ship self-signed ones. */
  verifyCertificate?: boolean;
  /** Deadline for each request, response included (default 20 000 ms). */
  timeoutMs?: number;
}

/** A response as far as VAPIX needs it. */
export interface CameraResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Largest response accepted: configuration lists are kilobytes, never megabytes. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 20_000;

/**
 * The camera's base URL from what a user typed: a bare host gets `http://`; user info,
 * query and fragment are refused (credentials belong in --user/--password, not in a URL
 * that ends up in summaries and logs).
 */
export function cameraBaseUrl(address: string): URL {
  const trimmed = address.trim();
  if (trimmed === '') throw new InvalidCameraAddressError(address, 'empty');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidCameraAddressError(address, 'not a host name, IP address or http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidCameraAddressError(address, `unsupported scheme ${url.protocol} (use http: or https:)`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidCameraAddressError(url.host, 'put the user and password in --user/--password (or the CSV columns), not in the address');
  }
  if (url.search !== '' || url.hash !== '') throw new InvalidCameraAddressError(address, 'no query or fragment allowed');
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  return url;
}

/**
 * Sends requests to one camera and answers its authentication challenges.
 *
 * The first request goes out without credentials; the camera's 401 names the scheme. Later
 * requests reuse the Digest nonce with an increasing nonce count, so a run of operations
 * costs one extra round trip in total. When the camera rejects a reused nonce (with
 * `stale=true`, or with a plain 401 as some firmware does) the request is repeated once with
 * the new challenge; a 401 in answer to a fresh challenge means wrong credentials.
 *
 * @example
 * const client = new CameraHttpClient({ address: '192.168.0.90', user: 'root', password: 'secret' });
 * const response = await client.post('vapix/services', envelope, 'application/soap+xml; charset=utf-8');
 * client.close();
 */
export class CameraHttpClient {
  /** The camera's base URL, path ending in `/`. */
  readonly baseUrl: URL;
  /** `host[:port]`, for messages. */
  readonly label: string;
  readonly user: string;
  readonly #password: string;
  readonly #timeoutMs: number;
  readonly #agent: http.Agent;
  #digest: DigestSession | undefined;
  #basic = false;

  constructor(options: CameraConnectionOptions) {
    this.baseUrl = cameraBaseUrl(options.address);
    this.label = this.baseUrl.host;
    this.user = options.user;
    this.#password = options.password;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#agent =
      this.baseUrl.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 4, rejectUnauthorized: options.verifyCertificate ?? true })
        : new http.Agent({ keepAlive: true, maxSockets: 4 });
  }

  /** The authentication in use after the first exchange: `Digest SHA-256`, `Basic`, or `none`. */
  get authentication(): string {
    if (this.#digest) return `Digest ${this.#digest.challenge.algorithm}`;
    return this.#basic ? 'Basic' : 'none';
  }

  /**
   * POSTs `body` to `path` (relative to the base URL) and returns the response, whatever its
   * status except a 401 that authentication can answer.
   *
   * @throws {@link CameraConnectionError} when no response arrives in time,
   *   {@link CameraAuthenticationError} for wrong credentials,
   *   {@link UnsupportedAuthenticationError} when the camera wants Basic over plain HTTP or an
   *   unknown scheme.
   */
  async post(path: string, body: string, contentType: string): Promise<CameraResponse> {
    const url = new URL(path, this.baseUrl);
    const target = `${url.pathname}${url.search}`;
    let answeredFreshChallenge = false;
    // At most: first try, a fresh challenge, and one stale-nonce renewal.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const authorization = this.#authorizationFor('POST', target);
      const response = await this.#send(url, body, contentType, authorization);
      if (response.status !== 401) return response;

      const challenges = parseAuthenticateHeader(response.headers['www-authenticate']);
      const digest = chooseDigestChallenge(challenges);
      if (digest) {
        const sentDigest = authorization?.startsWith('Digest ') ?? false;
        if (sentDigest && answeredFreshChallenge && !digest.stale) throw new CameraAuthenticationError(this.label, this.user);
        answeredFreshChallenge = !digest.stale || !sentDigest;
        this.#digest = new DigestSession(digest, { username: this.user, password: this.#password });
        this.#basic = false;
        continue;
      }
      if (challenges.some((challenge) => challenge.scheme.toLowerCase() === 'basic')) {
        if (url.protocol !== 'https:') {
          throw new UnsupportedAuthenticationError(
            this.label,
            'the camera asks for Basic authentication over plain HTTP, which would send the password in clear text; ' +
              'use https:// (with --no-verify-cert for a self-signed certificate) or enable Digest on the camera',
          );
        }
        if (this.#basic) throw new CameraAuthenticationError(this.label, this.user);
        this.#basic = true;
        this.#digest = undefined;
        continue;
      }
      if (authorization !== undefined) throw new CameraAuthenticationError(this.label, this.user);
      const offered = challenges.map((challenge) => `${challenge.scheme} ${challenge.params.algorithm ?? ''}`.trim()).join(', ');
      throw new UnsupportedAuthenticationError(
        this.label,
        `HTTP 401 without an authentication this client supports (offered: ${offered || 'nothing'}; supported: Digest MD5/SHA-256/SHA-512-256 with qop=auth, Basic over HTTPS)`,
      );
    }
    throw new CameraAuthenticationError(this.label, this.user, 'the camera keeps rejecting fresh authentication challenges');
  }

  /** `text` with this connection's password (and any `accessToken=` value) masked. */
  redact(text: string): string {
    return redactSecrets(text, [this.#password]);
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  #authorizationFor(method: string, target: string): string | undefined {
    if (this.#digest) return this.#digest.authorize(method, target);
    if (this.#basic) return `Basic ${Buffer.from(`${this.user}:${this.#password}`, 'utf8').toString('base64')}`;
    return undefined;
  }

  #send(url: URL, body: string, contentType: string, authorization: string | undefined): Promise<CameraResponse> {
    const payload = Buffer.from(body, 'utf8');
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(url, {
        method: 'POST',
        agent: this.#agent,
        headers: {
          'Content-Type': contentType,
          'Content-Length': payload.length,
          Accept: 'application/soap+xml, application/xml, text/xml',
          ...(authorization !== undefined && { Authorization: authorization }),
        },
      });
      const fail = (error: NodeJS.ErrnoException): void => {
        clearTimeout(deadline);
        reject(new CameraConnectionError(this.label, error.code, error.message, { cause: error }));
      };
      const deadline = setTimeout(() => {
        const timeout = Object.assign(new Error(`no answer within ${this.#timeoutMs} ms`), { code: 'ETIMEDOUT' });
        fail(timeout);
        request.destroy(timeout);
      }, this.#timeoutMs);
      request.on('error', fail);
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            response.destroy(Object.assign(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`), { code: 'ERESPONSETOOLARGE' }));
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', fail);
        response.on('end', () => {
          clearTimeout(deadline);
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
      });
      request.end(payload);
    });
  }
}
