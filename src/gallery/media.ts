/**
 * What the gallery shows: images, and video clips beside them. Listings tell the two apart by the
 * key's extension (the receiver names every object with its type's own); an object opened for
 * viewing or serving, by the content type the store gives.
 *
 * @module
 */
import { MEDIA_TYPES, mediaTypeForName } from '../core/media-types.js';
import type { MediaType } from '../core/media-types.js';

/** An image, or a video clip. */
export type MediaKind = MediaType['kind'];

/** The content types the gallery serves: every type the receiver accepts. Objects of other types in the store are not shown. */
export const GALLERY_MEDIA_TYPES: ReadonlySet<string> = new Set(MEDIA_TYPES.map((type) => type.mediaType));

/**
 * What a listed key is, by its extension. A key of no known extension counts as an image, as it
 * always did: its thumbnail then says whether it is one.
 */
export function kindOfKey(key: string): MediaKind {
  return mediaTypeForName(key.slice(key.lastIndexOf('/') + 1))?.kind ?? 'image';
}

/** What an object of `contentType` is, or undefined when the gallery does not show that type. */
export function kindOfContentType(contentType: string): MediaKind | undefined {
  return MEDIA_TYPES.find((type) => type.mediaType === contentType)?.kind;
}

/** The content type an object probably has, from its key, where the store gives none. */
export function contentTypeOfKey(key: string): string | undefined {
  return mediaTypeForName(key.slice(key.lastIndexOf('/') + 1))?.mediaType;
}
