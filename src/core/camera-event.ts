/**
 * The event part of a camera's HTTP push: what happened, read from the XML or JSON a camera sends
 * beside its images (Hikvision's `EventNotificationAlert`, a Dahua event), reduced to a small,
 * bounded set of facts that is kept with every image of the push (S3 user metadata).
 *
 * Only what identifies the event is kept: its type, state, channel, time, and for plate and object
 * recognition the plate, direction and target. Everything else (coordinates, confidence values,
 * the device's addresses) is left out. Each value is made printable and bounded; in metadata it is
 * URL-encoded as `camera-filename` is, so it is ASCII whatever the camera wrote (a plate in Thai or
 * Chinese script included).
 *
 * XML is read with a namespace-aware DOM parser (`@xmldom/xmldom`), elements matched by local name
 * (Hikvision's namespace differs between firmware: `hikvision.com/ver10`, `ver20`, `isapi.org`).
 * A document type declaration is refused before parsing, so no entity is ever declared, let alone
 * expanded; only XML's five predefined entities and character references are read. The parser is
 * loaded when the first XML event arrives, so it costs nothing to a receiver (or a Lambda cold
 * start) that never sees one.
 *
 * @module
 */
import type { Element as XmlElement, Node as XmlNode } from '@xmldom/xmldom';
import { UploadError } from './errors.js';
import { essenceOf } from './media-types.js';
import { truncate } from './key-segment.js';

/** How an event part is written. */
export type EventFormat = 'xml' | 'json';

/** The facts of an event the receiver keeps, by name. */
export type EventFieldName = 'type' | 'state' | 'channel' | 'time' | 'plate' | 'direction' | 'target';

/** What happened, as far as the event part says: each fact printable and bounded; absent when the camera gave none. */
export type CameraEventFacts = Partial<Record<EventFieldName, string>>;

/** The order the facts are listed in (metadata, receipts). */
export const EVENT_FIELD_NAMES: readonly EventFieldName[] = ['type', 'state', 'channel', 'time', 'plate', 'direction', 'target'];

/** The longest fact kept, in characters. */
const MAX_FACT_LENGTH = 64;
/** The longest fact in metadata, URL-encoded (nine bytes for a character of CJK script). */
const MAX_ENCODED_FACT_LENGTH = 128;

const XML_TYPES = new Set(['application/xml', 'text/xml']);
const JSON_TYPES = new Set(['application/json', 'text/json']);

/**
 * Whether a multipart part is a camera's event, and in which format: by its declared type
 * (`application/xml`, `text/xml`, `application/json`, or a `+xml`/`+json` type), else by the
 * extension of its filename or field name (Hikvision's `anpr.xml`). Undefined for anything else.
 */
export function eventFormatOf(part: { contentType: string | undefined; filename?: string | undefined; name?: string | undefined }): EventFormat | undefined {
  const essence = part.contentType === undefined ? '' : essenceOf(part.contentType);
  if (XML_TYPES.has(essence) || essence.endsWith('+xml')) return 'xml';
  if (JSON_TYPES.has(essence) || essence.endsWith('+json')) return 'json';
  for (const name of [part.filename, part.name]) {
    const extension = /\.(xml|json)$/i.exec(name ?? '')?.[1]?.toLowerCase();
    if (extension === 'xml' || extension === 'json') return extension;
  }
  return undefined;
}

/**
 * Whether the text of a part sent without a type (which multipart reads as `text/plain`) is an
 * XML event: it starts with an XML declaration or an `EventNotificationAlert` element. Public
 * receivers of Hikvision pushes take such parts for the event (ioBroker.hikvision-alarmserver).
 */
export function looksLikeXmlEvent(text: string): boolean {
  return /^\uFEFF?\s*<(\?xml[\s?]|EventNotificationAlert[\s>/])/.test(text);
}

/**
 * The facts of an event part. XML: a Hikvision `EventNotificationAlert` (any namespace) or any
 * XML with such elements. JSON: Hikvision's (the same names, at the top or inside an
 * `EventNotificationAlert` object) or Dahua's (`Code`, `Action`, `Index`, `Data`; alone, or the
 * first of `Events`/`eventList`). A part that cannot be read is refused (400): it comes before the
 * images, so nothing of the push is stored.
 */
export async function readCameraEvent(format: EventFormat, text: string): Promise<CameraEventFacts> {
  return format === 'xml' ? readXmlEvent(text) : readJsonEvent(text);
}

/**
 * The facts as object metadata: `event-type`, `event-state`, `event-channel`, `event-time`,
 * `event-plate`, `event-direction`, `event-target`, each URL-encoded (ASCII) and at most
 * {@link MAX_ENCODED_FACT_LENGTH} characters.
 */
export function eventMetadata(facts: CameraEventFacts): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const name of EVENT_FIELD_NAMES) {
    const value = facts[name];
    if (value !== undefined) metadata[`event-${name}`] = encodedFact(value);
  }
  return metadata;
}

/** A fact URL-encoded, shortened (by whole characters) until the encoding fits. */
function encodedFact(value: string): string {
  let characters = [...value];
  let encoded = encodeURIComponent(value);
  while (encoded.length > MAX_ENCODED_FACT_LENGTH) {
    characters = characters.slice(0, -1);
    encoded = encodeURIComponent(characters.join(''));
  }
  return encoded;
}

/** A value as a fact: text without control or format characters, spaces folded, bounded; undefined when empty or not text. */
function fact(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined;
  const text = String(value)
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text === '' ? undefined : truncate(text, MAX_FACT_LENGTH);
}

/** Sets the facts that are given, in `facts`, from the candidates (the first given one wins). */
function collect(candidates: Partial<Record<EventFieldName, unknown[]>>): CameraEventFacts {
  const facts: CameraEventFacts = {};
  for (const name of EVENT_FIELD_NAMES) {
    for (const candidate of candidates[name] ?? []) {
      const value = fact(candidate);
      if (value !== undefined) {
        facts[name] = value;
        break;
      }
    }
  }
  return facts;
}

const unreadable = (what: string): UploadError =>
  new UploadError(400, `The push's event part cannot be read (${what}); nothing was stored. Send the event as well-formed XML or JSON, or the images without it.`);

/** Hikvision's element names of the facts; the first element found in document order wins. */
const XML_ELEMENTS: Record<EventFieldName, readonly string[]> = {
  type: ['eventType'],
  state: ['eventState'],
  channel: ['channelID', 'dynChannelID'],
  time: ['dateTime'],
  plate: ['licensePlate'],
  direction: ['direction'],
  target: ['detectionTarget', 'targetType'],
};

async function readXmlEvent(text: string): Promise<CameraEventFacts> {
  // Refused before parsing: no entity can be declared, so none is expanded (and no external one fetched).
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw unreadable('document type declarations are not accepted');
  const { DOMParser } = await import('@xmldom/xmldom');
  let root: XmlElement | null;
  try {
    const document = new DOMParser({
      onError: (level, message) => {
        if (level !== 'warning') throw new Error(message);
      },
    }).parseFromString(text.replace(/^\uFEFF/, ''), 'application/xml');
    root = document.documentElement;
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 120);
    throw unreadable(`not well-formed XML: ${message}`);
  }
  if (!root) throw unreadable('no root element');

  const found = new Map<string, string>();
  const wanted = new Set(Object.values(XML_ELEMENTS).flat());
  const walk = (node: XmlNode): void => {
    for (let child = node.firstChild; child !== null; child = child.nextSibling) {
      if (child.nodeType !== child.ELEMENT_NODE) continue;
      const element = child as XmlElement;
      const name = element.localName ?? element.nodeName;
      if (wanted.has(name) && !found.has(name) && !hasElementChildren(element)) found.set(name, element.textContent ?? '');
      walk(element);
    }
  };
  walk(root);
  const candidates: Partial<Record<EventFieldName, unknown[]>> = {};
  for (const name of EVENT_FIELD_NAMES) candidates[name] = XML_ELEMENTS[name].map((element) => found.get(element));
  return collect(candidates);
}

function hasElementChildren(element: XmlElement): boolean {
  for (let child = element.firstChild; child !== null; child = child.nextSibling) {
    if (child.nodeType === child.ELEMENT_NODE) return true;
  }
  return false;
}

type JsonObject = Record<string, unknown>;
const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const field = (value: unknown, ...path: string[]): unknown => path.reduce<unknown>((at, key) => (isObject(at) ? at[key] : undefined), value);

function readJsonEvent(text: string): CameraEventFacts {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw unreadable(`not JSON: ${(error as Error).message.slice(0, 120)}`);
  }
  if (!isObject(parsed)) throw unreadable('the JSON is not an object');

  // Hikvision: EventNotificationAlert's names, at the top or wrapped.
  const alert = isObject(parsed.EventNotificationAlert) ? parsed.EventNotificationAlert : parsed;
  if ('eventType' in alert) {
    return collect({
      type: [alert.eventType],
      state: [alert.eventState],
      channel: [alert.channelID, alert.dynChannelID],
      time: [alert.dateTime],
      plate: [field(alert, 'ANPR', 'licensePlate')],
      direction: [field(alert, 'ANPR', 'direction')],
      target: [field(alert, 'DetectionRegionList', 'DetectionRegionEntry', 'detectionTarget'), alert.targetType],
    });
  }

  // Dahua: one event (Code, Action, Index, Data), alone or the first of a list.
  const listed = [parsed.Events, parsed.eventList, field(parsed, 'params', 'eventList')].find(Array.isArray) as unknown[] | undefined;
  const event = listed ? listed.find(isObject) : parsed;
  if (isObject(event) && 'Code' in event) {
    const data = event.Data;
    return collect({
      type: [event.Code],
      state: [event.Action],
      channel: [event.Index, event.Channel],
      time: [field(data, 'LocaleTime'), event.LocaleTime, utcTime(field(data, 'UTC'))],
      plate: [field(data, 'TrafficCar', 'PlateNumber'), field(data, 'Object', 'Text')],
      direction: [field(data, 'TrafficCar', 'Direction'), field(data, 'JunctionDirection')],
      target: [field(data, 'Object', 'ObjectType')],
    });
  }
  // Well-formed JSON of another shape: the images are kept, without event facts.
  return {};
}

/** Dahua's `UTC` (seconds since 1970) as an ISO time. */
function utcTime(value: unknown): string | undefined {
  const seconds = typeof value === 'number' ? value : typeof value === 'string' && /^\d{9,11}$/.test(value) ? Number(value) : undefined;
  return seconds === undefined ? undefined : new Date(seconds * 1000).toISOString();
}
