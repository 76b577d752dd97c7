/**
 * The names a setup gives the objects it creates on a camera. A module of its own so that the
 * CLI's option help can show them without loading the VAPIX client.
 *
 * @module
 */

/** Name of everything a setup without `--name` creates; the prefix of every other setup's name. */
export const SETUP_NAME_PREFIX = 'images-to-s3';

/** The name a setup's recipient, schedule, action and rule carry on the camera. */
export function configurationNameFor(name?: string): string {
  return name === undefined || name === '' ? SETUP_NAME_PREFIX : `${SETUP_NAME_PREFIX} ${name}`;
}
