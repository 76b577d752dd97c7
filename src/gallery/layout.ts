/**
 * What the gallery can learn from a key template: which part of a key names the camera and the
 * day, and whether a camera's day can be listed by prefix (without reading every key).
 *
 * @module
 */
import { KeyTemplate } from '../core/object-key.js';

/** The group shown for images whose key names no camera (e.g. the flat `{filename}` layout). */
export const ALL_IMAGES = 'all-images';

/** A day as the keys write it: `YYYY-MM-DD`, UTC. */
export type Day = string;

type Part = string | { placeholder: string };

/** What a key says about its image. Absent fields are not in the key. */
export interface KeyFacts {
  camera?: string;
  day?: Day;
}

/** One "folder" level of the date part of an indexed layout, e.g. `{yyyy}` or `{yyyy}-{MM}-{dd}`. */
interface DateLevel {
  parts: Part[];
  pattern: RegExp;
  /** How many characters of `YYYY-MM-DD` are known once this level is read (4, 7 or 10). */
  known: number;
}

const DATE_FIELDS = ['yyyy', 'MM', 'dd'] as const;
const FIELD_PATTERNS: Record<string, string> = {
  camera: '([^/]+?)',
  yyyy: '(\\d{4})',
  MM: '(\\d{2})',
  dd: '(\\d{2})',
  HH: '(\\d{2})',
  mm: '(\\d{2})',
  ss: '(\\d{2})',
  filename: '([^/]+)',
};

/**
 * A key template read for browsing.
 *
 * A layout is **indexed** when its folders are: literal folders, then one folder holding the
 * camera (and literals), then folders holding the year, month and day in that order (e.g. the
 * default `{camera}/{yyyy}/{MM}/{dd}/{filename}`, or `{camera}/{yyyy}-{MM}-{dd}/{HH}/{filename}`).
 * Then cameras are the folders at one level, and one camera's day is one key prefix.
 *
 * Any other layout (such as the flat `{filename}`) is browsed by **scanning**: every key below the
 * literal folders is listed, its camera read from the key when the template has `{camera}` (else
 * all images form one group, {@link ALL_IMAGES}), its day from the key when the template has the
 * date (else from the object's last-modified time, which is its receive time).
 */
export class GalleryLayout {
  readonly template: string;
  readonly indexed: boolean;
  /** The literal folders every key starts with, e.g. `''` or `site-a/`. */
  readonly fixedPrefix: string;
  readonly hasCamera: boolean;
  readonly hasDate: boolean;
  private readonly keyPattern: RegExp;
  private readonly keyGroups: string[];
  private readonly cameraFolder: { parts: Part[]; pattern: RegExp } | undefined;
  private readonly dateLevels: DateLevel[];

  constructor(template: string) {
    // Parsed by KeyTemplate first, so only valid templates get here.
    this.template = new KeyTemplate(template).template;
    const segments = template.split('/').map(parseSegment);
    const placeholders = (parts: Part[]): string[] => parts.flatMap((part) => (typeof part === 'string' ? [] : [part.placeholder]));

    this.keyGroups = segments.flatMap(placeholders);
    this.keyPattern = new RegExp(`^${segments.map(segmentPattern).join('/')}$`, 'u');
    this.hasCamera = this.keyGroups.includes('camera');
    this.hasDate = DATE_FIELDS.every((field) => this.keyGroups.includes(field));

    const folders = segments.slice(0, -1);
    let index = 0;
    const fixed: string[] = [];
    while (index < folders.length && placeholders(folders[index]!).length === 0) {
      fixed.push(folders[index++]!.filter((part) => typeof part === 'string').join(''));
    }
    this.fixedPrefix = fixed.map((folder) => `${folder}/`).join('');

    const cameraParts = folders[index];
    const levels: DateLevel[] = [];
    let indexed = false;
    if (cameraParts && placeholders(cameraParts).join() === 'camera') {
      const order: string[] = [];
      for (let level = index + 1; level < folders.length && order.length < 3; level++) {
        const names = placeholders(folders[level]!);
        if (names.length === 0 || names.some((name) => !(DATE_FIELDS as readonly string[]).includes(name))) break;
        order.push(...names);
        levels.push({ parts: folders[level]!, pattern: new RegExp(`^${segmentPattern(folders[level]!)}$`, 'u'), known: [0, 4, 7, 10][order.length]! });
      }
      indexed = order.join() === DATE_FIELDS.join();
    }
    this.indexed = indexed;
    this.cameraFolder = indexed && cameraParts ? { parts: cameraParts, pattern: new RegExp(`^${segmentPattern(cameraParts)}$`, 'u') } : undefined;
    this.dateLevels = indexed ? levels : [];
  }

  /** What `key` says about its image, or undefined when the key is not of this layout. */
  parse(key: string): KeyFacts | undefined {
    if (key.split('/').some((segment) => segment.startsWith('.'))) return undefined;
    const match = this.keyPattern.exec(key);
    if (!match) return undefined;
    const values = new Map<string, string>();
    for (const [i, name] of this.keyGroups.entries()) {
      const value = match[i + 1]!;
      // A placeholder used twice must say the same thing both times.
      if (values.has(name) && values.get(name) !== value) return undefined;
      values.set(name, value);
    }
    const facts: KeyFacts = {};
    if (values.has('camera')) facts.camera = values.get('camera')!;
    if (this.hasDate) {
      const day = `${values.get('yyyy')!}-${values.get('MM')!}-${values.get('dd')!}`;
      if (!isDay(day)) return undefined;
      facts.day = day;
    }
    return facts;
  }

  /** Indexed layouts: the folder that holds the cameras' folders. */
  get camerasPrefix(): string {
    return this.fixedPrefix;
  }

  /** Indexed layouts: the camera a folder name below {@link camerasPrefix} stands for, if any. */
  cameraOfFolder(folder: string): string | undefined {
    const match = this.cameraFolder?.pattern.exec(folder);
    return match ? match[1] : undefined;
  }

  /** Indexed layouts: the prefix of every key of `camera`. */
  cameraPrefix(camera: string): string {
    if (!this.cameraFolder) throw new Error(`Layout ${this.template} has no camera folder`);
    return `${this.fixedPrefix}${fill(this.cameraFolder.parts, { camera })}/`;
  }

  /** Indexed layouts: the prefix of every key of `camera` on `day`. */
  dayPrefix(camera: string, day: Day): string {
    const values = dateValues(day);
    return this.cameraPrefix(camera) + this.dateLevels.map((level) => `${fill(level.parts, values)}/`).join('');
  }

  /** Indexed layouts: how many folder levels below a camera's folder make up the date. */
  get dateDepth(): number {
    return this.dateLevels.length;
  }

  /**
   * Indexed layouts: the part of a day (`2026`, `2026-11`, `2026-11-23`: as many characters of
   * `YYYY-MM-DD` as are known) a folder at date level `level` stands for, given the part known
   * from the folders above it; undefined for a folder that is not of the layout.
   */
  datePartOfFolder(level: number, above: string, folder: string): string | undefined {
    const spec = this.dateLevels[level];
    const match = spec?.pattern.exec(folder);
    if (!spec || !match) return undefined;
    const values = new Map<string, string>();
    let i = 1;
    for (const part of spec.parts) if (typeof part !== 'string') values.set(part.placeholder, match[i++]!);
    const known = [above.slice(0, 4) || values.get('yyyy'), above.slice(5, 7) || values.get('MM'), above.slice(8, 10) || values.get('dd')];
    const text = known.filter((value) => value !== undefined).join('-');
    if (text.length !== spec.known) return undefined;
    return text;
  }
}

/** Whether `value` is a real calendar day written `YYYY-MM-DD`. */
export function isDay(value: string): value is Day {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

/** The UTC day of a moment. */
export function dayOf(moment: Date): Day {
  return moment.toISOString().slice(0, 10);
}

/** The day `offset` days after `day` (before, when negative). */
export function addDays(day: Day, offset: number): Day {
  return dayOf(new Date(Date.parse(`${day}T00:00:00Z`) + offset * 86_400_000));
}

function parseSegment(segment: string): Part[] {
  return segment
    .split(/(\{[^}]*\})/)
    .filter(Boolean)
    .map((part) => {
      const name = /^\{(.*)\}$/.exec(part)?.[1];
      return name === undefined ? part : { placeholder: name };
    });
}

function segmentPattern(parts: Part[]): string {
  return parts.map((part) => (typeof part === 'string' ? escapeRegExp(part) : FIELD_PATTERNS[part.placeholder]!)).join('');
}

function fill(parts: Part[], values: Record<string, string>): string {
  return parts.map((part) => (typeof part === 'string' ? part : values[part.placeholder]!)).join('');
}

function dateValues(day: Day): Record<string, string> {
  return { yyyy: day.slice(0, 4), MM: day.slice(5, 7), dd: day.slice(8, 10) };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
