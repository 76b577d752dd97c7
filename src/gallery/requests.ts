/**
 * What the gallery reads from a request: cookies, whether it came over HTTPS or from another
 * site, and the image key in its address.
 *
 * @module
 */
import type { FastifyRequest } from 'fastify';

/** Every value of the cookie `name` in a Cookie header. */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

export function isTlsSocket(request: FastifyRequest): boolean {
  return 'encrypted' in request.raw.socket && request.raw.socket.encrypted === true;
}

/**
 * Whether the browser reached us over HTTPS: directly, or through a proxy that says so. Trusting
 * the header costs nothing: at worst a cookie is marked Secure that did not need to be.
 */
export function secureRequest(request: FastifyRequest): boolean {
  const forwarded = request.headers['x-forwarded-proto'];
  return isTlsSocket(request) || (typeof forwarded === 'string' && /(^|,)\s*https\s*($|,)/i.test(forwarded));
}

/** Form posts must come from the gallery's own pages (a second fence beside SameSite cookies). */
export function sameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined || origin === 'null') return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** The key in a `/…/*` address, when it is one the gallery may show. */
export function keyParameter(request: FastifyRequest): string | undefined {
  const key = (request.params as { '*'?: string })['*'];
  if (key === undefined || key.length === 0 || key.length > 1024) return undefined;
  if (!key.split('/').every(isSegment)) return undefined;
  return key;
}

/** A key segment the gallery can name: not empty, no dot first (no `..`, no hidden files), no controls. */
export function isSegment(segment: string): boolean {
  return segment.length > 0 && segment.length <= 255 && !segment.startsWith('.') && !/[/\\\p{Cc}]/u.test(segment);
}
