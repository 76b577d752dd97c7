/**
 * What the receiver tells other systems, in one shape for every sink: CloudEvents 1.0 in
 * structured mode (the whole event is the JSON body or message).
 *
 * Ids are made from what the event is about, not drawn at random: the same image stored, or the
 * same silence of a camera, always has the same id. Delivery is at least once (a retry, a restart,
 * every receiver of a fleet noticing the same silence), so a consumer drops what it has seen by
 * `source` and `id`.
 *
 * No event carries a token or any other secret.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { MediaKind } from '../core/media-types.js';

/** The kinds of event: `image.stored` (an image or a clip is in the store), `camera.silent`, `camera.back`. */
export type ReceiverEventType = 'image.stored' | 'camera.silent' | 'camera.back';

/** A CloudEvents 1.0 event, as sent (structured mode, JSON). */
export interface ReceiverEvent<Type extends ReceiverEventType = ReceiverEventType> {
  specversion: '1.0';
  id: string;
  /** The store the images are in, as a URI (`s3://bucket/prefix`, `file:///srv/images`): receivers of a fleet share it. */
  source: string;
  type: Type;
  /** RFC 3339, UTC. */
  time: string;
  /** The camera's name. */
  subject: string;
  datacontenttype: 'application/json';
  data: EventData[Type];
}

export interface EventData {
  'image.stored': ImageStoredData;
  'camera.silent': CameraSilentData;
  'camera.back': CameraBackData;
}

/** An image or a clip is in the store, under `key`. */
export interface ImageStoredData {
  camera: string;
  key: string;
  bytes: number;
  contentType: string;
  kind: MediaKind;
  /** When the receiver got it (RFC 3339). */
  receivedAt: string;
  /** The store's location (`s3://bucket/prefix`, `file:/srv/images`). */
  store: string;
  /** Where the object is, for a store that has URLs (S3: `s3://bucket/key`). */
  url?: string;
}

/** A camera sent nothing for longer than its usual interval allows (the gallery's *Overdue*). */
export interface CameraSilentData {
  camera: string;
  /** The last thing it sent, and when it was stored. */
  lastKey: string;
  lastReceivedAt: string;
  /** The median time between the recent things it sent. */
  usualIntervalSeconds: number;
  /** How long it had been silent when this was noticed. */
  silentSeconds: number;
}

/** A camera that was silent sent again. */
export interface CameraBackData {
  camera: string;
  /** What it sent again, and when it was stored. */
  key: string;
  receivedAt: string;
  /** The time between the last thing before its silence and this. */
  silentSeconds: number;
}

/** An event's id: a digest of what makes it that event (its type and the key it is about). */
function eventId(type: ReceiverEventType, ...parts: string[]): string {
  return createHash('sha256').update([type, ...parts].join('\n')).digest('base64url').slice(0, 32);
}

function event<Type extends ReceiverEventType>(type: Type, source: string, time: Date, subject: string, id: string, data: EventData[Type]): ReceiverEvent<Type> {
  return { specversion: '1.0', id, source, type, time: time.toISOString(), subject, datacontenttype: 'application/json', data };
}

/** `image.stored` for the object at `data.key` (a key is stored once: its id is the key's). */
export function imageStoredEvent(source: string, data: ImageStoredData, time = new Date()): ReceiverEvent<'image.stored'> {
  return event('image.stored', source, time, data.camera, eventId('image.stored', data.key), data);
}

/** `camera.silent` after `data.lastKey` (one silence, one id, whichever receiver notices it). */
export function cameraSilentEvent(source: string, data: CameraSilentData, time = new Date()): ReceiverEvent<'camera.silent'> {
  return event('camera.silent', source, time, data.camera, eventId('camera.silent', data.camera, data.lastKey), data);
}

/** `camera.back` with `data.key`, the first thing it sent after its silence. */
export function cameraBackEvent(source: string, data: CameraBackData, time = new Date()): ReceiverEvent<'camera.back'> {
  return event('camera.back', source, time, data.camera, eventId('camera.back', data.camera, data.key), data);
}

/** The CloudEvents `source` of a store's events: its location as a URI (a folder as a `file://` URL). */
export function eventSource(storeLocation: string): string {
  if (!storeLocation.startsWith('file:')) return storeLocation;
  return new URL(`file://${storeLocation.replace(/^file:(\/\/)?/, '')}`).href;
}
