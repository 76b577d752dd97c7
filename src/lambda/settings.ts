import { DEFAULT_KEY_TEMPLATE, KeyTemplate } from '../core/object-key.js';
import { DEFAULT_SHARED_TOKEN_CAMERA, DEFAULT_TOKEN_CACHE_MS } from './token-secret.js';

/**
 * The largest image the AWS stack can take. A synchronous Lambda invocation carries at most 6 MB
 * (6,291,456 bytes) of event, and API Gateway hands Lambda a binary body base64-encoded (4 bytes
 * for every 3): 4,500,000 bytes of image make 6,000,000 bytes of base64, which leaves room for
 * the headers and the rest of the event. Larger images need the self-hosted receiver.
 */
export const LAMBDA_MAX_IMAGE_BYTES = 4_500_000;

/** The environment variables the stack sets and the handlers read. */
export const ENVIRONMENT = {
  bucket: 'IMAGES_BUCKET',
  keyTemplate: 'IMAGES_KEY_TEMPLATE',
  maxImageBytes: 'IMAGES_MAX_BYTES',
  tokenSecret: 'TOKEN_SECRET_ID',
  sharedTokenCamera: 'SHARED_TOKEN_CAMERA',
  tokenCacheSeconds: 'TOKEN_CACHE_SECONDS',
} as const;

type Environment = Record<string, string | undefined>;

/** What the upload function is configured with. */
export interface UploadSettings {
  bucket: string;
  keyTemplate: KeyTemplate;
  maxBytes: number;
}

/** What the authorizer function is configured with. */
export interface AuthorizerSettings {
  secretId: string;
  sharedTokenCamera: string;
  maxAgeMs: number;
}

export function uploadSettingsFrom(env: Environment): UploadSettings {
  const maxBytes = integer(env, ENVIRONMENT.maxImageBytes, LAMBDA_MAX_IMAGE_BYTES);
  if (maxBytes < 1 || maxBytes > LAMBDA_MAX_IMAGE_BYTES) {
    throw new Error(`${ENVIRONMENT.maxImageBytes} must be between 1 and ${LAMBDA_MAX_IMAGE_BYTES} (what Lambda can receive), not ${maxBytes}`);
  }
  return {
    bucket: required(env, ENVIRONMENT.bucket),
    keyTemplate: new KeyTemplate(env[ENVIRONMENT.keyTemplate] || DEFAULT_KEY_TEMPLATE),
    maxBytes,
  };
}

export function authorizerSettingsFrom(env: Environment): AuthorizerSettings {
  return {
    secretId: required(env, ENVIRONMENT.tokenSecret),
    sharedTokenCamera: env[ENVIRONMENT.sharedTokenCamera] || DEFAULT_SHARED_TOKEN_CAMERA,
    maxAgeMs: integer(env, ENVIRONMENT.tokenCacheSeconds, DEFAULT_TOKEN_CACHE_MS / 1000) * 1000,
  };
}

function required(env: Environment, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`The environment variable ${name} is not set`);
  return value;
}

function integer(env: Environment, name: string, fallback: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value)) throw new Error(`The environment variable ${name} must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
}
