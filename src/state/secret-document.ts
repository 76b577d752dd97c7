/**
 * A shared document kept as the value of an AWS Secrets Manager secret: the AWS stack's token
 * secret, which the authorizer reads.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient, SecretsManagerServiceException, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import type { GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import { CONFLICT, DocumentUnreachableError, UNCHANGED } from './document.js';
import type { DocumentVersion, SharedDocument, WriteProtection } from './document.js';

export interface SecretDocumentOptions {
  client: SecretsManagerClient;
  /** The secret's name or ARN (the stack's `ApiAccessTokenSecretArn` output). */
  secretId: string;
}

/** Where Secrets Manager keeps the value everybody reads. */
const CURRENT = 'AWSCURRENT';
/** Where Secrets Manager moves the label of the value AWSCURRENT left. */
const PREVIOUS = 'AWSPREVIOUS';
/** The label of a value written but not yet made current; one version at a time carries it. */
export const PENDING_STAGE = 'IMAGES-TO-S3-PENDING';

/**
 * A document as the value of a Secrets Manager secret. Its tag is the version id of the value
 * labelled AWSCURRENT, the one the authorizer (and any `GetSecretValue` without a version) reads.
 *
 * Secrets Manager has no conditional `PutSecretValue`, so a write is done in two steps that make
 * it a real compare-and-swap:
 * 1. `PutSecretValue` stores the new text as a new version labelled only {@link PENDING_STAGE}:
 *    nobody reads it yet;
 * 2. `UpdateSecretVersionStage` moves AWSCURRENT to that version, naming the version it must be
 *    taken from (`RemoveFromVersionId`: the tag that was read). AWS refuses the move, atomically,
 *    when AWSCURRENT is no longer on that version (`InvalidParameterException`), so a writer who
 *    read an older value cannot replace a newer one: it gets {@link CONFLICT}, reads again and
 *    applies its change to what is there now.
 *
 * A refused attempt leaves behind a version that carries only the pending label. The next write's
 * `PutSecretValue` moves that label to its own version, which leaves the old one with no label at
 * all; Secrets Manager deletes such versions by itself (once there are more than 100 of them and
 * they are a day old). Every attempt creates a version, and AWS asks for no more than about one
 * `PutSecretValue` every 10 minutes sustained (versions quota): plenty for token edits, which are
 * made by hand, but no place for values that change every second.
 *
 * The secret must exist: it is created by the AWS stack (`npm run deploy`), with the shared
 * `accessToken` the cameras of the reference stack use; {@link write} never creates one.
 */
export class SecretDocument implements SharedDocument {
  readonly location: string;
  private readonly client: SecretsManagerClient;
  private readonly secretId: string;

  constructor(options: SecretDocumentOptions) {
    this.client = options.client;
    this.secretId = options.secretId;
    this.location = `aws-secretsmanager:${options.secretId}`;
  }

  async read(): Promise<DocumentVersion | undefined> {
    const answer = await this.current();
    if (answer === undefined) return undefined;
    if (answer.SecretString === undefined) {
      throw new Error(`${this.location} holds a binary value, not text: it is not a token secret. Give the secret the AWS stack created (its ApiAccessTokenSecretArn output).`);
    }
    if (answer.VersionId === undefined) throw new Error(`${this.location}: Secrets Manager answered without a version id.`);
    return { text: answer.SecretString, tag: answer.VersionId };
  }

  /**
   * One `GetSecretValue`, compared by version id. `DescribeSecret` would tell the current version
   * without carrying the value, but it is a request all the same (billed and throttled alike), it
   * needs a second one to fetch the value when it did change, and one more IAM action for every
   * reader; the value is a few kilobytes.
   */
  async readIfChanged(tag: string | undefined): Promise<DocumentVersion | undefined | typeof UNCHANGED> {
    const now = await this.read();
    return now?.tag === tag ? UNCHANGED : now;
  }

  async write(text: string, expectedTag: string | undefined): Promise<string | typeof CONFLICT> {
    if (expectedTag === undefined) {
      throw new Error(
        `${this.location} does not exist (or has no value). It is created by the AWS stack: deploy it with \`npm run deploy\` and give its ApiAccessTokenSecretArn output.`,
      );
    }
    // A fresh token per write: a retried PutSecretValue (the SDK retries on a lost answer) finds its own version instead of making a second one.
    const versionId = randomUUID();
    try {
      await this.client.send(new PutSecretValueCommand({ SecretId: this.secretId, SecretString: text, ClientRequestToken: versionId, VersionStages: [PENDING_STAGE] }));
    } catch (error) {
      throw this.failure(error, 'PutSecretValue', 'write');
    }
    try {
      await this.client.send(new UpdateSecretVersionStageCommand({ SecretId: this.secretId, VersionStage: CURRENT, MoveToVersionId: versionId, RemoveFromVersionId: expectedTag }));
      return versionId;
    } catch (error) {
      return this.afterRefusedMove(error, versionId, expectedTag);
    }
  }

  protection(): Promise<WriteProtection> {
    return Promise.resolve('compare-and-swap');
  }

  /**
   * The move of AWSCURRENT failed, or its answer was lost: the labels tell which. If our version
   * is current, or was (AWSPREVIOUS: somebody has written since, on top of ours, as their move
   * named our version), the move did happen: a retry of a move that had succeeded is refused, as
   * AWSCURRENT is no longer where it names. Otherwise, when AWS refused the move and another version
   * than the one read is current, somebody wrote meanwhile: {@link CONFLICT}, which the caller
   * retries. Anything else is reported as it is.
   */
  private async afterRefusedMove(error: unknown, versionId: string, expectedTag: string): Promise<string | typeof CONFLICT> {
    let ours: string[];
    let now: string | undefined;
    try {
      ours = (await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId, VersionId: versionId }))).VersionStages ?? [];
      now = (await this.current())?.VersionId;
    } catch {
      throw this.failure(error, 'UpdateSecretVersionStage', 'write');
    }
    if (ours.includes(CURRENT) || ours.includes(PREVIOUS)) return versionId;
    if (now !== expectedTag && nameOf(error) === 'InvalidParameterException') return CONFLICT;
    throw this.failure(error, 'UpdateSecretVersionStage', 'write');
  }

  /** `GetSecretValue` of AWSCURRENT; `undefined` when there is no such secret or value. */
  private async current(): Promise<GetSecretValueCommandOutput | undefined> {
    try {
      return await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId, VersionStage: CURRENT }));
    } catch (error) {
      if (nameOf(error) === 'ResourceNotFoundException') return undefined;
      throw this.failure(error, 'GetSecretValue', 'read');
    }
  }

  /**
   * The network, a timeout, AWS's 5xx or throttling: unreachable (a reader may go on with what it
   * had). Anything else is an error of its own, saying what to do about it. No message names the
   * secret's value: the SDK's errors never carry it.
   */
  private failure(error: unknown, operation: string, action: string): Error {
    const name = nameOf(error);
    const detail = describe(error);
    if (isUnreachable(error)) return new DocumentUnreachableError(this.location, `cannot ${action} it: ${detail}`, { cause: error });
    if (name === 'AccessDeniedException' || name === 'AccessDenied') {
      return new Error(
        `Not allowed to ${action} ${this.location}: ${detail}. The credentials need secretsmanager:${operation} on this secret (the AWS stack's TokenAdministratorPolicyArn output grants what token commands need).`,
        { cause: error },
      );
    }
    if (name === 'UnrecognizedClientException' || name === 'InvalidSignatureException' || name === 'ExpiredTokenException' || name === 'CredentialsProviderError') {
      return new Error(`Cannot ${action} ${this.location}: the AWS credentials were refused or not found (${detail}). Check AWS_PROFILE, \`aws configure\` or \`aws sso login\`.`, { cause: error });
    }
    if (name === 'LimitExceededException') {
      return new Error(`Cannot ${action} ${this.location}: ${detail}. Secrets Manager keeps every version for a day; wait before changing the secret again.`, { cause: error });
    }
    if (/region is missing/i.test(detail)) {
      return new Error(`Cannot ${action} ${this.location}: no AWS region. Give the secret's ARN (it names its region), or set AWS_REGION.`, { cause: error });
    }
    return new Error(`Cannot ${action} ${this.location}: ${detail}`, { cause: error });
  }
}

/** Error codes of a request that never got an answer. */
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EPIPE', 'EPROTO']);
/** Secrets Manager's (and AWS's common) answers for too many requests. */
const THROTTLING_ERRORS = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'RequestThrottledException']);

function isUnreachable(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429 || status === 408 || THROTTLING_ERRORS.has(nameOf(error) ?? '');
  const code = (error as { code?: unknown } | undefined)?.code;
  const name = nameOf(error);
  return (typeof code === 'string' && NETWORK_ERRORS.has(code)) || name === 'TimeoutError' || name === 'AbortError' || name === 'RequestTimeout';
}

function nameOf(error: unknown): string | undefined {
  const name = (error as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}

function describe(error: unknown): string {
  if (error instanceof SecretsManagerServiceException) return `${error.name} (HTTP ${error.$metadata.httpStatusCode ?? '?'}): ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** The region an ARN names (`arn:aws:secretsmanager:<region>:<account>:secret:<name>`), if `secretId` is one. */
export function regionOfArn(secretId: string): string | undefined {
  const match = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):\d{12}:secret:/.exec(secretId);
  return match?.[1];
}

/**
 * A Secrets Manager client for the token commands and receivers: credentials and endpoint from
 * the SDK's standard sources (`AWS_PROFILE`, SSO, …; `AWS_ENDPOINT_URL_SECRETS_MANAGER` or
 * `AWS_ENDPOINT_URL`), bounded timeouts so an unreachable endpoint fails in seconds.
 *
 * The region is the ARN's when `secretId` is an ARN: a secret is only found in its own region, so
 * `--tokens aws-secretsmanager:arn:aws:secretsmanager:eu-west-1:…` works whatever AWS_REGION says,
 * and without one. For a plain name, the SDK's usual sources (AWS_REGION, the profile).
 */
export function createSecretsManagerClient(secretId: string): SecretsManagerClient {
  const region = regionOfArn(secretId);
  return new SecretsManagerClient({
    ...(region !== undefined && { region }),
    // Throttling and lost answers are retried (twice); an endpoint that does not answer fails within about 15 s.
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000, throwOnRequestTimeout: true },
  });
}
