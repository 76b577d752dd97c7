import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import type { UploadEvent } from '../../src/lambda/upload-handler.js';

/** The headers API Gateway passes on for a camera's upload (names lower-cased). */
const CAMERA_HEADERS = {
  'content-type': 'image/jpeg',
  'content-disposition': 'attachment; filename="image26-11-23_10-15-00-12_00001.jpg"',
  host: 'abcdef123.execute-api.us-east-1.amazonaws.com',
  'x-amzn-trace-id': 'Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e',
  'x-forwarded-for': '198.51.100.7',
  'x-forwarded-port': '443',
  'x-forwarded-proto': 'https',
};

/**
 * Events in the shapes AWS documents for HTTP APIs ("Working with AWS Lambda authorizers for HTTP
 * APIs" and "payload format version 2.0"), with this stack's route, query and headers filled in.
 */
export function authorizerEvent(rawQueryString: string, identity: string[] = [new URLSearchParams(rawQueryString).getAll('accessToken').join(',')]): APIGatewayRequestAuthorizerEventV2 {
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: 'arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/POST/',
    identitySource: identity,
    routeKey: 'POST /',
    rawPath: '/',
    rawQueryString,
    cookies: [],
    headers: {
      'content-length': '18304',
      ...CAMERA_HEADERS,
    },
    queryStringParameters: Object.fromEntries([...new Set(new URLSearchParams(rawQueryString).keys())].map((name) => [name, new URLSearchParams(rawQueryString).getAll(name).join(',')])),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef123',
      domainName: 'abcdef123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abcdef123',
      http: { method: 'POST', path: '/', protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: '' },
      requestId: 'JKJaXmPLvHcESHA=',
      routeKey: 'POST /',
      stage: '$default',
      time: '23/Nov/2026:10:15:00 +0000',
      timeEpoch: 1795428900000,
    },
    pathParameters: {},
    stageVariables: {},
  };
}

/** The upload function's event for a POST that passed the authorizer (`camera` in its context). */
export function uploadEvent(options: {
  method?: string;
  rawQueryString?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  isBase64Encoded?: boolean;
  camera?: string | null;
}): UploadEvent {
  const method = options.method ?? 'POST';
  const body = options.body;
  const isBase64Encoded = options.isBase64Encoded ?? Buffer.isBuffer(body);
  return {
    version: '2.0',
    routeKey: `${method} /`,
    rawPath: '/',
    rawQueryString: options.rawQueryString ?? 'accessToken=not-looked-at-here',
    headers: {
      ...CAMERA_HEADERS,
      ...(body !== undefined && { 'content-length': String(Buffer.byteLength(body)) }),
      ...options.headers,
    },
    queryStringParameters: { accessToken: 'not-looked-at-here' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef123',
      ...(options.camera !== null && { authorizer: { lambda: { camera: options.camera ?? 'front-door' } } }),
      domainName: 'abcdef123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abcdef123',
      http: { method, path: '/', protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: '' },
      requestId: 'JKJaXmPLvHcESHA=',
      routeKey: `${method} /`,
      stage: '$default',
      time: '23/Nov/2026:10:15:00 +0000',
      timeEpoch: 1795428900000,
    },
    ...(body !== undefined && { body: Buffer.isBuffer(body) ? body.toString(isBase64Encoded ? 'base64' : 'utf8') : body }),
    isBase64Encoded,
  };
}
