import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { HANDLER_FILE, esbuildOptions } from '../../infra/bundling.js';
import type { HandlerName } from '../../infra/bundling.js';
import type { AuthorizerHandler } from '../../src/lambda/authorizer-handler.js';
import type { UploadHandler } from '../../src/lambda/upload-handler.js';
import { HttpApiEmulator } from '../support/api-gateway.js';
import { SAMPLE_JPEG } from '../support/contract-cases.js';
import { startLocalS3 } from '../support/local-s3.js';
import type { LocalS3 } from '../support/local-s3.js';
import { startLocalSecretsManager } from '../support/local-secrets-manager.js';
import type { LocalSecretsManager } from '../support/local-secrets-manager.js';
import { captureStdout, tokenSecret } from './helpers.js';

/**
 * The handlers as they are deployed: bundled with the stack's esbuild settings, loaded as the
 * nodejs24.x runtime loads an .mjs handler, and driven through the API Gateway emulation.
 */
describe('the deployed bundles', () => {
  let directory: string;
  let s3: LocalS3;
  let secrets: LocalSecretsManager;
  const output = captureStdout();
  const saved = { ...process.env };
  const bundles: Partial<Record<HandlerName, string>> = {};
  const externals: Partial<Record<HandlerName, string[]>> = {};
  const chunks: Partial<Record<HandlerName, string[]>> = {};

  before(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-bundles-'));
    for (const name of ['authorizer', 'upload'] as const) {
      const outdir = path.join(directory, name);
      const { metafile } = await build({ ...esbuildOptions(name, outdir), metafile: true });
      bundles[name] = path.join(outdir, HANDLER_FILE);
      chunks[name] = Object.keys(metafile.outputs).filter((file) => file.endsWith('.mjs') && !file.endsWith(`/${HANDLER_FILE}`));
      externals[name] = Object.values(metafile.outputs).flatMap((output) => output.imports.filter((item) => item.external).map((item) => item.path));
    }
    s3 = await startLocalS3('bundle-bucket');
    secrets = await startLocalSecretsManager();
  });
  after(async () => {
    output.stop();
    process.env = saved;
    await s3.stop();
    await secrets.stop();
    await rm(directory, { recursive: true, force: true });
  });

  it('hold the AWS SDK and everything else: no import is left to node_modules', async () => {
    for (const name of ['authorizer', 'upload'] as const) {
      const code = await readFile(bundles[name]!, 'utf8');
      const packages = externals[name]!.filter((specifier) => !specifier.startsWith('node:') && !builtinModules.includes(specifier));
      assert.deepEqual(packages, [], `${name} imports packages from outside the bundle`);
      assert.doesNotMatch(code, /["']aws-sdk["']/, 'AWS SDK v2');
      // The credential providers beyond environment variables are loaded on demand, from chunks.
      assert.ok(chunks[name]!.some((file) => file.includes('chunks/')), `${name} has no on-demand chunks`);
      assert.match(await readFile(`${bundles[name]!}.map`, 'utf8'), /"mappings"/);
    }
  });

  it('authorize and store an image end to end, configured by environment', async () => {
    const { secret, tokens } = await tokenSecret({ 'front-door': 1 });
    secrets.put('bundle-secret', secret);
    Object.assign(process.env, {
      TOKEN_SECRET_ID: 'bundle-secret',
      IMAGES_BUCKET: 'bundle-bucket',
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      POWERTOOLS_METRICS_NAMESPACE: 'images-to-s3',
    });
    output.start();
    const authorizer = (await import(pathToFileURL(bundles.authorizer!).href) as { handler: AuthorizerHandler }).handler;
    const upload = (await import(pathToFileURL(bundles.upload!).href) as { handler: UploadHandler }).handler;
    const api = new HttpApiEmulator({ authorizer, upload });
    const headers = { 'content-type': 'image/jpeg', 'content-disposition': 'attachment; filename="bundled.jpg"' };

    const stored = await api.send({ method: 'POST', query: `accessToken=${tokens['front-door']![0]}`, headers, body: SAMPLE_JPEG });
    assert.equal(stored.status, 200, stored.body);
    assert.deepEqual(await s3.object(String(stored.json.key)), SAMPLE_JPEG);
    assert.equal((await api.send({ method: 'POST', query: 'accessToken=' + 'x'.repeat(32), headers, body: SAMPLE_JPEG })).status, 403);
    assert.equal((await api.send({ method: 'GET' })).status, 200);
  });
});
