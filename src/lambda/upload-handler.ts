import { Readable } from 'node:stream';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { KeyTemplate } from '../core/object-key.js';
import { ImageReceiver } from '../core/receiver.js';
import type { UploadOutcome, UploadRequest } from '../core/receiver.js';
import type { ImageStore } from '../core/store.js';
import { LAMBDA_MAX_IMAGE_BYTES } from './settings.js';

/** The HTTP API payload 2.0 event, with the authorizer's context when the route has one. */
export type UploadEvent = APIGatewayProxyEventV2 & {
  requestContext: APIGatewayProxyEventV2['requestContext'] & { authorizer?: { lambda?: Record<string, unknown> } };
};

export type UploadHandler = (event: UploadEvent, context?: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export interface UploadHandlerOptions {
  store: ImageStore;
  keyTemplate?: KeyTemplate;
  /** Largest accepted image in bytes; at most {@link LAMBDA_MAX_IMAGE_BYTES}. */
  maxBytes: number;
  logger: Logger;
  metrics: Metrics;
  clock?: () => Date;
}

/**
 * The upload function: an adapter from the API Gateway HTTP API event to the upload contract.
 * The authorizer has already checked the token, so the contract's token step gets the camera the
 * authorizer put in the request context; everything else (method, type, size, bytes, key, no
 * overwrite, statuses, messages) is the same code the self-hosted server runs.
 */
export function createUploadHandler(options: UploadHandlerOptions): UploadHandler {
  const { store, logger, metrics } = options;
  return async (event, context) => {
    const started = performance.now();
    if (context) logger.addContext(context);
    const camera = authorizedCamera(event);
    const receiver = new ImageReceiver({
      // Every token the authorizer let through belongs to `camera`; without an authorizer
      // context (a route without one) no token is valid.
      tokens: { verify: () => Promise.resolve(camera) },
      store,
      maxBytes: options.maxBytes,
      ...(options.keyTemplate && { keyTemplate: options.keyTemplate }),
      ...(options.clock && { clock: options.clock }),
    });
    const request = uploadRequestOf(event);
    let outcome = await receiver.handle(request);
    if (outcome.status === 413) outcome = tooLargeForLambda(outcome, options.maxBytes);

    if (request.method.toUpperCase() === 'POST') {
      record(outcome, metrics);
      log(logger, outcome, performance.now() - started, event.requestContext.http.sourceIp);
    }
    return {
      statusCode: outcome.status,
      headers: { 'content-type': 'application/json; charset=utf-8', ...outcome.headers },
      body: request.method.toUpperCase() === 'HEAD' ? '' : JSON.stringify(outcome.body),
    };
  };
}

/** The camera name the authorizer passed on, if any. */
function authorizedCamera(event: UploadEvent): string | undefined {
  const camera = event.requestContext.authorizer?.lambda?.camera;
  return typeof camera === 'string' && camera !== '' ? camera : undefined;
}

/**
 * The request as the contract sees it. API Gateway gives header names in lower case and the body
 * as a string, base64-encoded when it is binary (as images are).
 */
export function uploadRequestOf(event: UploadEvent): UploadRequest {
  const bytes = event.body === undefined || event.body === null ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  return {
    method: event.requestContext.http.method,
    query: new URLSearchParams(event.rawQueryString ?? ''),
    headers,
    body: Readable.from(bytes.byteLength > 0 ? [bytes] : []),
  };
}

/** A 413 that says what the limit is on AWS and where larger images can go. */
function tooLargeForLambda(outcome: UploadOutcome, maxBytes: number): UploadOutcome {
  const limit = `${(maxBytes / 1_000_000).toFixed(1)} MB`;
  const message =
    `The image is larger than this AWS receiver accepts (${limit}; AWS Lambda takes at most about ` +
    `${(LAMBDA_MAX_IMAGE_BYTES / 1_000_000).toFixed(1)} MB per image). Lower the camera's resolution or JPEG quality, ` +
    'or send larger images to the self-hosted receiver (images-to-s3 serve).';
  return { ...outcome, body: { message }, log: { ...outcome.log, error: message } };
}

/** CloudWatch metrics (EMF): accepted, rejected and failed uploads, and stored bytes. */
function record(outcome: UploadOutcome, metrics: Metrics): void {
  if (outcome.status < 300) {
    metrics.addMetric('ImagesAccepted', MetricUnit.Count, 1);
    metrics.addMetric('ImageBytes', MetricUnit.Bytes, outcome.log.bytes ?? 0);
  } else if (outcome.status < 500) {
    metrics.addMetric('UploadsRejected', MetricUnit.Count, 1);
  } else {
    metrics.addMetric('UploadsFailed', MetricUnit.Count, 1);
  }
  metrics.publishStoredMetrics();
}

/** One structured line per upload; the query string, and so the token, is never part of it. */
function log(logger: Logger, outcome: UploadOutcome, durationMs: number, sourceIp: string): void {
  const { cause, ...facts } = outcome.log;
  const line = { ...facts, status: outcome.status, durationMs: Math.round(durationMs * 10) / 10, sourceIp };
  if (outcome.status < 300) logger.info('image stored', line);
  else if (outcome.status < 500) logger.warn('upload rejected', line);
  else logger.error('upload failed', { ...line, ...(cause !== undefined && { cause: cause instanceof Error ? cause : JSON.stringify(cause) }) });
}
