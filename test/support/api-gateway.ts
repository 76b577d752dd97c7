import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2, APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import type { AuthorizerHandler } from '../../src/lambda/authorizer-handler.js';
import type { UploadEvent, UploadHandler } from '../../src/lambda/upload-handler.js';

/** Lambda's limit for a synchronous invocation's event (6 MiB). */
export const LAMBDA_INVOKE_PAYLOAD_LIMIT = 6 * 1024 * 1024;

export interface HttpApiRequest {
  method: string;
  /** The raw query string, without `?`. */
  query?: string;
  /** Header names in any case; API Gateway lower-cases them. */
  headers?: Record<string, string>;
  body?: Buffer;
  sourceIp?: string;
}

export interface HttpApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: Record<string, unknown>;
  /** How the request ended: API Gateway itself, the authorizer, or the upload function. */
  answeredBy: 'api-gateway' | 'upload';
}

/**
 * What the stack's HTTP API does with one request, built after AWS's documentation of payload
 * format 2.0: routes `GET /` and `HEAD /` (no authorizer), `POST /` (REQUEST authorizer, identity
 * source `$request.querystring.accessToken`, simple responses) and `ANY /`, all to the upload
 * function. API Gateway answers 401 itself when the identity source is missing or empty, 403 when
 * the authorizer says no, and 500 when the authorizer fails. Results are not cached here.
 */
export class HttpApiEmulator {
  /** The last events handed to each function, for assertions on their shape. */
  lastAuthorizerEvent: APIGatewayRequestAuthorizerEventV2 | undefined;
  lastUploadEvent: UploadEvent | undefined;

  constructor(
    private readonly functions: { authorizer: AuthorizerHandler; upload: UploadHandler },
    private readonly apiId = 'a1b2c3d4e5',
  ) {}

  async send(request: HttpApiRequest): Promise<HttpApiResponse> {
    const method = request.method.toUpperCase();
    const routeKey = method === 'GET' || method === 'HEAD' || method === 'POST' ? `${method} /` : 'ANY /';
    const rawQueryString = request.query ?? '';
    const headers = lowerCaseHeaders(request.headers ?? {}, request.body);
    const queryStringParameters = queryParameters(rawQueryString);
    const requestContext = this.requestContext(method, routeKey, headers, request.sourceIp ?? '198.51.100.7');

    let authorizerContext: Record<string, unknown> | undefined;
    if (routeKey === 'POST /') {
      const identity = queryStringParameters?.accessToken;
      if (identity === undefined || identity === '') return gatewayAnswer(401, 'Unauthorized');
      const event: APIGatewayRequestAuthorizerEventV2 = {
        version: '2.0',
        type: 'REQUEST',
        routeArn: `arn:aws:execute-api:us-east-1:123456789012:${this.apiId}/$default/POST/`,
        identitySource: [identity],
        routeKey,
        rawPath: '/',
        rawQueryString,
        cookies: [],
        headers,
        ...(queryStringParameters && { queryStringParameters }),
        requestContext,
        pathParameters: {},
        stageVariables: {},
      };
      this.lastAuthorizerEvent = event;
      let result;
      try {
        result = await this.functions.authorizer(structuredClone(event));
      } catch {
        return gatewayAnswer(500, 'Internal Server Error');
      }
      if (!result.isAuthorized) return gatewayAnswer(403, 'Forbidden');
      authorizerContext = { ...result.context };
    }

    const binary = request.body !== undefined && request.body.byteLength > 0 && !isText(headers['content-type']);
    const event: UploadEvent = {
      version: '2.0',
      routeKey,
      rawPath: '/',
      rawQueryString,
      headers,
      ...(queryStringParameters && { queryStringParameters }),
      requestContext: { ...requestContext, ...(authorizerContext && { authorizer: { lambda: authorizerContext } }) },
      ...(request.body !== undefined && request.body.byteLength > 0 && { body: request.body.toString(binary ? 'base64' : 'utf8') }),
      isBase64Encoded: binary,
    };
    const payload = Buffer.byteLength(JSON.stringify(event));
    if (payload > LAMBDA_INVOKE_PAYLOAD_LIMIT) {
      throw new Error(`Lambda refuses this invocation: its event is ${payload} bytes, over ${LAMBDA_INVOKE_PAYLOAD_LIMIT}`);
    }
    this.lastUploadEvent = event;
    const result: APIGatewayProxyStructuredResultV2 = await this.functions.upload(structuredClone(event));
    const body = method === 'HEAD' ? '' : (result.body ?? '');
    return {
      status: result.statusCode ?? 200,
      headers: Object.fromEntries(Object.entries(result.headers ?? {}).map(([name, value]) => [name.toLowerCase(), String(value)])),
      body,
      json: parseJson(body),
      answeredBy: 'upload',
    };
  }

  private requestContext(method: string, routeKey: string, headers: Record<string, string>, sourceIp: string): UploadEvent['requestContext'] {
    const now = new Date();
    return {
      accountId: '123456789012',
      apiId: this.apiId,
      domainName: `${this.apiId}.execute-api.us-east-1.amazonaws.com`,
      domainPrefix: this.apiId,
      http: { method, path: '/', protocol: 'HTTP/1.1', sourceIp, userAgent: headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    };
  }
}

/** Header names lower-cased; API Gateway passes Content-Length on. */
function lowerCaseHeaders(headers: Record<string, string>, body: Buffer | undefined): Record<string, string> {
  const lower: Record<string, string> = {
    host: 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com',
    'user-agent': 'axis-camera-test',
    'x-forwarded-proto': 'https',
  };
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase();
    lower[key] = lower[key] !== undefined && key !== 'host' && key !== 'user-agent' ? `${lower[key]},${value}` : value;
  }
  if (body !== undefined && lower['content-length'] === undefined && lower['transfer-encoding'] === undefined) {
    lower['content-length'] = String(body.byteLength);
  }
  return lower;
}

/** As API Gateway builds `queryStringParameters`: repeated names joined with commas. */
function queryParameters(rawQueryString: string): Record<string, string> | undefined {
  if (rawQueryString === '') return undefined;
  const parameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    parameters[name] = parameters[name] === undefined ? value : `${parameters[name]},${value}`;
  }
  return parameters;
}

/** Bodies of these types reach Lambda as text; every other body base64-encoded. */
function isText(contentType: string | undefined): boolean {
  const essence = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  return essence.startsWith('text/') || /^application\/(json|xml|javascript|x-www-form-urlencoded)$/.test(essence) || /\+(json|xml)$/.test(essence);
}

function gatewayAnswer(status: number, message: string): HttpApiResponse {
  const body = JSON.stringify({ message });
  return { status, headers: { 'content-type': 'application/json' }, body, json: { message }, answeredBy: 'api-gateway' };
}

function parseJson(body: string): Record<string, unknown> {
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return {};
  }
}
