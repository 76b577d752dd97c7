import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DEFAULT_KEY_TEMPLATE, KeyTemplate } from '../src/core/object-key.js';
import { LAMBDA_MAX_IMAGE_BYTES } from '../src/lambda/settings.js';
import { DEFAULT_SHARED_TOKEN_CAMERA, DEFAULT_TOKEN_CACHE_MS } from '../src/lambda/token-secret.js';
import { CAMERA_NAME_RULE, isValidCameraName } from '../src/core/camera-name.js';

/**
 * The stack's settings, from CDK context (`cdk.json` or `-c key=value`). Context rather than
 * CloudFormation parameters, so every value is checked at synth time with the same code the
 * handlers use (a key template the core refuses never reaches AWS).
 */
export interface StackConfig {
  /** CloudFormation stack name. */
  stackName: string;
  /** Object key layout, as `--key-template` of the self-hosted receiver. */
  keyTemplate: string;
  /** Largest image accepted, at most what Lambda can receive. */
  maxImageBytes: number;
  /** Delete images this many days after upload; undefined keeps them for ever. */
  imageRetentionDays: number | undefined;
  /** How long API Gateway caches the authorizer's answer for one token (0 turns caching off). */
  authorizerCacheSeconds: number;
  /** How long the authorizer trusts its copy of the token secret. */
  tokenCacheSeconds: number;
  /** The camera name the shared `accessToken` stands for in object keys. */
  sharedTokenCamera: string;
  /** Retention of the functions' and the API's logs. */
  logRetentionDays: RetentionDays;
  /** Delete the bucket and its images with the stack (default: the bucket is kept). */
  destroyBucket: boolean;
  /** Steady-state and burst request rate limits of the API stage. */
  apiRateLimit: number;
  apiBurstLimit: number;
  /** Send the bucket's S3 events to EventBridge, with an example rule logging "Object Created" events. */
  eventBridge: boolean;
}

export const DEFAULT_CONFIG: StackConfig = {
  stackName: 'images-to-s3',
  keyTemplate: DEFAULT_KEY_TEMPLATE,
  maxImageBytes: LAMBDA_MAX_IMAGE_BYTES,
  imageRetentionDays: undefined,
  authorizerCacheSeconds: 300,
  tokenCacheSeconds: DEFAULT_TOKEN_CACHE_MS / 1000,
  sharedTokenCamera: DEFAULT_SHARED_TOKEN_CAMERA,
  logRetentionDays: RetentionDays.ONE_MONTH,
  destroyBucket: false,
  apiRateLimit: 50,
  apiBurstLimit: 100,
  eventBridge: false,
};

/** The context keys, as `cdk -c <key>=<value>` takes them. */
export const CONTEXT_KEYS = [
  'stackName',
  'keyTemplate',
  'maxImageBytes',
  'imageRetentionDays',
  'authorizerCacheSeconds',
  'tokenCacheSeconds',
  'sharedTokenCamera',
  'logRetentionDays',
  'destroyBucket',
  'apiRateLimit',
  'apiBurstLimit',
  'eventBridge',
] as const satisfies ReadonlyArray<keyof StackConfig>;

/** Thrown for a context value the stack cannot use; the message names the key and the rule. */
export class StackConfigError extends Error {
  constructor(key: string, problem: string) {
    super(`Context "${key}": ${problem}`);
    this.name = 'StackConfigError';
  }
}

/** Reads and checks the settings; `context` is `app.node.tryGetContext`. */
export function stackConfigFrom(context: (key: string) => unknown): StackConfig {
  const value = (key: keyof StackConfig): unknown => {
    const raw = context(key);
    return raw === undefined || raw === null || raw === '' ? undefined : raw;
  };
  const config: StackConfig = { ...DEFAULT_CONFIG };

  const stackName = value('stackName');
  if (stackName !== undefined) {
    if (typeof stackName !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
      throw new StackConfigError('stackName', 'a CloudFormation stack name: a letter, then letters, digits and "-", at most 128 characters');
    }
    config.stackName = stackName;
  }

  const keyTemplate = value('keyTemplate');
  if (keyTemplate !== undefined) {
    if (typeof keyTemplate !== 'string') throw new StackConfigError('keyTemplate', 'a string such as {camera}/{yyyy}/{MM}/{dd}/{filename}');
    try {
      config.keyTemplate = new KeyTemplate(keyTemplate).template;
    } catch (error) {
      throw new StackConfigError('keyTemplate', (error as Error).message);
    }
  }

  config.maxImageBytes = integer(value, 'maxImageBytes', 1, LAMBDA_MAX_IMAGE_BYTES) ?? config.maxImageBytes;
  config.imageRetentionDays = integer(value, 'imageRetentionDays', 1, 36_500);
  config.authorizerCacheSeconds = integer(value, 'authorizerCacheSeconds', 0, 3600) ?? config.authorizerCacheSeconds;
  config.tokenCacheSeconds = integer(value, 'tokenCacheSeconds', 0, 3600) ?? config.tokenCacheSeconds;
  config.apiRateLimit = integer(value, 'apiRateLimit', 1, 10_000) ?? config.apiRateLimit;
  config.apiBurstLimit = integer(value, 'apiBurstLimit', 1, 5_000) ?? config.apiBurstLimit;

  const camera = value('sharedTokenCamera');
  if (camera !== undefined) {
    if (!isValidCameraName(camera)) throw new StackConfigError('sharedTokenCamera', CAMERA_NAME_RULE);
    config.sharedTokenCamera = camera;
  }

  const logDays = integer(value, 'logRetentionDays', 1, 3653);
  if (logDays !== undefined) {
    const allowed = Object.values(RetentionDays).filter((days): days is number => typeof days === 'number' && days !== RetentionDays.INFINITE);
    if (!allowed.includes(logDays)) throw new StackConfigError('logRetentionDays', `one of ${allowed.join(', ')}`);
    config.logRetentionDays = logDays;
  }

  config.destroyBucket = boolean(value, 'destroyBucket') ?? config.destroyBucket;
  config.eventBridge = boolean(value, 'eventBridge') ?? config.eventBridge;
  return config;
}

function boolean(value: (key: keyof StackConfig) => unknown, key: keyof StackConfig): boolean | undefined {
  const raw = value(key);
  if (raw === undefined) return undefined;
  if (raw !== true && raw !== false && raw !== 'true' && raw !== 'false') throw new StackConfigError(key, 'true or false');
  return raw === true || raw === 'true';
}

function integer(value: (key: keyof StackConfig) => unknown, key: keyof StackConfig, min: number, max: number): number | undefined {
  const raw = value(key);
  if (raw === undefined) return undefined;
  const number = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(number) || number < min || number > max) {
    throw new StackConfigError(key, `a whole number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
  }
  return number;
}
