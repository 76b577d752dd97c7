import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { after, before, describe, it } from 'node:test';
import { createAuthorizer } from '../../src/lambda/authorizer-handler.js';
import { createUploadHandler } from '../../src/lambda/upload-handler.js';
import { SecretTokenVerifier } from '../../src/lambda/token-secret.js';
import { S3Store, createS3Client } from '../../src/stores/s3.js';
import { HttpApiEmulator } from '../support/api-gateway.js';
import { CONTRACT_CAMERA, CONTRACT_CASES, CONTRACT_MAX_BYTES, checkContractCase } from '../support/contract-cases.js';
import type { ContractTarget } from '../support/contract-cases.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import { startLocalSecretsManager } from '../support/local-secrets-manager.js';
import type { LocalSecretsManager } from '../support/local-secrets-manager.js';
import { captureStdout, secretClient, tokenSecret } from './helpers.js';

describe('the shared contract table, AWS stack (API Gateway emulation, both functions, SDK v3 against local S3 and Secrets Manager)', () => {
  let s3: LocalS3;
  let secrets: LocalSecretsManager;
  let target: ContractTarget;
  let store: S3Store;
  const output = captureStdout();

  before(async () => {
    output.start();
    s3 = await startLocalS3();
    secrets = await startLocalSecretsManager();
    const { secret, tokens } = await tokenSecret({ [CONTRACT_CAMERA]: 1 });
    secrets.put('camera-tokens', secret);
    store = new S3Store({ client: createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials }), bucket: s3.bucket, conditionalWrites: 'yes' });
    const api = new HttpApiEmulator({
      authorizer: createAuthorizer({ tokens: new SecretTokenVerifier({ client: secretClient(secrets), secretId: 'camera-tokens' }), logger: new Logger() }),
      upload: createUploadHandler({ store, maxBytes: CONTRACT_MAX_BYTES, logger: new Logger(), metrics: new Metrics({ namespace: 'images-to-s3', serviceName: 'test' }) }),
    });
    target = {
      runtime: 'aws',
      hashesEveryBody: true,
      token: tokens[CONTRACT_CAMERA]![0]!,
      send: ({ method, query, headers, body }) => api.send({ method, query, headers, body }),
      keys: () => s3.keys(),
      object: (key) => s3.object(key),
    };
  });
  after(async () => {
    output.stop();
    await store.close();
    await s3.stop();
    await secrets.stop();
  });

  for (const testCase of CONTRACT_CASES) {
    it(testCase.onAws ? `${testCase.name} (on AWS: ${testCase.onAws.because})` : testCase.name, () => checkContractCase(target, testCase));
  }
});
