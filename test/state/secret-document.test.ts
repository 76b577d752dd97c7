import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretTokenVerifier } from '../../src/lambda/token-secret.js';
import { CONFLICT, DocumentUnreachableError, UNCHANGED, updateDocument } from '../../src/state/document.js';
import type { SharedDocument } from '../../src/state/document.js';
import { PENDING_STAGE, SecretDocument, createSecretsManagerClient, regionOfArn } from '../../src/state/secret-document.js';
import { generateToken } from '../../src/tokens/registry.js';
import { startLocalSecretsManager } from '../support/local-secrets-manager.js';
import type { LocalSecretsManager } from '../support/local-secrets-manager.js';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ApiAccessToken-AbCdEf';
const CREDENTIALS = { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-test-secret' };
const SHARED_TOKEN = 'SharedToken0123456789abcdefGHIJ';

interface Registry {
  accessToken?: string;
  version?: number;
  tokens: Array<{ id: string; camera: string; sha256: string; createdAt: string }>;
}

const CREATED_AT = '2026-11-23T10:15:00.000Z';
const entry = (id: string, token: string, camera = 'front-door') => ({ id, camera, sha256: createHash('sha256').update(token, 'utf8').digest('hex'), createdAt: CREATED_AT });

/** Adds one token in the registry's format to the secret's token list, keeping everything else in it. */
function addEntry(id: string, token = generateToken()) {
  return (current: { text: string } | undefined) => {
    const registry = JSON.parse(current!.text) as Registry;
    registry.tokens.push(entry(id, token));
    return { text: JSON.stringify(registry), result: id };
  };
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('SecretDocument (the real SDK v3 against a local Secrets Manager endpoint)', () => {
  let secrets: LocalSecretsManager;
  let client: SecretsManagerClient;
  let document: SecretDocument;
  before(async () => {
    secrets = await startLocalSecretsManager();
    client = new SecretsManagerClient({ endpoint: secrets.endpoint, region: 'eu-west-1', credentials: CREDENTIALS });
  });
  after(async () => {
    client.destroy();
    await secrets.stop();
  });
  beforeEach(() => {
    // A secret of its own per test, in the stack's seed shape.
    const arn = `${SECRET_ARN.slice(0, -7)}${Math.random().toString(36).slice(2, 8)}-AbCdEf`;
    secrets.put(arn, JSON.stringify({ version: 1, tokens: [], accessToken: SHARED_TOKEN }));
    document = new SecretDocument({ client, secretId: arn });
  });
  afterEach(() => {
    secrets.intercept = undefined;
    secrets.failing = false;
  });
  const secretId = (): string => document.location.slice('aws-secretsmanager:'.length);

  it('reads the current value with its version id and writes a new one that keeps the other keys', async () => {
    assert.match(document.location, /^aws-secretsmanager:arn:aws:secretsmanager:eu-west-1:/);
    const before = await document.read();
    assert.ok(before);
    assert.deepEqual(JSON.parse(before.text), { version: 1, tokens: [], accessToken: SHARED_TOKEN });
    assert.equal(before.tag, secrets.versions(secretId())!.find((version) => version.stages.includes('AWSCURRENT'))!.versionId);
    assert.equal(await document.readIfChanged(before.tag), UNCHANGED);

    const token = generateToken();
    assert.equal(await updateDocument(document, addEntry('tok_0000000001', token)), 'tok_0000000001');
    const now = await document.read();
    assert.ok(now && now.tag !== before.tag);
    assert.deepEqual(JSON.parse(now.text), { version: 1, tokens: [entry('tok_0000000001', token)], accessToken: SHARED_TOKEN });
    assert.deepEqual(await document.readIfChanged(before.tag), now);
    assert.equal(await document.protection(), 'compare-and-swap');

    // What the authorizer reads (GetSecretValue without a version or stage) is what was written; the old value is AWSPREVIOUS.
    const plain = await client.send(new GetSecretValueCommand({ SecretId: secretId() }));
    assert.equal(plain.SecretString, now.text);
    assert.deepEqual(
      secrets.versions(secretId())!.map((version) => version.stages.sort()),
      [['AWSPREVIOUS'], ['AWSCURRENT', PENDING_STAGE]],
    );
    const verifier = new SecretTokenVerifier({ client, secretId: secretId() });
    assert.equal(await verifier.verify(token), 'front-door', 'the authorizer accepts the token written');
    assert.equal(await verifier.verify(SHARED_TOKEN), 'camera', 'the shared accessToken still works after the write');
  });

  it('answers CONFLICT when the secret changed between read and write, and the failed version is left with only the pending label', async () => {
    const read = await document.read();
    const theirs = secrets.put(secretId(), JSON.stringify({ version: 1, tokens: [entry('tok_00000000aa', generateToken(), 'garage')], accessToken: SHARED_TOKEN }));
    assert.equal(await document.write(JSON.stringify({ version: 1, tokens: [entry('tok_00000000bb', generateToken())] }), read!.tag), CONFLICT);
    const now = await document.read();
    assert.equal(now!.tag, theirs);
    assert.match(now!.text, /tok_00000000aa/);
    const stray = secrets.versions(secretId())!.at(-1)!;
    assert.deepEqual(stray.stages, [PENDING_STAGE], 'the refused version is not current');

    // The next write takes the pending label off it, so Secrets Manager may delete it.
    await updateDocument(document, addEntry('tok_00000000bb'));
    assert.deepEqual(secrets.versions(secretId())!.find((version) => version.versionId === stray.versionId)!.stages, []);
    assert.deepEqual((JSON.parse((await document.read())!.text) as Registry).tokens.map((token) => token.id), ['tok_00000000aa', 'tok_00000000bb']);
  });

  it('loses no entry when 8 updates are made at once in one process', async () => {
    const ids = Array.from({ length: 8 }, (_, index) => `tok_${String(index).padStart(10, '0')}`);
    assert.deepEqual(await Promise.all(ids.map((id) => updateDocument(document, addEntry(id)))), ids);
    const registry = JSON.parse((await document.read())!.text) as Registry;
    assert.deepEqual(registry.tokens.map((token) => token.id).sort(), ids);
    assert.equal(registry.accessToken, SHARED_TOKEN);
  });

  it('loses no entry when 8 writers with clients of their own (as 8 processes would) collide', async () => {
    const ids = Array.from({ length: 8 }, (_, index) => `tok_${String(index + 10).padStart(10, '0')}`);
    const writers = ids.map((id): SharedDocument => {
      const own = new SecretDocument({ client: new SecretsManagerClient({ endpoint: secrets.endpoint, region: 'eu-west-1', credentials: CREDENTIALS }), secretId: secretId() });
      // updateDocument queues updates per location within a process; a location per writer lets them race as separate processes do.
      return { location: `${own.location}#${id}`, read: () => own.read(), readIfChanged: (tag) => own.readIfChanged(tag), write: (text, tag) => own.write(text, tag), protection: () => own.protection() };
    });
    // Each client's first request loads its credentials and middleware; done beforehand, the 8 updates start together.
    await Promise.all(writers.map((writer) => writer.read()));
    const before = secrets.requests.length;
    assert.deepEqual(await Promise.all(writers.map((writer, index) => updateDocument(writer, addEntry(ids[index]!)))), ids);
    const registry = JSON.parse((await document.read())!.text) as Registry;
    assert.deepEqual(registry.tokens.map((token) => token.id).sort(), ids);
    assert.equal(registry.accessToken, SHARED_TOKEN);
    const versions = secrets.versions(secretId())!;
    assert.equal(versions.filter((version) => version.stages.includes('AWSCURRENT')).length, 1);
    assert.ok(versions.filter((version) => version.stages.includes(PENDING_STAGE)).length <= 1, 'one version at most carries the pending label');
    const attempts = secrets.requests.slice(before).filter((request) => request.operation === 'PutSecretValue' && request.secretId === secretId()).length;
    assert.ok(attempts > ids.length, `the writers collided and retried (${attempts} attempts for ${ids.length} entries)`);
  });

  it('finds its own write when the answer to moving AWSCURRENT was lost and the retried move is refused', async () => {
    const read = await document.read();
    let lost = false;
    secrets.intercept = (operation) => {
      if (operation !== 'UpdateSecretVersionStage' || lost) return undefined;
      lost = true;
      return { status: 500, type: 'InternalServiceError', message: 'answer lost', afterServing: true };
    };
    const tag = await document.write(JSON.stringify({ version: 1, tokens: [] }), read!.tag);
    assert.equal(typeof tag, 'string');
    assert.equal((await document.read())!.tag, tag);
    assert.equal(secrets.requests.filter((request) => request.operation === 'UpdateSecretVersionStage' && request.secretId === secretId()).length, 2, 'the SDK retried the move');
  });

  it('finds its own write when the answer was lost and somebody wrote on top of it before the retry', async () => {
    const read = await document.read();
    let moves = 0;
    let theirs = '';
    secrets.intercept = (operation) => {
      if (operation !== 'UpdateSecretVersionStage') return undefined;
      moves += 1;
      if (moves === 1) return { status: 500, type: 'InternalServiceError', message: 'answer lost', afterServing: true };
      // Before the SDK's retry arrives, another writer replaces the value ours became.
      theirs = secrets.put(secretId(), JSON.stringify({ version: 1, tokens: [], accessToken: SHARED_TOKEN }));
      return undefined;
    };
    const tag = await document.write(JSON.stringify({ version: 1, tokens: [] }), read!.tag);
    assert.notEqual(tag, CONFLICT, 'the write happened: retrying it would apply the change twice');
    assert.deepEqual(secrets.versions(secretId())!.find((version) => version.versionId === tag)!.stages.sort(), ['AWSPREVIOUS', PENDING_STAGE]);
    assert.equal((await document.read())!.tag, theirs);
  });

  it('reads a missing secret as none, and refuses to create it: the AWS stack does', async () => {
    const missing = new SecretDocument({ client, secretId: 'no-such-secret' });
    assert.equal(await missing.read(), undefined);
    assert.equal(await missing.readIfChanged(undefined), UNCHANGED);
    await assert.rejects(missing.write('{}', undefined), (error: Error) => /does not exist/.test(error.message) && /npm run deploy/.test(error.message) && /ApiAccessTokenSecretArn/.test(error.message));
    assert.equal(secrets.versions('no-such-secret'), undefined);
  });

  it('refuses a binary secret with a clear message', async () => {
    secrets.put('binary-secret', Buffer.from([0, 1, 2, 255]));
    await assert.rejects(new SecretDocument({ client, secretId: 'binary-secret' }).read(), /binary value, not text/);
  });

  it('reports 5xx and throttling as unreachable, without the secret\'s value', async () => {
    secrets.failing = true;
    await assert.rejects(document.read(), (error: Error) => error instanceof DocumentUnreachableError && error.message.includes(document.location) && !error.message.includes(SHARED_TOKEN));
    secrets.failing = false;
    secrets.intercept = (operation) => (operation === 'PutSecretValue' ? { status: 400, type: 'ThrottlingException', message: 'Rate exceeded' } : undefined);
    const read = await document.read();
    await assert.rejects(document.write('{"tokens":[]}', read!.tag), (error: Error) => error instanceof DocumentUnreachableError && /ThrottlingException/.test(error.message));
  });

  it('names the missing IAM action when access is denied', async () => {
    const read = await document.read();
    secrets.intercept = (operation) =>
      operation === 'UpdateSecretVersionStage'
        ? { status: 400, type: 'AccessDeniedException', message: `User: arn:aws:iam::123456789012:user/ops is not authorized to perform: secretsmanager:UpdateSecretVersionStage on resource: ${secretId()}` }
        : undefined;
    await assert.rejects(
      document.write('{"tokens":[]}', read!.tag),
      (error: Error) => !(error instanceof DocumentUnreachableError) && /Not allowed to write/.test(error.message) && /needs? secretsmanager:UpdateSecretVersionStage/.test(error.message) && /TokenAdministratorPolicyArn/.test(error.message),
    );
    assert.equal((await document.read())!.tag, read!.tag, 'nothing became current');
  });

  it('reports an endpoint nobody listens on as unreachable, quickly', async () => {
    const port = await closedPort();
    const nowhere = new SecretDocument({ client: new SecretsManagerClient({ endpoint: `http://127.0.0.1:${port}`, region: 'eu-west-1', credentials: CREDENTIALS, maxAttempts: 3 }), secretId: SECRET_ARN });
    const started = performance.now();
    await assert.rejects(nowhere.read(), (error: Error) => error instanceof DocumentUnreachableError && /ECONNREFUSED/.test(error.message) && error.message.includes(SECRET_ARN));
    await assert.rejects(nowhere.readIfChanged('some-version'), DocumentUnreachableError);
    await assert.rejects(nowhere.write('{}', 'some-version'), DocumentUnreachableError);
    assert.ok(performance.now() - started < 5_000, 'gave up within seconds');
  });
});

describe('createSecretsManagerClient', () => {
  let secrets: LocalSecretsManager;
  const saved = { ...process.env };
  before(async () => {
    secrets = await startLocalSecretsManager();
  });
  after(() => secrets.stop());
  beforeEach(() => {
    // Only what each test sets: no profile, config file or region of the machine running the tests.
    for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
    Object.assign(process.env, {
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_ACCESS_KEY_ID: 'AKIDENVIRONMENT',
      AWS_SECRET_ACCESS_KEY: 'environment-secret',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  it('takes the region from an ARN (with no AWS_REGION) and the endpoint from AWS_ENDPOINT_URL_SECRETS_MANAGER', async () => {
    assert.equal(regionOfArn(SECRET_ARN), 'eu-west-1');
    assert.equal(regionOfArn('arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:tokens-AbCdEf'), 'cn-north-1');
    assert.equal(regionOfArn('camera-tokens'), undefined);
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secrets.endpoint;
    secrets.put(SECRET_ARN, '{"accessToken":"x"}');
    const client = createSecretsManagerClient(SECRET_ARN);
    assert.equal(await client.config.region(), 'eu-west-1');
    assert.deepEqual(await new SecretDocument({ client, secretId: SECRET_ARN }).read().then((version) => version?.text), '{"accessToken":"x"}');
    assert.deepEqual(secrets.requests.at(-1), { operation: 'GetSecretValue', secretId: SECRET_ARN, region: 'eu-west-1' });
    client.destroy();
  });

  it('takes a plain name\'s region from AWS_REGION and the endpoint from AWS_ENDPOINT_URL', async () => {
    Object.assign(process.env, { AWS_ENDPOINT_URL: secrets.endpoint, AWS_REGION: 'ap-south-1' });
    secrets.put('camera-tokens', '{"tokens":[]}');
    const client = createSecretsManagerClient('camera-tokens');
    assert.equal((await new SecretDocument({ client, secretId: 'camera-tokens' }).read())?.text, '{"tokens":[]}');
    assert.deepEqual(secrets.requests.at(-1), { operation: 'GetSecretValue', secretId: 'camera-tokens', region: 'ap-south-1' });
    client.destroy();
  });

  it('says the credentials are missing, rather than calling the secret unreachable', async () => {
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secrets.endpoint;
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    const client = createSecretsManagerClient(SECRET_ARN);
    await assert.rejects(new SecretDocument({ client, secretId: SECRET_ARN }).read(), (error: Error) => !(error instanceof DocumentUnreachableError) && /credentials/.test(error.message) && /aws configure/.test(error.message));
    client.destroy();
  });

  it('says a region is needed for a plain name without one, rather than calling it unreachable', async () => {
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secrets.endpoint;
    const client = createSecretsManagerClient('camera-tokens');
    await assert.rejects(new SecretDocument({ client, secretId: 'camera-tokens' }).read(), (error: Error) => !(error instanceof DocumentUnreachableError) && /AWS_REGION/.test(error.message));
    client.destroy();
  });

});
