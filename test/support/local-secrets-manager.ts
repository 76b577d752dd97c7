import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local endpoint that speaks the part of the Secrets Manager JSON 1.1 protocol the authorizer
 * and the token commands use: `POST /` with `X-Amz-Target: secretsmanager.<Operation>`, answered
 * as AWS does (`application/x-amz-json-1.1`; errors as `{"__type", "message"}` with the type in
 * `x-amzn-errortype` too).
 *
 * Secrets hold versions with staging labels, as in AWS: `GetSecretValue` (by `VersionId` and/or
 * `VersionStage`, AWSCURRENT by default), `PutSecretValue` (the `ClientRequestToken` becomes the
 * version id; `VersionStages` default to AWSCURRENT, which moves AWSCURRENT and AWSPREVIOUS; a
 * label named that is on another version moves to the new one) and `UpdateSecretVersionStage`
 * (moving a label that is attached elsewhere needs `RemoveFromVersionId` naming that version,
 * otherwise `InvalidParameterException`). Versions left without a label are kept, as AWS keeps
 * them for at least a day.
 */
export interface LocalSecretsManager {
  endpoint: string;
  /**
   * Sets (or replaces, as a rotation does) the value of a secret: a new version that becomes
   * AWSCURRENT, as `put-secret-value` without stages does. A Buffer makes a binary secret.
   * Returns the new version's id.
   */
  put(secretId: string, value: string | Buffer): string;
  /** GetSecretValue calls received, with whether each carried a SigV4 signature. */
  calls: Array<{ secretId: string; signed: boolean }>;
  /** Every request received: its operation, secret and the region of its SigV4 signature. */
  requests: Array<{ operation: string; secretId: string; region: string | undefined }>;
  /** The secret's versions, oldest first, with their labels; `undefined` for an unknown secret. */
  versions(secretId: string): Array<{ versionId: string; stages: string[] }> | undefined;
  /** Makes the next answers fail with HTTP 500 (`InternalServiceError`) while true. */
  failing: boolean;
  /**
   * Called for every request before it is served; an error it returns is the answer instead,
   * e.g. `{ status: 400, type: 'AccessDeniedException', message: '…' }`.
   */
  intercept: ((operation: string, body: Record<string, unknown>) => AwsError | undefined) | undefined;
  stop(): Promise<void>;
}

export interface AwsError {
  status: number;
  type: string;
  message: string;
  /** Serve the request first, then answer this error: an answer lost after the change was made. */
  afterServing?: boolean;
}

interface Version {
  versionId: string;
  text?: string;
  binary?: Buffer;
  stages: string[];
  created: number;
}

interface Secret {
  arn: string;
  name: string;
  versions: Version[];
}

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';

class Refusal extends Error {
  constructor(readonly error: AwsError) {
    super(error.message);
  }
}

/** A string field of a request, or `undefined` when absent (or not a string). */
const field = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

const refuse = (type: string, message: string, status = 400): never => {
  throw new Refusal({ status, type, message });
};

export async function startLocalSecretsManager(): Promise<LocalSecretsManager> {
  const secrets = new Map<string, Secret>();
  const calls: LocalSecretsManager['calls'] = [];
  const requests: LocalSecretsManager['requests'] = [];
  const state: { failing: boolean; intercept: LocalSecretsManager['intercept'] } = { failing: false, intercept: undefined };
  let clock = 1_700_000_000;

  /** The secret by name or by ARN, as AWS accepts either. */
  const find = (secretId: unknown): Secret | undefined => {
    if (typeof secretId !== 'string') return undefined;
    return secrets.get(secretId) ?? [...secrets.values()].find((secret) => secret.arn === secretId || secret.name === secretId);
  };
  const existing = (secretId: unknown): Secret => find(secretId) ?? refuse('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");

  /** Takes `stage` off whichever version has it; AWSCURRENT leaves AWSPREVIOUS behind on the version it left. */
  const detach = (secret: Secret, stage: string): Version | undefined => {
    const holder = secret.versions.find((version) => version.stages.includes(stage));
    if (holder === undefined) return undefined;
    holder.stages = holder.stages.filter((label) => label !== stage);
    if (stage === CURRENT) {
      for (const version of secret.versions) version.stages = version.stages.filter((label) => label !== PREVIOUS);
      holder.stages.push(PREVIOUS);
    }
    return holder;
  };

  const putValue = (secret: Secret, versionId: string, value: { text?: string; binary?: Buffer }, stages: string[] | undefined): Version => {
    const same = secret.versions.find((version) => version.versionId === versionId);
    if (same !== undefined) {
      // Idempotent for the same token and data; anything else under a used token is refused.
      const sameData = same.text === value.text && (same.binary?.equals(value.binary ?? Buffer.alloc(0)) ?? value.binary === undefined);
      if (!sameData) refuse('ResourceExistsException', `A resource with the ID you requested already exists.`);
      return same;
    }
    const labels = stages ?? [CURRENT];
    const first = secret.versions.length === 0;
    for (const label of labels) detach(secret, label);
    const version: Version = { versionId, ...value, stages: [...labels], created: clock++ };
    // The first version of a secret is current whatever labels it was given.
    if (first && !version.stages.includes(CURRENT)) version.stages.push(CURRENT);
    secret.versions.push(version);
    return version;
  };

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    GetSecretValue: (body) => {
      const secret = existing(body.SecretId);
      const stage = typeof body.VersionStage === 'string' ? body.VersionStage : body.VersionId === undefined ? CURRENT : undefined;
      const version = secret.versions.find((candidate) => (body.VersionId === undefined || candidate.versionId === body.VersionId) && (stage === undefined || candidate.stages.includes(stage)));
      if (version === undefined) {
        refuse(
          'ResourceNotFoundException',
          body.VersionId === undefined ? `Secrets Manager can't find the specified secret value for staging label: ${stage}` : `Secrets Manager can't find the specified secret value for VersionId: ${field(body.VersionId)}`,
        );
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version!.versionId,
        ...(version!.text !== undefined && { SecretString: version!.text }),
        ...(version!.binary !== undefined && { SecretBinary: version!.binary.toString('base64') }),
        VersionStages: version!.stages,
        CreatedDate: version!.created,
      };
    },
    PutSecretValue: (body) => {
      const secret = existing(body.SecretId);
      const text = typeof body.SecretString === 'string' ? body.SecretString : undefined;
      const binary = typeof body.SecretBinary === 'string' ? Buffer.from(body.SecretBinary, 'base64') : undefined;
      if ((text === undefined) === (binary === undefined)) refuse('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
      const stages = Array.isArray(body.VersionStages) ? body.VersionStages.map(String) : undefined;
      if (stages !== undefined && stages.length === 0) refuse('InvalidParameterException', 'VersionStages must not be empty.');
      const versionId = typeof body.ClientRequestToken === 'string' ? body.ClientRequestToken : randomUUID();
      const version = putValue(secret, versionId, { ...(text !== undefined && { text }), ...(binary !== undefined && { binary }) }, stages);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId, VersionStages: version.stages };
    },
    UpdateSecretVersionStage: (body) => {
      const secret = existing(body.SecretId);
      const stage = typeof body.VersionStage === 'string' ? body.VersionStage : refuse('InvalidParameterException', 'VersionStage is required.');
      const moveTo = field(body.MoveToVersionId);
      const removeFrom = field(body.RemoveFromVersionId);
      const target = moveTo === undefined ? undefined : secret.versions.find((version) => version.versionId === moveTo);
      if (moveTo !== undefined && target === undefined) refuse('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${moveTo}`);
      const holder = secret.versions.find((version) => version.stages.includes(stage));
      if (removeFrom !== undefined && holder?.versionId !== removeFrom) {
        refuse(
          'InvalidParameterException',
          holder === undefined
            ? `The staging label ${stage} is not attached to version ${removeFrom}.`
            : `When you move staging label ${stage}, if you specify RemoveFromVersionId, it must be set to the version that currently has the staging label ${stage}.`,
        );
      }
      if (removeFrom === undefined && holder !== undefined && holder !== target) {
        refuse(
          'InvalidParameterException',
          `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder.versionId}, so you must explicitly reference that version in RemoveFromVersionId.`,
        );
      }
      if (target === undefined && stage === CURRENT) refuse('InvalidParameterException', `You can't remove the staging label ${CURRENT}; move it to another version instead.`);
      if (holder !== target) {
        detach(secret, stage);
        target?.stages.push(stage);
      }
      return { ARN: secret.arn, Name: secret.name };
    },
  };

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const reply = (status: number, body: unknown, errorType?: string): void => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `req-${requests.length}`, ...(errorType && { 'x-amzn-errortype': errorType }) });
        response.end(JSON.stringify(body));
      };
      const fail = ({ status, type, message }: AwsError): void => reply(status, { __type: type, message }, type);
      const target = request.headers['x-amz-target'];
      const operation = typeof target === 'string' && target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : undefined;
      const serve = operation === undefined ? undefined : operations[operation];
      if (request.method !== 'POST' || operation === undefined || serve === undefined) {
        fail({ status: 400, type: 'UnknownOperationException', message: `Not served here: ${String(target)}` });
        return;
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        fail({ status: 400, type: 'SerializationException', message: 'The request body is not valid JSON.' });
        return;
      }
      const authorization = request.headers.authorization ?? '';
      const signature = /^AWS4-HMAC-SHA256 Credential=[^/,]+\/\d{8}\/([^/,]+)\/secretsmanager\/aws4_request/.exec(authorization);
      requests.push({ operation, secretId: String(body.SecretId), region: signature?.[1] });
      if (operation === 'GetSecretValue') calls.push({ secretId: String(body.SecretId), signed: signature !== null });
      if (state.failing) {
        fail({ status: 500, type: 'InternalServiceError', message: 'Service unavailable' });
        return;
      }
      const intercepted = state.intercept?.(operation, body);
      if (intercepted !== undefined && !intercepted.afterServing) {
        fail(intercepted);
        return;
      }
      try {
        const answer = serve(body);
        if (intercepted === undefined) reply(200, answer);
        else fail(intercepted);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        fail(error.error);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    calls,
    requests,
    get failing() {
      return state.failing;
    },
    set failing(value: boolean) {
      state.failing = value;
    },
    get intercept() {
      return state.intercept;
    },
    set intercept(value: LocalSecretsManager['intercept']) {
      state.intercept = value;
    },
    put: (secretId, value) => {
      let secret = find(secretId);
      if (secret === undefined) {
        const name = secretId.startsWith('arn:') ? secretId.slice(secretId.lastIndexOf(':') + 1).replace(/-[A-Za-z0-9]{6}$/, '') : secretId;
        const arn = secretId.startsWith('arn:') ? secretId : `arn:aws:secretsmanager:us-east-1:123456789012:secret:${secretId}-AbCdEf`;
        secret = { arn, name, versions: [] };
        secrets.set(secretId, secret);
      }
      return putValue(secret, randomUUID(), typeof value === 'string' ? { text: value } : { binary: value }, undefined).versionId;
    },
    versions: (secretId) => find(secretId)?.versions.map(({ versionId, stages }) => ({ versionId, stages: [...stages] })),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
