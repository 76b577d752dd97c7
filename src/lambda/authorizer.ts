/**
 * Entry point of the authorizer function (bundled by the CDK stack): reads its settings from the
 * environment once per cold start. The secret itself is read on demand and cached for a bounded time.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createAuthorizer } from './authorizer-handler.js';
import { authorizerSettingsFrom } from './settings.js';
import { SecretTokenVerifier } from './token-secret.js';

const settings = authorizerSettingsFrom(process.env);

export const handler = createAuthorizer({
  tokens: new SecretTokenVerifier({
    // Two tries of at most 3 s each stay inside API Gateway's 10 s wait for an authorizer.
    client: new SecretsManagerClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 2_000, requestTimeout: 3_000 } }),
    ...settings,
  }),
  logger: new Logger(),
});
