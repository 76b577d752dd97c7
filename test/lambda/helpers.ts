import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { TokenRegistry, generateToken } from '../../src/tokens/registry.js';
import type { LocalSecretsManager } from '../support/local-secrets-manager.js';

export const TEST_CREDENTIALS = { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-test-secret' };

/** The real SDK v3 client, pointed at the local Secrets Manager endpoint. */
export function secretClient(secrets: LocalSecretsManager): SecretsManagerClient {
  return new SecretsManagerClient({ endpoint: secrets.endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS });
}

/**
 * A token secret as the README tells users to build it: per-camera tokens created with the
 * real token registry (`images-to-s3 token create <camera> --tokens FILE`), merged with the
 * seed's shared `accessToken`.
 */
export async function tokenSecret(
  perCamera: Record<string, number>,
  sharedToken: string | undefined = generateToken(),
): Promise<{ secret: string; tokens: Record<string, string[]>; ids: Record<string, string[]>; sharedToken: string | undefined; registryFile: string; cleanup(): Promise<void> }> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-secret-'));
  const registry = new TokenRegistry(path.join(directory, 'tokens.json'));
  const tokens: Record<string, string[]> = {};
  const ids: Record<string, string[]> = {};
  for (const [camera, count] of Object.entries(perCamera)) {
    for (let i = 0; i < count; i++) {
      const created = await registry.create(camera);
      (tokens[camera] ??= []).push(created.token);
      (ids[camera] ??= []).push(created.id);
    }
  }
  const document = JSON.parse(await readFile(registry.location, 'utf8').catch(() => '{"version":1,"tokens":[]}')) as Record<string, unknown>;
  return {
    secret: JSON.stringify({ ...(sharedToken !== undefined && { accessToken: sharedToken }), ...document }),
    tokens,
    ids,
    sharedToken,
    registryFile: registry.location,
    cleanup: () => rm(directory, { recursive: true, force: true }),
  };
}

/**
 * Captures the JSON lines Powertools' Logger and Metrics print (standard output, and standard
 * error for warnings and errors) while started, so tests can read the log and the EMF metrics and
 * the test report stays clean. Other output passes through.
 */
export function captureStdout(): { lines: string[]; start(): void; stop(): void; json(): Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write.bind(stream));
  let started = false;
  return {
    lines,
    start() {
      if (started) return;
      started = true;
      streams.forEach((stream, index) => {
        const original = originals[index]!;
        stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
          const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
          if (!text.trimStart().startsWith('{')) return original(chunk, ...(rest as []));
          lines.push(...text.split('\n').filter((line) => line.trim() !== ''));
          const callback = rest.find((item) => typeof item === 'function') as (() => void) | undefined;
          callback?.();
          return true;
        });
      });
    },
    stop() {
      if (!started) return;
      started = false;
      streams.forEach((stream, index) => {
        stream.write = originals[index]!;
      });
    },
    json() {
      return lines.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    },
  };
}
