import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { createAuthorizer } from '../../src/lambda/authorizer-handler.js';
import { SecretTokenVerifier, tokenSecretEntries } from '../../src/lambda/token-secret.js';
import { RegistryFileError, TokenRegistry } from '../../src/tokens/registry.js';
import { startLocalSecretsManager } from '../support/local-secrets-manager.js';
import type { LocalSecretsManager } from '../support/local-secrets-manager.js';
import { authorizerEvent } from './events.js';
import { captureStdout, secretClient, tokenSecret } from './helpers.js';

const SECRET_ID = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ApiAccessToken-AbCdEf';

describe('authorizer function (real SDK v3 against a local Secrets Manager endpoint)', () => {
  let secrets: LocalSecretsManager;
  const output = captureStdout();
  before(async () => {
    secrets = await startLocalSecretsManager();
  });
  after(() => secrets.stop());
  afterEach(() => output.stop());

  /** An authorizer over the secret, with a clock the test moves. */
  function authorizer(options: { maxAgeMs?: number; sharedTokenCamera?: string } = {}) {
    secrets.calls.length = 0;
    const time = { now: 1_000_000 };
    const handler = createAuthorizer({
      tokens: new SecretTokenVerifier({ client: secretClient(secrets), secretId: SECRET_ID, clock: () => time.now, ...options }),
      logger: new Logger({ serviceName: 'authorizer-test' }),
    });
    return { handler, time };
  }

  it('grants a per-camera token with the camera in the context, and the seed\'s shared token as the shared camera', async () => {
    const { secret, tokens, sharedToken } = await tokenSecret({ 'front-door': 1, garage: 1 });
    secrets.put(SECRET_ID, secret);
    output.start();
    const { handler } = authorizer({ sharedTokenCamera: 'lobby' });
    assert.deepEqual(await handler(authorizerEvent(`accessToken=${tokens['front-door']![0]}`)), { isAuthorized: true, context: { camera: 'front-door' } });
    assert.deepEqual(await handler(authorizerEvent(`accessToken=${tokens.garage![0]}`)), { isAuthorized: true, context: { camera: 'garage' } });
    assert.deepEqual(await handler(authorizerEvent(`accessToken=${sharedToken}`)), { isAuthorized: true, context: { camera: 'lobby' } });
    assert.equal(secrets.calls.length, 1, 'the secret is read once while the cached copy is fresh');
    assert.ok(secrets.calls.every((call) => call.signed), 'GetSecretValue was not SigV4-signed');
  });

  it('keeps the seed\'s instructions working: a secret that is only {"accessToken":"…"} grants that token to camera "camera"', async () => {
    secrets.put(SECRET_ID, JSON.stringify({ accessToken: 'FooBar0123456789abcdefXYZ' }));
    const { handler } = authorizer();
    output.start();
    assert.deepEqual(await handler(authorizerEvent('accessToken=FooBar0123456789abcdefXYZ')), { isAuthorized: true, context: { camera: 'camera' } });
    assert.deepEqual(await handler(authorizerEvent('accessToken=FooBar0123456789abcdefXYz')), { isAuthorized: false });
  });

  it('denies unknown, empty, missing and ambiguous tokens, and accepts one token given twice', async () => {
    const { secret, tokens } = await tokenSecret({ 'front-door': 1 });
    secrets.put(SECRET_ID, secret);
    const { handler } = authorizer();
    const token = tokens['front-door']![0]!;
    output.start();
    for (const query of ['accessToken=' + 'x'.repeat(32), 'accessToken=', 'other=1', '', `accessToken=${token}&accessToken=${'x'.repeat(32)}`, `accessToken=${token.slice(0, -1)}`]) {
      assert.deepEqual(await handler(authorizerEvent(query)), { isAuthorized: false }, query);
    }
    assert.deepEqual(await handler(authorizerEvent(`accessToken=${token}&accessToken=${token}`)), { isAuthorized: true, context: { camera: 'front-door' } });
  });

  it('honours a revocation and a new token after the cache max age, not before, without a cold start', async () => {
    const made = await tokenSecret({ 'front-door': 2 });
    const { secret, tokens, ids, registryFile } = made;
    secrets.put(SECRET_ID, secret);
    const { handler, time } = authorizer({ maxAgeMs: 60_000 });
    const [kept, revoked] = tokens['front-door']!;
    output.start();
    assert.equal((await handler(authorizerEvent(`accessToken=${revoked}`))).isAuthorized, true);

    // Rotation as the README describes it: revoke in the registry file, add a token, put the file into the secret.
    const registry = new TokenRegistry(registryFile);
    await registry.revoke(ids['front-door']![1]!);
    const added = await registry.create('garage');
    const current = JSON.parse(secret) as Record<string, unknown>;
    const { readFile } = await import('node:fs/promises');
    secrets.put(SECRET_ID, JSON.stringify({ ...current, ...(JSON.parse(await readFile(registryFile, 'utf8')) as object) }));

    time.now += 59_000;
    assert.equal((await handler(authorizerEvent(`accessToken=${revoked}`))).isAuthorized, true, 'the cached copy is still fresh');
    assert.equal((await handler(authorizerEvent(`accessToken=${added.token}`))).isAuthorized, false);
    time.now += 1_000;
    assert.deepEqual(await handler(authorizerEvent(`accessToken=${revoked}`)), { isAuthorized: false });
    assert.deepEqual(await handler(authorizerEvent(`accessToken=${kept}`)), { isAuthorized: true, context: { camera: 'front-door' } });
    assert.deepEqual(await handler(authorizerEvent(`accessToken=${added.token}`)), { isAuthorized: true, context: { camera: 'garage' } });
    assert.equal(secrets.calls.length, 2);
    await made.cleanup();
  });

  it('reads the secret once for concurrent requests after it expired', async () => {
    const { secret, tokens } = await tokenSecret({ 'front-door': 1 });
    secrets.put(SECRET_ID, secret);
    const { handler } = authorizer();
    const event = authorizerEvent(`accessToken=${tokens['front-door']![0]}`);
    output.start();
    const results = await Promise.all(Array.from({ length: 20 }, () => handler(event)));
    assert.ok(results.every((result) => result.isAuthorized));
    assert.equal(secrets.calls.length, 1);
  });

  it('fails closed when the secret cannot be read (API Gateway answers 500) and recovers when it can', async () => {
    const { secret, tokens } = await tokenSecret({ 'front-door': 1 });
    secrets.put(SECRET_ID, secret);
    const { handler } = authorizer();
    const event = authorizerEvent(`accessToken=${tokens['front-door']![0]}`);
    secrets.failing = true;
    output.start();
    try {
      await assert.rejects(handler(event));
    } finally {
      secrets.failing = false;
    }
    assert.equal((await handler(event)).isAuthorized, true);
  });

  it('refuses a malformed secret without echoing it', async () => {
    secrets.put(SECRET_ID, '{"accessToken":"SuperSecretValue123", broken');
    const { handler } = authorizer();
    output.start();
    await assert.rejects(handler(authorizerEvent('accessToken=SuperSecretValue123')), (error: Error) => {
      assert.ok(error instanceof RegistryFileError);
      assert.doesNotMatch(error.message, /SuperSecretValue123/);
      return true;
    });
    assert.throws(() => tokenSecretEntries(JSON.stringify({ accessToken: 'a'.repeat(20), version: 2, tokens: [] }), 'camera', 'secret x'), /unsupported version/);
    assert.throws(() => tokenSecretEntries(JSON.stringify({ version: 1, tokens: [{ id: 'tok_0123456789', camera: '../x', sha256: '0'.repeat(64), createdAt: '2026-01-01T00:00:00Z' }] }), 'camera', 's'), /invalid "camera"/);
    assert.throws(() => tokenSecretEntries('[]', 'camera', 's'), /JSON object/);
    assert.deepEqual(tokenSecretEntries('{}', 'camera', 's'), []);
  });

  it('logs who was granted or denied, never the token', async () => {
    const { secret, tokens, sharedToken } = await tokenSecret({ 'front-door': 1 });
    secrets.put(SECRET_ID, secret);
    const { handler } = authorizer();
    output.lines.length = 0;
    output.start();
    await handler(authorizerEvent(`accessToken=${tokens['front-door']![0]}`));
    await handler(authorizerEvent(`accessToken=${'y'.repeat(32)}`));
    await handler(authorizerEvent(`accessToken=${sharedToken}`));
    output.stop();
    const lines = output.json();
    assert.deepEqual(
      lines.map((line) => [line.level, line.message, line.camera ?? line.reason]),
      [
        ['INFO', 'access granted', 'front-door'],
        ['WARN', 'access denied', 'unknown or revoked token'],
        ['INFO', 'access granted', 'camera'],
      ],
    );
    const all = output.lines.join('\n');
    for (const token of [tokens['front-door']![0]!, 'y'.repeat(32), sharedToken!]) assert.ok(!all.includes(token), 'a log line holds a token');
  });
});

describe('authorizer entry point (src/lambda/authorizer.ts), configured by environment as the stack does', () => {
  it('reads its secret through AWS_ENDPOINT_URL_SECRETS_MANAGER and the standard credential chain', async () => {
    const secrets = await startLocalSecretsManager();
    const output = captureStdout();
    const saved = { ...process.env };
    try {
      const { secret, tokens } = await tokenSecret({ 'front-door': 1 });
      secrets.put('stack-secret', secret);
      Object.assign(process.env, {
        TOKEN_SECRET_ID: 'stack-secret',
        SHARED_TOKEN_CAMERA: 'camera',
        TOKEN_CACHE_SECONDS: '60',
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
        AWS_REGION: 'eu-north-1',
        AWS_ACCESS_KEY_ID: 'AKIDENVIRONMENT',
        AWS_SECRET_ACCESS_KEY: 'environment-secret',
      });
      output.start();
      const { handler } = await import('../../src/lambda/authorizer.js');
      assert.deepEqual(await handler(authorizerEvent(`accessToken=${tokens['front-door']![0]}`)), { isAuthorized: true, context: { camera: 'front-door' } });
      assert.deepEqual(secrets.calls, [{ secretId: 'stack-secret', signed: true }]);
    } finally {
      output.stop();
      process.env = saved;
      await secrets.stop();
    }
  });
});
