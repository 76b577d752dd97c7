/**
 * Sets a camera up to send images to the receiver, shows that setup, and removes it again:
 * the recipient, the pulse schedule, the "send images" action and the rule of AXIS.md §2,
 * created over VAPIX in that order and removed in the reverse one.
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
import { CameraSetupError, CameraStepError, maskSecret, SoapFaultError, UnsupportedCameraError } from './errors.js';
import type { RollbackReport } from './errors.js';
import { DEFAULT_PULSE, describePulseInterval, pulseICalendar, readICalendar } from './pulse.js';
import type { PulseInterval } from './pulse.js';
import { CONCRETE_TOPIC_DIALECT, ITEM_FILTER_DIALECT } from './services.js';
import type {
  ActionRuleInput,
  ConfigurationInput,
  ScheduledEventInput,
  StoredActionRule,
  StoredConfiguration,
  StoredScheduledEvent,
  VapixClient,
} from './services.js';
import { TNS1_NS, TNSAXIS_NS } from './soap.js';
import { configurationNameFor, SETUP_NAME_PREFIX } from './setup-name.js';

/** Recipient templates by URL scheme. */
export const RECIPIENT_TEMPLATES = { http: 'com.axis.recipient.http', https: 'com.axis.recipient.https' } as const;

/** "Send images" action templates (fixed action: a pre/post window per event) by URL scheme. */
export const SEND_IMAGES_TEMPLATES = {
  http: 'com.axis.action.fixed.send_images.http',
  https: 'com.axis.action.fixed.send_images.https',
} as const;

/** The topic of the camera's pulse schedules, as sent. */
export const PULSE_TOPIC = 'tns1:UserAlarm/tnsaxis:Recurring/Pulse';

/** {@link PULSE_TOPIC} with its prefixes resolved, as answers are compared. */
export const PULSE_TOPIC_RESOLVED = `{${TNS1_NS}}UserAlarm/{${TNSAXIS_NS}}Recurring/Pulse`;

/** Stream options of the send-images action: JPEG snapshots from video source 1, no audio. */
export const DEFAULT_STREAM_OPTIONS = '&videocodec=jpeg&audio=0&camera=1';

/** Post-trigger window of the action in ms; Axis' own setup script uses 3 s with 1 image. */
export const DEFAULT_POST_DURATION_MS = 3000;

/** What `camera setup` configures. */
export interface CameraSetupOptions {
  /** Distinguishes this setup from others on the same camera; a camera name (see {@link CAMERA_NAME_RULE}). */
  name?: string;
  /** The receiver's URL (`http:` or `https:`), e.g. the seed's `Recipient` output. */
  recipient: string;
  /** The access token, sent as `accessToken=<token>` with every image. */
  token: string;
  /** How often to send an image; every minute unless told otherwise. */
  every?: PulseInterval;
  /** The camera's filename pattern; {@link AXIS_DEFAULT_FILENAME_PATTERN} unless told otherwise. */
  filename?: string;
  /** Images per pulse; 1 unless told otherwise. */
  maxImages?: number;
  /** Whether the camera checks the receiver's certificate (`validate_server_cert`); true unless told otherwise. */
  validateRecipientCertificate?: boolean;
}

/** Invalid {@link CameraSetupOptions}: nothing was sent to the camera. */
export class InvalidSetupOptionError extends Error {
  override readonly name = 'InvalidSetupOptionError';
}

/** The four things a setup adds, ready to send. */
export interface SetupPlan {
  /** The name all four carry. */
  configurationName: string;
  scheme: 'http' | 'https';
  recipient: ConfigurationInput;
  schedule: ScheduledEventInput;
  action: ConfigurationInput;
  /** The rule, once the schedule's event ID and the action's configuration ID are known. */
  rule(eventId: string, actionId: string): ActionRuleInput;
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
  return `boolean(//SimpleItem[@Name="id" and @Value="${eventId}"])`;
}

/** The scheduled-event ID an ItemFilter selects, whichever order and quotes it uses. */
export function eventIdInMessageContent(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const forward = /@Name\s*=\s*["']id["']\s+and\s+@Value\s*=\s*["']([^"']*)["']/.exec(text);
  const backward = /@Value\s*=\s*["']([^"']*)["']\s+and\s+@Name\s*=\s*["']id["']/.exec(text);
  return forward?.[1] ?? backward?.[1];
}

/**
 * Checks the options and builds what setup sends. Pure: no I/O.
 *
 * @throws {@link InvalidSetupOptionError} with a message naming the option.
 */
export function planCameraSetup(options: CameraSetupOptions): SetupPlan {
  if (options.name !== undefined && !isValidCameraName(options.name)) {
    throw new InvalidSetupOptionError(`--name ${JSON.stringify(options.name)}: ${CAMERA_NAME_RULE}`);
  }
  let recipient: URL;
  try {
    recipient = new URL(options.recipient);
  } catch {
    throw new InvalidSetupOptionError(`--recipient ${JSON.stringify(options.recipient)} is not a URL; use the receiver's http(s)://… address`);
  }
  if (recipient.protocol !== 'http:' && recipient.protocol !== 'https:') {
    throw new InvalidSetupOptionError(`--recipient must be an http:// or https:// URL, not ${recipient.protocol}`);
  }
  if (recipient.username !== '' || recipient.password !== '') {
    throw new InvalidSetupOptionError('--recipient must not contain a user or password; the camera authenticates with the access token');
  }
  if ([...recipient.searchParams.keys()].some((key) => key.toLowerCase() === 'accesstoken')) {
    throw new InvalidSetupOptionError(
      '--recipient must not carry accessToken: the camera appends the token itself (custom parameters), and a receiver refuses a request with two',
    );
  }
  if (!isValidRegisteredToken(options.token)) throw new InvalidSetupOptionError(`the access token is not usable: ${TOKEN_RULE}`);
  const filename = options.filename ?? AXIS_DEFAULT_FILENAME_PATTERN;
  if (filename.trim() === '') throw new InvalidSetupOptionError('--filename must not be empty');
  const maxImages = options.maxImages ?? 1;
  if (!Number.isSafeInteger(maxImages) || maxImages < 1) throw new InvalidSetupOptionError('--max-images must be a whole number of at least 1');

  const scheme = recipient.protocol === 'https:' ? 'https' : 'http';
  const configurationName = configurationNameFor(options.name);
  const validate = (options.validateRecipientCertificate ?? true) ? '1' : '0';
  // The recipient's parameters, in the order Axis documents them; repeated in the action.
  const recipientParameters: Record<string, string> = {
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
  const every = options.every ?? DEFAULT_PULSE;
  return {
    configurationName,
    scheme,
    recipient: { name: configurationName, templateToken: RECIPIENT_TEMPLATES[scheme], parameters: recipientParameters },
    schedule: { name: configurationName, icalendar: pulseICalendar(every) },
    action: {
      name: configurationName,
      templateToken: SEND_IMAGES_TEMPLATES[scheme],
      parameters: {
        stream_options: DEFAULT_STREAM_OPTIONS,
        pre_duration: '0',
        post_duration: String(DEFAULT_POST_DURATION_MS),
        max_images: String(maxImages),
        create_folder: '',
        filename,
        max_sequence_number: '0',
        custom_params: `accessToken=${options.token}`,
        ...recipientParameters,
      },
    },
    rule: (eventId, actionId) => ({
      name: configurationName,
      enabled: true,
      startEvent: {
        topicExpression: PULSE_TOPIC,
        topicDialect: CONCRETE_TOPIC_DIALECT,
        messageContent: pulseMessageContent(eventId),
        messageContentDialect: ITEM_FILTER_DIALECT,
      },
      primaryAction: actionId,
    }),
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
    ...objects.actions.map((action) => ({ what: `send-images action ${action.id}`, remove: () => vapix.removeActionConfiguration(action.id) })),
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
  recipient: { id: string; url: string };
  schedule: { id: string; every: PulseInterval };
  action: { id: string; templateToken: string };
  rule: { id: string };
  /** The previous setup of the same name that was replaced, e.g. `['rule 4', 'schedule 2']`. */
  replaced: string[];
}

/**
 * Configures the camera: checks it supports the templates, adds the recipient, the pulse
 * schedule, the send-images action and the rule (in that order), then removes what a
 * previous run with the same name had created.
 *
 * New before old, because VAPIX has no update and no transaction: should any step fail,
 * what this run added is removed again and the previous setup is still there, working; the
 * camera is as it was. Only once the new setup is complete is the old one removed.
 *
 * @throws {@link InvalidSetupOptionError} before anything is sent;
 *   {@link CameraSetupError} when a step fails (after the rollback, which it reports);
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
  let ids: { recipient: string; schedule: string; action: string; rule: string };
  try {
    await run('checking the camera supports the templates', () => checkTemplates(vapix, plan));
    previous = setupObjectsNamed(await run('reading the camera\'s event configuration', () => readCameraConfiguration(vapix)), plan.configurationName);

    const recipient = await run('adding the recipient', () => vapix.addRecipientConfiguration(plan.recipient));
    created.push({ what: `recipient ${recipient}`, remove: () => vapix.removeRecipientConfiguration(recipient) });
    const schedule = await run('adding the pulse schedule', () => vapix.addScheduledEvent(plan.schedule));
    created.push({ what: `schedule ${schedule}`, remove: () => vapix.removeScheduledEvent(schedule) });
    const action = await run('adding the send-images action', () => vapix.addActionConfiguration(plan.action));
    created.push({ what: `send-images action ${action}`, remove: () => vapix.removeActionConfiguration(action) });
    const rule = await run('adding the rule', () => vapix.addActionRule(plan.rule(schedule, action)));
    created.push({ what: `rule ${rule}`, remove: () => vapix.removeActionRule(rule) });
    ids = { recipient, schedule, action, rule };
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
        `; the new setup (rule ${ids.rule}) is in place and working, but the previous one may still send images too` +
          (replaced.length > 0 ? ` (already removed: ${replaced.join(', ')})` : '') +
          '; run the same `camera setup` again, or remove it in the camera\'s web interface',
      );
    }
  }

  return {
    configurationName: plan.configurationName,
    recipient: { id: ids.recipient, url: plan.recipient.parameters.upload_url ?? '' },
    schedule: { id: ids.schedule, every: options.every ?? DEFAULT_PULSE },
    action: { id: ids.action, templateToken: plan.action.templateToken },
    rule: { id: ids.rule },
    replaced,
  };
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
 * Fails early, before anything is added, when the camera lists its templates and the ones
 * setup needs are not among them. A camera that answers the template queries with a fault,
 * or with a shape that lists no tokens at all, is given the benefit of the doubt.
 */
async function checkTemplates(vapix: VapixClient, plan: SetupPlan): Promise<void> {
  const wanted = [
    { token: plan.recipient.templateToken, list: () => vapix.getRecipientTemplates() },
    { token: plan.action.templateToken, list: () => vapix.getActionTemplates() },
  ];
  for (const { token, list } of wanted) {
    let templates;
    try {
      templates = await list();
    } catch (error) {
      if (error instanceof SoapFaultError) continue;
      throw error;
    }
    if (templates.length > 0 && !templates.some((template) => template.token === token)) {
      throw new UnsupportedCameraError(
        `the camera has no template ${token} (it offers ${templates.map((template) => template.token).join(', ')}); ` +
          `it cannot send images over ${plan.scheme.toUpperCase()} with this firmware`,
      );
    }
  }
}

/** How a setup looks on the camera, as {@link cameraSetupStatus} finds it. */
export interface CameraSetupStatus {
  configurationName: string;
  /** `configured`: all four present and consistent; `absent`: none of them; `inconsistent`: anything else. */
  state: 'configured' | 'absent' | 'inconsistent';
  /** What is wrong, in words; empty when configured. */
  problems: string[];
  rule?: { id: string; enabled: boolean };
  schedule?: { id: string; description: string };
  recipient?: { id: string; url: string };
  action?: {
    id: string;
    templateToken: string;
    url: string;
    maxImages: string;
    filename: string;
    /** `present (abc…)`, `missing`, or `not shown by the camera`; never the token itself. */
    token: string;
  };
  /** Names of other images-to-s3 setups on the same camera (other `--name`s). */
  otherSetups: string[];
}

/**
 * Reads the camera and reports the setup named after `name`: rule (and whether it is
 * enabled), schedule interval, recipient URL, whether a token is present (masked), and every
 * inconsistency between the four parts.
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
  return { configurationName, otherSetups, ...describeSetup(objects) };
}

async function readStep<T>(step: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw new CameraStepError(step, asError(error));
  }
}

/** The consistency check behind {@link cameraSetupStatus}. Pure. */
export function describeSetup(objects: SetupObjects): Omit<CameraSetupStatus, 'configurationName' | 'otherSetups'> {
  const { rules, actions, schedules, recipients } = objects;
  if (rules.length + actions.length + schedules.length + recipients.length === 0) return { state: 'absent', problems: [] };

  const problems: string[] = [];
  const one = <T>(items: T[], what: string): T | undefined => {
    if (items.length === 0) problems.push(`no ${what}`);
    if (items.length > 1) problems.push(`${items.length} ${what}s with this name (expected one)`);
    return items[0];
  };
  const rule = one(rules, 'rule');
  const action = one(actions, 'send-images action');
  const schedule = one(schedules, 'pulse schedule');
  const recipient = one(recipients, 'recipient');
  const status: Omit<CameraSetupStatus, 'configurationName' | 'otherSetups'> = { state: 'configured', problems };

  if (rule) {
    status.rule = { id: rule.id, enabled: rule.enabled };
    if (!rule.enabled) problems.push(`rule ${rule.id} is disabled`);
    if (action && rule.primaryAction !== action.id) problems.push(`rule ${rule.id} runs action ${rule.primaryAction}, not send-images action ${action.id}`);
    if (!rule.startEvent || rule.startEvent.resolvedTopic !== PULSE_TOPIC_RESOLVED) {
      problems.push(`rule ${rule.id} is not started by a pulse (${rule.startEvent?.topicExpression ?? 'no start event'})`);
    } else {
      const eventId = eventIdInMessageContent(rule.startEvent.messageContent);
      if (schedule && eventId !== schedule.id) problems.push(`rule ${rule.id} waits for the pulse of schedule ${eventId ?? '(none)'}, not schedule ${schedule.id}`);
    }
  }
  if (schedule) {
    const read = readICalendar(schedule.icalendar);
    status.schedule = { id: schedule.id, description: read.pulse ? describePulseInterval(read.pulse) : schedule.icalendar.replace(/\s+/g, ' ') };
    if (read.hasEnd) problems.push(`schedule ${schedule.id} has an end time, so it is an interval, not a pulse`);
    else if (!read.pulse) problems.push(`schedule ${schedule.id} has a recurrence this tool does not set (${status.schedule.description})`);
  }
  if (recipient) status.recipient = { id: recipient.id, url: recipient.parameters.upload_url ?? '' };
  if (action) {
    const url = action.parameters.upload_url ?? '';
    const customParams = action.parameters.custom_params;
    const token = customParams === undefined ? undefined : new URLSearchParams(customParams).get('accessToken');
    status.action = {
      id: action.id,
      templateToken: action.templateToken,
      url,
      maxImages: action.parameters.max_images ?? '',
      filename: action.parameters.filename ?? '',
      token: customParams === undefined ? 'not shown by the camera' : token ? `present (${maskSecret(token)})` : 'missing',
    };
    const expectedTemplates: string[] = Object.values(SEND_IMAGES_TEMPLATES);
    if (!expectedTemplates.includes(action.templateToken)) problems.push(`action ${action.id} is a ${action.templateToken}, not a send-images action`);
    else if (!action.templateToken.endsWith(`.${url.split(':')[0] ?? ''}`)) problems.push(`action ${action.id} uses ${action.templateToken} for ${url}`);
    if (customParams !== undefined && !token) problems.push(`action ${action.id} sends no accessToken (custom parameters: ${JSON.stringify(customParams)})`);
    if (recipient && status.recipient && url !== status.recipient.url) problems.push(`action ${action.id} sends to ${url}, but recipient ${recipient.id} says ${status.recipient.url}`);
  }
  if (problems.length > 0) status.state = 'inconsistent';
  return status;
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
