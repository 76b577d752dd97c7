/**
 * The camera's pulse schedule: how often it sends an image, as `--every 1m` on the command
 * line and as an iCalendar recurrence (`RRULE:FREQ=MINUTELY;INTERVAL=1`) on the camera.
 *
 * @module
 */

/** Recurrence frequencies the camera's schedules support (VAPIX event1, RFC 5545 subset). */
export type PulseFrequency = 'SECONDLY' | 'MINUTELY' | 'HOURLY' | 'DAILY' | 'WEEKLY' | 'MONTHLY' | 'YEARLY';

/** A pulse every `interval` units of `frequency`. */
export interface PulseInterval {
  frequency: PulseFrequency;
  interval: number;
}

/** The dialect attribute of the camera's `ICalendar` element. */
export const ICALENDAR_DIALECT = 'http://www.axis.com/vapix/ws/ical1';

/** The seed's schedule: every minute. */
export const DEFAULT_PULSE: PulseInterval = { frequency: 'MINUTELY', interval: 1 };

const UNITS: Record<string, PulseFrequency> = {
  s: 'SECONDLY',
  sec: 'SECONDLY',
  m: 'MINUTELY',
  min: 'MINUTELY',
  h: 'HOURLY',
  d: 'DAILY',
  w: 'WEEKLY',
};

const WORDS: Record<PulseFrequency, string> = {
  SECONDLY: 'second',
  MINUTELY: 'minute',
  HOURLY: 'hour',
  DAILY: 'day',
  WEEKLY: 'week',
  MONTHLY: 'month',
  YEARLY: 'year',
};

/** Largest interval accepted: a bound against typos, far beyond any useful schedule. */
export const MAX_PULSE_INTERVAL = 100_000;

/** Thrown by {@link parsePulseInterval}. */
export class InvalidPulseIntervalError extends Error {
  override readonly name = 'InvalidPulseIntervalError';

  constructor(readonly value: string) {
    super(`"${value}" is not an interval: use a whole number and a unit, e.g. 30s, 1m, 2h, 1d or 1w (1–${MAX_PULSE_INTERVAL}).`);
  }
}

/**
 * Parses `30s`, `1m`, `2h`, `1d`, `1w` (also `10 sec`, `5min`).
 *
 * @example
 * parsePulseInterval('30s') // → { frequency: 'SECONDLY', interval: 30 }
 */
export function parsePulseInterval(value: string): PulseInterval {
  const match = /^\s*(\d+)\s*([a-z]+)\s*$/i.exec(value);
  const frequency = match ? UNITS[(match[2] as string).toLowerCase()] : undefined;
  const interval = match ? Number(match[1]) : NaN;
  if (!frequency || !Number.isSafeInteger(interval) || interval < 1 || interval > MAX_PULSE_INTERVAL) {
    throw new InvalidPulseIntervalError(value);
  }
  return { frequency, interval };
}

/** `every minute`, `every 30 seconds`. */
export function describePulseInterval({ frequency, interval }: PulseInterval): string {
  return interval === 1 ? `every ${WORDS[frequency]}` : `every ${interval} ${WORDS[frequency]}s`;
}

/**
 * The schedule text for the camera: a start in the past and a recurrence, without `DTEND`,
 * which makes it a pulse (a stateless event) rather than an interval.
 */
export function pulseICalendar({ frequency, interval }: PulseInterval): string {
  return `DTSTART:19700101T000000\nRRULE:FREQ=${frequency};INTERVAL=${interval}`;
}

/** What a schedule read back from a camera says. */
export interface ReadSchedule {
  /** The recurrence, when it is a plain FREQ (+ INTERVAL) rule. */
  pulse?: PulseInterval;
  /** Whether the schedule has an end (`DTEND`): then it is an interval schedule, not a pulse. */
  hasEnd: boolean;
}

/**
 * Reads a camera's iCalendar schedule text. Lines may be separated by newlines or spaces
 * (Axis' own examples use both); a rule with more than FREQ and INTERVAL (BYDAY, …) gives
 * no {@link ReadSchedule.pulse}.
 */
export function readICalendar(text: string): ReadSchedule {
  const fields = text.trim().split(/\s+/);
  const hasEnd = fields.some((field) => /^DTEND[:;]/i.test(field));
  const rule = fields.find((field) => /^RRULE:/i.test(field));
  if (!rule) return { hasEnd };
  const parts = new Map(
    rule
      .slice('RRULE:'.length)
      .split(';')
      .map((part) => {
        const [key = '', val = ''] = part.split('=');
        return [key.toUpperCase(), val.toUpperCase()] as const;
      }),
  );
  const frequency = parts.get('FREQ') as PulseFrequency | undefined;
  const interval = Number(parts.get('INTERVAL') ?? '1');
  const onlyFrequencyAndInterval = [...parts.keys()].every((key) => key === 'FREQ' || key === 'INTERVAL');
  if (!frequency || !(frequency in WORDS) || !Number.isSafeInteger(interval) || interval < 1 || !onlyFrequencyAndInterval) {
    return { hasEnd };
  }
  return { pulse: { frequency, interval }, hasEnd };
}

/** Milliseconds per unit of the frequencies a duration may use: seconds, minutes, hours. */
const DURATION_MS: Partial<Record<PulseFrequency, number>> = { SECONDLY: 1000, MINUTELY: 60_000, HOURLY: 3_600_000 };

/** Thrown by {@link parseDurationMs}. */
export class InvalidDurationError extends Error {
  override readonly name = 'InvalidDurationError';

  constructor(readonly value: string) {
    super(`"${value}" is not a duration: use 0 or a whole number of seconds, minutes or hours, e.g. 3s, 30s, 2m or 1h.`);
  }
}

/**
 * Parses a clip's pre- or post-event time as `--every` values are parsed (`3s`, `2m`, `1h`), plus
 * `0`, into milliseconds, as the camera's `pre_duration`/`post_duration` take them.
 *
 * @example
 * parseDurationMs('7s') // → 7000
 */
export function parseDurationMs(value: string): number {
  const zero = /^\s*0+\s*([a-z]*)\s*$/i.exec(value);
  if (zero && (zero[1] === '' || UNITS[(zero[1] as string).toLowerCase()] !== undefined)) return 0;
  let interval: PulseInterval;
  try {
    interval = parsePulseInterval(value);
  } catch {
    throw new InvalidDurationError(value);
  }
  const unit = DURATION_MS[interval.frequency];
  if (unit === undefined) throw new InvalidDurationError(value);
  return interval.interval * unit;
}

/** `3 s`, `2 min`, `1 h`, `2.5 s` (as a camera may hold it), `0 s`. */
export function describeDurationMs(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}
