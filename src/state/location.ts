/**
 * Where a receiver's shared state lives (the token registry, the gallery's password hash and
 * session secret) and where it keeps what is its own (spool, thumbnail cache, a copy of the
 * registry): one rule for `serve`, `token …` and `camera …`.
 *
 * @module
 */
import path from 'node:path';
import { diskFolder, isLocalStore } from '../stores/location.js';
import { parseS3Location } from '../stores/s3-location.js';
import { CONFLICT } from './document.js';
import type { SharedDocument } from './document.js';
import { FileDocument } from './file-document.js';
import { DEFAULT_SHARED_TOKEN_CAMERA, TokenRegistry } from '../tokens/registry.js';

/** `--tokens aws-secretsmanager:<name or ARN>`: the AWS stack's token secret. */
export const SECRET_SCHEME = 'aws-secretsmanager:';
/** The folder (or key prefix) of the shared documents beside the images, and of a receiver's own state. */
export const STATE_FOLDER = '.images-to-s3';
export const TOKENS_DOCUMENT = 'tokens.json';
export const GALLERY_DOCUMENT = 'gallery.json';
/** Longest wait for one request to a remote document: a receiver polling a store that went away must not hang. */
const DOCUMENT_TIMEOUT_MS = 5_000;

export interface StateSettings {
  /** `--store`: where the images go. */
  store: string;
  /** `--tokens`: a file, `s3://bucket/key` or `aws-secretsmanager:<name or ARN>`; unset, beside the images. */
  tokens?: string;
}

export interface ReceiverState {
  tokens: SharedDocument;
  gallery: SharedDocument;
  /** This receiver's own folder: spool, thumbnail cache, the copy of a remote registry. Never shared. */
  localFolder: string;
  /** The AWS stack's secret: its shared `accessToken` stands for this camera. */
  sharedTokenCamera?: string;
  /** Files that releases before the registry moved into the bucket kept in the working directory; see {@link adoptEarlierDocument}. */
  earlierFiles?: { tokens: string; gallery: string };
}

/**
 * The state of a receiver on `store`:
 * - a disk store keeps both documents in `<folder>/.images-to-s3/`, beside the images;
 * - an S3 store keeps them as `<prefix>/.images-to-s3/tokens.json` and `gallery.json` in the bucket
 *   (no image key starts with a dot), so every receiver on that bucket shares them, and keeps its
 *   own state in `./.images-to-s3/`;
 * - `--tokens` names the registry elsewhere: a file (the gallery's document beside it, and the
 *   receiver's own state in its folder), an object (`s3://bucket/key`, the gallery's beside it) or
 *   the AWS stack's secret (the gallery's document then stays beside the images).
 */
export async function stateFor(settings: StateSettings): Promise<ReceiverState> {
  const { tokens } = settings;
  if (tokens === undefined) return defaultState(settings.store);
  if (tokens.startsWith(SECRET_SCHEME)) {
    const secretId = tokens.slice(SECRET_SCHEME.length);
    if (secretId === '') throw new Error(`--tokens ${SECRET_SCHEME} needs the secret's name or ARN, e.g. ${SECRET_SCHEME}<ApiAccessTokenSecretArn>`);
    const { SecretDocument, createSecretsManagerClient } = await import('./secret-document.js');
    const beside = await defaultState(settings.store);
    return { ...beside, tokens: new SecretDocument({ client: createSecretsManagerClient(secretId), secretId }), sharedTokenCamera: DEFAULT_SHARED_TOKEN_CAMERA, earlierFiles: undefined };
  }
  if (tokens.startsWith('s3://')) {
    const { bucket, prefix } = parseS3Location(tokens);
    if (prefix === '') throw new Error(`--tokens ${tokens} names a bucket: name the registry's object, e.g. s3://${bucket}/${STATE_FOLDER}/${TOKENS_DOCUMENT}`);
    const key = prefix.slice(0, -1);
    const folder = key.slice(0, key.lastIndexOf('/') + 1);
    return { ...(await bucketDocuments(bucket, key, `${folder}${GALLERY_DOCUMENT}`)), localFolder: path.resolve(STATE_FOLDER) };
  }
  const file = path.resolve(tokens.replace(/^file:(\/\/)?/, ''));
  return { tokens: new FileDocument(file), gallery: new FileDocument(path.join(path.dirname(file), GALLERY_DOCUMENT)), localFolder: path.dirname(file) };
}

async function defaultState(store: string): Promise<ReceiverState> {
  if (isLocalStore(store)) {
    const folder = path.join(diskFolder(store), STATE_FOLDER);
    return { tokens: new FileDocument(path.join(folder, TOKENS_DOCUMENT)), gallery: new FileDocument(path.join(folder, GALLERY_DOCUMENT)), localFolder: folder };
  }
  const { bucket, prefix } = parseS3Location(store);
  const localFolder = path.resolve(STATE_FOLDER);
  return {
    ...(await bucketDocuments(bucket, `${prefix}${STATE_FOLDER}/${TOKENS_DOCUMENT}`, `${prefix}${STATE_FOLDER}/${GALLERY_DOCUMENT}`)),
    localFolder,
    earlierFiles: { tokens: path.join(localFolder, TOKENS_DOCUMENT), gallery: path.join(localFolder, GALLERY_DOCUMENT) },
  };
}

/** The two documents as objects in a bucket; the SDK is loaded only here. */
async function bucketDocuments(bucket: string, tokensKey: string, galleryKey: string): Promise<Pick<ReceiverState, 'tokens' | 'gallery'>> {
  const [{ S3Document }, { createS3Client }] = await Promise.all([import('./s3-document.js'), import('../stores/s3.js')]);
  const client = createS3Client({ requestTimeoutMs: DOCUMENT_TIMEOUT_MS });
  return {
    tokens: new S3Document({ client, bucket, key: tokensKey, timeoutMs: DOCUMENT_TIMEOUT_MS }),
    gallery: new S3Document({ client, bucket, key: galleryKey, timeoutMs: DOCUMENT_TIMEOUT_MS }),
  };
}

/**
 * Moves a document an earlier release kept in a local file into its shared place, once: when the
 * shared one does not exist yet and the file does. The file is left as it was (no longer read).
 *
 * @returns whether this call moved it.
 */
export async function adoptEarlierDocument(document: SharedDocument, file: string): Promise<boolean> {
  const earlier = await new FileDocument(file).read();
  if (earlier === undefined || (await document.read()) !== undefined) return false;
  // Create-only: of several receivers doing this at once, one writes it.
  return (await document.write(earlier.text, undefined)) !== CONFLICT;
}

/** The token registry `serve`, `token …` and `camera …` use for these settings. */
export async function openRegistry(settings: StateSettings): Promise<TokenRegistry> {
  const state = await stateFor(settings);
  return new TokenRegistry(state.tokens, state.sharedTokenCamera === undefined ? {} : { sharedTokenCamera: state.sharedTokenCamera });
}
