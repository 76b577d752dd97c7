/**
 * FTP replies: the outcome of an upload in FTP's reply codes, and reply text made safe to send.
 *
 * @module
 */
import type { UploadOutcome } from '../core/outcome.js';

/** One reply: a code and its text (lines after the first make a multi-line reply). */
export interface FtpReply {
  code: number;
  text: string | readonly string[];
}

/**
 * The final reply to a file's transfer (STOR) or rename (RNTO), from the contract's outcome. The
 * text is the contract's own message, or where the file went:
 *
 * | outcome | reply |
 * |---|---|
 * | stored | `226` (STOR) or `250` (RNTO): `Stored as <key> (<n> bytes).` |
 * | too large (413) | `552` exceeded storage allocation |
 * | store full (507) | `452` insufficient storage (transient) |
 * | store unavailable, busy, failed (5xx) | `451` local error (transient) |
 * | any other refusal: not an image, empty, cut off (4xx) | `550` (permanent) |
 */
export function fileReply(outcome: UploadOutcome, success: 226 | 250): FtpReply {
  const { status, body } = outcome;
  if (status < 300 && 'key' in body) return { code: success, text: `Stored as ${body.key} (${body.bytes} bytes).` };
  const { message } = body as { message: string };
  if (status === 413) return { code: 552, text: message };
  if (status === 507) return { code: 452, text: message };
  if (status >= 500) return { code: 451, text: message };
  return { code: 550, text: message };
}

/** The reply as it goes on the wire: `code text`, or `code-first` … `code last` for several lines. */
export function formatReply(reply: FtpReply): string {
  const lines = (typeof reply.text === 'string' ? [reply.text] : [...reply.text]).map(safeText);
  if (lines.length <= 1) return `${reply.code} ${lines[0] ?? ''}\r\n`;
  const last = lines.pop()!;
  // Continuation lines start with a space, so none can be read as the reply's last line.
  return `${reply.code}-${lines[0]}\r\n${lines
    .slice(1)
    .map((line) => ` ${line}\r\n`)
    .join('')}${reply.code} ${last}\r\n`;
}

/** Text a client sent, made safe to echo in a reply or log: no line breaks or other control characters, bounded. */
export function safeText(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}]/gu, '?').slice(0, 512);
}

/** A path in a `257` reply: in double quotes, each quote in it doubled (RFC 959). */
export function quotedPath(path: string): string {
  return `"${safeText(path).replaceAll('"', '""')}"`;
}
