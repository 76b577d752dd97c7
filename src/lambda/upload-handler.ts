import { Readable } from 'node:stream';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { MediaKind } from '../core/media-types.js';
import type { KeyTemplate } from '../core/object-key.js';
import { outcomeKind, outcomeLogRecord } from '../core/outcome.js';
import type { UploadOutcome } from '../core/outcome.js';
import { ImageReceiver } from '../core/receiver.js';
import type { UploadRequest } from '../core/receiver.js';
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
 * The upload function: an adapter from the API Gateway HTTP API event to the upload contract,
 * built once per cold start. The authorizer has already checked the token, so the contract gets
 * the camera the authorizer put in the request context; without one (a route without the
 * authorizer) no token is valid. Everything else (method, type, size, bytes, key, no overwrite,
 * statuses, messages, the log record) is the same code the self-hosted server runs. Clips are
 * refused (413), whatever their size: API Gateway and Lambda cannot carry them (see {@link tooLargeForLambda}).
 */
export function createUploadHandler(options: UploadHandlerOptions): UploadHandler {
  const { logger, metrics } = options;
  const receiver = new ImageReceiver({
    store: options.store,
    maxBytes: options.maxBytes,
    maxClipBytes: 0,
    tooLargeMessage: tooLargeForLambda,
    ...(options.keyTemplate && { keyTemplate: options.keyTemplate }),
    ...(options.clock && { clock: options.clock }),
  });
  return async (event, context) => {
    const started = performance.now();
    if (context) logger.addContext(context);
    const camera = authorizedCamera(event);
    const request = uploadRequestOf(event);
    const outcome = await receiver.handle(request, camera === undefined ? undefined : { camera });
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

/**
 * What a 413 says on AWS: for an image, the limit there and where larger images can go; for a
 * clip, that the stack takes none. A request through API Gateway's HTTP API reaches Lambda whole,
 * base64-encoded, in an invocation of at most 6 MB, and must be answered within 30 s: a clip of a
 * few seconds at camera bit rates is already larger, and a slow camera uplink takes longer.
 */
function tooLargeForLambda(kind: MediaKind, maxBytes: number): string {
  if (kind === 'clip') {
    return (
      'This AWS receiver does not take video clips: API Gateway and Lambda carry at most about ' +
      `${(LAMBDA_MAX_IMAGE_BYTES / 1_000_000).toFixed(1)} MB per request, and must answer within 30 s. ` +
      'Send clips to the self-hosted receiver (images-to-s3 serve), which streams them to S3 or disk; images can keep coming here.'
    );
  }
  const limit = `${(maxBytes / 1_000_000).toFixed(1)} MB`;
  return (
    `The image is larger than this AWS receiver accepts (${limit}; AWS Lambda takes at most about ` +
    `${(LAMBDA_MAX_IMAGE_BYTES / 1_000_000).toFixed(1)} MB per image). Lower the camera's resolution or JPEG quality, ` +
    'or send larger images to the self-hosted receiver (images-to-s3 serve).'
  );
}

/** CloudWatch metrics (EMF): accepted, rejected and failed uploads, and stored bytes. */
function record(outcome: UploadOutcome, metrics: Metrics): void {
  const kind = outcomeKind(outcome.status);
  if (kind === 'stored') {
    metrics.addMetric('ImagesAccepted', MetricUnit.Count, 1);
    metrics.addMetric('ImageBytes', MetricUnit.Bytes, outcome.log.bytes ?? 0);
  } else {
    metrics.addMetric(kind === 'rejected' ? 'UploadsRejected' : 'UploadsFailed', MetricUnit.Count, 1);
  }
  metrics.publishStoredMetrics();
}

/** The contract's log record, written with the Lambda logger; the token is never part of it. */
function log(logger: Logger, outcome: UploadOutcome, durationMs: number, sourceIp: string): void {
  const record = outcomeLogRecord(outcome, durationMs, sourceIp);
  const cause = record.cause;
  logger[record.level](record.message, { ...record.fields, ...(cause !== undefined && { cause: cause instanceof Error ? cause : JSON.stringify(cause) }) });
}
