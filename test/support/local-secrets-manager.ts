import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local endpoint that speaks the part of the Secrets Manager JSON protocol the authorizer uses:
 * `POST /` with `X-Amz-Target: secretsmanager.GetSecretValue` and `{"SecretId": …}`, answered as
 * AWS does (`application/x-amz-json-1.1`, `ResourceNotFoundException` for an unknown secret).
 */
export interface LocalSecretsManager {
  endpoint: string;
  /** Sets (or replaces, as a rotation does) the string value of a secret. */
  put(secretId: string, value: string): void;
  /** GetSecretValue calls received, with whether each carried a SigV4 signature. */
  calls: Array<{ secretId: string; signed: boolean }>;
  /** Makes the next answers fail with HTTP 500 (`InternalServiceError`) while true. */
  failing: boolean;
  stop(): Promise<void>;
}

export async function startLocalSecretsManager(): Promise<LocalSecretsManager> {
  const secrets = new Map<string, { value: string; version: number }>();
  const calls: LocalSecretsManager['calls'] = [];
  const state = { failing: false };

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const reply = (status: number, body: unknown, errorType?: string): void => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `req-${calls.length}`, ...(errorType && { 'x-amzn-errortype': errorType }) });
        response.end(JSON.stringify(body));
      };
      const target = request.headers['x-amz-target'];
      if (request.method !== 'POST' || target !== 'secretsmanager.GetSecretValue') {
        reply(400, { __type: 'UnknownOperationException', message: `Not served here: ${String(target)}` }, 'UnknownOperationException');
        return;
      }
      const { SecretId: secretId } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { SecretId?: string };
      calls.push({ secretId: String(secretId), signed: /^AWS4-HMAC-SHA256 Credential=[^,]+\/secretsmanager\/aws4_request/.test(request.headers.authorization ?? '') });
      if (state.failing) {
        reply(500, { __type: 'InternalServiceError', message: 'Service unavailable' }, 'InternalServiceError');
        return;
      }
      const secret = secretId === undefined ? undefined : secrets.get(secretId);
      if (secret === undefined) {
        reply(400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }, 'ResourceNotFoundException');
        return;
      }
      reply(200, {
        ARN: secretId!.startsWith('arn:') ? secretId : `arn:aws:secretsmanager:us-east-1:123456789012:secret:${secretId}-AbCdEf`,
        Name: secretId,
        SecretString: secret.value,
        VersionId: `00000000-0000-4000-8000-${String(secret.version).padStart(12, '0')}`,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: 1_700_000_000 + secret.version,
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    calls,
    get failing() {
      return state.failing;
    },
    set failing(value: boolean) {
      state.failing = value;
    },
    put: (secretId, value) => {
      secrets.set(secretId, { value, version: (secrets.get(secretId)?.version ?? 0) + 1 });
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
