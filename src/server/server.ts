import http from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { performance } from 'node:perf_hooks';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StoreFullError } from '../core/errors.js';
import { busyRefusal, outcomeLogRecord, tooManyTokenFailures } from '../core/outcome.js';
import type { UploadOutcome } from '../core/outcome.js';
import type { ImageReceiver } from '../core/receiver.js';
import type { ImageStore } from '../core/store.js';
import { SpooledStore } from '../spool/spooled-store.js';
import { FailedAuthLimiter } from './failed-auth-limiter.js';
import { ReceiverMetrics } from './metrics.js';
import { ReceiveDeadline } from './receive-deadline.js';
import type { ReceiveBound } from './receive-deadline.js';

export interface ReceiverServerOptions {
  receiver: ImageReceiver;
  store: ImageStore;
  /**
   * Where cameras POST images and clips; `GET`/`HEAD` there answer the camera's Test button. Below
   * it, `t/<token>/` takes the same requests with the token in the path, for cameras whose
   * recipient setting cannot carry a query string (Hikvision's HTTP listening, Dahua's upload path).
   */
  recipientPath?: string;
  /** Certificates and their keys, one of each per key type (RSA, ECDSA): each client gets one it takes. */
  tls?: Required<Pick<SecureContextOptions, 'cert' | 'key'>>;
  /** Log level (`info` by default) and where the JSON lines go (standard output by default). */
  log?: { level?: string; stream?: { write(line: string): void } };
  timeouts?: Partial<ServerTimeouts>;
  limits?: Partial<ServerLimits>;
  /** Take the client address from `X-Forwarded-For` (only behind a reverse proxy you run). */
  trustProxy?: boolean;
  /** The metrics `/metrics` shows, when other ways in (FTP, SFTP) count into them too. */
  metrics?: ReceiverMetrics;
  /** While it gives a text, `/readyz` answers 503 with it (`serve --workers`: until every worker serves). */
  starting?: () => string | undefined;
  /** What `/metrics` answers, when not {@link metrics} alone (`serve --workers`: the sum over all workers). */
  metricsText?: () => Promise<{ text: string; contentType: string }>;
  /** Counts failed token checks per client address, when other ways in share the count. */
  failedAuth?: FailedAuthLimiter;
}

/** Bounds that keep slow or stalled clients from holding connections for ever. */
export interface ServerTimeouts {
  /** Time to receive all request headers. */
  headersMs: number;
  /**
   * Time to receive a whole request, body included, once its headers are in: every request, and
   * every upload until it is known to be a clip (a 32 MB image on a slow uplink).
   */
  requestMs: number;
  /** Time to receive a whole clip upload (a few MB over a slow uplink take minutes). */
  clipRequestMs: number;
  /** A connection with no traffic for this long is closed: a body that stops moving is cut. */
  idleMs: number;
  /** How long an idle keep-alive connection stays open between uploads. */
  keepAliveMs: number;
}

/** Bounds that keep overload and hostile clients from taking the receiver down. */
export interface ServerLimits {
  /** Uploads received or stored at once; more get 503 with Retry-After instead of memory. */
  maxInFlight: number;
  /** Failed token checks a client address may make per minute before it gets 429 (0: no limit). */
  failedAuthPerMinute: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = { headersMs: 20_000, requestMs: 120_000, clipRequestMs: 30 * 60_000, idleMs: 30_000, keepAliveMs: 10_000 };
export const DEFAULT_LIMITS: ServerLimits = { maxInFlight: 128, failedAuthPerMinute: 20 };

/**
 * The self-hosted receiver: a Fastify server that feeds request bodies to the upload contract
 * as streams (never buffered whole), answers `Expect: 100-continue` only after the checks that
 * need no body passed, caps uploads in flight, rate-limits failed authentication per client
 * address, logs one JSON line per upload with the query string (and so the token) left out, and
 * serves `/healthz`, `/readyz` and `/metrics`. More routes (the gallery) can be registered on the
 * instance it returns before it listens.
 */
export async function createReceiverServer(options: ReceiverServerOptions): Promise<FastifyInstance> {
  const { store } = options;
  const recipientPath = options.recipientPath ?? '/';
  const tokenPathPrefix = `${recipientPath.replace(/\/+$/, '')}${TOKEN_PATH_SEGMENT}`;
  const isUploadPath = (path: string): boolean => path === recipientPath || (path.startsWith(tokenPathPrefix) && /^[^/]+(\/.*)?$/.test(path.slice(tokenPathPrefix.length)));
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const metrics = options.metrics ?? new ReceiverMetrics();
  const failedAuth = options.failedAuth ?? new FailedAuthLimiter(limits.failedAuthPerMinute);
  const deadlines = new WeakMap<http.IncomingMessage, ReceiveDeadline>();
  const clipBound: ReceiveBound = {
    ms: timeouts.clipRequestMs,
    message: `The clip did not arrive within ${duration(timeouts.clipRequestMs)} (--clip-timeout); nothing was stored. Shorten the clip or lower its bit rate, or raise the receiver's --clip-timeout.`,
  };
  const requestBound: ReceiveBound = {
    ms: timeouts.requestMs,
    message: `The upload did not arrive within ${duration(timeouts.requestMs)} (--request-timeout, the bound for images; clips get --clip-timeout); nothing was stored. Send smaller images, or raise the receiver's --request-timeout.`,
  };
  const uploads = new UploadRoute(options.receiver, metrics, limits, failedAuth, (request) => deadlines.get(request), clipBound);

  const app = Fastify({
    logger: {
      level: options.log?.level ?? 'info',
      ...(options.log?.stream && { stream: options.log.stream }),
      serializers: {
        // A token in the path (`…/t/<token>/`) is never logged.
        req: (request: FastifyRequest) => ({ method: request.method, path: withoutPathToken(pathOf(request.url)), remoteAddress: request.ip }),
      },
    },
    // One line per upload is written by the route itself (without the query string).
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: options.trustProxy ?? false,
    forceCloseConnections: 'idle',
    // Only so that Fastify names the scheme right ("listening at https://…"); the server itself is made below.
    ...(options.tls && { https: true as unknown as null }),
    serverFactory: (handler) => {
      // Node checks the headers and request timeouts only this often (30 s by default).
      const checking = { connectionsCheckingInterval: Math.min(1_000, timeouts.headersMs / 2, timeouts.requestMs / 2) };
      const server = options.tls
        ? https.createServer({ ...checking, cert: options.tls.cert, key: options.tls.key }, handler)
        : http.createServer(checking, handler);
      server.headersTimeout = timeouts.headersMs;
      // Node's bound is one for all requests: each request's own is kept by a ReceiveDeadline
      // (below). Node's, counted from the first header byte, only backs them up, so it is the
      // longest of them plus the time the headers may take.
      server.requestTimeout = Math.max(timeouts.requestMs, timeouts.clipRequestMs) + timeouts.headersMs;
      server.keepAliveTimeout = timeouts.keepAliveMs;
      server.setTimeout(timeouts.idleMs);
      // With a listener here Node leaves `100 Continue` to us: the upload route sends it once the
      // token, type and announced size are accepted, so a refused camera never sends the image.
      server.on('checkContinue', (request: http.IncomingMessage, response: http.ServerResponse) => {
        if (!isUploadPath(pathOf(request.url ?? '/'))) response.writeContinue();
        handler(request, response);
      });
      return server;
    },
  });

  // Every request must arrive within the image bound, unless the upload route raises it for a clip.
  app.addHook('onRequest', (request, reply, done) => {
    const deadline = new ReceiveDeadline(request.raw, requestBound);
    deadlines.set(request.raw, deadline);
    reply.raw.once('close', () => deadline.clear());
    done();
  });

  // While shutting down, answers close their connection, so draining ends with the last upload.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  await app.register((scope, _options, done) => {
    // Upload bodies are read by the contract as a stream, whatever the content type says.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, parsed) => parsed(null));
    scope.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url: recipientPath,
      exposeHeadRoute: false,
      handler: (request, reply) => uploads.handle(request, reply),
    });
    // The token in the path, and anything after it (a camera may add to the path it is given).
    for (const url of [`${tokenPathPrefix}:token`, `${tokenPathPrefix}:token/*`]) {
      scope.route({
        method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
        url,
        exposeHeadRoute: false,
        handler: (request, reply) => uploads.handle(request, reply, (request.params as { token: string }).token),
      });
    }
    done();
  });

  app.get('/healthz', () => ({ status: 'ok' }));
  // Dahua cameras with an HTTP upload server check it with these GETs, at the root of the host
  // (seen by public receivers; unverified): answered as the camera's Test button is.
  for (const path of ['/PictureHttpUpload/keepalive', '/EventHttpUpload/keepalive']) {
    app.get(path, () => ({ message: 'images-to-s3 receiver is ready.' }));
  }
  if (store instanceof SpooledStore) metrics.watchSpool(() => store.report());
  app.get('/readyz', async (request, reply) => {
    const starting = options.starting?.();
    if (starting !== undefined) return reply.code(503).send({ status: 'not ready', message: starting });
    try {
      await store.check();
    } catch (error) {
      request.log.warn({ err: error }, 'store not ready');
      const message =
        error instanceof StoreFullError ? (error.callerMessage ?? 'The image store is (nearly) full.') : 'The image store is not reachable or not writable.';
      return reply.code(503).send({ status: 'not ready', message });
    }
    const { status, ...facts } = (await store.health?.()) ?? { status: 'ready' };
    return { status, store: store.location, ...facts };
  });
  const metricsText = options.metricsText ?? (async () => ({ text: await metrics.registry.metrics(), contentType: metrics.registry.contentType }));
  app.get('/metrics', async (_request, reply) => {
    const { text, contentType } = await metricsText();
    return reply.type(contentType).send(text);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ message: `Nothing at ${withoutPathToken(pathOf(request.url))}: cameras send images and clips to ${recipientPath}.` }),
  );
  return app;
}

/** The recipient path: the contract, plus what only a long-running server needs (caps, limits, metrics, logs). */
class UploadRoute {
  private inFlight = 0;

  constructor(
    private readonly receiver: ImageReceiver,
    private readonly metrics: ReceiverMetrics,
    private readonly limits: ServerLimits,
    private readonly failedAuth: FailedAuthLimiter,
    private readonly deadlineOf: (request: http.IncomingMessage) => ReceiveDeadline | undefined,
    private readonly clipBound: ReceiveBound,
  ) {}

  /** `pathToken`: the token of a `…/t/<token>/` path, taken as an `accessToken` parameter is. */
  async handle(request: FastifyRequest, reply: FastifyReply, pathToken?: string): Promise<FastifyReply> {
    const started = performance.now();
    const isUpload = request.method === 'POST';
    let outcome: UploadOutcome;
    if (isUpload && this.inFlight >= this.limits.maxInFlight) {
      outcome = busyRefusal();
    } else {
      if (isUpload) this.metrics.inFlight.set(++this.inFlight);
      try {
        outcome = await this.process(request, reply, pathToken);
      } finally {
        if (isUpload) this.metrics.inFlight.set(--this.inFlight);
      }
    }

    if (isUpload && outcome.status >= 300) {
      // The rest of a refused body is discarded, and the connection closed after the answer rather
      // than kept alive behind a body of unknown length.
      reply.header('connection', 'close');
      if (!request.raw.complete) request.raw.resume();
    }
    const seconds = (performance.now() - started) / 1000;
    if (isUpload) this.metrics.record(outcome, seconds);
    logOutcome(request, outcome, seconds * 1000);
    return reply.code(outcome.status).headers(outcome.headers).send(outcome.body);
  }

  private async process(request: FastifyRequest, reply: FastifyReply, pathToken: string | undefined): Promise<UploadOutcome> {
    const query = new URLSearchParams(queryOf(request.url));
    // One token in the path and another in the query are refused as two different tokens are (400).
    if (pathToken !== undefined) query.append('accessToken', pathToken);
    const admission = await this.receiver.admit({ method: request.method, query, headers: request.headers });
    if (!('admitted' in admission)) {
      if (admission.tokenRefusal) {
        const retryAfter = this.failedAuth.fail(request.ip);
        if (retryAfter !== undefined) return tooManyTokenFailures(request.ip, retryAfter);
      }
      return admission;
    }
    if (/100-continue/i.test(request.headers.expect ?? '')) reply.raw.writeContinue();
    // Not destroyed when the contract stops reading early: the refusal must still reach the camera.
    const body = request.raw.iterator({ destroyOnReturn: false });
    const deadline = this.deadlineOf(request.raw);
    return this.receiver.receive(admission, deadline ? deadline.guard(body) : body, {
      kindKnown: (kind) => {
        if (kind === 'clip') deadline?.extend(this.clipBound);
      },
    });
  }
}

function logOutcome(request: FastifyRequest, outcome: UploadOutcome, durationMs: number): void {
  if (request.method !== 'POST') {
    request.log.debug({ method: request.method, status: outcome.status }, 'recipient test');
    return;
  }
  const record = outcomeLogRecord(outcome, durationMs, request.ip);
  request.log[record.level]({ ...record.fields, ...(record.level === 'error' && { err: record.cause }) }, record.message);
}

/** `120 s`, `30 min`: a bound as the options give it. */
function duration(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 100) / 10} s`;
}

/** The path segment before a token in the path: `<recipient path>/t/<token>/`. */
const TOKEN_PATH_SEGMENT = '/t/';

/** The path a camera whose URL setting takes a path only posts to, with its token in it. */
export function tokenInPath(recipientPath: string, token: string): string {
  return `${recipientPath.replace(/\/+$/, '')}${TOKEN_PATH_SEGMENT}${token}/`;
}

/** A path as it may be logged or echoed: the token of a `…/t/<token>` path replaced. */
function withoutPathToken(path: string): string {
  return path.replace(/(^|\/)t\/[^/]+/g, '$1t/<token>');
}

function pathOf(url: string): string {
  const mark = url.indexOf('?');
  return mark === -1 ? url : url.slice(0, mark);
}

function queryOf(url: string): string {
  const mark = url.indexOf('?');
  return mark === -1 ? '' : url.slice(mark + 1);
}
