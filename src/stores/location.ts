import path from 'node:path';
import type { ImageStore } from '../core/store.js';
import { DiskStore } from './disk.js';
import { S3Store, createS3Client, parseS3Location } from './s3.js';
import type { ConditionalWrites } from './s3.js';

export const DEFAULT_STORE_LOCATION = 'file:./images';

export interface StoreSettings {
  /** `file:<folder>` (or a plain folder path) for the disk store, `s3://bucket[/prefix]` for S3. */
  location: string;
  conditionalWrites?: ConditionalWrites;
  /** S3: longest wait for one request to the store before the upload fails with 503. */
  timeoutMs?: number;
}

/** The store a location names; not yet opened. */
export function storeFor(settings: StoreSettings): ImageStore {
  const { location } = settings;
  if (location.startsWith('s3://')) {
    const { bucket, prefix } = parseS3Location(location);
    return new S3Store({
      client: createS3Client(settings.timeoutMs !== undefined ? { requestTimeoutMs: settings.timeoutMs } : {}),
      bucket,
      prefix,
      ...(settings.conditionalWrites && { conditionalWrites: settings.conditionalWrites }),
    });
  }
  return new DiskStore(diskFolder(location));
}

/**
 * Where the token registry lives unless told otherwise: beside the images for the disk store (in
 * a dot-folder no key can reach), in the working directory for other stores.
 */
export function defaultTokensFile(location: string): string {
  const folder = location.startsWith('s3://') ? path.resolve('.images-to-s3') : path.join(diskFolder(location), '.images-to-s3');
  return path.join(folder, 'tokens.json');
}

function diskFolder(location: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) && !location.startsWith('file://')) {
    throw new Error(`Unknown store "${location}": use file:<folder> or s3://bucket[/prefix]`);
  }
  const folder = location.replace(/^file:(\/\/)?/, '');
  return path.resolve(folder === '' ? '.' : folder);
}
