import { randomBytes } from 'node:crypto';
import { isValidCameraName } from './camera-name.js';
import { sanitiseSegment } from './key-segment.js';

/** The default key layout: camera, UTC date, filename. */
export const DEFAULT_KEY_TEMPLATE = '{camera}/{yyyy}/{MM}/{dd}/{filename}';
/** The Axis reference stack's layout: the camera's filename at the bucket root. */
export const FLAT_KEY_TEMPLATE = '{filename}';

const PLACEHOLDERS = ['camera', 'yyyy', 'MM', 'dd', 'HH', 'mm', 'ss', 'filename'] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

/** What a key is made of: who sent the image, when it arrived, and its safe filename. */
export interface KeyFacts {
  camera: string;
  receivedAt: Date;
  filename: string;
}

/** Thrown for a key template that could produce unsafe or clashing keys. */
export class KeyTemplateError extends Error {
  constructor(template: string, reason: string) {
    super(`Invalid key template "${template}": ${reason}`);
    this.name = 'KeyTemplateError';
  }
}

/**
 * A parsed, checked key template such as `{camera}/{yyyy}/{MM}/{dd}/{filename}`.
 *
 * Rules: `/`-separated segments, none empty, `.` or `..`; literal text limited to letters,
 * digits, `.`, `_`, `-`; `{filename}` exactly once and in the last segment (so a clash can be
 * resolved by changing the filename alone); no other placeholder than those listed.
 */
export class KeyTemplate {
  private readonly segments: ReadonlyArray<ReadonlyArray<string | { placeholder: Placeholder }>>;

  constructor(readonly template: string = DEFAULT_KEY_TEMPLATE) {
    const segments = template.split('/');
    this.segments = segments.map((segment) => {
      // A segment starting with "." (".", "..", ".hidden") would give keys the disk store refuses.
      if (segment === '' || segment.startsWith('.')) {
        throw new KeyTemplateError(template, 'empty path segments and segments starting with "." (such as "." and "..") are not allowed (and no leading "/")');
      }
      return segment.split(/(\{[^}]*\})/).filter(Boolean).map((part) => {
        const name = /^\{(.*)\}$/.exec(part)?.[1];
        if (name === undefined) {
          if (!/^[A-Za-z0-9._-]+$/.test(part)) {
            throw new KeyTemplateError(template, `literal text "${part}" may only hold letters, digits, ".", "_" and "-"`);
          }
          return part;
        }
        if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
          throw new KeyTemplateError(template, `unknown placeholder {${name}}; known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`);
        }
        return { placeholder: name as Placeholder };
      });
    });
    const uses = (segment: ReadonlyArray<string | { placeholder: Placeholder }>): number =>
      segment.filter((part) => typeof part !== 'string' && part.placeholder === 'filename').length;
    const total = this.segments.reduce((sum, segment) => sum + uses(segment), 0);
    if (total !== 1 || uses(this.segments.at(-1)!) !== 1) {
      throw new KeyTemplateError(template, '{filename} must appear exactly once, in the last segment');
    }
  }

  /** The object key for an image; every placeholder value is sanitised. */
  keyFor(facts: KeyFacts): string {
    const at = facts.receivedAt;
    const two = (n: number): string => String(n).padStart(2, '0');
    const values: Record<Placeholder, string> = {
      camera: cameraSegment(facts.camera),
      yyyy: String(at.getUTCFullYear()),
      MM: two(at.getUTCMonth() + 1),
      dd: two(at.getUTCDate()),
      HH: two(at.getUTCHours()),
      mm: two(at.getUTCMinutes()),
      ss: two(at.getUTCSeconds()),
      filename: sanitiseSegment(facts.filename) || 'image',
    };
    return this.segments
      .map((segment) => segment.map((part) => (typeof part === 'string' ? part : values[part.placeholder])).join(''))
      .join('/');
  }
}

/**
 * The camera's folder. A valid camera name is kept verbatim, because sanitising folds `a__b` and
 * `a_` into `a_b` and `a`, which would put two registered cameras' images in one folder; anything
 * else is sanitised.
 */
function cameraSegment(camera: string): string {
  if (isValidCameraName(camera)) return camera;
  return sanitiseSegment(camera) || 'unknown-camera';
}

/**
 * Another key for the same image when `key` is taken: `<name>-<HHmmssSSS><random>.<ext>`.
 * It is unique without looking at what exists, so a camera that sends the same filename every
 * time costs one extra write attempt at most, never a search through `-1`, `-2`, ….
 *
 * With `seed` (at least 8 bytes) the random part is taken from it instead, so that one who tries
 * again (the spool's forwarder after a restart) arrives at the same alternate key as before.
 */
export function alternateKey(key: string, receivedAt: Date, seed?: Uint8Array): string {
  const slash = key.lastIndexOf('/');
  const folder = key.slice(0, slash + 1);
  const name = key.slice(slash + 1);
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const extension = dot > 0 ? name.slice(dot) : '';
  const time = receivedAt.toISOString().slice(11, 23).replace(/[:.]/g, '');
  // Ten base-36 digits of 64 random bits (about 51 bits): the high digits of a shorter number
  // would make clashes between concurrent uploads of one filename within one millisecond likely.
  const bits = Buffer.from(seed ?? randomBytes(8)).readBigUInt64BE(0);
  const random = (bits % 36n ** 10n).toString(36).padStart(10, '0');
  return `${folder}${stem}-${time}${random}${extension}`;
}
