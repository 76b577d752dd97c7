/**
 * `images-to-s3 camera setup|status|remove`: configures Axis cameras over VAPIX to send their
 * images to the receiver, for one camera (`--camera`) or a fleet (`--cameras FILE`).
 *
 * The commands and their options are defined here (the options' types are in ./camera-options.ts);
 * what they do is in ./camera-actions.ts, loaded when one of them runs, so that every other command
 * (`serve` above all) does without the VAPIX client, its XML parser and the CSV reader (1 MB of
 * heap that each garbage collection of a busy receiver would mark again, and 5–7 MB of resident
 * memory).
 *
 * @module
 */

import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';

import { AXIS_DEFAULT_FILENAME_PATTERN } from '../camera/filename-pattern.js';
import { DEFAULT_PULSE, InvalidPulseIntervalError, parsePulseInterval } from '../camera/vapix/pulse.js';
import { configurationNameFor } from '../camera/vapix/setup-name.js';
import { DEFAULT_STORE_LOCATION } from '../stores/location.js';
import type { ConnectionOptions, RemoveCommandOptions, SetupCommandOptions } from './camera-options.js';
import { integerIn } from './sizes.js';

const env = (name: string): string => `IMAGES_TO_S3_${name}`;

function addConnectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--camera <url>', 'the camera: http(s)://host[:port], or a host (then http)').env(env('CAMERA')).conflicts('cameras'))
    .addOption(new Option('--cameras <file>', 'a fleet: CSV with the columns address,user,password[,name]').env(env('CAMERAS')))
    .addOption(new Option('--user <user>', 'camera user (an administrator); default for fleet rows without one').env(env('CAMERA_USER')))
    .addOption(
      new Option('--password <password>', 'camera password; default for fleet rows without one (prefer the environment variable)').env(
        env('CAMERA_PASSWORD'),
      ),
    )
    .addOption(
      new Option('--name <name>', `name of this setup on the camera, and the camera's name for --create-token (objects are called "${configurationNameFor()} <name>")`),
    )
    .addOption(new Option('--no-verify-cert', 'accept the camera\'s self-signed HTTPS certificate'))
    .addOption(new Option('--concurrency <n>', 'cameras worked on at once').env(env('CAMERA_CONCURRENCY')).default(8).argParser(integerIn(1, 256)))
    .addOption(new Option('--timeout <seconds>', 'deadline for each request to a camera').env(env('CAMERA_TIMEOUT')).default(20).argParser(integerIn(1, 600)))
    .option('--json', 'print the outcome as JSON');
}

/**
 * Adds `camera setup|status|remove` to `program`.
 *
 * @example
 * const program = new Command('images-to-s3');
 * addCameraCommand(program);
 * await program.parseAsync();
 */
export function addCameraCommand(program: Command): Command {
  const camera = program
    .command('camera')
    .description('configure Axis cameras over VAPIX to send images here: recipient, pulse schedule, send-images action and rule');

  addConnectionOptions(
    camera
      .command('setup')
      .description('create (or replace) the recipient, pulse schedule, send-images action and rule; undone again if a step fails'),
  )
    .addOption(new Option('--recipient <url>', 'the receiver\'s URL the camera posts to').env(env('RECIPIENT')).makeOptionMandatory())
    .addOption(new Option('--token <token>', 'access token the camera sends as accessToken=…').env(env('TOKEN')).conflicts('createToken'))
    .addOption(new Option('--create-token', 'create a token per camera in the token registry (camera name: --name or the address)'))
    .addOption(new Option('--store <location>', 'with --create-token: the store whose token registry to use').env(env('STORE')).default(DEFAULT_STORE_LOCATION))
    .addOption(new Option('--tokens <location>', 'with --create-token: the token registry (as for serve)').env(env('TOKENS')))
    .addOption(
      new Option('--every <interval>', 'how often to send an image: 30s, 1m, 2h, 1d')
        .default(DEFAULT_PULSE, '1m')
        .argParser((value) => {
          try {
            return parsePulseInterval(value);
          } catch (error) {
            if (error instanceof InvalidPulseIntervalError) throw new InvalidArgumentError(error.message);
            throw error;
          }
        }),
    )
    .addOption(new Option('--filename <pattern>', 'the camera\'s filename pattern (Axis modifiers)').default(AXIS_DEFAULT_FILENAME_PATTERN))
    .addOption(new Option('--max-images <n>', 'images per pulse').default(1).argParser(integerIn(1, 1000)))
    .addOption(new Option('--no-validate-recipient-cert', 'let the camera accept a self-signed receiver certificate (validate_server_cert=0)'))
    .addOption(new Option('--force', 'configure a --recipient no camera can reach (localhost, 127.x, ::1, 0.0.0.0) all the same'))
    .action(async (options: SetupCommandOptions) => (await import('./camera-actions.js')).runSetup(options));

  addConnectionOptions(camera.command('status').description('show the setup on the camera and whether it is consistent (exit 1 unless it is)')).action(
    async (options: ConnectionOptions) => (await import('./camera-actions.js')).runStatus(options),
  );

  addConnectionOptions(camera.command('remove').description('remove the rule, action, schedule and recipient of the setup, in that order, and revoke the tokens setup created for the camera'))
    .addOption(new Option('--store <location>', 'the store whose token registry setup used').env(env('STORE')).default(DEFAULT_STORE_LOCATION))
    .addOption(new Option('--tokens <location>', 'the token registry setup used').env(env('TOKENS')))
    .addOption(new Option('--keep-token', 'leave the tokens setup created for the camera valid'))
    .action(async (options: RemoveCommandOptions) => (await import('./camera-actions.js')).runRemove(options));

  return camera;
}

