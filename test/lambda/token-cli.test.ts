import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SecretTokenVerifier } from '../../src/lambda/token-secret.js';
import { generateToken } from '../../src/tokens/registry.js';
import { startLocalSecretsManager } from '../support/local-secrets-manager.js';
import type { LocalSecretsManager } from '../support/local-secrets-manager.js';
import { secretClient } from './helpers.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'images-to-s3-tokens';

describe('token create|list|revoke --tokens aws-secretsmanager: against the stack\'s secret', () => {
  let secrets: LocalSecretsManager;
  const sharedToken = generateToken();

  before(async () => {
    secrets = await startLocalSecretsManager();
    // The secret as the stack creates it: the seed's shared token, and the registry's fields.
    secrets.put(SECRET, JSON.stringify({ accessToken: sharedToken, version: 1, tokens: [] }));
  });
  after(() => secrets.stop());

  const cli = async (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'token', ...args, '--tokens', `aws-secretsmanager:${SECRET}`], {
      cwd: projectRoot,
      env: {
        ...process.env,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        AWS_CONFIG_FILE: '/nonexistent',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      },
    });

  it('writes tokens the authorizer accepts, keeps the shared accessToken, and revokes them for the authorizer too', async () => {
    const verifier = new SecretTokenVerifier({ client: secretClient(secrets), secretId: SECRET, maxAgeMs: 0 });
    const created = JSON.parse((await cli('create', 'front-door', '--json')).stdout) as { token: string; id: string };
    assert.equal(await verifier.verify(created.token), 'front-door');
    assert.equal(await verifier.verify(sharedToken), 'camera', 'the seed\'s shared token stopped working');

    const listed = await cli('list');
    assert.match(listed.stdout, /shared accessToken .* camera "camera"/);
    assert.match(listed.stdout, new RegExp(`^${created.id}\\s+front-door\\s`, 'm'));
    assert.ok(!listed.stdout.includes(created.token) && !listed.stdout.includes(sharedToken), 'token list printed a token');

    const revoked = await cli('revoke', 'front-door');
    assert.match(revoked.stdout, new RegExp(`Revoked ${created.id}`));
    assert.equal(await verifier.verify(created.token), undefined);
    assert.equal(await verifier.verify(sharedToken), 'camera');
  });

  it('keeps every token when several commands edit the secret at once', async () => {
    const cameras = ['a-cam', 'b-cam', 'c-cam', 'd-cam'];
    await Promise.all(cameras.map((camera) => cli('create', camera, '--json')));
    const listed = JSON.parse((await cli('list', '--json')).stdout) as Array<{ camera: string }>;
    assert.deepEqual(listed.map((entry) => entry.camera).sort(), cameras);
  });
});
