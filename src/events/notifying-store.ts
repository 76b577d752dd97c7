/**
 * The store that holds the images, telling the outbox of each image it took: `image.stored` is
 * written to the outbox after the store has the image and before the write resolves, so a camera's
 * 2xx (or, behind a spool, the spooled file's removal) comes only once the event is kept as
 * durably as the image.
 *
 * Under a spool it wraps the remote store, so the event tells of an object that is in the bucket,
 * under the key it finally got there.
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import { mediaTypeForContentType } from '../core/media-types.js';
import type { ByteRange, ImageStore, ImageWrite, ObjectContent, ObjectFacts, StoreHealth, StoredObject } from '../core/store.js';
import { eventSource, imageStoredEvent } from './cloud-event.js';
import type { ReceiverEvent } from './cloud-event.js';

export interface StoredImageListener {
  append(event: ReceiverEvent): Promise<void>;
}

/** What the receiver does when an event cannot be kept after the image was stored (the image stays: storing it again would make a second copy). */
export type EventLossReporter = (error: unknown, event: ReceiverEvent<'image.stored'>) => void;

export class NotifyingStore implements ImageStore {
  readonly listFolders?: (prefix: string) => Promise<string[]>;
  readonly head?: (key: string) => Promise<ObjectFacts | undefined>;
  readonly health?: () => Promise<StoreHealth>;
  private readonly source: string;

  constructor(
    readonly inner: ImageStore,
    private readonly outbox: StoredImageListener,
    private readonly lost: EventLossReporter,
  ) {
    this.source = eventSource(inner.location);
    if (inner.listFolders) this.listFolders = (prefix) => inner.listFolders!(prefix);
    if (inner.head) this.head = (key) => inner.head!(key);
    if (inner.health) this.health = () => inner.health!();
  }

  get location(): string {
    return this.inner.location;
  }

  get needsSha256(): boolean | undefined {
    return this.inner.needsSha256;
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  async write(image: ImageWrite): Promise<{ key: string }> {
    const known = image.file?.size ?? image.size;
    let counted = 0;
    const body =
      known === undefined
        ? (async function* count(): AsyncIterable<Uint8Array> {
            for await (const chunk of image.body) {
              counted += chunk.byteLength;
              yield chunk;
            }
          })()
        : image.body;
    const stored = await this.inner.write({ ...image, body });
    const camera = image.metadata.camera ?? stored.key.split('/')[0]!;
    const event = imageStoredEvent(this.source, {
      camera,
      key: stored.key,
      bytes: known ?? counted,
      contentType: image.contentType,
      kind: mediaTypeForContentType(image.contentType)?.kind ?? 'image',
      receivedAt: image.metadata['received-at'] ?? new Date().toISOString(),
      store: this.inner.location,
      url: objectUrl(this.inner.location, stored.key),
    });
    await this.outbox.append(event).catch((error: unknown) => this.lost(error, event));
    return stored;
  }

  list(prefix?: string): AsyncIterable<StoredObject> {
    return this.inner.list(prefix);
  }

  read(key: string, range?: ByteRange): Promise<ObjectContent | undefined> {
    return this.inner.read(key, range);
  }

  check(): Promise<void> {
    return this.inner.check();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Where an object is: `s3://bucket/prefix/key` in a bucket, a `file://` URL on disk. */
export function objectUrl(location: string, key: string): string {
  if (location.startsWith('s3://')) return `${location.endsWith('/') ? location : `${location}/`}${key}`;
  const folder = location.replace(/^file:(\/\/)?/, '');
  return pathToFileURL(`${folder.endsWith('/') ? folder : `${folder}/`}${key}`).href;
}
