/**
 * The webhook sink: each event POSTed as CloudEvents structured JSON to one URL, signed as
 * Standard Webhooks sign (https://www.standardwebhooks.com): `webhook-id` is the event's id (a
 * receiver drops what it has seen), `webhook-timestamp` the time of the attempt, and
 * `webhook-signature` the HMAC-SHA256 of both and the body with the shared secret.
 *
 * A 2xx answer acknowledges the event; anything else (another status, a redirect, which is not
 * followed, no answer within the timeout, a network error) rejects with a message an operator can
 * act on, without the secret or the URL's query (which may hold a key), and the outbox retries.
 *
 * @module
 */
import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import type { ReceiverEvent } from './cloud-event.js';
import type { EventSink } from './sink.js';
import { isCertificateError } from '../core/certificate-errors.js';

export interface WebhookSinkOptions {
  /** Where events are POSTed: an http:// or https:// URL (`--webhook`); user:password in it is sent as Basic authentication. */
  url: string;
  /** The Standard Webhooks secret shared with the receiver: `whsec_` and the base64 of 24 to 64 random bytes (`--webhook-secret`). */
  secret: string;
  /** How long one delivery may take, from connecting to the answer's status (default 10 000 ms). */
  timeoutMs?: number;
}

/** A `--webhook` or `--webhook-secret` that can never work; the message says what to change. */
export class WebhookSettingError extends Error {
  override readonly name = 'WebhookSettingError';
}

/** A delivery that was not acknowledged; the outbox retries it. The message holds no secret and no URL query. */
export class WebhookDeliveryError extends Error {
  override readonly name = 'WebhookDeliveryError';

  constructor(
    message: string,
    /** The HTTP status the receiver answered, if it answered. */
    readonly status?: number,
    /** Node's error code (`ECONNREFUSED`, `ETIMEDOUT`, `ABORT_ERR`, …) when no answer came. */
    readonly code?: string,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
const CONCURRENCY = 8;
/** The Standard Webhooks specification's smallest secret. */
const MIN_SECRET_BYTES = 24;
const SECRET_PREFIX = 'whsec_';
const MAKE_SECRET = 'make one with: echo "whsec_$(openssl rand -base64 32)", and give the receiver the same';
/** What is read of an answer's body at most: the receiver's words for a message, then the rest is drained or the socket closed. */
const SNIPPET_BYTES = 1024;
const DRAIN_BYTES = 64 * 1024;
/** Idle keep-alive connections are closed after this, before most servers close them in our face. */
const IDLE_SOCKET_MS = 4_000;

/** An in-flight delivery, as close() sees it. */
interface Delivery {
  abort(): void;
}

/**
 * POSTs events to one URL, signed.
 *
 * @example
 * const sink = new WebhookSink({ url: 'https://vms.example/hooks/cameras', secret: process.env.WEBHOOK_SECRET! });
 * await sink.deliver(imageStoredEvent(source, data));
 */
export class WebhookSink implements EventSink {
  readonly name: string;
  readonly concurrency = CONCURRENCY;
  readonly #url: URL;
  readonly #webhook: Webhook;
  readonly #timeoutMs: number;
  /** Strings no message may show: the secret, and the URL's password and query. */
  readonly #secrets: string[];
  readonly #deliveries = new Set<Delivery>();
  #agent: http.Agent;
  #closed = false;

  constructor(options: WebhookSinkOptions) {
    this.#url = webhookUrl(options.url);
    this.#webhook = webhookSigner(options.secret);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) {
      throw new WebhookSettingError(`The webhook timeout must be a positive number of milliseconds, not ${String(options.timeoutMs)}`);
    }
    this.name = `webhook ${publicUrl(this.#url)}`;
    this.#secrets = secretsOf(options.secret.trim(), this.#url);
    this.#agent = this.#newAgent();
  }

  /** Nothing to connect ahead (each delivery connects or reuses a connection); after close(), delivers again. */
  open(): Promise<void> {
    if (this.#closed) {
      this.#closed = false;
      this.#agent = this.#newAgent();
    }
    return Promise.resolve();
  }

  /** POSTs `event`, signed afresh; resolves on a 2xx answer, rejects with a {@link WebhookDeliveryError} otherwise. */
  deliver(event: ReceiverEvent): Promise<void> {
    if (this.#closed) return Promise.reject(this.#error('not delivered: the sink is closed', undefined, 'ERR_CLOSED'));
    return this.#post(event);
  }

  /** Aborts the deliveries under way (they are retried after the next start) and closes the connections. */
  close(): Promise<void> {
    this.#closed = true;
    for (const delivery of [...this.#deliveries]) delivery.abort();
    this.#agent.destroy();
    return Promise.resolve();
  }

  #newAgent(): http.Agent {
    const options = { keepAlive: true, maxSockets: CONCURRENCY, timeout: IDLE_SOCKET_MS };
    return this.#url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
  }

  #post(event: ReceiverEvent): Promise<void> {
    const body = Buffer.from(JSON.stringify(event), 'utf8');
    const timestamp = new Date();
    const headers = {
      'content-type': 'application/cloudevents+json; charset=utf-8',
      'content-length': String(body.length),
      'user-agent': 'images-to-s3',
      'webhook-id': event.id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': this.#webhook.sign(event.id, timestamp, body),
    };
    const transport = this.#url.protocol === 'https:' ? https : http;

    return new Promise<void>((resolve, reject) => {
      const request = transport.request(this.#url, { method: 'POST', agent: this.#agent, headers });
      let settled = false;
      let connected = false;
      let response: http.IncomingMessage | undefined;
      const snippet: Buffer[] = [];
      const settle = (error?: WebhookDeliveryError): void => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve();
      };
      /** The error for the answer's status (once there is one), with what of its body was read. */
      const refused = (answer: http.IncomingMessage): WebhookDeliveryError =>
        this.#error(describeAnswer(answer, Buffer.concat(snippet), this.#url), answer.statusCode);
      const delivery: Delivery = {
        abort: () => {
          settle(this.#error('delivery aborted: the sink is closing (the event is delivered after the next start)', undefined, 'ABORT_ERR'));
          end();
        },
      };
      /** Done with this request: no timer left, nothing open (an answer not read to its end closes its socket). */
      const end = (): void => {
        clearTimeout(deadline);
        this.#deliveries.delete(delivery);
        if (!response?.complete) request.destroy();
      };
      const deadline = setTimeout(() => {
        const waiting = connected ? 'waiting for an answer' : `connecting to ${hostPort(this.#url)}`;
        settle(response ? refused(response) : this.#error(`timed out after ${formatMs(this.#timeoutMs)} ${waiting}`, undefined, 'ETIMEDOUT'));
        end();
      }, this.#timeoutMs);
      this.#deliveries.add(delivery);

      request.on('socket', (socket) => {
        if (!socket.connecting) connected = true;
        else socket.once(this.#url.protocol === 'https:' ? 'secureConnect' : 'connect', () => (connected = true));
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        settle(response ? refused(response) : this.#error(describeNetworkError(error, this.#url), undefined, error.code));
        end();
      });
      request.on('response', (answer) => {
        response = answer;
        const status = answer.statusCode ?? 0;
        if (status >= 200 && status < 300) settle();
        // The receiver's words are worth waiting for (within the deadline) only when it gives them as text.
        else if (!isText(answer.headers['content-type']) || (status >= 300 && status < 400)) settle(refused(answer));
        let read = 0;
        answer.on('data', (chunk: Buffer) => {
          if (settled) {
            if ((read += chunk.length) > DRAIN_BYTES) end();
            return;
          }
          if (read < SNIPPET_BYTES) snippet.push(chunk.subarray(0, SNIPPET_BYTES - read));
          read += chunk.length;
          if (read >= SNIPPET_BYTES) settle(refused(answer));
        });
        answer.on('error', () => undefined);
        answer.on('close', () => {
          if (!settled) settle(refused(answer));
          end();
        });
      });
      request.end(body);
    });
  }

  /** An error for the log: what happened, with this sink's name; anything secret masked. */
  #error(what: string, status?: number, code?: string): WebhookDeliveryError {
    return new WebhookDeliveryError(`${this.name}: ${redact(what, this.#secrets)}`, status, code);
  }
}

/** `--webhook` as a URL, or a {@link WebhookSettingError} (that never repeats a value that may hold a key). */
function webhookUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new WebhookSettingError('--webhook is not a URL: give the receiver\'s address, e.g. https://vms.example/hooks/cameras');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WebhookSettingError(`--webhook must be an http:// or https:// URL, not ${url.protocol}`);
  }
  if (url.hostname === '') throw new WebhookSettingError('--webhook has no host name');
  url.hash = '';
  return url;
}

/** The signer for `--webhook-secret`, or a {@link WebhookSettingError} that says how to make a good one (never showing the value). */
function webhookSigner(secret: string): Webhook {
  const trimmed = secret.trim();
  const refuse = (problem: string): WebhookSettingError =>
    new WebhookSettingError(`--webhook-secret ${problem}: a Standard Webhooks secret is "whsec_" and the base64 of ${MIN_SECRET_BYTES} to 64 random bytes; ${MAKE_SECRET}`);
  if (trimmed === '') throw refuse('is empty');
  if (!trimmed.startsWith(SECRET_PREFIX)) throw refuse('does not start with "whsec_"');
  const encoded = trimmed.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) throw refuse('is not "whsec_" followed by base64');
  const bytes = Buffer.from(encoded, 'base64').length;
  if (bytes < MIN_SECRET_BYTES) throw refuse(`holds only ${bytes} bytes`);
  try {
    return new Webhook(trimmed);
  } catch {
    throw refuse('cannot be read');
  }
}

/** The secret and the URL's password and query (whole, and each value), as they may appear in a message. */
function secretsOf(secret: string, url: URL): string[] {
  const secrets = [secret, secret.slice(SECRET_PREFIX.length), url.password, decodeSafely(url.password), url.search.slice(1)];
  for (const value of url.searchParams.values()) secrets.push(value, encodeURIComponent(value));
  // Shorter values are no keys, and masking them would mangle ordinary words.
  return [...new Set(secrets)].filter((value) => value.length >= 6).sort((a, b) => b.length - a.length);
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) result = result.replaceAll(secret, '…');
  return result;
}

/** A URL as it may be shown: without user, password, query or fragment. */
function publicUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function hostPort(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
}

/** `300 ms`, `10 s`, `2.5 s` */
function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** What a non-2xx answer means, in words: its status, where a redirect points, and the receiver's own words if it gave some as text. */
function describeAnswer(answer: http.IncomingMessage, body: Buffer, url: URL): string {
  const status = answer.statusCode ?? 0;
  const statusText = `${status} ${http.STATUS_CODES[status] ?? printable(answer.statusMessage ?? '').slice(0, 60)}`.trim();
  if (status >= 300 && status < 400) {
    const location = answer.headers.location;
    if (location === undefined) return `answered ${statusText}, a redirect without a Location (not followed)`;
    let target: string;
    try {
      target = publicUrl(new URL(location, url));
    } catch {
      target = 'an address that is not a URL';
    }
    return `answered ${statusText}: redirects to ${target} (not followed: set --webhook to the address events should go to)`;
  }
  const words = receiverWords(body, answer.headers['content-type']);
  return `answered ${statusText}${words === '' ? '' : `: ${JSON.stringify(words)}`}${statusHint(status)}`;
}

function statusHint(status: number): string {
  if (status === 401 || status === 403) return ' (does the receiver expect this --webhook-secret, or other credentials?)';
  if (status === 404 || status === 405) return ' (check the path in --webhook)';
  if (status === 413) return ' (the receiver refuses an event this size)';
  return '';
}

/** The receiver's explanation, when it gave one as plain text or JSON: one line, at most 200 characters. */
function receiverWords(body: Buffer, contentType: string | undefined): string {
  if (!isText(contentType)) return '';
  const text = printable(body.toString('utf8'));
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/** Plain text or JSON: what an answer's body may say to an operator (an HTML error page is no message). */
function isText(contentType: string | undefined): boolean {
  return /^\s*(text\/plain|application\/([\w.-]+\+)?json)\s*(;|$)/i.test(contentType ?? '');
}

function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\s]+/gu, ' ').trim();
}

/** What a network error means, in words: refused, unknown host, reset, certificate not trusted. */
function describeNetworkError(error: NodeJS.ErrnoException, url: URL): string {
  const code = error.code;
  if (code === 'ECONNREFUSED') return `connection refused (nothing listens on ${hostPort(url)}: is the receiver running, and is the port right?)`;
  if (code === 'ENOTFOUND') return `the host name ${url.hostname} was not found (DNS)`;
  if (code === 'EAI_AGAIN') return `the host name ${url.hostname} could not be looked up now (DNS did not answer)`;
  if (code === 'ECONNRESET') return 'the connection was closed before an answer came (ECONNRESET)';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `${url.hostname} is unreachable (${code})`;
  if (code === 'ETIMEDOUT') return `connecting to ${hostPort(url)} timed out (ETIMEDOUT)`;
  if (isCertificateError(code)) {
    return `its TLS certificate is not trusted (${code}: ${error.message}); for a private CA, start with NODE_EXTRA_CA_CERTS=<the CA file>`;
  }
  return `${error.message}${code !== undefined && !error.message.includes(code) ? ` (${code})` : ''}`;
}
