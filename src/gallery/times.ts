/**
 * Times as the gallery shows them: in the viewer's time zone, which the gallery's script tells the
 * server in a cookie (UTC until it has, and for a viewer without scripts), always saying which
 * zone it is. Days stay the UTC days the store files images under; a time whose date in the
 * viewer's zone is another day says that date as well.
 *
 * @module
 */
import type { Day } from './layout.js';

/** The cookie the gallery's script sets to the browser's IANA time zone (`Europe/Stockholm`). */
export const TIME_ZONE_COOKIE = 'images_to_s3_tz';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `23 Nov 2026` */
export function formatDay(day: Day): string {
  return `${Number(day.slice(8, 10))} ${MONTHS[Number(day.slice(5, 7)) - 1]} ${day.slice(0, 4)}`;
}

/** `23 Nov` */
export function formatShortDay(day: Day): string {
  return formatDay(day).slice(0, -5);
}

/** The UTC day of a moment, as keys are filed. */
export function utcDayOf(moment: Date): Day {
  return moment.toISOString().slice(0, 10);
}

/** `zone` when it is a time zone this runtime knows, else UTC. */
export function knownTimeZone(zone: string | undefined): string {
  if (zone === undefined || !/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(zone)) return 'UTC';
  try {
    // Kept as the browser names it (ICU would turn Asia/Kolkata into Asia/Calcutta), so the
    // script can tell that a page is in its zone.
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return zone;
  } catch {
    return 'UTC';
  }
}

/** A time label for a thing with a key, such as a catalog image. */
interface Timed {
  key: string;
  storedAt: Date;
}

/** Formats moments in one time zone. */
export class Times {
  readonly zone: string;
  private readonly clock: Intl.DateTimeFormat;
  private readonly date: Intl.DateTimeFormat;
  private readonly offset: Intl.DateTimeFormat;

  constructor(zone = 'UTC') {
    this.zone = knownTimeZone(zone);
    this.clock = new Intl.DateTimeFormat('en-GB', { timeZone: this.zone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    this.date = new Intl.DateTimeFormat('en-CA', { timeZone: this.zone, year: 'numeric', month: '2-digit', day: '2-digit' });
    this.offset = new Intl.DateTimeFormat('en', { timeZone: this.zone, timeZoneName: 'longOffset' });
  }

  /** `10:15:03` */
  time(moment: Date): string {
    return this.clock.format(moment);
  }

  /** `10:15:03.042` */
  preciseTime(moment: Date): string {
    return `${this.time(moment)}.${String(moment.getUTCMilliseconds()).padStart(3, '0')}`;
  }

  /** The day a moment falls on in this zone. */
  dayOf(moment: Date): Day {
    return this.date.format(moment);
  }

  /** `10:15:03` when the moment falls on `day` in this zone, else `24 Nov 10:15:03`. */
  timeOn(moment: Date, day: Day, time = this.time(moment)): string {
    const local = this.dayOf(moment);
    return local === day ? time : `${formatShortDay(local)} ${time}`;
  }

  /** `23 Nov 2026 10:15:03` */
  dayAndTime(moment: Date): string {
    return `${formatDay(this.dayOf(moment))} ${this.time(moment)}`;
  }

  /** `UTC`, or `Europe/Stockholm (UTC+01:00)` at the moment given (offsets change with daylight saving). */
  zoneName(at: Date): string {
    if (this.zone === 'UTC') return 'UTC';
    const offset = this.offset.formatToParts(at).find((part) => part.type === 'timeZoneName')?.value ?? 'GMT';
    return `${this.zone} (${offset === 'GMT' ? 'UTC' : offset.replace('GMT', 'UTC')})`;
  }

  /**
   * A label per item that tells it from its neighbours in `items` (in time order): the time to the
   * second; to the millisecond where a neighbour shares the second and the store keeps
   * milliseconds; and where even that is shared, its place among them (`10:15:03 (2)`).
   */
  distinctLabels(items: readonly Timed[], day: Day): Map<string, string> {
    const labels = new Map<string, string>();
    let start = 0;
    while (start < items.length) {
      const second = Math.floor(items[start]!.storedAt.getTime() / 1000);
      let end = start + 1;
      while (end < items.length && Math.floor(items[end]!.storedAt.getTime() / 1000) === second) end++;
      const group = items.slice(start, end);
      const precise = group.length > 1 && new Set(group.map((item) => item.storedAt.getTime())).size === group.length;
      group.forEach((item, index) => {
        const time = group.length === 1 ? this.time(item.storedAt) : precise ? this.preciseTime(item.storedAt) : `${this.time(item.storedAt)} (${index + 1})`;
        labels.set(item.key, this.timeOn(item.storedAt, day, time));
      });
      start = end;
    }
    return labels;
  }
}
