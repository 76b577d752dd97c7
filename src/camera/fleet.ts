/**
 * A fleet of cameras: read from a CSV file, worked on a few at a time.
 *
 * @module
 */

import { parse } from 'csv-parse/sync';

import { cameraBaseUrl } from './vapix/http.js';

/** One camera to work on, with its credentials. */
export interface CameraTarget {
  /** As written: a host, `host:port`, or an `http(s)://` URL. */
  address: string;
  user: string;
  password: string;
  /** The setup's name on this camera (`--name`), when given. */
  name?: string;
  /** Line in the fleet file, for messages. */
  line?: number;
}

/** What a fleet file's rows fall back to. */
export interface FleetDefaults {
  user?: string;
  /** Used for rows whose password cell is empty (e.g. from an environment variable). */
  password?: string;
  name?: string;
}

/** The fleet file is unreadable or a row is incomplete; nothing was sent to any camera. */
export class FleetFileError extends Error {
  override readonly name = 'FleetFileError';
}

/** Column names accepted in a fleet file's header, and what they mean. */
const COLUMN_ALIASES: Record<string, keyof Omit<CameraTarget, 'line'>> = {
  address: 'address',
  camera: 'address',
  host: 'address',
  url: 'address',
  user: 'user',
  username: 'user',
  login: 'user',
  password: 'password',
  name: 'name',
};

/**
 * Parses a fleet CSV: a header line naming the columns (`address,user,password,name`; `name`
 * and `password` optional, `user` optional when a default is given), then one camera per line.
 * Quoted fields, a BOM, `#` comment lines and blank lines are fine.
 *
 * @example
 * parseCameraFleet('address,user,password\n192.168.0.90,root,secret\n', {})
 * // → [{ address: '192.168.0.90', user: 'root', password: 'secret', line: 2 }]
 * @throws {@link FleetFileError} naming the line and what is missing; never quoting a password.
 */
export function parseCameraFleet(text: string, defaults: FleetDefaults = {}): CameraTarget[] {
  let records: { record: Record<string, string>; line: number }[];
  try {
    const parsed = parse(text, {
      bom: true,
      comment: '#',
      skip_empty_lines: true,
      trim: true,
      info: true,
      columns: (header: string[]) =>
        header.map((column) => {
          const key = COLUMN_ALIASES[column.toLowerCase()];
          if (key === undefined) {
            throw new FleetFileError(
              `unknown column ${JSON.stringify(column)}; the header must name the columns: address, user, password, name (or ${Object.keys(COLUMN_ALIASES).filter((alias) => COLUMN_ALIASES[alias] !== alias).join(', ')})`,
            );
          }
          return key;
        }),
    }) as unknown as { record: Record<string, string>; info: { lines: number } }[];
    records = parsed.map(({ record, info }) => ({ record, line: info.lines }));
  } catch (error) {
    if (error instanceof FleetFileError) throw error;
    throw new FleetFileError(`not a valid CSV file: ${error instanceof Error ? error.message : String(error)}`);
  }

  const seen = new Set<string>();
  return records.map(({ record, line }) => {
    const address = record.address ?? '';
    const user = nonEmpty(record.user) ?? defaults.user;
    const password = nonEmpty(record.password) ?? defaults.password;
    const name = nonEmpty(record.name) ?? defaults.name;
    if (address === '') throw new FleetFileError(`line ${line}: no address (the header must have an "address" column)`);
    if (user === undefined) throw new FleetFileError(`line ${line} (${address}): no user; add a "user" column or give --user`);
    if (password === undefined) {
      throw new FleetFileError(`line ${line} (${address}): no password; add a "password" column, or give --password or IMAGES_TO_S3_CAMERA_PASSWORD`);
    }
    const key = `${sameCameraKey(address)}\n${name ?? ''}`;
    if (seen.has(key)) throw new FleetFileError(`line ${line}: ${address} is listed twice${name ? ` with the name ${name}` : ''}`);
    seen.add(key);
    return { address, user, password, ...(name !== undefined && { name }), line };
  });
}

/** `192.168.0.9` and `http://192.168.0.9/` are the same camera. */
function sameCameraKey(address: string): string {
  try {
    return cameraBaseUrl(address).href;
  } catch {
    return address.toLowerCase();
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The outcome of one camera's task. */
export type CameraOutcome<T> = { target: CameraTarget; ok: true; value: T } | { target: CameraTarget; ok: false; error: Error };

/**
 * Runs `task` for every target, at most `concurrency` at a time, and returns every outcome
 * in the targets' order. A failing camera does not stop the others.
 */
export async function forEachCamera<T>(
  targets: readonly CameraTarget[],
  concurrency: number,
  task: (target: CameraTarget, index: number) => Promise<T>,
  onDone: (outcome: CameraOutcome<T>, index: number) => void = () => {},
): Promise<CameraOutcome<T>[]> {
  const outcomes: CameraOutcome<T>[] = new Array<CameraOutcome<T>>(targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const index = next;
      next += 1;
      const target = targets[index] as CameraTarget;
      let outcome: CameraOutcome<T>;
      try {
        outcome = { target, ok: true, value: await task(target, index) };
      } catch (error) {
        outcome = { target, ok: false, error: error instanceof Error ? error : new Error(String(error)) };
      }
      outcomes[index] = outcome;
      onDone(outcome, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, targets.length)) }, worker));
  return outcomes;
}
