import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { TokenVerifier } from '../core/receiver.js';
import { isValidCameraName } from '../core/camera-name.js';
import { DEFAULT_SHARED_TOKEN_CAMERA, RegistryFileError, cameraForToken, parseRegistryText, registryEntries } from '../tokens/registry.js';
import type { VerifierEntry } from '../tokens/registry.js';

export { DEFAULT_SHARED_TOKEN_CAMERA } from '../tokens/registry.js';

/**
 * The AWS stack's token secret, as stored in Secrets Manager:
 *
 * ```json
 * {
 *   "accessToken": "<the seed's shared token, alphanumeric, generated at deploy>",
 *   "version": 1,
 *   "tokens": [{ "id": "tok_3f9a0c12be", "camera": "front-door", "sha256": "<hex>", "createdAt": "2026-…" }]
 * }
 * ```
 *
 * `accessToken` keeps the seed's shape (so its instructions still hold) and belongs to one camera
 * name; `version` and `tokens` are a token registry (what `images-to-s3 token create --tokens
 * aws-secretsmanager:<ARN>` writes), one hashed entry per camera token, so one camera can be
 * revoked without touching the others. Either part may be missing or empty.
 *
 * Parsed into verifier entries; the shared token stands for `sharedTokenCamera`.
 */
export function tokenSecretEntries(secretString: string, sharedTokenCamera: string, source: string): VerifierEntry[] {
  return registryEntries(parseRegistryText(secretString, source), sharedTokenCamera);
}

export interface SecretTokenVerifierOptions {
  client: SecretsManagerClient;
  /** ARN or name of the secret. */
  secretId: string;
  /** The camera name the seed's shared `accessToken` stands for. */
  sharedTokenCamera?: string;
  /** How long a read of the secret is trusted; a rotated or revoked token counts after this. */
  maxAgeMs?: number;
  clock?: () => number;
}

export const DEFAULT_TOKEN_CACHE_MS = 60_000;

/**
 * Verifies tokens against the secret, read again once the cached copy is older than `maxAgeMs`
 * (so a revocation is honoured within minutes, without waiting for a cold start). Concurrent
 * verifications share one read. A secret that cannot be read or parsed fails the verification
 * (it throws) rather than falling back to an older or empty list.
 */
export class SecretTokenVerifier implements TokenVerifier {
  private readonly client: SecretsManagerClient;
  private readonly secretId: string;
  private readonly sharedTokenCamera: string;
  private readonly maxAgeMs: number;
  private readonly clock: () => number;
  private cached: { entries: VerifierEntry[]; readAt: number } | undefined;
  private reading: Promise<VerifierEntry[]> | undefined;

  constructor(options: SecretTokenVerifierOptions) {
    this.client = options.client;
    this.secretId = options.secretId;
    this.sharedTokenCamera = options.sharedTokenCamera ?? DEFAULT_SHARED_TOKEN_CAMERA;
    if (!isValidCameraName(this.sharedTokenCamera)) {
      throw new Error(`Invalid camera name for the shared access token: ${JSON.stringify(this.sharedTokenCamera)}`);
    }
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_TOKEN_CACHE_MS;
    this.clock = options.clock ?? Date.now;
  }

  async verify(token: string): Promise<string | undefined> {
    return cameraForToken(await this.entries(), token);
  }

  private async entries(): Promise<VerifierEntry[]> {
    if (this.cached && this.clock() - this.cached.readAt < this.maxAgeMs) return this.cached.entries;
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async read(): Promise<VerifierEntry[]> {
    const readAt = this.clock();
    const secret = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    if (secret.SecretString === undefined) {
      throw new RegistryFileError(`secret ${this.secretId}`, 'the secret has no string value (a binary secret?)');
    }
    const entries = tokenSecretEntries(secret.SecretString, this.sharedTokenCamera, `secret ${this.secretId}`);
    this.cached = { entries, readAt };
    return entries;
  }
}
