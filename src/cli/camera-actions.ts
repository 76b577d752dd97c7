/**
 * What `images-to-s3 camera setup|status|remove|events` do (their options are defined in ./camera.ts,
 * which loads this module when one of them runs, and typed in ./camera-options.ts: this module
 * imports nothing from ./camera.ts).
 *
 * @module
 */

import { readFile } from 'node:fs/promises';

import { InvalidArgumentError } from 'commander';

import { FleetFileError, forEachCamera, parseCameraFleet } from '../camera/fleet.js';
import type { CameraOutcome, CameraTarget } from '../camera/fleet.js';
import { CameraSetupError, CameraStepError, maskSecret, redactSecrets } from '../camera/vapix/errors.js';
import { cameraBaseUrl, CameraHttpClient } from '../camera/vapix/http.js';
import { eventAliases, eventChoices } from '../camera/vapix/events.js';
import type { EventChoice } from '../camera/vapix/events.js';
import { describePulseInterval } from '../camera/vapix/pulse.js';
import { InvalidRecipientError, isFileProtocol, recipientUrl } from '../camera/vapix/recipients.js';
import type { RecipientProtocol } from '../camera/vapix/recipients.js';
import { VapixClient } from '../camera/vapix/services.js';
import { configurationNameFor } from '../camera/vapix/setup-name.js';
import {
  cameraNameFromAddress,
  cameraSetupStatus,
  planCameraSetup,
  removeCameraSetup,
  setupCamera,
} from '../camera/vapix/setup.js';
import type { CameraRemoveResult, CameraSetupResult, CameraSetupStatus, StepListener } from '../camera/vapix/setup.js';
import { hostReach } from '../camera/reachability.js';
import { openHostKeys } from '../sftp/host-keys.js';
import { openRegistry, stateFor } from '../state/location.js';
import type { CreatedToken, TokenInfo, TokenRegistry } from '../tokens/registry.js';
import type { ConnectionOptions, RemoveCommandOptions, SetupCommandOptions } from './camera-options.js';

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

/** A recipient no camera can send to (this machine's loopback, or an address only to listen on) is refused. */
function refuseUnreachableRecipient(recipient: string, protocol: RecipientProtocol | undefined): void {
  let host: string;
  try {
    host = recipientUrl(recipient, protocol).hostname;
  } catch (error) {
    if (error instanceof InvalidRecipientError) return; // planCameraSetup says what is wrong with it
    throw error;
  }
  const reach = hostReach(host);
  if (reach === 'routable') return;
  const why = reach === 'loopback' ? 'is the camera itself, from the camera\'s side (a loopback address)' : 'is an address to listen on, not one to send to';
  throw new InvalidArgumentError(`--recipient ${recipient}: ${host} ${why}. Give the receiver's address on the cameras' network (serve prints it), or --force to configure it anyway.`);
}

/** The recipient's protocol, or undefined when the URL cannot be read (planCameraSetup then says why). */
function protocolOf(options: SetupCommandOptions): RecipientProtocol | undefined {
  try {
    return recipientUrl(options.recipient, options.protocol).protocol.slice(0, -1).toLowerCase() as RecipientProtocol;
  } catch (error) {
    if (error instanceof InvalidRecipientError) return undefined;
    throw error;
  }
}

/** Stand-ins for what setup learns later, to check the options before anything is touched. */
const PLACEHOLDERS = { token: 'placeholder-token-0000', login: 'camera', md5: '0'.repeat(32) };

/**
 * The camera `token` is for, from the registry: an SFTP or FTP recipient logs in with its name as
 * the user, and the receiver accepts a token only with its own camera's name.
 */
async function cameraOfToken(registry: TokenRegistry, token: string, protocol: RecipientProtocol): Promise<string> {
  const camera = await registry.verify(token);
  if (camera !== undefined) return camera;
  throw new InvalidArgumentError(
    `--token is not a token of the registry at ${registry.location}: an ${protocol}:// recipient logs in with the name of the camera the token is for, ` +
      'so setup looks it up there. Give the receiver\'s --store/--tokens, or --create-token to make one.',
  );
}

/** The RSA host key of the receiver's SFTP server (the kind Axis cameras take), from its state; makes none where there are none. */
async function receiverRsaHostKey(options: SetupCommandOptions): Promise<{ md5: string; location: string }> {
  const { sftpHostKeys } = await stateFor(options);
  if ((await sftpHostKeys.read()) === undefined) {
    throw new InvalidArgumentError(
      `no SFTP host keys in ${sftpHostKeys.location}: give --sftp-fingerprint (as \`images-to-s3 sftp fingerprints\` prints it on the receiver), ` +
        'or the --store/--tokens the receiver runs with (its first start with --sftp-port makes the keys)',
    );
  }
  const { keys, location } = await openHostKeys(sftpHostKeys);
  const rsa = keys.find((key) => key.type === 'ssh-rsa');
  if (!rsa) throw new InvalidArgumentError(`${location} holds no RSA host key, the only kind Axis cameras accept (with DSA): give --sftp-fingerprint`);
  return { md5: rsa.md5, location };
}

export async function runSetup(options: SetupCommandOptions): Promise<void> {
  if (options.token === undefined && !options.createToken) throw new InvalidArgumentError('give --token TOKEN, or --create-token to create one per camera');
  const protocol = protocolOf(options);
  const fileProtocol = isFileProtocol(protocol);
  const setupOptions = {
    recipient: options.recipient,
    ...(options.protocol !== undefined && { protocol: options.protocol }),
    ...(options.sftpFingerprint !== undefined && { sftpFingerprint: options.sftpFingerprint }),
    ...(options.on !== undefined && { on: options.on }),
    ...(options.every !== undefined && { every: options.every }),
    send: options.send,
    ...(options.pre !== undefined && { preMs: options.pre }),
    ...(options.post !== undefined && { postMs: options.post }),
    ...(options.clipWhileActive !== undefined && { clipWhileActive: options.clipWhileActive }),
    ...(options.filename !== undefined && { filename: options.filename }),
    ...(options.maxImages !== undefined && { maxImages: options.maxImages }),
    validateRecipientCertificate: options.validateRecipientCert,
  };
  if (!options.force) refuseUnreachableRecipient(options.recipient, options.protocol);
  // Check the options once, before any camera, the registry or the host keys are touched.
  planCameraSetup({
    ...setupOptions,
    token: options.token ?? PLACEHOLDERS.token,
    ...(options.name !== undefined && { name: options.name }),
    ...(fileProtocol && { login: PLACEHOLDERS.login }),
    ...(protocol === 'sftp' && options.sftpFingerprint === undefined && { sftpFingerprint: PLACEHOLDERS.md5 }),
  });
  const registry = options.createToken ? await openRegistry(options) : undefined;
  // SFTP and FTP log in as the camera the token is for: a given token's camera is looked up once.
  const tokenCamera = fileProtocol && options.token !== undefined ? await cameraOfToken(await openRegistry(options), options.token, protocol) : undefined;
  const hostKey = protocol === 'sftp' && options.sftpFingerprint === undefined ? await receiverRsaHostKey(options) : undefined;
  const fingerprint = options.sftpFingerprint ?? hostKey?.md5;
  const targets = await targetsFrom(options);

  await runFleet('setup', targets, options, options.token === undefined ? [] : [options.token], async (target, onStep): Promise<Report> => {
    const name = target.name;
    let issued: CreatedToken | undefined;
    if (registry) {
      onStep('creating the access token');
      issued = await registry.create(tokenCameraOf(target), { createdBy: SETUP_TOKEN_ORIGIN });
    }
    const token = issued?.token ?? options.token ?? '';
    const login = fileProtocol ? (issued?.camera ?? tokenCamera) : undefined;
    const cameraOptions = {
      ...setupOptions,
      token,
      ...(name !== undefined && { name }),
      ...(login !== undefined && { login }),
      ...(fingerprint !== undefined && { sftpFingerprint: fingerprint }),
    };
    try {
      const result = await withVapix(target, options, (vapix) => setupCamera(vapix, cameraOptions, onStep));
      // The camera holds the new token: the ones an earlier setup made for it are revoked.
      const replaced = issued ? await registry!.revokeWhere((entry) => entry.camera === issued.camera && entry.createdBy === SETUP_TOKEN_ORIGIN && entry.id !== issued.id) : [];
      return setupReport(target, result, token, issued, replaced, hostKey?.location);
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

/** How `camera setup` marks the tokens it creates, so that a re-run replaces them and `camera remove` revokes them. */
const SETUP_TOKEN_ORIGIN = 'camera setup';

/** The registry's camera name for a target: `--name`, or one made from its address. */
function tokenCameraOf(target: CameraTarget): string {
  return target.name ?? cameraNameFromAddress(cameraBaseUrl(target.address));
}

function setupReport(target: CameraTarget, result: CameraSetupResult, token: string, issued: CreatedToken | undefined, revoked: TokenInfo[], hostKeyLocation?: string): Report {
  const trigger = result.schedule ? describePulseInterval(result.schedule.every) : result.event ? `${result.event.placement === 'condition' ? 'while' : 'on'} ${result.event.on}` : 'nothing';
  const revokedText = revoked.length > 0 ? `, revoked the token${revoked.length > 1 ? 's' : ''} it replaces (${revoked.map((entry) => entry.id).join(', ')})` : '';
  const tokenText = issued ? `new token ${issued.id} for camera "${issued.camera}" (${maskSecret(token)})${revokedText}` : `token ${maskSecret(token)}`;
  const replaced = result.replaced.length > 0 ? `; replaced ${result.replaced.join(', ')}` : '';
  const { login, hostKey } = result.recipient;
  // Over SFTP and FTP the token is the password of the camera's user; over HTTP(S) a custom parameter.
  const credentials = login !== undefined ? `user "${login}", password ${maskSecret(token)}` : `accessToken=${maskSecret(token)}`;
  const hostKeyText = hostKey !== undefined ? `, host key ${hostKey}${hostKeyLocation !== undefined ? ` (the RSA key's, from ${hostKeyLocation})` : ''}` : '';
  return {
    camera: cameraBaseUrl(target.address).host,
    name: result.configurationName,
    ok: true,
    result: 'ok',
    summary: `rule ${result.rule.id}, ${trigger}, ${result.action.sends}, ${redactSecrets(result.recipient.url)}${login !== undefined ? ` as "${login}"` : ''}, ${tokenText}${replaced}`,
    details: [
      `recipient  ${result.recipient.id.padEnd(6)} ${redactSecrets(result.recipient.url)}${hostKeyText}`,
      ...(result.schedule ? [`schedule   ${result.schedule.id.padEnd(6)} pulse ${trigger}`] : []),
      `action     ${result.action.id.padEnd(6)} ${result.action.templateToken}, ${credentials}`,
      `rule       ${result.rule.id.padEnd(6)} enabled: ${result.schedule ? 'pulse' : trigger} → ${result.action.sends}`,
      ...(issued ? [`token      ${issued.id} created for camera "${issued.camera}" in the token registry`] : []),
      ...(revoked.length > 0 ? [`revoked    ${revoked.map((entry) => entry.id).join(', ')}: the token${revoked.length > 1 ? 's' : ''} of the earlier setup, which the camera no longer holds`] : []),
      ...(result.replaced.length > 0 ? [`replaced   the previous setup: ${result.replaced.join(', ')}`] : []),
      ...result.notes.map((note) => `note       ${note}`),
    ],
    json: { ...result, recipient: { ...result.recipient, url: redactSecrets(result.recipient.url) }, ...(issued && { tokenId: issued.id, tokenCamera: issued.camera, revokedTokens: revoked.map((entry) => entry.id) }) },
  };
}

export function runStatus(options: ConnectionOptions): Promise<void> {
  return runOnEachCamera('status', options, (vapix, target, onStep) => cameraSetupStatus(vapix, target.name, onStep), statusReport);
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
      schedule?.description ?? (rule && rule.trigger !== 'pulse' ? rule.trigger : undefined),
      action?.sends,
      recipient ? redactSecrets(recipient.url) : action ? redactSecrets(action.url) : undefined,
      action ? `token ${action.token}` : undefined,
      ...problems,
    ]
      .filter((part) => part !== undefined)
      .join(', ');
    details = [
      rule ? `rule       ${rule.id.padEnd(6)} ${rule.enabled ? 'enabled' : 'disabled'}, ${rule.trigger}` : 'rule       none',
      ...(schedule ? [`schedule   ${schedule.id.padEnd(6)} pulse ${schedule.description}`] : rule?.trigger === 'pulse' ? ['schedule   none'] : []),
      recipient ? `recipient  ${recipient.id.padEnd(6)} ${redactSecrets(recipient.url)}` : 'recipient  none',
      action
        ? `action     ${action.id.padEnd(6)} ${action.templateToken} to ${redactSecrets(action.url)}${action.login !== undefined ? ` as "${action.login}"` : ''}: ` +
          `${action.sends}, filename ${action.filename}, token ${action.token}${action.hostKey !== undefined ? `, host key ${action.hostKey}` : ''}`
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

export function runEvents(options: ConnectionOptions): Promise<void> {
  return runOnEachCamera(
    'events',
    options,
    async (vapix, _target, onStep) => {
      onStep('reading the camera\'s events');
      try {
        const instances = await vapix.getEventInstances();
        return { events: eventChoices(instances), aliases: eventAliases(instances) };
      } catch (error) {
        throw new CameraStepError('reading the camera\'s events', error instanceof Error ? error : new Error(String(error)));
      }
    },
    eventsReport,
  );
}

function eventsReport(target: CameraTarget, listing: { events: EventChoice[]; aliases: { alias: string; on: string }[] }): Report {
  const { events, aliases } = listing;
  const width = Math.max(5, ...events.map((event) => event.on.length));
  const aliasWidth = Math.max(0, ...aliases.map(({ alias }) => alias.length));
  const aliasText = aliases.length > 0 ? `aliases: ${[...new Set(aliases.map(({ alias }) => alias.replace(/:\d+$/, ':N')))].join(', ')}` : 'no aliases';
  return {
    camera: cameraBaseUrl(target.address).host,
    name: '',
    ok: true,
    result: `${events.length} event${events.length === 1 ? '' : 's'}`,
    summary: `${events.length} event${events.length === 1 ? '' : 's'}; ${aliasText}`,
    details: [
      `${'EVENT (as --on takes it)'.padEnd(width)}  STATE      NAME`,
      ...events.map((event) => `${event.on.padEnd(width)}  ${(event.stateful ? 'stateful' : 'stateless').padEnd(9)}  ${event.name ?? ''}`.trimEnd()),
      ...(aliases.length > 0
        ? ['', 'Aliases on this camera (--on takes them too):', ...aliases.map(({ alias, on }) => `  ${alias.padEnd(aliasWidth)}  ${on}`)]
        : []),
    ],
    json: listing,
  };
}

export async function runRemove(options: RemoveCommandOptions): Promise<void> {
  const registry = options.keepToken ? undefined : await openRegistry(options);
  return runOnEachCamera(
    'remove',
    options,
    async (vapix, target, onStep) => {
      const removed = await removeCameraSetup(vapix, target.name, onStep);
      // The camera no longer sends: the tokens setup made for it are revoked (--keep-token keeps them).
      const camera = tokenCameraOf(target);
      const revoked = registry ? await registry.revokeWhere((entry) => entry.camera === camera && entry.createdBy === SETUP_TOKEN_ORIGIN) : [];
      return { ...removed, revokedTokens: revoked.map((entry) => entry.id) };
    },
    removeReport,
  );
}

/** A command that makes one VAPIX call on each target camera and reports what it answered. */
async function runOnEachCamera<T>(
  command: string,
  options: ConnectionOptions,
  call: (vapix: VapixClient, target: CameraTarget, onStep: StepListener) => Promise<T>,
  report: (target: CameraTarget, result: T) => Report,
): Promise<void> {
  const targets = await targetsFrom(options);
  await runFleet(command, targets, options, [], async (target, onStep) => report(target, await withVapix(target, options, (vapix) => call(vapix, target, onStep))));
}

/** Commands that read a camera rather than a setup on it: their reports name no setup. */
const UNNAMED_COMMANDS = new Set(['events']);

function removeReport(target: CameraTarget, result: CameraRemoveResult & { revokedTokens: string[] }): Report {
  const removed = result.removed.length > 0 ? `removed ${result.removed.join(', ')}` : 'nothing to remove';
  const summary = result.revokedTokens.length > 0 ? `${removed}; revoked token${result.revokedTokens.length > 1 ? 's' : ''} ${result.revokedTokens.join(', ')}` : removed;
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

  const reports = outcomes.map((outcome) => reportOf(outcome, secretsOf(outcome.target), UNNAMED_COMMANDS.has(command) ? '' : configurationNameFor(outcome.target.name)));
  const failed = reports.filter((report) => !report.ok).length;
  if (options.json) {
    process.stdout.write(`${JSON.stringify(reports.map(({ camera, name, ok, result, json }) => ({ camera, name, ok, result, ...(ok || result !== 'FAILED' ? { [command]: json } : { error: json }) })), null, 2)}\n`);
  } else if (options.cameras === undefined && reports.length === 1) {
    const [report] = reports as [Report];
    const stream = report.result === 'FAILED' ? process.stderr : process.stdout;
    stream.write(`${report.camera}${report.name === '' ? '' : ` (${report.name})`}: ${report.result}\n${report.details.map((line) => (line === '' ? '' : `  ${line}`)).join('\n')}\n`);
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

function reportOf(outcome: CameraOutcome<Report>, secrets: string[], name: string): Report {
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
    name,
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
