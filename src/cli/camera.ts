/**
 * `images-to-s3 camera setup|status|remove`: configures Axis cameras over VAPIX to send their
 * images to the receiver, for one camera (`--camera`) or a fleet (`--cameras FILE`).
 *
 * @module
 */

import { readFile } from 'node:fs/promises';

import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';

import { AXIS_DEFAULT_FILENAME_PATTERN } from '../camera/filename-pattern.js';
import { FleetFileError, forEachCamera, parseCameraFleet } from '../camera/fleet.js';
import type { CameraOutcome, CameraTarget } from '../camera/fleet.js';
import { CameraSetupError, CameraStepError, maskSecret, redactSecrets } from '../camera/vapix/errors.js';
import { cameraBaseUrl, CameraHttpClient } from '../camera/vapix/http.js';
import { DEFAULT_PULSE, describePulseInterval, InvalidPulseIntervalError, parsePulseInterval } from '../camera/vapix/pulse.js';
import type { PulseInterval } from '../camera/vapix/pulse.js';
import { VapixClient } from '../camera/vapix/services.js';
import {
  cameraNameFromAddress,
  cameraSetupStatus,
  configurationNameFor,
  planCameraSetup,
  removeCameraSetup,
  setupCamera,
} from '../camera/vapix/setup.js';
import type { CameraRemoveResult, CameraSetupResult, CameraSetupStatus, StepListener } from '../camera/vapix/setup.js';
import { DEFAULT_STORE_LOCATION, defaultTokensFile } from '../stores/location.js';
import { TokenRegistry } from '../tokens/registry.js';
import type { CreatedToken } from '../tokens/registry.js';
import { integerIn } from './sizes.js';

const env = (name: string): string => `IMAGES_TO_S3_${name}`;

/** Options every `camera` subcommand takes. */
interface ConnectionOptions {
  camera?: string;
  cameras?: string;
  user?: string;
  password?: string;
  name?: string;
  verifyCert: boolean;
  concurrency: number;
  timeout: number;
  json?: boolean;
}

interface SetupCommandOptions extends ConnectionOptions {
  recipient: string;
  token?: string;
  createToken?: boolean;
  store: string;
  tokens?: string;
  every: PulseInterval;
  filename: string;
  maxImages: number;
  validateRecipientCert: boolean;
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
    .addOption(new Option('--tokens <file>', 'with --create-token: the token registry file').env(env('TOKENS')))
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
    .action(async (options: SetupCommandOptions) => runSetup(options));

  addConnectionOptions(camera.command('status').description('show the setup on the camera and whether it is consistent (exit 1 unless it is)')).action(
    async (options: ConnectionOptions) => runStatus(options),
  );

  addConnectionOptions(camera.command('remove').description('remove the rule, action, schedule and recipient of the setup, in that order')).action(
    async (options: ConnectionOptions) => runRemove(options),
  );

  return camera;
}

/** The cameras a command works on, from --camera or --cameras. */
async function targetsFrom(options: ConnectionOptions): Promise<CameraTarget[]> {
  if (options.cameras !== undefined) {
    let text: string;
    try {
      text = await readFile(options.cameras, 'utf8');
    } catch (error) {
      throw new FleetFileError(`cannot read ${options.cameras}: ${(error as Error).message}`);
    }
    const targets = parseCameraFleet(text, {
      ...(options.user !== undefined && { user: options.user }),
      ...(options.password !== undefined && { password: options.password }),
      ...(options.name !== undefined && { name: options.name }),
    });
    if (targets.length === 0) throw new FleetFileError(`${options.cameras} lists no cameras`);
    for (const target of targets) cameraBaseUrl(target.address);
    return targets;
  }
  if (options.camera === undefined) throw new InvalidArgumentError('give --camera URL for one camera, or --cameras FILE for a fleet');
  if (options.user === undefined) throw new InvalidArgumentError('give --user (or IMAGES_TO_S3_CAMERA_USER)');
  if (options.password === undefined) throw new InvalidArgumentError('give --password (or IMAGES_TO_S3_CAMERA_PASSWORD)');
  cameraBaseUrl(options.camera);
  return [{ address: options.camera, user: options.user, password: options.password, ...(options.name !== undefined && { name: options.name }) }];
}

async function withVapix<T>(target: CameraTarget, options: ConnectionOptions, work: (vapix: VapixClient) => Promise<T>): Promise<T> {
  const http = new CameraHttpClient({
    address: target.address,
    user: target.user,
    password: target.password,
    verifyCertificate: options.verifyCert,
    timeoutMs: options.timeout * 1000,
  });
  try {
    return await work(new VapixClient(http));
  } finally {
    http.close();
  }
}

/** A finished camera, ready to print. */
interface Report {
  camera: string;
  name: string;
  ok: boolean;
  /** One word: ok, configured, absent, inconsistent, removed, FAILED. */
  result: string;
  /** One line for the summary table. */
  summary: string;
  /** Lines for the single-camera view. */
  details: string[];
  json: unknown;
}

async function runSetup(options: SetupCommandOptions): Promise<void> {
  if (options.token === undefined && !options.createToken) throw new InvalidArgumentError('give --token TOKEN, or --create-token to create one per camera');
  const setupOptions = {
    recipient: options.recipient,
    every: options.every,
    filename: options.filename,
    maxImages: options.maxImages,
    validateRecipientCertificate: options.validateRecipientCert,
  };
  // Check the options once, before any camera or the registry is touched.
  planCameraSetup({ ...setupOptions, token: options.token ?? 'placeholder-token-0000', ...(options.name !== undefined && { name: options.name }) });
  const registry = options.createToken ? new TokenRegistry(options.tokens ?? defaultTokensFile(options.store)) : undefined;
  const targets = await targetsFrom(options);

  await runFleet('setup', targets, options, options.token === undefined ? [] : [options.token], async (target, onStep): Promise<Report> => {
    const name = target.name;
    let issued: CreatedToken | undefined;
    if (registry) {
      onStep('creating the access token');
      issued = await registry.create(name ?? cameraNameFromAddress(cameraBaseUrl(target.address)));
    }
    const token = issued?.token ?? options.token ?? '';
    try {
      const result = await withVapix(target, options, (vapix) => setupCamera(vapix, { ...setupOptions, token, ...(name !== undefined && { name }) }, onStep));
      return setupReport(target, result, token, issued);
    } catch (error) {
      // A new setup that is in place keeps its token even if the old setup lingers.
      const newSetupActive = error instanceof CameraStepError && !(error instanceof CameraSetupError);
      if (issued && !newSetupActive) {
        await registry?.revoke(issued.id).catch((revokeError: unknown) => {
          const reason = revokeError instanceof Error ? revokeError.message : String(revokeError);
          throw new Error(`${(error as Error).message}; and the new token ${issued?.id} could not be revoked (${reason}): revoke it with \`token revoke\``, { cause: error });
        });
      }
      throw error;
    }
  });
}

function setupReport(target: CameraTarget, result: CameraSetupResult, token: string, issued: CreatedToken | undefined): Report {
  const every = describePulseInterval(result.schedule.every);
  const tokenText = issued ? `new token ${issued.id} for camera "${issued.camera}" (${maskSecret(token)})` : `token ${maskSecret(token)}`;
  const replaced = result.replaced.length > 0 ? `; replaced ${result.replaced.join(', ')}` : '';
  return {
    camera: cameraBaseUrl(target.address).host,
    name: result.configurationName,
    ok: true,
    result: 'ok',
    summary: `rule ${result.rule.id}, ${every}, ${redactSecrets(result.recipient.url)}, ${tokenText}${replaced}`,
    details: [
      `recipient  ${result.recipient.id.padEnd(6)} ${redactSecrets(result.recipient.url)}`,
      `schedule   ${result.schedule.id.padEnd(6)} pulse ${every}`,
      `action     ${result.action.id.padEnd(6)} ${result.action.templateToken}, accessToken=${maskSecret(token)}`,
      `rule       ${result.rule.id.padEnd(6)} enabled: pulse → send images`,
      ...(issued ? [`token      ${issued.id} created for camera "${issued.camera}" in the token registry`] : []),
      ...(result.replaced.length > 0 ? [`replaced   the previous setup: ${result.replaced.join(', ')}`] : []),
    ],
    json: { ...result, recipient: { ...result.recipient, url: redactSecrets(result.recipient.url) }, ...(issued && { tokenId: issued.id, tokenCamera: issued.camera }) },
  };
}

async function runStatus(options: ConnectionOptions): Promise<void> {
  const targets = await targetsFrom(options);
  await runFleet('status', targets, options, [], async (target, onStep) => {
    const status = await withVapix(target, options, (vapix) => cameraSetupStatus(vapix, target.name, onStep));
    return statusReport(target, status);
  });
}

function statusReport(target: CameraTarget, status: CameraSetupStatus): Report {
  const { rule, schedule, recipient, action } = status;
  const others = status.otherSetups.length > 0 ? `other setups here: ${status.otherSetups.map((name) => JSON.stringify(name)).join(', ')}` : undefined;
  const problems = status.problems.map((problem) => redactSecrets(problem));
  let summary: string;
  let details: string[];
  if (status.state === 'absent') {
    summary = ['not set up', others].filter(Boolean).join('; ');
    details = [`nothing named "${status.configurationName}" on this camera`, ...(others ? [others] : [])];
  } else {
    summary = [
      rule ? `rule ${rule.id} ${rule.enabled ? 'enabled' : 'DISABLED'}` : undefined,
      schedule?.description,
      recipient ? redactSecrets(recipient.url) : action ? redactSecrets(action.url) : undefined,
      action ? `token ${action.token}` : undefined,
      ...problems,
    ]
      .filter((part) => part !== undefined)
      .join(', ');
    details = [
      rule ? `rule       ${rule.id.padEnd(6)} ${rule.enabled ? 'enabled' : 'disabled'}` : 'rule       none',
      schedule ? `schedule   ${schedule.id.padEnd(6)} pulse ${schedule.description}` : 'schedule   none',
      recipient ? `recipient  ${recipient.id.padEnd(6)} ${redactSecrets(recipient.url)}` : 'recipient  none',
      action
        ? `action     ${action.id.padEnd(6)} ${action.templateToken} to ${redactSecrets(action.url)}, max ${action.maxImages} image(s), filename ${action.filename}, token ${action.token}`
        : 'action     none',
      ...problems.map((problem) => `problem    ${problem}`),
      ...(others ? [others] : []),
    ];
  }
  return {
    camera: cameraBaseUrl(target.address).host,
    name: status.configurationName,
    ok: status.state === 'configured',
    result: status.state,
    summary,
    details,
    json: JSON.parse(redactSecrets(JSON.stringify(status))) as unknown,
  };
}

async function runRemove(options: ConnectionOptions): Promise<void> {
  const targets = await targetsFrom(options);
  await runFleet('remove', targets, options, [], async (target, onStep) => {
    const result = await withVapix(target, options, (vapix) => removeCameraSetup(vapix, target.name, onStep));
    return removeReport(target, result);
  });
}

function removeReport(target: CameraTarget, result: CameraRemoveResult): Report {
  const summary = result.removed.length > 0 ? `removed ${result.removed.join(', ')}` : 'nothing to remove';
  return {
    camera: cameraBaseUrl(target.address).host,
    name: result.configurationName,
    ok: true,
    result: 'removed',
    summary,
    details: [summary],
    json: result,
  };
}

type CameraTask = (target: CameraTarget, onStep: StepListener) => Promise<Report>;

/**
 * Runs `task` on every target (bounded concurrency), shows progress on a terminal, prints
 * the outcome (details for one camera, a table for a fleet) and sets the exit code: 1 if any
 * camera failed.
 */
async function runFleet(command: string, targets: CameraTarget[], options: ConnectionOptions, secrets: string[], task: CameraTask): Promise<void> {
  const progress = new FleetProgress(command, targets.length, process.stderr);
  const secretsOf = (target: CameraTarget): string[] => [target.password, ...secrets];

  const outcomes = await forEachCamera(
    targets,
    options.concurrency,
    (target) => task(target, (step) => progress.step(cameraLabel(target), step)),
    (outcome) => progress.done(cameraLabel(outcome.target), outcome.ok && outcome.value.ok),
  );
  progress.finish();

  const reports = outcomes.map((outcome) => reportOf(outcome, secretsOf(outcome.target)));
  const failed = reports.filter((report) => !report.ok).length;
  if (options.json) {
    process.stdout.write(`${JSON.stringify(reports.map(({ camera, name, ok, result, json }) => ({ camera, name, ok, result, ...(ok || result !== 'FAILED' ? { [command]: json } : { error: json }) })), null, 2)}\n`);
  } else if (options.cameras === undefined && reports.length === 1) {
    const [report] = reports as [Report];
    const stream = report.result === 'FAILED' ? process.stderr : process.stdout;
    stream.write(`${report.camera} (${report.name}): ${report.result}\n${report.details.map((line) => `  ${line}`).join('\n')}\n`);
  } else {
    process.stdout.write(summaryTable(reports, command));
  }
  if (failed > 0) process.exitCode = 1;
}

function cameraLabel(target: CameraTarget): string {
  try {
    return cameraBaseUrl(target.address).host + (target.name ? ` (${target.name})` : '');
  } catch {
    return target.address;
  }
}

function reportOf(outcome: CameraOutcome<Report>, secrets: string[]): Report {
  if (outcome.ok) return outcome.value;
  const { target, error } = outcome;
  const message = redactSecrets(error.message, secrets);
  let camera = target.address;
  try {
    camera = cameraBaseUrl(target.address).host;
  } catch {
    // the address itself is what failed; show it as written
  }
  return {
    camera,
    name: configurationNameFor(target.name),
    ok: false,
    result: 'FAILED',
    summary: message,
    details: [message],
    json: { name: error.name, message, ...(error instanceof CameraStepError && { step: error.step }) },
  };
}

/** The summary table printed after a fleet run, with a totals line. */
export function summaryTable(reports: readonly Pick<Report, 'camera' | 'name' | 'ok' | 'result' | 'summary'>[], command: string): string {
  const headers = ['CAMERA', 'NAME', 'RESULT', 'DETAILS'];
  const rows = reports.map((report) => [report.camera, report.name, report.result, report.summary]);
  const widths = [0, 1, 2].map((column) => Math.max((headers[column] as string).length, ...rows.map((row) => (row[column] as string).length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column < 3 ? cell.padEnd(widths[column] as number) : cell))
      .join('  ')
      .trimEnd();
  const failed = reports.filter((report) => !report.ok).length;
  const total = `${command}: ${reports.length} camera${reports.length === 1 ? '' : 's'}, ${reports.length - failed} ok, ${failed} ${command === 'status' ? 'not ok' : 'failed'}`;
  return `${[line(headers), ...rows.map(line)].join('\n')}\n${total}\n`;
}

/**
 * Progress on a terminal: one line rewritten in place with the counts and the latest step.
 * Off a terminal (logs, CI) it prints one line per finished camera instead, for fleets only.
 */
class FleetProgress {
  readonly #interactive: boolean;
  #done = 0;
  #failed = 0;
  #shown = false;

  constructor(
    readonly command: string,
    readonly total: number,
    readonly stream: NodeJS.WriteStream,
  ) {
    this.#interactive = stream.isTTY === true && process.env.CI === undefined;
  }

  step(camera: string, step: string, finished = false): void {
    if (!this.#interactive) return;
    const counts = this.total > 1 ? `[${this.#done}/${this.total}${this.#failed > 0 ? `, ${this.#failed} failed` : ''}] ` : '';
    const text = `${counts}${camera}: ${step}${finished ? '' : '…'}`;
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    this.stream.write(`\r\x1b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    this.#shown = true;
  }

  done(camera: string, ok: boolean): void {
    this.#done += 1;
    if (!ok) this.#failed += 1;
    if (this.#interactive) this.step(camera, ok ? 'done' : 'failed', true);
    else if (this.total > 1) this.stream.write(`${this.command} ${this.#done}/${this.total}: ${camera} ${ok ? 'ok' : 'not ok'}\n`);
  }

  finish(): void {
    if (this.#shown) this.stream.write('\r\x1b[2K');
  }
}
