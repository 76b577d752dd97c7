/**
 * Sets a camera up to send images or video clips to the receiver, shows that setup, and removes
 * it again: the recipient, the pulse schedule (when a pulse starts the action), the "send images"
 * or "send video clip" action and the rule of AXIS.md §2–3, created over VAPIX in that order and
 * removed in the reverse one.
 *
 * The recipient is HTTPS or HTTP (the token in the action's custom parameters), or SFTP or FTP
 * (the camera's name as the user, its token as the password; see ./recipients.ts).
 *
 * What starts the action is a pulse schedule (every minute unless told otherwise) or any event of
 * the camera (`--on`, see ./events.ts for how it becomes the rule's start event or condition).
 *
 * Everything a setup creates carries one name (`images-to-s3`, or `images-to-s3 <name>` with
 * `--name`), which is how a later run finds it; nothing else on the camera is touched.
 *
 * @module
 */

import { AXIS_DEFAULT_FILENAME_PATTERN } from '../filename-pattern.js';
import { CAMERA_NAME_RULE, cameraNameFrom, isValidCameraName } from '../../core/camera-name.js';
import { isValidRegisteredToken } from '../../tokens/registry.js';
import { TOKEN_RULE } from '../../tokens/errors.js';
import { CameraEventError, CameraSetupError, CameraStepError, maskSecret, SoapFaultError, UnsupportedCameraError } from './errors.js';
import type { RollbackReport } from './errors.js';
import { describeEventFilter, InvalidEventOptionError, itemFilter, parseEventOption, readItemFilter, resolvedTopicOf, resolveEvent } from './events.js';
import type { EventPlacement, EventRequest, ResolvedEvent } from './events.js';
import { DEFAULT_PULSE, describeDurationMs, describePulseInterval, pulseICalendar, readICalendar } from './pulse.js';
import type { PulseInterval } from './pulse.js';
import { CONCRETE_TOPIC_DIALECT, ITEM_FILTER_DIALECT } from './services.js';
import type {
  ActionRuleInput,
  ConfigurationInput,
  EventFilter,
  ScheduledEventInput,
  StoredActionRule,
  StoredConfiguration,
  StoredScheduledEvent,
  Template,
  VapixClient,
} from './services.js';
import { TNS1_NS, TNSAXIS_NS } from './soap.js';
import { DEFAULT_CLIP_FILENAME, DEFAULT_CLIP_POST_MS, DEFAULT_CLIP_PRE_MS, DEFAULT_POST_DURATION_MS } from './setup-defaults.js';
import {
  describeFingerprint,
  destinationOf,
  fileDestination,
  ftpRecipientParameters,
  InvalidRecipientError,
  isFileProtocol,
  MD5_FINGERPRINT_PARAMETER,
  parseHostKeyFingerprint,
  protocolOfTemplate,
  recipientUrl,
  SHA256_FINGERPRINT_PARAMETER,
  sftpRecipientParameters,
  SSH_PASSWORD_AUTHENTICATION,
} from './recipients.js';
import type { FileProtocol, HostKeyFingerprint, RecipientProtocol } from './recipients.js';
import { configurationNameFor, SETUP_NAME_PREFIX } from './setup-name.js';

/** Recipient templates by protocol (the recipient URL's scheme). */
export const RECIPIENT_TEMPLATES = {
  http: 'com.axis.recipient.http',
  https: 'com.axis.recipient.https',
  sftp: 'com.axis.recipient.sftp',
  ftp: 'com.axis.recipient.ftp',
} as const satisfies Record<RecipientProtocol, string>;

/** "Send images" action templates (fixed action: a pre/post window per event) by protocol. */
export const SEND_IMAGES_TEMPLATES = {
  http: 'com.axis.action.fixed.send_images.http',
  https: 'com.axis.action.fixed.send_images.https',
  sftp: 'com.axis.action.fixed.send_images.sftp',
  ftp: 'com.axis.action.fixed.send_images.ftp',
} as const satisfies Record<RecipientProtocol, string>;

/**
 * "Send video clip" action templates by protocol: fixed (the pre- and post-event time) and
 * unlimited (also for as long as the rule's condition holds).
 */
export const SEND_VIDEOCLIP_TEMPLATES = {
  fixed: {
    http: 'com.axis.action.fixed.send_videoclip.http',
    https: 'com.axis.action.fixed.send_videoclip.https',
    sftp: 'com.axis.action.fixed.send_videoclip.sftp',
    ftp: 'com.axis.action.fixed.send_videoclip.ftp',
  },
  unlimited: {
    http: 'com.axis.action.unlimited.send_videoclip.http',
    https: 'com.axis.action.unlimited.send_videoclip.https',
    sftp: 'com.axis.action.unlimited.send_videoclip.sftp',
    ftp: 'com.axis.action.unlimited.send_videoclip.ftp',
  },
} as const satisfies Record<'fixed' | 'unlimited', Record<RecipientProtocol, string>>;

/** The topic of the camera's pulse schedules, as sent. */
export const PULSE_TOPIC = 'tns1:UserAlarm/tnsaxis:Recurring/Pulse';

/** {@link PULSE_TOPIC} with its prefixes resolved, as answers are compared. */
export const PULSE_TOPIC_RESOLVED = `{${TNS1_NS}}UserAlarm/{${TNSAXIS_NS}}Recurring/Pulse`;

/** Stream options of the send-images action: JPEG snapshots from video source 1, no audio. */
export const DEFAULT_STREAM_OPTIONS = '&videocodec=jpeg&audio=0&camera=1';

/** Stream options of the send-clip action: H.264 from video source 1 without audio, which browsers play in MKV and MP4. */
export const DEFAULT_CLIP_STREAM_OPTIONS = '&videocodec=h264&audio=0&camera=1';

/**
 * Parameters whose value carries what was asked for: a camera whose template lacks one is
 * refused rather than sent a recipient or action without it. Others the template lacks are left
 * out. A host key fingerprint is one too, where it has a value.
 */
const ESSENTIAL_PARAMETERS = [
  'upload_url',
  'custom_params',
  'filename',
  'pre_duration',
  'post_duration',
  'max_images',
  'host',
  'port',
  'login',
  'password',
  'ssh_auth_type',
  'passive',
];

const isEssential = (name: string, value: string): boolean =>
  ESSENTIAL_PARAMETERS.includes(name) || ((name === MD5_FINGERPRINT_PARAMETER || name === SHA256_FINGERPRINT_PARAMETER) && value !== '');

/** A template parameter that reads like a TLS switch, which Axis documents for no FTP recipient. */
const TLS_LIKE_PARAMETER = /tls|ssl|ftps|secure|encrypt|cert/i;

/** What the camera sends: images (a send-images action) or a video clip (a send-clip action). */
export type SendKind = 'images' | 'clip';

/** What `camera setup` configures. */
export interface CameraSetupOptions {
  /** Distinguishes this setup from others on the same camera; a camera name (see {@link CAMERA_NAME_RULE}). */
  name?: string;
  /**
   * The receiver's URL: `https:` or `http:` (e.g. the seed's `Recipient` output), or `sftp://host:port/`
   * or `ftp://host:port/` (the path is the recipient's folder). With {@link protocol}, `host:port` will do.
   */
  recipient: string;
  /** The recipient's protocol; the {@link recipient} URL's scheme unless told otherwise (and it must agree). */
  protocol?: RecipientProtocol;
  /**
   * The access token: sent as `accessToken=<token>` with every HTTP(S) upload, or the password
   * of an SFTP or FTP recipient.
   */
  token: string;
  /** SFTP and FTP: the user name, the camera name {@link token} is for. Not for HTTP(S). */
  login?: string;
  /**
   * SFTP: the receiver's RSA host key fingerprint, `SHA256:…` or its MD5 (see
   * {@link parseHostKeyFingerprint}). Only for SFTP, and needed there.
   */
  sftpFingerprint?: string;
  /** The event that starts the action, as `--on` takes it (./events.ts); a pulse schedule when absent. */
  on?: string;
  /** How often the pulse starts the action; every minute unless told otherwise. Not with {@link on}. */
  every?: PulseInterval;
  /** Images (the default) or a clip. */
  send?: SendKind;
  /** Time before the event, in ms: 3 s for a clip, 0 for images unless told otherwise. */
  preMs?: number;
  /** Time after the event, in ms: 7 s for a clip, 3 s for images unless told otherwise. */
  postMs?: number;
  /** A clip for as long as the event lasts (an unlimited action, the event as the rule's condition). */
  clipWhileActive?: boolean;
  /** The camera's filename pattern; {@link AXIS_DEFAULT_FILENAME_PATTERN} (images) or {@link DEFAULT_CLIP_FILENAME} unless told otherwise. */
  filename?: string;
  /** Images per event; 1 unless told otherwise. Images only. */
  maxImages?: number;
  /** Whether the camera checks the receiver's certificate (`validate_server_cert`); true unless told otherwise. */
  validateRecipientCertificate?: boolean;
}

/** Invalid {@link CameraSetupOptions}: nothing was sent to the camera. */
export class InvalidSetupOptionError extends Error {
  override readonly name = 'InvalidSetupOptionError';
}

/** What starts the action: a pulse schedule setup adds, or an event of the camera. */
export type SetupTrigger =
  | { kind: 'pulse'; every: PulseInterval; schedule: ScheduledEventInput }
  | { kind: 'event'; request: EventRequest; whileActive: boolean };

/** The start event and conditions of a rule. */
export interface RuleFilters {
  startEvent?: EventFilter;
  conditions?: EventFilter[];
}

/** What a setup adds, ready to send (before the camera's templates have been read). */
export interface SetupPlan {
  /** The name everything carries. */
  configurationName: string;
  /** The recipient's protocol. */
  scheme: RecipientProtocol;
  recipient: ConfigurationInput;
  trigger: SetupTrigger;
  send: SendKind;
  /** The action, its own parameters first, then the recipient's. */
  action: ConfigurationInput;
  /** The rule, once what starts it and the action's configuration ID are known. */
  rule(filters: RuleFilters, actionId: string): ActionRuleInput;
}

/**
 * A camera name for the token registry from the camera's address, for `--create-token`
 * without `--name`: the host, with a non-default port appended, made a camera name by
 * {@link cameraNameFrom} (`[fe80::1]:8443` → `fe80--1-8443`).
 */
export function cameraNameFromAddress(baseUrl: URL): string {
  const host = baseUrl.hostname.replace(/^\[|\]$/g, '');
  return cameraNameFrom(baseUrl.port === '' ? host : `${host}-${baseUrl.port}`) || 'camera';
}

/** The ItemFilter that selects the pulse of scheduled event `eventId`. */
export function pulseMessageContent(eventId: string): string {
  return itemFilter([['id', eventId]]);
}

/** The scheduled-event ID an ItemFilter selects, whichever order and quotes it uses. */
export function eventIdInMessageContent(text: string | undefined): string | undefined {
  return readItemFilter(text).find(([name]) => name === 'id')?.[1];
}

/** The rule's filters for the pulse of scheduled event `eventId`: stateless, so the start event. */
export function pulseRuleFilters(eventId: string): RuleFilters {
  return {
    startEvent: { topicExpression: PULSE_TOPIC, topicDialect: CONCRETE_TOPIC_DIALECT, messageContent: pulseMessageContent(eventId), messageContentDialect: ITEM_FILTER_DIALECT },
  };
}

/** The rule's filters for an event looked up on the camera: its start event or its condition (see ./events.ts). */
export function eventRuleFilters(event: ResolvedEvent): RuleFilters {
  return event.placement === 'condition' ? { conditions: [event.filter] } : { startEvent: event.filter };
}

/** `send-images action`, `send-clip action`: what an action is called in messages, from its template. */
export function actionLabel(templateToken: string): string {
  if (templateToken.includes('.send_videoclip.')) return 'send-clip action';
  if (templateToken.includes('.send_images.')) return 'send-images action';
  return 'action';
}

const nonNegativeMs = (value: number | undefined, option: string): void => {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) throw new InvalidSetupOptionError(`${option} must be a duration of 0 or more`);
};

/**
 * Checks the options and builds what setup sends. Pure: no I/O. The event `--on` names is read
 * here and looked up on each camera by {@link setupCamera}.
 *
 * @throws {@link InvalidSetupOptionError} with a message naming the option.
 */
export function planCameraSetup(options: CameraSetupOptions): SetupPlan {
  if (options.name !== undefined && !isValidCameraName(options.name)) {
    throw new InvalidSetupOptionError(`--name ${JSON.stringify(options.name)}: ${CAMERA_NAME_RULE}`);
  }
  let recipient: URL;
  try {
    recipient = recipientUrl(options.recipient, options.protocol);
  } catch (error) {
    if (error instanceof InvalidRecipientError) throw new InvalidSetupOptionError(error.message);
    throw error;
  }
  const scheme = recipient.protocol.slice(0, -1).toLowerCase() as RecipientProtocol;
  const fileProtocol = isFileProtocol(scheme);
  if (!fileProtocol) {
    if (recipient.username !== '' || recipient.password !== '') {
      throw new InvalidSetupOptionError('--recipient must not contain a user or password; the camera authenticates with the access token');
    }
    if ([...recipient.searchParams.keys()].some((key) => key.toLowerCase() === 'accesstoken')) {
      throw new InvalidSetupOptionError(
        '--recipient must not carry accessToken: the camera appends the token itself (custom parameters), and a receiver refuses a request with two',
      );
    }
    if (options.login !== undefined) throw new InvalidSetupOptionError('a user name is for an sftp:// or ftp:// recipient; over HTTP(S) the camera sends the access token');
  }
  if (options.sftpFingerprint !== undefined && scheme !== 'sftp') throw new InvalidSetupOptionError(`--sftp-fingerprint is for an sftp:// recipient, not ${scheme}://`);
  if (options.validateRecipientCertificate === false && fileProtocol) {
    throw new InvalidSetupOptionError(`--no-validate-recipient-cert is for an https:// recipient: an ${scheme}:// recipient has no certificate to check`);
  }
  if (!isValidRegisteredToken(options.token)) throw new InvalidSetupOptionError(`the access token is not usable: ${TOKEN_RULE}`);

  const send = options.send ?? 'images';
  if (send !== 'images' && send !== 'clip') throw new InvalidSetupOptionError(`--send is images or clip, not ${JSON.stringify(send)}`);
  let request: EventRequest | undefined;
  if (options.on !== undefined) {
    if (options.every !== undefined) throw new InvalidSetupOptionError('--every sets the pulse schedule; with --on the event starts the action: leave --every out');
    try {
      request = parseEventOption(options.on);
    } catch (error) {
      if (error instanceof InvalidEventOptionError) throw new InvalidSetupOptionError(`--on ${JSON.stringify(options.on)}: ${error.message}`);
      throw error;
    }
  }
  const whileActive = options.clipWhileActive ?? false;
  if (whileActive && send !== 'clip') throw new InvalidSetupOptionError('--clip-while-active is for --send clip');
  if (whileActive && request === undefined) throw new InvalidSetupOptionError('--clip-while-active needs --on with an event that lasts (motion, an input, …): a pulse has no duration');
  if (send === 'clip' && options.maxImages !== undefined) throw new InvalidSetupOptionError('--max-images is for --send images; a clip is one file, from --pre before to --post after the event');
  nonNegativeMs(options.preMs, '--pre');
  nonNegativeMs(options.postMs, '--post');
  const filename = options.filename ?? (send === 'clip' ? DEFAULT_CLIP_FILENAME : AXIS_DEFAULT_FILENAME_PATTERN);
  if (filename.trim() === '') throw new InvalidSetupOptionError('--filename must not be empty');
  const maxImages = options.maxImages ?? 1;
  if (!Number.isSafeInteger(maxImages) || maxImages < 1) throw new InvalidSetupOptionError('--max-images must be a whole number of at least 1');

  const configurationName = configurationNameFor(options.name);
  const recipientParameters = fileProtocol ? fileRecipientParameters(scheme, recipient, options) : httpRecipientParameters(scheme, recipient, options);
  // Over HTTP(S) the token goes in the custom parameters; SFTP and FTP have none (the token is the password).
  const customParams: Record<string, string> = fileProtocol ? {} : { custom_params: `accessToken=${options.token}` };
  // Every parameter of the template, in the order Axis documents them; unused ones empty.
  const action: ConfigurationInput =
    send === 'clip'
      ? {
          name: configurationName,
          templateToken: SEND_VIDEOCLIP_TEMPLATES[whileActive ? 'unlimited' : 'fixed'][scheme],
          parameters: {
            stream_options: DEFAULT_CLIP_STREAM_OPTIONS,
            pre_duration: String(options.preMs ?? DEFAULT_CLIP_PRE_MS),
            post_duration: String(options.postMs ?? DEFAULT_CLIP_POST_MS),
            create_folder: '', // a literal folder name, whatever it says (yes, no, 1): none
            filename,
            max_file_size: '', // documented as not supported: an empty string
            max_duration: '', // documented as not supported: an empty string
            ...customParams,
            ...recipientParameters,
          },
        }
      : {
          name: configurationName,
          templateToken: SEND_IMAGES_TEMPLATES[scheme],
          parameters: {
            stream_options: DEFAULT_STREAM_OPTIONS,
            pre_duration: String(options.preMs ?? 0),
            post_duration: String(options.postMs ?? DEFAULT_POST_DURATION_MS),
            max_images: String(maxImages),
            create_folder: '', // a literal folder name, whatever it says (yes, no, 1): none
            filename,
            max_sequence_number: '0',
            ...customParams,
            ...recipientParameters,
          },
        };
  const every = options.every ?? DEFAULT_PULSE;
  return {
    configurationName,
    scheme,
    recipient: { name: configurationName, templateToken: RECIPIENT_TEMPLATES[scheme], parameters: recipientParameters },
    trigger: request ? { kind: 'event', request, whileActive } : { kind: 'pulse', every, schedule: { name: configurationName, icalendar: pulseICalendar(every) } },
    send,
    action,
    rule: (filters, actionId) => ({ name: configurationName, enabled: true, ...filters, primaryAction: actionId }),
  };
}

/** The parameters of an HTTP(S) recipient, in the order Axis documents them; repeated in the action. */
function httpRecipientParameters(scheme: RecipientProtocol, recipient: URL, options: CameraSetupOptions): Record<string, string> {
  const validate = (options.validateRecipientCertificate ?? true) ? '1' : '0';
  return {
    upload_url: recipient.href,
    ...(scheme === 'https' && { validate_server_cert: validate }),
    login: '',
    password: '',
    proxy_host: '',
    proxy_port: '',
    proxy_login: '',
    proxy_password: '',
    qos: '0',
  };
}

/** The parameters of an SFTP or FTP recipient (see ./recipients.ts); repeated in the action. */
function fileRecipientParameters(scheme: FileProtocol, recipient: URL, options: CameraSetupOptions): Record<string, string> {
  let destination;
  let fingerprint: HostKeyFingerprint | undefined;
  try {
    destination = fileDestination(recipient);
    if (options.sftpFingerprint !== undefined) fingerprint = parseHostKeyFingerprint(options.sftpFingerprint);
  } catch (error) {
    if (error instanceof InvalidRecipientError) throw new InvalidSetupOptionError(error.message);
    throw error;
  }
  if (options.login === undefined || !isValidCameraName(options.login)) {
    throw new InvalidSetupOptionError(
      `an ${scheme}:// recipient logs in with the camera's name as the user: ${options.login === undefined ? 'none was given' : `${JSON.stringify(options.login)} is not one (${CAMERA_NAME_RULE})`}`,
    );
  }
  const login = { login: options.login, password: options.token };
  if (scheme === 'ftp') return ftpRecipientParameters(destination, login);
  if (fingerprint === undefined) {
    throw new InvalidSetupOptionError(
      'an sftp:// recipient pins the receiver\'s host key: give --sftp-fingerprint (the RSA key\'s, from `images-to-s3 sftp fingerprints`), or the receiver\'s --store/--tokens to read it from',
    );
  }
  return sftpRecipientParameters(destination, login, fingerprint);
}

/**
 * `configuration` with the parameters the camera's template lists: ours where we have a value,
 * an empty string for any other it lists, and without those it does not list. A template the
 * camera did not list (or listed without parameters) leaves it as it is.
 *
 * @throws {@link UnsupportedCameraError} when the template lacks a parameter in {@link ESSENTIAL_PARAMETERS}.
 */
function fitToTemplate(parameters: Record<string, string>, templateToken: string, listed: readonly string[] | undefined): Record<string, string> {
  if (listed === undefined || listed.length === 0) return parameters;
  const lacking = Object.entries(parameters)
    .filter(([name, value]) => !listed.includes(name) && isEssential(name, value))
    .map(([name]) => name);
  if (lacking.length > 0) {
    throw new UnsupportedCameraError(`the camera's template ${templateToken} has no parameter ${lacking.join(', ')}, which this setup needs; its parameters: ${listed.join(', ')}`);
  }
  return {
    ...Object.fromEntries(Object.entries(parameters).filter(([name]) => listed.includes(name))),
    ...Object.fromEntries(listed.filter((name) => !Object.hasOwn(parameters, name)).map((name) => [name, ''])),
  };
}

/** The camera's templates for a plan, where it lists them. */
interface CameraTemplates {
  recipient?: Template;
  action?: Template;
}

/** The recipient and action of `plan`, each with exactly the parameters of the camera's templates (see {@link fitToTemplate}). */
function fitPlanToTemplates(plan: SetupPlan, templates: CameraTemplates): { recipient: ConfigurationInput; action: ConfigurationInput } {
  const recipientNames = Object.keys(plan.recipient.parameters);
  const own = Object.fromEntries(Object.entries(plan.action.parameters).filter(([name]) => !recipientNames.includes(name)));
  const recipientParameters = fitToTemplate(plan.recipient.parameters, plan.recipient.templateToken, templates.recipient?.parameters);
  return {
    recipient: { ...plan.recipient, parameters: recipientParameters },
    action: { ...plan.action, parameters: { ...fitToTemplate(own, plan.action.templateToken, templates.action?.parameters), ...recipientParameters } },
  };
}

/** Everything on the camera that carries one setup's name. */
export interface SetupObjects {
  rules: StoredActionRule[];
  actions: StoredConfiguration[];
  schedules: StoredScheduledEvent[];
  recipients: StoredConfiguration[];
}

/** The whole event configuration of a camera, as read by {@link readCameraConfiguration}. */
export type CameraConfiguration = SetupObjects;

/** Called with each step as it starts, for progress displays. */
export type StepListener = (step: string) => void;

/**
 * Reads every rule, action, schedule and recipient, one request at a time (a Digest nonce
 * count must arrive in order at some servers, so requests to one camera are never parallel).
 */
export async function readCameraConfiguration(vapix: VapixClient): Promise<CameraConfiguration> {
  const rules = await vapix.getActionRules();
  const actions = await vapix.getActionConfigurations();
  const schedules = await vapix.getScheduledEvents();
  const recipients = await vapix.getRecipientConfigurations();
  return { rules, actions, schedules, recipients };
}

/** The part of `configuration` that belongs to the setup named `configurationName`. */
export function setupObjectsNamed(configuration: CameraConfiguration, configurationName: string): SetupObjects {
  const named = <T extends { name: string }>(items: T[]): T[] => items.filter((item) => item.name === configurationName);
  return {
    rules: named(configuration.rules),
    actions: named(configuration.actions),
    schedules: named(configuration.schedules),
    recipients: named(configuration.recipients),
  };
}

/** One removable thing on the camera, in words and as an operation. */
interface Removable {
  what: string;
  remove: () => Promise<void>;
}

/** Rules, then actions, then schedules, then recipients: nothing is removed while something uses it. */
function teardownOrder(vapix: VapixClient, objects: SetupObjects): Removable[] {
  return [
    ...objects.rules.map((rule) => ({ what: `rule ${rule.id}`, remove: () => vapix.removeActionRule(rule.id) })),
    ...objects.actions.map((action) => ({ what: `${actionLabel(action.templateToken)} ${action.id}`, remove: () => vapix.removeActionConfiguration(action.id) })),
    ...objects.schedules.map((schedule) => ({ what: `schedule ${schedule.id}`, remove: () => vapix.removeScheduledEvent(schedule.id) })),
    ...objects.recipients.map((recipient) => ({ what: `recipient ${recipient.id}`, remove: () => vapix.removeRecipientConfiguration(recipient.id) })),
  ];
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** What {@link setupCamera} created. */
export interface CameraSetupResult {
  configurationName: string;
  /**
   * The recipient: where it sends (see {@link destinationOf}), its protocol, and for SFTP and FTP
   * the user it logs in as and (SFTP) the host key fingerprint it pins, as `sftp fingerprints`
   * prints it.
   */
  recipient: { id: string; url: string; protocol: RecipientProtocol; login?: string; hostKey?: string };
  /** The pulse schedule, when a pulse starts the action. */
  schedule?: { id: string; every: PulseInterval };
  /** The event, when one starts the action: as `--on` takes it (with the selectors the rule holds), and where the rule holds it. */
  event?: { on: string; placement: EventPlacement };
  /** The action, and what it sends in words (`clip from 3 s before to 7 s after the event`). */
  action: { id: string; templateToken: string; sends: string };
  rule: { id: string };
  /** The previous setup of the same name that was replaced, e.g. `['rule 4', 'schedule 2']`. */
  replaced: string[];
  /** What the installer should know about this recipient on this camera (plain FTP, a template parameter left empty, …). */
  notes: string[];
}

/**
 * Configures the camera: checks it supports the templates (and fits the parameters to them),
 * looks the event up among the camera's events when `--on` names one, adds the recipient, the
 * pulse schedule (for a pulse), the action and the rule (in that order), then removes what a
 * previous run with the same name had created.
 *
 * New before old, because VAPIX has no update and no transaction: should any step fail,
 * what this run added is removed again and the previous setup is still there, working; the
 * camera is as it was. Only once the new setup is complete is the old one removed.
 *
 * @throws {@link InvalidSetupOptionError} before anything is sent;
 *   {@link CameraSetupError} when a step fails (after the rollback, which it reports), e.g. an
 *   event the camera does not offer ({@link CameraEventError}) before anything was added;
 *   {@link CameraStepError} when the new setup is complete but the previous one could not be
 *   removed entirely.
 */
export async function setupCamera(vapix: VapixClient, options: CameraSetupOptions, onStep: StepListener = () => {}): Promise<CameraSetupResult> {
  const plan = planCameraSetup(options);
  const created: Removable[] = [];
  let step = '';
  const run = async <T>(description: string, operation: () => Promise<T>): Promise<T> => {
    step = description;
    onStep(description);
    return operation();
  };

  let previous: SetupObjects;
  let ids: { recipient: string; schedule?: string; action: string; rule: string };
  let fitted: { recipient: ConfigurationInput; action: ConfigurationInput };
  let event: ResolvedEvent | undefined;
  let notes: string[] = [];
  try {
    fitted = await run('checking the camera supports the templates', async () => {
      const templates = await readTemplates(vapix, plan);
      notes = recipientNotes(plan, templates);
      return fitPlanToTemplates(plan, templates);
    });
    const replacing = setupObjectsNamed(await run('reading the camera\'s event configuration', () => readCameraConfiguration(vapix)), plan.configurationName);
    previous = replacing;
    const trigger = plan.trigger;
    if (trigger.kind === 'event') {
      event = await run('looking the event up among the camera\'s events', async () => {
        const resolved = resolveEvent(trigger.request, await vapix.getEventInstances(), { whileActive: trigger.whileActive });
        refuseScheduleBeingReplaced(resolved, replacing);
        return resolved;
      });
    }

    const recipient = await run('adding the recipient', () => vapix.addRecipientConfiguration(fitted.recipient));
    created.push({ what: `recipient ${recipient}`, remove: () => vapix.removeRecipientConfiguration(recipient) });
    let schedule: string | undefined;
    if (trigger.kind === 'pulse') {
      const scheduleId = await run('adding the pulse schedule', () => vapix.addScheduledEvent(trigger.schedule));
      created.push({ what: `schedule ${scheduleId}`, remove: () => vapix.removeScheduledEvent(scheduleId) });
      schedule = scheduleId;
    }
    const label = actionLabel(fitted.action.templateToken);
    const action = await run(`adding the ${label}`, () => vapix.addActionConfiguration(fitted.action));
    created.push({ what: `${label} ${action}`, remove: () => vapix.removeActionConfiguration(action) });
    const filters = schedule !== undefined ? pulseRuleFilters(schedule) : eventRuleFilters(event as ResolvedEvent);
    const rule = await run('adding the rule', () => vapix.addActionRule(plan.rule(filters, action)));
    created.push({ what: `rule ${rule}`, remove: () => vapix.removeActionRule(rule) });
    ids = { recipient, ...(schedule !== undefined && { schedule }), action, rule };
  } catch (error) {
    if (error instanceof InvalidSetupOptionError) throw error;
    onStep('rolling back');
    throw new CameraSetupError(step, asError(error), await rollback(created.reverse()));
  }

  const replaced: string[] = [];
  for (const old of teardownOrder(vapix, previous)) {
    try {
      await run(`removing the previous ${old.what}`, old.remove);
      replaced.push(old.what);
    } catch (error) {
      throw new CameraStepError(
        step,
        asError(error),
        `; the new setup (rule ${ids.rule}) is in place and working, but the previous one may still send too` +
          (replaced.length > 0 ? ` (already removed: ${replaced.join(', ')})` : '') +
          '; run the same `camera setup` again, or remove it in the camera\'s web interface',
      );
    }
  }

  const recipientParameters = fitted.recipient.parameters;
  return {
    configurationName: plan.configurationName,
    recipient: {
      id: ids.recipient,
      url: destinationOf(fitted.recipient.templateToken, recipientParameters),
      protocol: plan.scheme,
      ...(isFileProtocol(plan.scheme) && { login: recipientParameters.login ?? '' }),
      ...(plan.scheme === 'sftp' && { hostKey: describeFingerprint({ md5: recipientParameters[MD5_FINGERPRINT_PARAMETER], sha256: recipientParameters[SHA256_FINGERPRINT_PARAMETER] }) }),
    },
    ...(ids.schedule !== undefined && plan.trigger.kind === 'pulse' && { schedule: { id: ids.schedule, every: plan.trigger.every } }),
    ...(event && { event: { on: event.on, placement: event.placement } }),
    action: { id: ids.action, templateToken: fitted.action.templateToken, sends: describeSending(fitted.action.templateToken, fitted.action.parameters) },
    rule: { id: ids.rule },
    replaced,
    notes,
  };
}

/**
 * What to know about an FTP recipient: Axis documents no TLS for it (so the token crosses the
 * network in clear), and a template parameter that reads like a TLS switch, which this tool does
 * not know the values of, is sent empty.
 */
function recipientNotes(plan: SetupPlan, templates: CameraTemplates): string[] {
  if (plan.scheme !== 'ftp') return [];
  const tlsLike = (templates.recipient?.parameters ?? []).filter((name) => !Object.hasOwn(plan.recipient.parameters, name) && TLS_LIKE_PARAMETER.test(name));
  return [
    'plain FTP: Axis documents no FTPS for its FTP recipient, so the token crosses the network in clear; sftp:// encrypts',
    ...tlsLike.map((name) => `the camera's ${plan.recipient.templateToken} template lists ${name}, which Axis does not document: sent empty, so plain FTP`),
  ];
}

/** The schedules' events (`tns1:UserAlarm/tnsaxis:Recurring/Pulse`, `…/Interval`), which `camera events` lists with each schedule's ID. */
const RECURRING_TOPICS = `{${TNS1_NS}}UserAlarm/{${TNSAXIS_NS}}Recurring/`;

/**
 * Refuses an event that is the schedule of the setup being replaced: it is removed once the new
 * setup is in place, and the new rule would wait for a schedule that is gone.
 */
function refuseScheduleBeingReplaced(event: ResolvedEvent, previous: SetupObjects): void {
  if (!resolvedTopicOf(event.instance).startsWith(RECURRING_TOPICS)) return;
  const id = readItemFilter(event.filter.messageContent).find(([name]) => name === 'id')?.[1];
  if (previous.schedules.some((schedule) => schedule.id === id)) {
    throw new CameraEventError(`${event.on} is the schedule of the setup this one replaces, removed once this one is in place; for a pulse, use --every instead of --on`);
  }
}

/** Removes `created` (already in teardown order), going on after failures, and says what happened. */
async function rollback(created: Removable[]): Promise<RollbackReport> {
  const report: RollbackReport = { removed: [], failed: [] };
  for (const item of created) {
    try {
      await item.remove();
      report.removed.push(item.what);
    } catch (error) {
      report.failed.push({ what: item.what, error: asError(error) });
    }
  }
  return report;
}

/**
 * Reads the camera's recipient and action templates and fails early, before anything is added,
 * when the ones setup needs are not among them. A camera that answers the template queries with
 * a fault, or with a shape that lists no tokens at all, is given the benefit of the doubt (and
 * sent the parameters as Axis documents them).
 */
async function readTemplates(vapix: VapixClient, plan: SetupPlan): Promise<CameraTemplates> {
  const what = plan.send === 'clip' ? 'video clips' : 'images';
  const wanted = [
    { kind: 'recipient', token: plan.recipient.templateToken, list: () => vapix.getRecipientTemplates() },
    { kind: 'action', token: plan.action.templateToken, list: () => vapix.getActionTemplates() },
  ] as const;
  const found: CameraTemplates = {};
  for (const { kind, token, list } of wanted) {
    let templates;
    try {
      templates = await list();
    } catch (error) {
      if (error instanceof SoapFaultError) continue;
      throw error;
    }
    if (templates.length === 0) continue;
    const template = templates.find((candidate) => candidate.token === token);
    if (!template) {
      throw new UnsupportedCameraError(
        `the camera has no template ${token} (it offers ${templates.map((candidate) => candidate.token).join(', ')}); ` +
          `it cannot send ${what} over ${plan.scheme.toUpperCase()} this way with this firmware`,
      );
    }
    found[kind] = template;
  }
  return found;
}

/** What an action sends, in words: `up to 1 image(s)`, `clip from 3 s before to 7 s after the event`. */
export function describeSending(templateToken: string, parameters: Record<string, string>): string {
  const duration = (name: string): string => {
    const value = parameters[name];
    return value !== undefined && /^\d+$/.test(value) ? describeDurationMs(Number(value)) : `${JSON.stringify(value ?? '')} ms`;
  };
  if (templateToken.includes('.send_videoclip.')) {
    return templateToken.includes('.unlimited.')
      ? `clip from ${duration('pre_duration')} before the event while it lasts until ${duration('post_duration')} after it ends`
      : `clip from ${duration('pre_duration')} before to ${duration('post_duration')} after the event`;
  }
  if (templateToken.includes('.send_images.')) return `up to ${parameters.max_images ?? '?'} image(s)`;
  return templateToken;
}

/** How a setup looks on the camera, as {@link cameraSetupStatus} finds it. */
export interface CameraSetupStatus {
  configurationName: string;
  /** `configured`: everything present and consistent; `absent`: nothing; `inconsistent`: anything else. */
  state: 'configured' | 'absent' | 'inconsistent';
  /** What is wrong, in words; empty when configured. */
  problems: string[];
  /**
   * The rule: enabled or not, and what starts it: `pulse`, or the event as `--on` takes it,
   * `on …` for a start event, `while …` for a condition.
   */
  rule?: { id: string; enabled: boolean; trigger: string };
  schedule?: { id: string; description: string };
  recipient?: { id: string; url: string };
  action?: {
    id: string;
    templateToken: string;
    /** Where it sends, see {@link destinationOf}. */
    url: string;
    /** What it sends, see {@link describeSending}. */
    sends: string;
    maxImages: string;
    filename: string;
    /**
     * `present (abc…)`, `missing`, or `not shown by the camera`; never the token itself. For SFTP
     * and FTP the password's (the token): `not shown by the camera` also when it is empty, as a
     * camera may keep passwords to itself.
     */
    token: string;
    /** SFTP and FTP: the user it logs in as. */
    login?: string;
    /** SFTP: the host key fingerprint it pins, `MD5 aa:bb:…` or `SHA256:…` (see {@link describeFingerprint}). */
    hostKey?: string;
  };
  /** Names of other images-to-s3 setups on the same camera (other `--name`s). */
  otherSetups: string[];
}

/**
 * Reads the camera and reports the setup named after `name`: the rule (whether it is enabled,
 * what starts it), the schedule's interval for a pulse, the recipient URL, what the action sends,
 * whether a token is present (masked), and every inconsistency between the parts.
 */
export async function cameraSetupStatus(vapix: VapixClient, name?: string, onStep: StepListener = () => {}): Promise<CameraSetupStatus> {
  const configurationName = configurationNameFor(name);
  onStep('reading the camera\'s event configuration');
  const configuration = await readStep('reading the camera\'s event configuration', () => readCameraConfiguration(vapix));
  const objects = setupObjectsNamed(configuration, configurationName);
  const otherSetups = [
    ...new Set(
      [...configuration.rules, ...configuration.actions, ...configuration.schedules, ...configuration.recipients]
        .map((item) => item.name)
        .filter((itemName) => itemName !== configurationName && (itemName === SETUP_NAME_PREFIX || itemName.startsWith(`${SETUP_NAME_PREFIX} `))),
    ),
  ].sort();
  return { configurationName, otherSetups, ...describeSetup(objects, configuration.schedules) };
}

async function readStep<T>(step: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw new CameraStepError(step, asError(error));
  }
}

/** What starts a rule, in words (see {@link CameraSetupStatus.rule}); `ownPulse` when the setup's own schedule does. */
function describeTrigger(rule: StoredActionRule, ownPulse: boolean): string {
  if (ownPulse && rule.conditions.length === 0) return 'pulse';
  const parts = [
    ...(rule.startEvent ? [`on ${describeEventFilter(rule.startEvent)}`] : []),
    ...(rule.conditions.length > 0 ? [`while ${rule.conditions.map(describeEventFilter).join(' and ')}`] : []),
  ];
  return parts.length > 0 ? parts.join(' ') : 'nothing';
}

const SENDING_TEMPLATES: readonly string[] = [
  ...Object.values(SEND_IMAGES_TEMPLATES),
  ...Object.values(SEND_VIDEOCLIP_TEMPLATES).flatMap((byScheme) => Object.values(byScheme)),
];

/**
 * The consistency check behind {@link cameraSetupStatus}. Pure. `allSchedules` (the camera's,
 * whatever their names) tells a rule on another schedule's pulse (`--on` that pulse) from a
 * setup whose own schedule is missing.
 */
export function describeSetup(objects: SetupObjects, allSchedules: readonly StoredScheduledEvent[] = objects.schedules): Omit<CameraSetupStatus, 'configurationName' | 'otherSetups'> {
  const { rules, actions, schedules, recipients } = objects;
  if (rules.length + actions.length + schedules.length + recipients.length === 0) return { state: 'absent', problems: [] };

  const problems: string[] = [];
  const one = <T>(items: T[], what: string): T | undefined => {
    if (items.length === 0) problems.push(`no ${what}`);
    if (items.length > 1) problems.push(`${items.length} ${what}s with this name (expected one)`);
    return items[0];
  };
  const rule = one(rules, 'rule');
  const action = one(actions, actions[0] ? actionLabel(actions[0].templateToken) : 'send-images or send-clip action');
  const onPulse = rule?.startEvent?.resolvedTopic === PULSE_TOPIC_RESOLVED;
  const otherSchedulesPulse = onPulse && schedules.length === 0 && allSchedules.some((candidate) => candidate.id === eventIdInMessageContent(rule?.startEvent?.messageContent));
  // Started by the setup's own pulse schedule; without a rule, a schedule of this name says so.
  const pulseStarted = rule ? onPulse && !otherSchedulesPulse : schedules.length > 0;
  const schedule = pulseStarted ? one(schedules, 'pulse schedule') : undefined;
  const recipient = one(recipients, 'recipient');
  const status: Omit<CameraSetupStatus, 'configurationName' | 'otherSetups'> = { state: 'configured', problems };

  if (rule) {
    status.rule = { id: rule.id, enabled: rule.enabled, trigger: describeTrigger(rule, pulseStarted) };
    if (!rule.enabled) problems.push(`rule ${rule.id} is disabled`);
    if (action && rule.primaryAction !== action.id) problems.push(`rule ${rule.id} runs action ${rule.primaryAction}, not ${actionLabel(action.templateToken)} ${action.id}`);
    if (!rule.startEvent && rule.conditions.length === 0) problems.push(`rule ${rule.id} has neither a start event nor a condition`);
    if (pulseStarted) {
      const eventId = eventIdInMessageContent(rule.startEvent?.messageContent);
      if (schedule && eventId !== schedule.id) problems.push(`rule ${rule.id} waits for the pulse of schedule ${eventId ?? '(none)'}, not schedule ${schedule.id}`);
    } else {
      for (const leftOver of schedules) problems.push(`schedule ${leftOver.id} is left over: rule ${rule.id} is not started by a pulse`);
    }
  }
  if (schedule) {
    const read = readICalendar(schedule.icalendar);
    status.schedule = { id: schedule.id, description: read.pulse ? describePulseInterval(read.pulse) : schedule.icalendar.replace(/\s+/g, ' ') };
    if (read.hasEnd) problems.push(`schedule ${schedule.id} has an end time, so it is an interval, not a pulse`);
    else if (!read.pulse) problems.push(`schedule ${schedule.id} has a recurrence this tool does not set (${status.schedule.description})`);
  }
  if (recipient) status.recipient = { id: recipient.id, url: destinationOf(recipient.templateToken, recipient.parameters) };
  if (action) {
    const url = destinationOf(action.templateToken, action.parameters);
    const protocol = protocolOfTemplate(action.templateToken);
    status.action = {
      id: action.id,
      templateToken: action.templateToken,
      url,
      sends: describeSending(action.templateToken, action.parameters),
      maxImages: action.parameters.max_images ?? '',
      filename: action.parameters.filename ?? '',
      token: '',
    };
    if (!SENDING_TEMPLATES.includes(action.templateToken)) problems.push(`action ${action.id} is a ${action.templateToken}, not a send-images or send-clip action`);
    else if (!isFileProtocol(protocol) && !action.templateToken.endsWith(`.${url.split(':')[0] ?? ''}`)) problems.push(`action ${action.id} uses ${action.templateToken} for ${url}`);
    if (action.templateToken.includes('.unlimited.') && rule && rule.conditions.length === 0) {
      problems.push(`rule ${rule.id} has no condition, which the unlimited action ${action.id} needs to end`);
    }
    if (isFileProtocol(protocol)) {
      describeFileAction(action, protocol, status.action, problems);
    } else {
      const customParams = action.parameters.custom_params;
      const token = customParams === undefined ? undefined : new URLSearchParams(customParams).get('accessToken');
      status.action.token = customParams === undefined ? 'not shown by the camera' : token ? `present (${maskSecret(token)})` : 'missing';
      if (customParams !== undefined && !token) problems.push(`action ${action.id} sends no accessToken (custom parameters: ${JSON.stringify(customParams)})`);
    }
    if (recipient && status.recipient && url !== status.recipient.url) problems.push(`action ${action.id} sends to ${url}, but recipient ${recipient.id} says ${status.recipient.url}`);
  }
  if (problems.length > 0) status.state = 'inconsistent';
  return status;
}

/**
 * The user, password (masked) and, for SFTP, the host key of an SFTP or FTP action, with what
 * would keep it from reaching the receiver: public-key authentication (`ssh_auth_type` other than
 * 2, which fails with a misleading error), no fingerprint to pin, active FTP (which the receiver
 * refuses).
 */
function describeFileAction(action: StoredConfiguration, protocol: FileProtocol, described: NonNullable<CameraSetupStatus['action']>, problems: string[]): void {
  const { login, password } = action.parameters;
  described.token = password === undefined || password === '' ? 'not shown by the camera' : `present (${maskSecret(password)})`;
  if (login !== undefined) described.login = login;
  if (login === '') problems.push(`action ${action.id} logs in without a user name (it must be the camera's name)`);
  if (protocol === 'sftp') {
    const md5 = action.parameters[MD5_FINGERPRINT_PARAMETER] ?? '';
    const sha256 = action.parameters[SHA256_FINGERPRINT_PARAMETER] ?? '';
    described.hostKey = describeFingerprint({ md5, sha256 });
    if (md5 === '' && sha256 === '') problems.push(`action ${action.id} pins no host key fingerprint (${MD5_FINGERPRINT_PARAMETER} and ${SHA256_FINGERPRINT_PARAMETER} are empty)`);
    const authType = action.parameters.ssh_auth_type;
    if (authType !== undefined && authType !== SSH_PASSWORD_AUTHENTICATION) {
      problems.push(`action ${action.id} has ssh_auth_type=${JSON.stringify(authType)}, not ${SSH_PASSWORD_AUTHENTICATION} (password): the camera never sends the password and reports a misleading error`);
    }
  } else if (action.parameters.passive !== undefined && action.parameters.passive !== '1') {
    problems.push(`action ${action.id} uses active FTP (passive=${JSON.stringify(action.parameters.passive)}), which the receiver refuses`);
  }
}

/** What {@link removeCameraSetup} removed. */
export interface CameraRemoveResult {
  configurationName: string;
  /** E.g. `['rule 9', 'send-images action 8', 'schedule 7', 'recipient 6']`; empty when there was nothing. */
  removed: string[];
}

/**
 * Removes the setup named after `name`: rules, actions, schedules, recipients, in that order.
 * Nothing else is touched. Removing what is not there is not an error.
 *
 * @throws {@link CameraStepError} naming the part that could not be removed (and what was).
 */
export async function removeCameraSetup(vapix: VapixClient, name?: string, onStep: StepListener = () => {}): Promise<CameraRemoveResult> {
  const configurationName = configurationNameFor(name);
  onStep('reading the camera\'s event configuration');
  const configuration = await readStep('reading the camera\'s event configuration', () => readCameraConfiguration(vapix));
  const removed: string[] = [];
  for (const item of teardownOrder(vapix, setupObjectsNamed(configuration, configurationName))) {
    const step = `removing ${item.what}`;
    onStep(step);
    try {
      await item.remove();
      removed.push(item.what);
    } catch (error) {
      throw new CameraStepError(step, asError(error), removed.length > 0 ? `; already removed: ${removed.join(', ')}` : '');
    }
  }
  return { configurationName, removed };
}
