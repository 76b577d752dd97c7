/**
 * A stand-in for an Axis camera's "Send images through HTTP/HTTPS" action: it uploads images
 * to a receiver exactly as the camera does (AXIS.md §1), for smoke and load tests of any
 * receiver, ours or Axis' reference ones. It sends video clips the same way (a raw body with the
 * clip's video type and `Content-Disposition` filename), as the clip actions are assumed to.
 */
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';

import { formatBytes } from '../core/byte-size.js';
import { expandAxisFilename, type FilenameTimeZone } from './filename-pattern.js';

/** What to send, where, and how hard. */
export interface SimulateOptions {
  /** The recipient URL (`http:` or `https:`) as configured on the camera; its path and query are kept. */
  recipient: string;
  /** Sent as the query parameter `accessToken`, as the camera's custom CGI parameters would be. */
  token?: string;
  /** How many images to upload. */
  count: number;
  /** How many uploads may be in flight at once (also the number of sockets). */
  concurrency: number;
  /** The bytes sent as each request's body: a JPEG, or a clip. */
  image: Buffer;
  /** The body's `Content-Type`; `image/jpeg` unless told otherwise (a clip's video type). */
  contentType?: string;
  /** The camera's `filename` parameter, with Axis modifiers (see {@link expandAxisFilename}). */
  filenamePattern: string;
  /** Sequence number (`#s`) of the first image; 1 unless told otherwise. */
  startSequence?: number;
  /** Accept any TLS certificate, like the camera with `validate_server_cert=0`. */
  insecure?: boolean;
  /** Trust these certificates (PEM) for an HTTPS recipient, e.g. a receiver's self-signed one, as a camera's CA store would. */
  ca?: Buffer;
  /** Deadline for each whole request, response included; 30 000 ms unless told otherwise. */
  timeoutMs?: number;
  /** Host name for `#n`. */
  hostName?: string;
  /** MAC address for `#M` and `#m`. */
  macAddress?: string;
  /** IP address for `#i`. */
  ipAddress?: string;
  /** Video source for `#v`; 1 unless told otherwise. */
  videoSource?: number;
  /** Clock for the date and time modifiers; `'utc'` unless told otherwise. */
  timeZone?: FilenameTimeZone;
  /**
   * Called once per upload as soon as it is finished, in completion order. An exception thrown
   * here stops the simulation: no further uploads start and `simulate` rejects with it.
   */
  onResult?: (result: UploadResult) => void;
}

/** The outcome of one upload. */
export interface UploadResult {
  /** The image's sequence number (`#s`). */
  sequence: number;
  /** The filename sent in `Content-Disposition`. */
  filename: string;
  /** True when the receiver answered 2xx. */
  accepted: boolean;
  /** The HTTP status, absent when no response arrived. */
  status?: number;
  /** Why no response arrived (`ECONNREFUSED`, `ETIMEDOUT`, a TLS error code…), absent otherwise. */
  errorCode?: string;
  /** For a failure: the receiver's JSON `message`, else its text, else the network error; truncated. */
  message?: string;
  /** The JSON `key` field of a 2xx answer, when the receiver gives one. */
  key?: string;
  /** Milliseconds from sending the request to the end of the response (or the failure). */
  latencyMs: number;
}

/** Latency percentiles in milliseconds, over the uploads that got an HTTP response. */
export interface LatencyPercentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** What a simulation achieved. */
export interface SimulationSummary {
  /** The request URL with every token masked, safe to print. */
  recipient: string;
  /** Size of each image in bytes. */
  imageBytes: number;
  /** The `Content-Type` each upload was sent with. */
  contentType: string;
  concurrency: number;
  /** Uploads attempted. */
  sent: number;
  /** Uploads answered 2xx. */
  accepted: number;
  /** Uploads answered with another status. */
  rejected: number;
  /** Rejections by HTTP status code. */
  rejectedByStatus: Record<number, number>;
  /** Uploads that got no HTTP response. */
  networkErrors: number;
  /** Network errors by error code, e.g. `ECONNREFUSED`. */
  networkErrorsByCode: Record<string, number>;
  /** The first few distinct failure messages, each prefixed by its status or error code. */
  errorMessages: string[];
  elapsedSeconds: number;
  /** Accepted images per second. */
  imagesPerSecond: number;
  /** Accepted image bytes per second, in MB of 1024 × 1024 bytes (the unit of {@link formatBytes}). */
  megabytesPerSecond: number;
  /** Absent when no upload got an HTTP response. */
  latencyMs?: LatencyPercentiles;
  /** The receiver's `key` for each accepted image that had one, in sequence order. */
  acceptedKeys: string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_CONTENT_TYPE = 'image/jpeg';

/**
 * The filename pattern the simulator gives a clip when none is chosen: the Axis default for
 * images, with `clip` for `image` and the clip's extension (e.g. `.mkv`).
 */
export function clipFilenamePattern(extension: string): string {
  return `clip%y-%m-%d_%H-%M-%S-%f_#s${extension}`;
}
/** Enough to find a receiver's message; the rest of a response body is read and discarded. */
const MAX_KEPT_RESPONSE_BYTES = 64 * 1024;
const MAX_MESSAGE_LENGTH = 200;
const MAX_ERROR_MESSAGES = 5;
/** Query parameter names whose values are credentials, masked in anything printable. */
const SECRET_PARAMETER = /token|secret|password|signature|key/i;

/**
 * Uploads `count` images to `recipient` the way an Axis camera does: one `POST` per image, the
 * raw JPEG as body, `Content-Type: image/jpeg`,
 * `Content-Disposition: attachment; filename="<expanded pattern>"`, `Content-Length`, and the
 * token appended to the URL's query as `accessToken`.
 *
 * Failures of single uploads (any status, refused connections, timeouts, TLS errors) are
 * counted, never thrown: the promise rejects only for invalid options or when `onResult` throws.
 * Any receiver works, JSON answers are used when present but never required.
 */
export async function simulate(options: SimulateOptions): Promise<SimulationSummary> {
  const target = requestTarget(options.recipient, options.token);
  const count = requireInteger('count', options.count, 0);
  const concurrency = requireInteger('concurrency', options.concurrency, 1);
  const startSequence = requireInteger('startSequence', options.startSequence ?? 1, 0);
  const timeoutMs = requireInteger('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 1);
  const contentType = options.contentType ?? DEFAULT_CONTENT_TYPE;

  const agentOptions = { keepAlive: true, maxSockets: concurrency };
  const agent =
    target.url.protocol === 'https:'
      ? new https.Agent({ ...agentOptions, rejectUnauthorized: options.insecure !== true, ...(options.ca !== undefined && { ca: options.ca }) })
      : new http.Agent(agentOptions);

  const results: UploadResult[] = [];
  let nextIndex = 0;
  let stopped = false;

  const worker = async (): Promise<void> => {
    while (!stopped && nextIndex < count) {
      const index = nextIndex++;
      const sequence = startSequence + index;
      const filename = expandAxisFilename(options.filenamePattern, {
        time: new Date(),
        sequence,
        hostName: options.hostName,
        macAddress: options.macAddress,
        ipAddress: options.ipAddress,
        videoSource: options.videoSource ?? 1,
        timeZone: options.timeZone,
      });
      const result = redactResult(
        await upload({ target, agent, image: options.image, contentType, filename, sequence, timeoutMs }),
        options.token,
      );
      results[index] = result;
      if (stopped) return;
      try {
        options.onResult?.(result);
      } catch (error) {
        stopped = true;
        throw error;
      }
    }
  };

  const started = performance.now();
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } finally {
    agent.destroy();
  }
  const elapsedSeconds = (performance.now() - started) / 1000;

  return summarise({
    results,
    recipient: printableUrl(target.url, target.path),
    imageBytes: options.image.length,
    contentType,
    concurrency,
    elapsedSeconds,
  });
}

/** Renders a summary as a few human-readable lines; it never contains a token. */
export function formatSummary(summary: SimulationSummary): string {
  const rejected = Object.entries(summary.rejectedByStatus).map(([status, n]) => `${status}×${n}`);
  const network = Object.entries(summary.networkErrorsByCode).map(([code, n]) => `${code}×${n}`);
  const what = summary.contentType.startsWith('video/') ? 'clips' : 'images';
  const lines = [
    `Sent ${summary.sent} ${what} of ${formatBytes(summary.imageBytes)} (${summary.contentType}) to ${summary.recipient} ` +
      `(concurrency ${summary.concurrency})`,
    `Accepted ${summary.accepted}, rejected ${summary.rejected}` +
      (rejected.length > 0 ? ` (${rejected.join(', ')})` : '') +
      `, network errors ${summary.networkErrors}` +
      (network.length > 0 ? ` (${network.join(', ')})` : ''),
    `Elapsed ${summary.elapsedSeconds.toFixed(2)} s: ${summary.imagesPerSecond.toFixed(1)} ${what}/s, ` +
      `${summary.megabytesPerSecond.toFixed(2)} MB/s`,
  ];
  if (summary.latencyMs !== undefined) {
    const { p50, p95, p99, max } = summary.latencyMs;
    lines.push(
      `Latency ms: p50 ${p50.toFixed(1)}, p95 ${p95.toFixed(1)}, p99 ${p99.toFixed(1)}, max ${max.toFixed(1)}`,
    );
  }
  if (summary.errorMessages.length > 0) {
    lines.push('Errors:', ...summary.errorMessages.map((message) => `  ${message}`));
  }
  return lines.join('\n');
}

interface RequestTarget {
  url: URL;
  /** Path and query as sent on the request line, token included. */
  path: string;
}

function requestTarget(recipient: string, token: string | undefined): RequestTarget {
  let url: URL;
  try {
    url = new URL(recipient);
  } catch {
    throw new TypeError(`recipient is not a URL: ${recipient}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`recipient must be an http or https URL, not ${url.protocol}`);
  }
  // Appended to the query text as is, so that the recipient's own query keeps its exact
  // encoding (URLSearchParams would re-encode it).
  let path = url.pathname + url.search;
  if (token !== undefined) {
    path += `${url.search === '' ? '?' : '&'}accessToken=${encodeURIComponent(token)}`;
  }
  return { url, path };
}

function requireInteger(name: string, value: number, minimum: number): number {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new RangeError(`${name} must be an integer of at least ${minimum}, not ${value}`);
  }
  return value;
}

interface UploadRequest {
  target: RequestTarget;
  agent: http.Agent;
  image: Buffer;
  contentType: string;
  filename: string;
  sequence: number;
  timeoutMs: number;
}

/** One camera upload; it always resolves, failures included. */
function upload({ target, agent, image, contentType, filename, sequence, timeoutMs }: UploadRequest): Promise<UploadResult> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const send = target.url.protocol === 'https:' ? https.request : http.request;

  return new Promise<UploadResult>((resolve) => {
    let settled = false;
    const finish = (result: Omit<UploadResult, 'sequence' | 'filename' | 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ sequence, filename, latencyMs: elapsed(), ...result });
    };
    const fail = (error: unknown) => {
      const { code, message } = describeError(error);
      finish({ accepted: false, errorCode: code, message: truncate(message) });
    };

    let request: http.ClientRequest | undefined;
    const timer = setTimeout(() => {
      const error = Object.assign(new Error(`no response within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
      fail(error);
      request?.destroy(error);
    }, timeoutMs);

    try {
      request = send({
        protocol: target.url.protocol,
        // URL keeps the brackets of an IPv6 literal; the socket layer wants the bare address.
        hostname: target.url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: target.url.port,
        path: target.path,
        method: 'POST',
        agent,
        headers: {
          'Content-Type': contentType,
          // Header strings go out as Latin-1; a camera sends a non-ASCII name as its UTF-8 bytes.
          'Content-Disposition': Buffer.from(`attachment; filename="${filename}"`, 'utf8').toString('latin1'),
          'Content-Length': image.length,
        },
      });
    } catch (error) {
      // For example a filename with characters that are not allowed in a header.
      fail(error);
      return;
    }

    request.on('error', fail);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      response.on('data', (chunk: Buffer) => {
        if (kept < MAX_KEPT_RESPONSE_BYTES) {
          chunks.push(chunk);
          kept += chunk.length;
        }
      });
      response.on('error', fail);
      response.on('close', () => {
        if (!response.complete) {
          fail(Object.assign(new Error('connection closed before the response was complete'), { code: 'ECONNRESET' }));
        }
      });
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        const answer = readAnswer(Buffer.concat(chunks), response.headers['content-type']);
        if (status >= 200 && status < 300) {
          finish({ accepted: true, status, ...(answer.key === undefined ? {} : { key: answer.key }) });
        } else {
          const message = answer.message ?? (response.statusMessage || `HTTP ${status}`);
          finish({ accepted: false, status, message: truncate(message) });
        }
      });
    });
    // write() then end(): Node 20's end(buffer) re-encodes such a Latin-1 header as UTF-8 text.
    request.write(image);
    request.end();
  });
}

/** The `key` and `message` of a receiver's answer: JSON fields if it is JSON, else the text. */
function readAnswer(body: Buffer, contentType: string | undefined): { key?: string; message?: string } {
  const text = body.toString('utf8').trim();
  if (text === '') return {};
  // Some receivers answer JSON as text/plain, so the body's shape counts, not only the header.
  if (contentType?.includes('json') === true || text.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) {
        const { key, message } = parsed as Record<string, unknown>;
        return {
          ...(typeof key === 'string' ? { key } : {}),
          message: typeof message === 'string' ? message : text,
        };
      }
    } catch {
      // Not JSON after all: the text is the message.
    }
  }
  return { message: text };
}

/** TLS errors that mean the receiver's certificate is not trusted (self-signed, unknown issuer, wrong name, expired). */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = typeof code === 'string' && UNTRUSTED_CERTIFICATE.has(code) ? " (the receiver's certificate is not trusted: give it with --ca FILE, or --insecure to accept any)" : '';
    return { code: typeof code === 'string' ? code : error.name, message: `${error.message}${hint}` };
  }
  return { code: 'UNKNOWN', message: String(error) };
}

function truncate(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_MESSAGE_LENGTH ? `${oneLine.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : oneLine;
}

/** Masks the token wherever a receiver or an error message might have echoed it. */
function redactResult(result: UploadResult, token: string | undefined): UploadResult {
  if (token === undefined || token === '' || result.message === undefined) return result;
  const variants = [token, encodeURIComponent(token)];
  let message = result.message;
  for (const variant of variants) message = message.split(variant).join('***');
  return { ...result, message };
}

/** The request URL without credentials: user info dropped, secret-looking query values masked. */
function printableUrl(url: URL, path: string): string {
  const query = path.includes('?') ? path.slice(path.indexOf('?') + 1) : '';
  const masked = query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const separator = pair.indexOf('=');
      const name = separator === -1 ? pair : pair.slice(0, separator);
      return separator !== -1 && SECRET_PARAMETER.test(decodeURIComponentSafely(name)) ? `${name}=***` : pair;
    });
  return `${url.protocol}//${url.host}${url.pathname}${masked.length > 0 ? `?${masked.join('&')}` : ''}`;
}

function decodeURIComponentSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

interface SummaryInput {
  results: UploadResult[];
  recipient: string;
  imageBytes: number;
  contentType: string;
  concurrency: number;
  elapsedSeconds: number;
}

function summarise({ results, recipient, imageBytes, contentType, concurrency, elapsedSeconds }: SummaryInput): SimulationSummary {
  const rejectedByStatus: Record<number, number> = {};
  const networkErrorsByCode: Record<string, number> = {};
  const errorMessages: string[] = [];
  const latencies: number[] = [];
  const acceptedKeys: string[] = [];
  let accepted = 0;
  let rejected = 0;
  let networkErrors = 0;

  for (const result of results) {
    if (result.status !== undefined) latencies.push(result.latencyMs);
    if (result.accepted) {
      accepted += 1;
      if (result.key !== undefined) acceptedKeys.push(result.key);
      continue;
    }
    let label: string;
    if (result.status !== undefined) {
      rejected += 1;
      rejectedByStatus[result.status] = (rejectedByStatus[result.status] ?? 0) + 1;
      label = String(result.status);
    } else {
      networkErrors += 1;
      const code = result.errorCode ?? 'UNKNOWN';
      networkErrorsByCode[code] = (networkErrorsByCode[code] ?? 0) + 1;
      label = code;
    }
    const line = `${label}: ${result.message ?? ''}`;
    if (errorMessages.length < MAX_ERROR_MESSAGES && !errorMessages.includes(line)) errorMessages.push(line);
  }

  const seconds = elapsedSeconds > 0 ? elapsedSeconds : Number.EPSILON;
  return {
    recipient,
    imageBytes,
    contentType,
    concurrency,
    sent: results.length,
    accepted,
    rejected,
    rejectedByStatus,
    networkErrors,
    networkErrorsByCode,
    errorMessages,
    elapsedSeconds,
    imagesPerSecond: accepted / seconds,
    megabytesPerSecond: (accepted * imageBytes) / 1024 ** 2 / seconds,
    ...(latencies.length > 0 ? { latencyMs: percentiles(latencies) } : {}),
    acceptedKeys,
  };
}

/** Nearest-rank percentiles. */
function percentiles(values: number[]): LatencyPercentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  return { p50: rank(50), p95: rank(95), p99: rank(99), max: sorted[sorted.length - 1] ?? 0 };
}
