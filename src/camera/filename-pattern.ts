/**
 * Expansion of the filename modifiers an Axis camera applies to the `filename` parameter of its
 * "Send images through HTTP/HTTPS" action (see AXIS.md §1).
 */

/** The filename pattern Axis' own setup script configures on the camera. */
export const AXIS_DEFAULT_FILENAME_PATTERN = 'image%y-%m-%d_%H-%M-%S-%f_#s.jpg';

/** Which clock the date and time modifiers read: cameras use their configured time zone. */
export type FilenameTimeZone = 'utc' | 'local';

/** What the camera knows at the moment it names one image. */
export interface FilenameContext {
  /** When the image was captured. */
  time: Date;
  /** The image sequence number (`#s`). */
  sequence: number;
  /** The camera's host name (`#n`). */
  hostName?: string;
  /** The camera's MAC address in any usual notation: `00:40:8c:12:34:56`, `00-40-8C-…`, `00408C123456`. */
  macAddress?: string;
  /** The camera's IP address (`#i`). */
  ipAddress?: string;
  /** The video source (camera channel) the image comes from (`#v`). */
  videoSource?: number;
  /** Clock for the date and time modifiers; `'utc'` unless told otherwise. */
  timeZone?: FilenameTimeZone;
}

const pad = (value: number, width: number): string => String(value).padStart(width, '0');

/** Calendar fields of `time` on the chosen clock. */
function calendarFields(time: Date, timeZone: FilenameTimeZone) {
  const utc = timeZone === 'utc';
  return {
    year: utc ? time.getUTCFullYear() : time.getFullYear(),
    month: (utc ? time.getUTCMonth() : time.getMonth()) + 1,
    day: utc ? time.getUTCDate() : time.getDate(),
    hour: utc ? time.getUTCHours() : time.getHours(),
    minute: utc ? time.getUTCMinutes() : time.getMinutes(),
    second: utc ? time.getUTCSeconds() : time.getSeconds(),
    // Milliseconds do not depend on the time zone (all zones are whole minutes apart).
    hundredths: Math.floor(time.getUTCMilliseconds() / 10),
  };
}

/**
 * The 12 hex digits of a MAC address, upper case, without separators, or `undefined` when the
 * value is not a 48-bit MAC address.
 */
function macHexDigits(macAddress: string): string | undefined {
  const digits = macAddress.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
  return digits.length === 12 ? digits : undefined;
}

/**
 * Expands the Axis filename modifiers in `pattern`, as the camera does before each upload.
 *
 * - `%y` two-digit year, `%Y` four-digit year, `%m` month, `%d` day, `%H` hour (24 h),
 *   `%M` minute, `%S` second, `%f` hundredths of a second, all zero-padded;
 *   `%s` seconds since the Unix epoch; `%F` = `%Y-%m-%d`; `%T` = `%H:%M:%S`.
 * - `#s` sequence number, zero-padded to 5 digits (wider numbers are kept whole);
 *   `#n` host name; `#M` full MAC address `00:40:8C:12:34:56`; `#m` short MAC address
 *   `00408C123456` (see below); `#i` IP address; `#v` video source.
 * - `%%` and `##` give a literal `%` and `#`.
 *
 * Axis documents `#m` only as the "short" MAC address and gives no example; this follows the
 * notation of Axis serial numbers (the MAC without separators). An unknown modifier, a
 * modifier whose value the context lacks, or a MAC address that is not 48 bits, is left in
 * the name as written, so that it stays visible instead of silently vanishing.
 *
 * The result may contain `/`, `:` or spaces, exactly like a real camera's: receivers must
 * sanitise it.
 */
export function expandAxisFilename(pattern: string, context: FilenameContext): string {
  const fields = calendarFields(context.time, context.timeZone ?? 'utc');
  const mac = context.macAddress === undefined ? undefined : macHexDigits(context.macAddress);

  const date = `${pad(fields.year, 4)}-${pad(fields.month, 2)}-${pad(fields.day, 2)}`;
  const clock = `${pad(fields.hour, 2)}:${pad(fields.minute, 2)}:${pad(fields.second, 2)}`;

  const expansions: Record<string, string | undefined> = {
    '%y': pad(fields.year % 100, 2),
    '%Y': pad(fields.year, 4),
    '%m': pad(fields.month, 2),
    '%d': pad(fields.day, 2),
    '%H': pad(fields.hour, 2),
    '%M': pad(fields.minute, 2),
    '%S': pad(fields.second, 2),
    '%f': pad(fields.hundredths, 2),
    '%s': String(Math.floor(context.time.getTime() / 1000)),
    '%F': date,
    '%T': clock,
    '%%': '%',
    '#s': pad(context.sequence, 5),
    '#n': context.hostName,
    '#M': mac?.match(/../g)?.join(':'),
    '#m': mac,
    '#i': context.ipAddress,
    '#v': context.videoSource === undefined ? undefined : String(context.videoSource),
    '##': '#',
  };

  // One left-to-right scan, so that an expanded value is never expanded again
  // and `%%s` gives `%s`, not the epoch.
  let name = '';
  let index = 0;
  while (index < pattern.length) {
    const char = pattern[index] as string;
    if (char === '%' || char === '#') {
      const value = expansions[pattern.slice(index, index + 2)];
      if (value !== undefined) {
        name += value;
        index += 2;
        continue;
      }
    }
    name += char;
    index += 1;
  }
  return name;
}
