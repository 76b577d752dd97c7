import { parseDictionary } from 'structured-headers';
import { UploadError } from './errors.js';

const HEADER = 'Content-Digest';

/**
 * The SHA-256 (lowercase hex) that a request's `Content-Digest` header (RFC 9530) gives for the
 * bytes of its body, or undefined when there is no such header. A header that is there but cannot
 * be checked (malformed, or without a `sha-256` member) is refused with 400 rather than ignored:
 * a client that sends a digest counts on it being checked.
 */
export function announcedSha256(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const example = `${HEADER}: sha-256=:<base64 of the SHA-256 of the body>:`;
  let digests: ReturnType<typeof parseDictionary>;
  try {
    digests = parseDictionary(value);
  } catch {
    throw new UploadError(400, `The ${HEADER} header is not a valid digest field (RFC 9530); expected e.g. ${example}.`);
  }
  const member = digests.get('sha-256');
  if (member === undefined) {
    throw new UploadError(400, `The ${HEADER} header has no sha-256 digest, the algorithm this receiver checks; send ${example}, or no ${HEADER}.`);
  }
  const [digest] = member;
  if (!(digest instanceof ArrayBuffer) || digest.byteLength !== 32) {
    throw new UploadError(400, `The sha-256 member of the ${HEADER} header is not a 32-byte byte sequence; expected ${example}.`);
  }
  return Buffer.from(digest).toString('hex');
}
