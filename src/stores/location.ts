import os from 'node:os';
import path from 'node:path';
import type { ByteRange, ImageStore, ImageWrite, ObjectContent, ObjectFacts, StoredObject } from '../core/store.js';
import { SpooledStore } from '../spool/spooled-store.js';
import type { SpooledStoreOptions } from '../spool/spooled-store.js';
import { DiskStore } from './disk.js';
import type { ConditionalWrites } from './s3.js';
import { parseS3Location } from './s3-location.js';

export const DEFAULT_STORE_LOCATION = 'file:./images';

export interface StoreSettings {
  /** `file:<folder>` (or a plain folder path) for the disk store, `s3://bucket[/prefix]` for S3. */
  location: string;
  conditionalWrites?: ConditionalWrites;
  /** S3: longest wait for one request to the store before the upload fails with 503. */
  timeoutMs?: number;
  /** Disk and spool: fsync each image before answering (default); see DiskStoreOptions.fsync. */
  fsync?: boolean;
  /** S3: receive into this local spool and forward in the background (see SpooledStore); unset, answer only once the store has the image. */
  spool?: SpoolSettings;
  /** Wraps the store that holds the images (under the spool, when there is one): the receiver's events see each image it takes. */
  observe?: (store: ImageStore) => ImageStore;
}

/** A spool's folder, size and forwarding (see {@link SpooledStoreOptions}). */
export type SpoolSettings = Pick<SpooledStoreOptions, 'folder' | 'maxBytes' | 'forwardConcurrency' | 'backoff'>;

/** The store a location names; not yet opened. */
export function storeFor(settings: StoreSettings): ImageStore {
  const { location } = settings;
  const observe = settings.observe ?? ((store: ImageStore) => store);
  if (!isLocalStore(location)) {
    const { bucket, prefix } = parseS3Location(location);
    const store = observe(new DeferredStore(`s3://${bucket}/${prefix}`, async () => {
      const { S3Store, createS3Client } = await import('./s3.js');
      return new S3Store({
        client: createS3Client(settings.timeoutMs !== undefined ? { requestTimeoutMs: settings.timeoutMs } : {}),
        bucket,
        prefix,
        ...(settings.conditionalWrites && { conditionalWrites: settings.conditionalWrites }),
      });
    }));
    if (settings.spool === undefined) return store;
    return new SpooledStore(store, { ...settings.spool, ...(settings.fsync !== undefined && { fsync: settings.fsync }) });
  }
  return observe(new DiskStore(diskFolder(location), undefined, settings.fsync === undefined ? {} : { fsync: settings.fsync }));
}

/** Whether a location names a store that is local already (and so has no spool). */
export function isLocalStore(location: string): boolean {
  return !location.startsWith('s3://');
}

/** The forms `--store` accepts, in words (for error messages and help). */
export const STORE_FORMS = 'file:<folder>, s3://bucket[/prefix], or a folder path starting with /, ./, ../ or ~/';

/**
 * The folder of a disk store's location: `file:<folder>`, or a path that is clearly one (`/…`,
 * `./…`, `../…`, `~/…`, `.`, `..`, `~`). Anything else (`s3:/bucket`, `bogus`, `http://…`) is
 * refused rather than taken for a folder of that name.
 */
export function diskFolder(location: string): string {
  let folder: string;
  if (location.startsWith('file:')) {
    folder = location.replace(/^file:(\/\/)?/, '');
    if (/^[a-z][a-z0-9+.-]*:/i.test(folder)) throw unknownStore(location);
  } else if (/^(\.{1,2}|~)(\/|$)|^\//.test(location)) {
    folder = location;
  } else {
    throw unknownStore(location);
  }
  if (folder === '~' || folder.startsWith('~/')) folder = path.join(os.homedir(), folder.slice(1));
  return path.resolve(folder === '' ? '.' : folder);
}

function unknownStore(location: string): Error {
  return new Error(`Unknown store "${location}": use ${STORE_FORMS}.`);
}

/**
 * A store whose module is loaded by `open()`: the AWS SDK takes about 20 MB of memory and a good
 * part of the start-up time, so a receiver on a disk store (and every CLI command) never loads it.
 */
class DeferredStore implements ImageStore {
  private inner: ImageStore | undefined;

  constructor(
    readonly location: string,
    private readonly load: () => Promise<ImageStore>,
  ) {}

  async open(): Promise<void> {
    this.inner ??= await this.load();
    await this.inner.open();
  }

  write(image: ImageWrite): Promise<{ key: string }> {
    return this.opened().write(image);
  }

  list(prefix?: string): AsyncIterable<StoredObject> {
    return this.opened().list(prefix);
  }

  read(key: string, range?: ByteRange): Promise<ObjectContent | undefined> {
    return this.opened().read(key, range);
  }

  listFolders(prefix: string): Promise<string[]> {
    const store = this.opened();
    return store.listFolders ? store.listFolders(prefix) : Promise.reject(new Error(`${this.location} cannot list folders`));
  }

  head(key: string): Promise<ObjectFacts | undefined> {
    const store = this.opened();
    return store.head ? store.head(key) : Promise.reject(new Error(`${this.location} cannot give facts without the bytes`));
  }

  check(): Promise<void> {
    return this.opened().check();
  }

  close(): Promise<void> {
    return this.inner?.close() ?? Promise.resolve();
  }

  private opened(): ImageStore {
    if (this.inner === undefined) throw new Error(`The store ${this.location} is used before open()`);
    return this.inner;
  }
}
