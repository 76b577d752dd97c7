/**
 * `images-to-s3 camera setup|status|remove|events`: configures Axis cameras over VAPIX to send
 * their images or video clips to the receiver, on a pulse or on any of their events, for one
 * camera (`--camera`) or a fleet (`--cameras FILE`).
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
import { EVENT_ALIASES, EVENT_ALIAS_USAGES } from '../camera/vapix/event-aliases.js';
import { describeDurationMs, describePulseInterval, DEFAULT_PULSE, InvalidDurationError, InvalidPulseIntervalError, parseDurationMs, parsePulseInterval } from '../camera/vapix/pulse.js';
import { DEFAULT_CLIP_FILENAME, DEFAULT_CLIP_POST_MS, DEFAULT_CLIP_PRE_MS, DEFAULT_POST_DURATION_MS } from '../camera/vapix/setup-defaults.js';
import { RECIPIENT_PROTOCOLS } from '../camera/vapix/recipients.js';
import { configurationNameFor } from '../camera/vapix/setup-name.js';
import { DEFAULT_STORE_LOCATION } from '../stores/location.js';
import type { ConnectionOptions, RemoveCommandOptions, SetupCommandOptions } from './camera-options.js';
import { integerIn } from './sizes.js';

const env = (name: string): string => `IMAGES_TO_S3_${name}`;

/** Turns a parser's own error into the option error commander reports. */
function optionParser<T>(parse: (value: string) => T, errorType: new (...args: never[]) => Error): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      if (error instanceof errorType) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}

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

const EVENT_HELP = [
  '',
  'Events (--on): a topic as `camera events` lists it, with the item selectors it prints (name=value), or an alias:',
  ...Object.values(EVENT_ALIASES).map((alias) => `  ${alias.usage.padEnd(12)}${alias.meaning}`),
  'A fixed action (images, or a clip of --pre + --post) fires when the event starts (the rule\'s start event, with its state =1 for',
  'an event that lasts); with --clip-while-active the event is the rule\'s condition and the clip lasts as long as the event.',
  '',
  '',
  'SFTP and FTP (--recipient sftp://host:port/ or ftp://host:port/): the camera logs in with its name (the camera the token is for) as the',
  'user and the token as the password. SFTP pins the receiver\'s RSA host key: --sftp-fingerprint, or read from --store/--tokens as for',
  '--create-token. FTP is passive, with temporary names; Axis\' FTP recipient has no FTPS, so the token crosses the network in clear.',
  '',
  'Examples:',
  '  camera setup --camera 192.168.1.90 --user root --recipient https://images.example.net/ --create-token',
  '  camera setup --camera 192.168.1.90 --user root --recipient https://images.example.net/ --create-token --on motion --send clip --pre 3s --post 7s',
  '  camera setup --camera 192.168.1.90 --user root --recipient https://images.example.net/ --create-token --on input:1 --max-images 3 --name door',
  '  camera setup --camera 192.168.1.90 --user root --recipient sftp://192.168.1.20:2222/ --create-token --name door',
  '  camera setup --camera 192.168.1.90 --user root --recipient ftp://192.168.1.20:2121/ --create-token --name door --on motion --send clip',
].join('\n');

/**
 * Adds `camera setup|status|remove|events` to `program`.
 *
 * @example
 * const program = new Command('images-to-s3');
 * addCameraCommand(program);
 * await program.parseAsync();
 */
export function addCameraCommand(program: Command): Command {
  const camera = program
    .command('camera')
    .description('configure Axis cameras over VAPIX to send images or video clips here, on a pulse or on an event: recipient, schedule, action and rule');

  addConnectionOptions(
    camera
      .command('setup')
      .description('create (or replace) the recipient, pulse schedule (unless --on), send-images or send-clip action and rule; undone again if a step fails'),
  )
    .addOption(
      new Option('--recipient <url>', 'the receiver\'s URL the camera sends to: https://…, http://…, sftp://host:port/ or ftp://host:port/').env(env('RECIPIENT')).makeOptionMandatory(),
    )
    .addOption(
      new Option('--protocol <protocol>', 'the recipient\'s protocol (default: the --recipient URL\'s scheme; with it, --recipient may be host:port)').choices([...RECIPIENT_PROTOCOLS]),
    )
    .addOption(new Option('--token <token>', 'access token the camera sends as accessToken=… (SFTP/FTP: its password)').env(env('TOKEN')).conflicts('createToken'))
    .addOption(new Option('--create-token', 'create a token per camera in the token registry (camera name: --name or the address)'))
    .addOption(
      new Option('--sftp-fingerprint <fingerprint>', 'SFTP: the receiver\'s RSA host key fingerprint, SHA256:… or MD5, as `sftp fingerprints` prints it (default: read from --store/--tokens)').env(
        env('SFTP_FINGERPRINT'),
      ),
    )
    .addOption(
      new Option('--store <location>', 'with --create-token, or SFTP/FTP: the store whose token registry (and SFTP host keys) to use').env(env('STORE')).default(DEFAULT_STORE_LOCATION),
    )
    .addOption(new Option('--tokens <location>', 'with --create-token, or SFTP/FTP: the token registry (as for serve)').env(env('TOKENS')))
    .addOption(
      new Option(
        '--on <event>',
        `the event that starts the action, as \`camera events\` prints it (e.g. "tns1:Device/tnsaxis:IO/Port port=1"), or ${EVENT_ALIAS_USAGES} (default: a pulse, see --every)`,
      ),
    )
    .addOption(new Option('--every <interval>', `the pulse: how often to send, 30s, 1m, 2h, 1d (default: ${describePulseInterval(DEFAULT_PULSE)}; not with --on)`).argParser(optionParser(parsePulseInterval, InvalidPulseIntervalError)))
    .addOption(new Option('--send <what>', 'images, or a video clip').choices(['images', 'clip']).default('images'))
    .addOption(new Option('--pre <duration>', `from how long before the event: 0, 3s, 1m (default: ${describeDurationMs(DEFAULT_CLIP_PRE_MS)} for a clip, 0 for images)`).argParser(optionParser(parseDurationMs, InvalidDurationError)))
    .addOption(new Option('--post <duration>', `until how long after the event (default: ${describeDurationMs(DEFAULT_CLIP_POST_MS)} for a clip, ${describeDurationMs(DEFAULT_POST_DURATION_MS)} for images)`).argParser(optionParser(parseDurationMs, InvalidDurationError)))
    .addOption(new Option('--clip-while-active', 'with --send clip and an event that lasts: record for as long as it does, plus --pre and --post (an unlimited action)'))
    .addOption(new Option('--filename <pattern>', `the camera's filename pattern, Axis modifiers (default: ${AXIS_DEFAULT_FILENAME_PATTERN} for images, ${DEFAULT_CLIP_FILENAME} for clips)`))
    .addOption(new Option('--max-images <n>', 'images per event (default: 1; images only)').argParser(integerIn(1, 1000)))
    .addOption(new Option('--no-validate-recipient-cert', 'let the camera accept a self-signed receiver certificate (validate_server_cert=0)'))
    .addOption(new Option('--force', 'configure a --recipient no camera can reach (localhost, 127.x, ::1, 0.0.0.0) all the same'))
    .addHelpText('after', EVENT_HELP)
    .action(async (options: SetupCommandOptions) => (await import('./camera-actions.js')).runSetup(options));

  addConnectionOptions(camera.command('status').description('show the setup on the camera and whether it is consistent (exit 1 unless it is)')).action(
    async (options: ConnectionOptions) => (await import('./camera-actions.js')).runStatus(options),
  );

  addConnectionOptions(
    camera.command('events').description('list the events the camera offers, each as --on takes it, with the aliases that stand for them on this camera'),
  ).action(async (options: ConnectionOptions) => (await import('./camera-actions.js')).runEvents(options));

  addConnectionOptions(camera.command('remove').description('remove the rule, action, schedule and recipient of the setup, in that order, and revoke the tokens setup created for the camera'))
    .addOption(new Option('--store <location>', 'the store whose token registry setup used').env(env('STORE')).default(DEFAULT_STORE_LOCATION))
    .addOption(new Option('--tokens <location>', 'the token registry setup used').env(env('TOKENS')))
    .addOption(new Option('--keep-token', 'leave the tokens setup created for the camera valid'))
    .action(async (options: RemoveCommandOptions) => (await import('./camera-actions.js')).runRemove(options));

  return camera;
}

