/**
 * Where a receiver's shared state lives (the token registry, the gallery's password hash and
 * session secret, the SFTP server's host keys) and where it keeps what is its own (spool,
 * thumbnail cache, a copy of the registry): one rule for `serve`, `token …` and `camera …`.
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
export const SFTP_HOST_KEYS_DOCUMENT = 'sftp-host-keys.json';
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
  /**
   * The SFTP server's host keys, beside the gallery's document: every receiver of a fleet presents
   * the same keys. Private keys: a file of mode 0600, or an object in the (private) bucket.
   */
  sftpHostKeys: SharedDocument;
  /** This receiver's own folder: spool, thumbnail cache, the copy of a remote registry. Never shared. */
  localFolder: string;
  /** The AWS stack's secret: its shared `accessToken` stands for this camera. */
  sharedTokenCamera?: string;
  /** Files that releases before the registry moved into the bucket kept in the working directory; see {@link adoptEarlierDocument}. */
  earlierFiles?: { tokens: string; gallery: string };
}

/**
 * The state of a receiver on `store`:
 * - a disk store keeps the documents in `<folder>/.images-to-s3/`, beside the images;
 * - an S3 store keeps them as `<prefix>/.images-to-s3/tokens.json`, `gallery.json` and
 *   `sftp-host-keys.json` in the bucket (no image key starts with a dot), so every receiver on that
 *   bucket shares them, and keeps its own state in `./.images-to-s3/`;
 * - `--tokens` names the registry elsewhere: a file (the other documents beside it, and the
 *   receiver's own state in its folder), an object (`s3://bucket/key`, the others beside it) or
 *   the AWS stack's secret (the other documents then stay beside the images).
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
    return { ...(await bucketDocuments(bucket, key, folder)), localFolder: path.resolve(STATE_FOLDER) };
  }
  const file = path.resolve(tokens.replace(/^file:(\/\/)?/, ''));
  return { tokens: new FileDocument(file), ...besideInFolder(path.dirname(file)), localFolder: path.dirname(file) };
}

async function defaultState(store: string): Promise<ReceiverState> {
  if (isLocalStore(store)) {
    const folder = path.join(diskFolder(store), STATE_FOLDER);
    return { tokens: new FileDocument(path.join(folder, TOKENS_DOCUMENT)), ...besideInFolder(folder), localFolder: folder };
  }
  const { bucket, prefix } = parseS3Location(store);
  const localFolder = path.resolve(STATE_FOLDER);
  return {
    ...(await bucketDocuments(bucket, `${prefix}${STATE_FOLDER}/${TOKENS_DOCUMENT}`, `${prefix}${STATE_FOLDER}/`)),
    localFolder,
    earlierFiles: { tokens: path.join(localFolder, TOKENS_DOCUMENT), gallery: path.join(localFolder, GALLERY_DOCUMENT) },
  };
}

/** The documents kept beside the registry, as files in `folder`. */
function besideInFolder(folder: string): Pick<ReceiverState, 'gallery' | 'sftpHostKeys'> {
  return { gallery: new FileDocument(path.join(folder, GALLERY_DOCUMENT)), sftpHostKeys: new FileDocument(path.join(folder, SFTP_HOST_KEYS_DOCUMENT)) };
}

/** The documents as objects in a bucket, the others in the registry's folder (`''` or ending in `/`); the SDK is loaded only here. */
async function bucketDocuments(bucket: string, tokensKey: string, folder: string): Promise<Pick<ReceiverState, 'tokens' | 'gallery' | 'sftpHostKeys'>> {
  const [{ S3Document }, { createS3Client }] = await Promise.all([import('./s3-document.js'), import('../stores/s3.js')]);
  const client = createS3Client({ requestTimeoutMs: DOCUMENT_TIMEOUT_MS });
  const document = (key: string): SharedDocument => new S3Document({ client, bucket, key, timeoutMs: DOCUMENT_TIMEOUT_MS });
  return { tokens: document(tokensKey), gallery: document(`${folder}${GALLERY_DOCUMENT}`), sftpHostKeys: document(`${folder}${SFTP_HOST_KEYS_DOCUMENT}`) };
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
