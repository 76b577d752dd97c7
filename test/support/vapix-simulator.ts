/**
 * A simulated Axis camera's VAPIX web services (action1 and event1), for tests: a real HTTP(S)
 * server on 127.0.0.1 that
 *
 * - enforces HTTP Digest authentication (RFC 7616; its own verifier, independent of src/),
 *   with nonce counts that must increase, nonces that expire (with or without `stale=true`),
 *   and 401 for wrong credentials; or Basic, when told to;
 * - validates every SOAP request strictly: SOAP 1.2 envelope, namespaces by URI (any prefix),
 *   exactly the elements each operation has, known template tokens, every parameter of the
 *   template present and no other, values of the right form, references to existing IDs;
 * - offers events as a real camera does: `GetEventInstances` answers a `wstop:TopicSet` topic
 *   tree ({@link SIMULATED_EVENT_TOPICS}: motion alarm, VMD 4 profiles, object analytics
 *   scenarios, input ports, tampering, storage disruption, the schedules), and a rule's start
 *   event and conditions must name one of them: prefixes declared, the topic offered, an ItemFilter
 *   on items it has with values it lists; a condition must be one stateful event (VAPIX: "If the
 *   provided filter does not match any stateful events or matches multiple stateful events, the
 *   AddActionRule request will fail"), and an unlimited action needs a condition;
 * - keeps state (recipients, schedules, actions, rules) and answers like a device: `aa:`/`aev:`
 *   prefixed responses (configurable, to prove clients parse by namespace), SOAP 1.2 faults
 *   with HTTP 400;
 * - fails on demand: a fault, an HTTP error, a dropped connection, for the next call of an
 *   operation.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

import { DOMImplementation, DOMParser, XMLSerializer } from '@xmldom/xmldom';
import type { Document as XmlDocument, Element as XmlElement } from '@xmldom/xmldom';

const SOAP12 = 'http://www.w3.org/2003/05/soap-envelope';
const AA = 'http://www.axis.com/vapix/ws/action1';
const AEV = 'http://www.axis.com/vapix/ws/event1';
const WSNT = 'http://docs.oasis-open.org/wsn/b-2';
const TNS1 = 'http://www.onvif.org/ver10/topics';
const TNSAXIS = 'http://www.axis.com/2009/event/topics';
const WSTOP = 'http://docs.oasis-open.org/wsn/t-1';
const XMLNS = 'http://www.w3.org/2000/xmlns/';
const ICAL_DIALECT = 'http://www.axis.com/vapix/ws/ical1';
const TOPIC_DIALECTS = ['http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete', 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet'];
const ITEM_FILTER_DIALECT = 'http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter';
const PULSE_TOPIC = `{${TNS1}}UserAlarm/{${TNSAXIS}}Recurring/Pulse`;

type Algorithm = 'MD5' | 'SHA-256' | 'SHA-512-256';
const NODE_HASH: Record<Algorithm, string> = { MD5: 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };

const HTTP_RECIPIENT = ['upload_url', 'login', 'password', 'proxy_host', 'proxy_port', 'proxy_login', 'proxy_password', 'qos'];
/** VAPIX's FTP recipient (`temporary` since AXIS OS 5.70); no TLS setting is documented. */
export const FTP_RECIPIENT = ['host', 'upload_path', 'port', 'login', 'password', 'passive', 'temporary', 'qos'];
/**
 * VAPIX's SFTP recipient: one of the two fingerprints is required; `ssh_auth_type` 1 (public key)
 * and the key fields are documented as not supported, `temporary` too.
 */
export const SFTP_RECIPIENT = [
  'host',
  'upload_path',
  'port',
  'login',
  'password',
  'ssh_host_pub_key_md5',
  'ssh_host_pub_key_sha256',
  'ssh_auth_type',
  'ssh_public_key',
  'ssh_private_key',
  'ssh_private_key_passphrase',
  'temporary',
  'qos',
];
const SEND_IMAGES = ['stream_options', 'pre_duration', 'post_duration', 'max_images', 'create_folder', 'filename', 'max_sequence_number', 'custom_params'];
/** The HTTP(S) send video clip action's parameters, as VAPIX lists them (`max_file_size`, `max_duration`: "Not supported. Use empty string."). */
const SEND_VIDEOCLIP = ['stream_options', 'pre_duration', 'post_duration', 'create_folder', 'filename', 'max_file_size', 'max_duration', 'custom_params'];
/**
 * The file protocols' actions have no `custom_params` ("HTTP and HTTPS recipients: Additional CGI
 * arguments"); a real `unlimited.send_videoclip.sftp` configuration published with its parameters
 * (AXIS OS 10.12–12.11) lists exactly the clip's others plus the recipient's.
 */
const FILE_SEND_IMAGES = SEND_IMAGES.filter((name) => name !== 'custom_params');
const FILE_SEND_VIDEOCLIP = SEND_VIDEOCLIP.filter((name) => name !== 'custom_params');

/** A template of the simulated firmware. */
export interface SimulatedTemplate {
  token: string;
  parameters: string[];
  /** For action templates: the recipient template whose parameters the action repeats. */
  recipientTemplate?: string;
}

/** Recipient templates of the simulated firmware. */
export const SIMULATED_RECIPIENT_TEMPLATES: SimulatedTemplate[] = [
  { token: 'com.axis.recipient.http', parameters: HTTP_RECIPIENT },
  { token: 'com.axis.recipient.https', parameters: [...HTTP_RECIPIENT, 'validate_server_cert'] },
  { token: 'com.axis.recipient.ftp', parameters: FTP_RECIPIENT },
  { token: 'com.axis.recipient.sftp', parameters: SFTP_RECIPIENT },
];

/** Action templates of the simulated firmware. */
export const SIMULATED_ACTION_TEMPLATES: SimulatedTemplate[] = [
  { token: 'com.axis.action.fixed.send_images.http', parameters: SEND_IMAGES, recipientTemplate: 'com.axis.recipient.http' },
  { token: 'com.axis.action.fixed.send_images.https', parameters: SEND_IMAGES, recipientTemplate: 'com.axis.recipient.https' },
  { token: 'com.axis.action.fixed.send_videoclip.http', parameters: SEND_VIDEOCLIP, recipientTemplate: 'com.axis.recipient.http' },
  { token: 'com.axis.action.fixed.send_videoclip.https', parameters: SEND_VIDEOCLIP, recipientTemplate: 'com.axis.recipient.https' },
  { token: 'com.axis.action.unlimited.send_videoclip.http', parameters: SEND_VIDEOCLIP, recipientTemplate: 'com.axis.recipient.http' },
  { token: 'com.axis.action.unlimited.send_videoclip.https', parameters: SEND_VIDEOCLIP, recipientTemplate: 'com.axis.recipient.https' },
  ...(['ftp', 'sftp'] as const).flatMap((protocol) => [
    { token: `com.axis.action.fixed.send_images.${protocol}`, parameters: FILE_SEND_IMAGES, recipientTemplate: `com.axis.recipient.${protocol}` },
    { token: `com.axis.action.fixed.send_videoclip.${protocol}`, parameters: FILE_SEND_VIDEOCLIP, recipientTemplate: `com.axis.recipient.${protocol}` },
    { token: `com.axis.action.unlimited.send_videoclip.${protocol}`, parameters: FILE_SEND_VIDEOCLIP, recipientTemplate: `com.axis.recipient.${protocol}` },
  ]),
  { token: 'com.axis.action.fixed.notification.http', parameters: ['message', 'parameters'], recipientTemplate: 'com.axis.recipient.http' },
];

/** A value an event item can take, with the camera's human name for it. */
export type SimulatedEventValue = string | { value: string; niceName: string };

/** An item of an event (`aev:SimpleItemInstance`). */
export interface SimulatedEventItem {
  name: string;
  type: string;
  niceName?: string;
  /** The values listed; the schedules' IDs for the recurring events, which change as schedules are added. */
  values?: SimulatedEventValue[] | 'pulse schedules' | 'interval schedules';
  /** The state of a stateful event (`isPropertyState="true"`). */
  state?: boolean;
}

/** A level of the topic tree: qualified (`tns1`, `tnsaxis`, another namespace) or not (a child topic), an event where `event` is set. */
export interface SimulatedTopic {
  ns?: 'tns1' | 'tnsaxis' | { prefix: string; uri: string };
  name: string;
  niceName?: string;
  event?: { stateful: boolean; source?: SimulatedEventItem[]; data?: SimulatedEventItem[] };
  children?: SimulatedTopic[];
}

const active = (name: string, niceName?: string): SimulatedEventItem => ({ name, type: 'xsd:boolean', state: true, ...(niceName !== undefined && { niceName }) });

/**
 * The events of the simulated camera: the shape and names of a real AXIS OS topic tree
 * (VAPIX "Event declarations", and a device's `GetEventInstances` answer published in
 * Kane610/axis' tests), with a VMD 4 "any profile" and two profiles, two object analytics
 * scenarios, two input ports, two disks.
 */
export const SIMULATED_EVENT_TOPICS: SimulatedTopic[] = [
  {
    ns: 'tns1',
    name: 'VideoSource',
    niceName: 'Video source',
    children: [
      { name: 'MotionAlarm', event: { stateful: true, source: [{ name: 'Source', type: 'tt:ReferenceToken', values: ['0'] }], data: [active('State')] } },
      {
        ns: 'tnsaxis',
        name: 'Tampering',
        niceName: 'Camera tampering',
        event: {
          stateful: false,
          source: [{ name: 'channel', type: 'xsd:int', niceName: 'Channel', values: ['1'] }],
          data: [{ name: 'tampering', type: 'xsd:int', niceName: 'Tampering', values: ['1'] }],
        },
      },
      {
        ns: 'tnsaxis',
        name: 'DayNightVision',
        niceName: 'Day night vision',
        event: { stateful: true, source: [{ name: 'VideoSourceConfigurationToken', type: 'xsd:int', values: ['1'] }], data: [active('day', 'day')] },
      },
    ],
  },
  {
    ns: 'tnsaxis',
    name: 'CameraApplicationPlatform',
    children: [
      {
        name: 'VMD',
        niceName: 'Video Motion Detection',
        children: [
          { name: 'Camera1Profile1', niceName: 'VMD 4: Profile 1', event: { stateful: true, data: [active('active')] } },
          { name: 'Camera1ProfileANY', niceName: 'VMD 4: Any Profile', event: { stateful: true, data: [active('active')] } },
          { name: 'Camera1Profile2', niceName: 'VMD 4: Driveway', event: { stateful: true, data: [active('active')] } },
        ],
      },
      {
        name: 'ObjectAnalytics',
        niceName: 'Object Analytics',
        children: [
          { name: 'Device1Scenario1', niceName: 'Object Analytics: Scenario 1', event: { stateful: true, data: [active('active')] } },
          { name: 'Device1Scenario2', niceName: 'Object Analytics: Loading bay', event: { stateful: true, data: [active('active')] } },
        ],
      },
    ],
  },
  {
    ns: 'tns1',
    name: 'Device',
    niceName: 'Device',
    children: [
      {
        ns: 'tnsaxis',
        name: 'IO',
        niceName: 'Input ports',
        children: [
          {
            name: 'Port',
            niceName: 'Digital input',
            event: {
              stateful: true,
              source: [{ name: 'port', type: 'xsd:int', niceName: 'Port', values: [{ value: '1', niceName: 'Door contact' }, { value: '2', niceName: 'Gate' }] }],
              data: [active('state', 'Active')],
            },
          },
          {
            name: 'VirtualInput',
            niceName: 'Virtual input',
            event: { stateful: true, source: [{ name: 'port', type: 'xsd:int', niceName: 'Port number', values: ['1', '2', '3'] }], data: [active('active', 'Active')] },
          },
        ],
      },
      {
        name: 'Trigger',
        children: [{ name: 'DigitalInput', event: { stateful: true, source: [{ name: 'InputToken', type: 'tt:ReferenceToken', values: ['0', '1'] }], data: [active('LogicalState')] } }],
      },
    ],
  },
  {
    ns: 'tnsaxis',
    name: 'Storage',
    niceName: 'Storage',
    children: [
      {
        name: 'Disruption',
        niceName: 'Storage disruption',
        event: { stateful: true, source: [{ name: 'disk_id', type: 'xsd:string', niceName: 'Disk', values: ['SD_DISK', 'NetworkShare'] }], data: [active('disruption', 'Disruption')] },
      },
    ],
  },
  {
    ns: 'tns1',
    name: 'UserAlarm',
    children: [
      {
        ns: 'tnsaxis',
        name: 'Recurring',
        niceName: 'Schedule',
        children: [
          { name: 'Pulse', niceName: 'Recurring pulse', event: { stateful: false, source: [{ name: 'id', type: 'xsd:string', niceName: 'Schedule', values: 'pulse schedules' }] } },
          {
            name: 'Interval',
            niceName: 'Scheduled event',
            event: { stateful: true, source: [{ name: 'id', type: 'xsd:string', niceName: 'Schedule', values: 'interval schedules' }], data: [active('active', 'Active')] },
          },
        ],
      },
    ],
  },
];

/** An event as the rules check it: its items with their values resolved. */
interface OfferedEvent {
  stateful: boolean;
  source: { name: string; type: string; values: string[] }[];
  data: { name: string; type: string; values: string[] }[];
}

/** What the next call of an operation should do instead of succeeding. */
export type InjectedFailure =
  | { kind: 'fault'; subcode?: string; reason?: string; status?: number }
  | { kind: 'http'; status: number; body?: string }
  | { kind: 'disconnect' }
  /** Carry the operation out, then drop the connection: the client never learns the ID. */
  | { kind: 'disconnect-after-applying' };

/** A stored recipient or action configuration. */
export interface SimulatedConfiguration {
  id: string;
  name: string;
  templateToken: string;
  parameters: [string, string][];
}

/** A stored scheduled event. */
export interface SimulatedSchedule {
  id: string;
  name: string;
  icalendar: string;
}

/** A stored event filter, its topic resolved to namespace URIs. */
export interface SimulatedFilter {
  topic: string;
  topicDialect: string;
  messageContent?: string;
}

/** A stored action rule. */
export interface SimulatedRule {
  id: string;
  name: string;
  enabled: boolean;
  startEvent?: SimulatedFilter;
  conditions: SimulatedFilter[];
  primaryAction: string;
}

/** The device's whole event configuration. */
export interface SimulatedConfigurationState {
  recipients: SimulatedConfiguration[];
  schedules: SimulatedSchedule[];
  actions: SimulatedConfiguration[];
  rules: SimulatedRule[];
}

/** How the simulated camera behaves. */
export interface VapixSimulatorOptions {
  user?: string;
  password?: string;
  realm?: string;
  /** Digest algorithms offered, one challenge each, in this order (default SHA-256, then MD5). */
  algorithms?: Algorithm[];
  /** Offer Basic instead of Digest. */
  basic?: boolean;
  /** Offer `userhash=true` in the challenges. */
  userhash?: boolean;
  /** Report expired nonces with `stale=true` (default) or with a plain 401, as some firmware does. */
  staleFlag?: boolean;
  /** A nonce expires after this many authenticated requests. */
  nonceMaxUses?: number;
  /** Prefixes of the answers (default `SOAP-ENV`, `aa`, `aev`, `tns1`, `tnsaxis`). */
  prefixes?: Partial<Record<'soap' | 'action' | 'event' | 'tns1' | 'tnsaxis', string>>;
  /** Serve HTTPS with this key and certificate. */
  tls?: { key: Buffer; cert: Buffer };
  recipientTemplates?: SimulatedTemplate[];
  actionTemplates?: SimulatedTemplate[];
  /** The topic tree `GetEventInstances` answers (default {@link SIMULATED_EVENT_TOPICS}). */
  eventTopics?: SimulatedTopic[];
}

interface NonceState {
  algorithm: Algorithm;
  lastNc: number;
  uses: number;
  expired: boolean;
}

/** A fault the handler raises; becomes a SOAP Fault answer. */
class Fault extends Error {
  constructor(
    readonly subcode: string,
    reason: string,
    readonly code: 'Sender' | 'Receiver' = 'Sender',
    readonly status = 400,
  ) {
    super(reason);
  }
}

/** A simulated camera, listening until {@link VapixSimulator.close}. */
export class VapixSimulator {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url = '';
  /** Successfully authenticated operations, in order (failed and injected ones too). */
  readonly calls: string[] = [];
  /** The SOAP request of each of {@link calls}, as received. */
  readonly requests: { operation: string; body: string }[] = [];
  /** Every request's Authorization header (or undefined), in order. */
  readonly authorizations: (string | undefined)[] = [];
  /** 401 answers sent. */
  challenges = 0;

  readonly #options: Required<Omit<VapixSimulatorOptions, 'tls' | 'prefixes'>> & { prefixes: Record<string, string> };
  readonly #server: http.Server;
  readonly #nonces = new Map<string, NonceState>();
  readonly #failures = new Map<string, InjectedFailure[]>();
  #state: SimulatedConfigurationState = { recipients: [], schedules: [], actions: [], rules: [] };
  #nextId = { recipient: 1, schedule: 1, action: 1, rule: 1 };

  private constructor(options: VapixSimulatorOptions) {
    this.#options = {
      user: options.user ?? 'root',
      password: options.password ?? 'pass',
      realm: options.realm ?? 'AXIS_ACCC8E012345',
      algorithms: options.algorithms ?? ['SHA-256', 'MD5'],
      basic: options.basic ?? false,
      userhash: options.userhash ?? false,
      staleFlag: options.staleFlag ?? true,
      nonceMaxUses: options.nonceMaxUses ?? Number.POSITIVE_INFINITY,
      prefixes: { soap: 'SOAP-ENV', action: 'aa', event: 'aev', tns1: 'tns1', tnsaxis: 'tnsaxis', ...options.prefixes },
      recipientTemplates: options.recipientTemplates ?? SIMULATED_RECIPIENT_TEMPLATES,
      actionTemplates: options.actionTemplates ?? SIMULATED_ACTION_TEMPLATES,
      eventTopics: options.eventTopics ?? SIMULATED_EVENT_TOPICS,
    };
    const handler: http.RequestListener = (request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      });
    };
    this.#server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler) : http.createServer(handler);
  }

  /** Starts a simulated camera on 127.0.0.1 and an ephemeral port. */
  static async start(options: VapixSimulatorOptions = {}): Promise<VapixSimulator> {
    const simulator = new VapixSimulator(options);
    await new Promise<void>((resolve) => simulator.#server.listen(0, '127.0.0.1', resolve));
    const { port } = simulator.#server.address() as AddressInfo;
    simulator.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    return simulator;
  }

  /** Stops listening and drops open connections. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** A deep copy of the device's configuration, for comparisons. */
  configuration(): SimulatedConfigurationState {
    return structuredClone(this.#state);
  }

  /** Makes the next call of `operation` fail as described (queued: call again for more). */
  failNext(operation: string, failure: InjectedFailure): void {
    this.#failures.set(operation, [...(this.#failures.get(operation) ?? []), failure]);
  }

  /** Expires every nonce issued so far, as a device does after its nonce lifetime. */
  expireNonces(): void {
    for (const nonce of this.#nonces.values()) nonce.expired = true;
  }

  /** Adds configuration made by someone else (the web interface), to check it is left alone. */
  seed(add: {
    recipients?: Omit<SimulatedConfiguration, 'id'>[];
    schedules?: Omit<SimulatedSchedule, 'id'>[];
    actions?: Omit<SimulatedConfiguration, 'id'>[];
    rules?: Omit<SimulatedRule, 'id'>[];
  }): SimulatedConfigurationState {
    const added: SimulatedConfigurationState = { recipients: [], schedules: [], actions: [], rules: [] };
    for (const item of add.recipients ?? []) added.recipients.push(this.#store('recipient', this.#state.recipients, item));
    for (const item of add.schedules ?? []) added.schedules.push(this.#store('schedule', this.#state.schedules, item));
    for (const item of add.actions ?? []) added.actions.push(this.#store('action', this.#state.actions, item));
    for (const item of add.rules ?? []) added.rules.push(this.#store('rule', this.#state.rules, item));
    return added;
  }

  #store<T extends { id: string }>(kind: 'recipient' | 'schedule' | 'action' | 'rule', list: T[], item: Omit<T, 'id'>): T {
    const stored = { ...item, id: String(this.#nextId[kind]++) } as T;
    list.push(stored);
    return stored;
  }

  async #handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    this.authorizations.push(request.headers.authorization);

    if (!this.#authenticated(request, response)) return;
    if (request.method !== 'POST' || request.url !== '/vapix/services') {
      response.writeHead(404, { 'Content-Type': 'text/html' }).end('<html><body>404 Not Found</body></html>');
      return;
    }
    const contentType = request.headers['content-type'] ?? '';
    if (!/^(application\/soap\+xml|application\/xml|text\/xml)\s*(;|$)/i.test(contentType)) {
      response.writeHead(415, { 'Content-Type': 'text/plain' }).end('unsupported content type');
      return;
    }

    let operation: XmlElement;
    try {
      operation = this.#operationOf(body);
    } catch (error) {
      this.#sendFault(response, error instanceof Fault ? error : new Fault('ter:InvalidArgVal', String(error)));
      return;
    }
    const name = operation.localName ?? '';
    this.calls.push(name);
    this.requests.push({ operation: name, body });
    const failure = this.#failures.get(name)?.shift();
    if (failure?.kind === 'disconnect') {
      request.socket.destroy();
      return;
    }
    if (failure?.kind === 'fault') {
      this.#sendFault(response, new Fault(failure.subcode ?? 'aa:InjectedFault', failure.reason ?? `injected failure of ${name}`, 'Receiver', failure.status ?? 400));
      return;
    }
    if (failure?.kind === 'http') {
      response.writeHead(failure.status, { 'Content-Type': 'text/html' }).end(failure.body ?? `<html><body>${failure.status}</body></html>`);
      return;
    }
    try {
      const answer = this.#execute(operation);
      if (failure?.kind === 'disconnect-after-applying') {
        request.socket.destroy();
        return;
      }
      response.writeHead(200, { 'Content-Type': 'application/soap+xml; charset=utf-8' }).end(answer);
    } catch (error) {
      if (!(error instanceof Fault)) throw error;
      this.#sendFault(response, error);
    }
  }

  // --- authentication -------------------------------------------------------------------

  #challenge(response: http.ServerResponse, stale = false): void {
    this.challenges += 1;
    const { realm, algorithms, basic, userhash } = this.#options;
    if (basic) {
      response.writeHead(401, { 'WWW-Authenticate': `Basic realm="${realm}"`, 'Content-Type': 'text/html' }).end('<html>401 Unauthorized</html>');
      return;
    }
    const headers = algorithms.map((algorithm) => {
      const nonce = randomBytes(18).toString('base64');
      this.#nonces.set(nonce, { algorithm, lastNc: 0, uses: 0, expired: false });
      return `Digest realm="${realm}", nonce="${nonce}", algorithm=${algorithm}, qop="auth"${userhash ? ', userhash=true' : ''}${stale ? ', stale=TRUE' : ''}`;
    });
    response.writeHead(401, { 'WWW-Authenticate': headers, 'Content-Type': 'text/html' }).end('<html>401 Unauthorized</html>');
  }

  #authenticated(request: http.IncomingMessage, response: http.ServerResponse): boolean {
    const header = request.headers.authorization;
    const { user, password, realm, basic } = this.#options;
    if (header === undefined) {
      this.#challenge(response);
      return false;
    }
    if (basic) {
      const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      if (header !== expected) this.#challenge(response);
      return header === expected;
    }
    if (!header.startsWith('Digest ')) {
      this.#challenge(response);
      return false;
    }
    const fields = new Map<string, string>();
    for (const match of header.slice(7).matchAll(/([a-zA-Z*]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g)) {
      fields.set((match[1] as string).toLowerCase(), match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] as string));
    }
    const nonce = this.#nonces.get(fields.get('nonce') ?? '');
    const algorithm = (fields.get('algorithm') ?? 'MD5') as Algorithm;
    const hash = (data: string): string => createHash(NODE_HASH[nonce?.algorithm ?? 'MD5']).update(data, 'utf8').digest('hex');
    const ncText = fields.get('nc') ?? '';
    const nc = /^[0-9a-f]{8}$/.test(ncText) ? parseInt(ncText, 16) : NaN;
    let username = fields.get('username');
    if (fields.has('username*')) {
      const ext = /^UTF-8''(.*)$/i.exec(fields.get('username*') ?? '');
      username = ext ? decodeURIComponent(ext[1] as string) : undefined;
    }
    const expectedUsername = fields.get('userhash') === 'true' ? hash(`${user}:${realm}`) : user;
    const ha1 = hash(`${user}:${realm}:${password}`);
    const ha2 = hash(`${request.method}:${fields.get('uri') ?? ''}`);
    const expected = hash(`${ha1}:${fields.get('nonce')}:${ncText}:${fields.get('cnonce')}:auth:${ha2}`);
    const valid =
      nonce !== undefined &&
      algorithm === nonce.algorithm &&
      username === expectedUsername &&
      fields.get('realm') === realm &&
      fields.get('uri') === request.url &&
      fields.get('qop') === 'auth' &&
      (fields.get('cnonce') ?? '') !== '' &&
      fields.get('response') === expected;
    if (!valid) {
      this.#challenge(response);
      return false;
    }
    if (nonce.expired) {
      this.#challenge(response, this.#options.staleFlag);
      return false;
    }
    if (!(nc > nonce.lastNc)) {
      // A replayed or out-of-order nonce count.
      this.#challenge(response);
      return false;
    }
    nonce.lastNc = nc;
    nonce.uses += 1;
    if (nonce.uses >= this.#options.nonceMaxUses) nonce.expired = true;
    return true;
  }

  // --- SOAP parsing ---------------------------------------------------------------------

  #operationOf(body: string): XmlElement {
    if (/<!DOCTYPE/i.test(body)) throw new Fault('ter:InvalidArgVal', 'DTDs are not allowed');
    let document: XmlDocument;
    try {
      document = new DOMParser({
        onError: (level, message) => {
          if (level !== 'warning') throw new Error(message);
        },
      }).parseFromString(body, 'application/xml');
    } catch (error) {
      throw new Fault('ter:InvalidArgVal', `not well-formed: ${(error as Error).message.split('\n')[0]}`);
    }
    const envelope = document.documentElement;
    if (!envelope || envelope.localName !== 'Envelope' || envelope.namespaceURI !== SOAP12) {
      throw new Fault('env:VersionMismatch', 'expected a SOAP 1.2 Envelope');
    }
    const parts = children(envelope);
    const bodies = parts.filter((part) => part.namespaceURI === SOAP12 && part.localName === 'Body');
    const unexpected = parts.filter((part) => part.namespaceURI !== SOAP12 || (part.localName !== 'Body' && part.localName !== 'Header'));
    if (bodies.length !== 1 || unexpected.length > 0) throw new Fault('ter:InvalidArgVal', 'the Envelope must hold one Body (and at most a Header)');
    const operations = children(bodies[0] as XmlElement);
    if (operations.length !== 1) throw new Fault('ter:InvalidArgVal', 'the Body must hold exactly one operation');
    const operation = operations[0] as XmlElement;
    const expectedNs = ACTION_OPERATIONS.has(operation.localName ?? '') ? AA : EVENT_OPERATIONS.has(operation.localName ?? '') ? AEV : undefined;
    if (expectedNs === undefined) throw new Fault('ter:ActionNotSupported', `unknown operation ${operation.localName}`);
    if (operation.namespaceURI !== expectedNs) {
      throw new Fault('ter:ActionNotSupported', `${operation.localName} is not an operation of namespace ${operation.namespaceURI ?? '(none)'}`);
    }
    return operation;
  }

  // --- operations -----------------------------------------------------------------------

  #execute(operation: XmlElement): string {
    const name = operation.localName ?? '';
    switch (name) {
      case 'GetRecipientTemplates':
        expectElements(operation, AA, [], []);
        return this.#respond(AA, name, (doc) => [this.#templatesNode(doc, 'RecipientTemplates', 'RecipientTemplate', this.#options.recipientTemplates)]);
      case 'GetActionTemplates':
        expectElements(operation, AA, [], []);
        return this.#respond(AA, name, (doc) => [this.#templatesNode(doc, 'ActionTemplates', 'ActionTemplate', this.#options.actionTemplates)]);
      case 'AddRecipientConfiguration': {
        const configuration = this.#readConfiguration(operation, 'NewRecipientConfiguration', 'recipient');
        const stored = this.#store('recipient', this.#state.recipients, configuration);
        return this.#respond(AA, name, (doc) => [this.#el(doc, AA, 'ConfigurationID', stored.id)]);
      }
      case 'AddActionConfiguration': {
        const configuration = this.#readConfiguration(operation, 'NewActionConfiguration', 'action');
        const stored = this.#store('action', this.#state.actions, configuration);
        return this.#respond(AA, name, (doc) => [this.#el(doc, AA, 'ConfigurationID', stored.id)]);
      }
      case 'GetRecipientConfigurations':
        expectElements(operation, AA, [], []);
        return this.#respond(AA, name, (doc) => [this.#configurationsNode(doc, 'RecipientConfigurations', 'RecipientConfiguration', this.#state.recipients)]);
      case 'GetActionConfigurations':
        expectElements(operation, AA, [], []);
        return this.#respond(AA, name, (doc) => [this.#configurationsNode(doc, 'ActionConfigurations', 'ActionConfiguration', this.#state.actions)]);
      case 'RemoveRecipientConfiguration': {
        const id = this.#idParameter(operation, AA, 'ConfigurationID');
        this.#state.recipients = removeById(this.#state.recipients, id, 'aa:InvalidConfigurationIDFault', 'recipient configuration');
        return this.#respond(AA, name, () => []);
      }
      case 'RemoveActionConfiguration': {
        const id = this.#idParameter(operation, AA, 'ConfigurationID');
        const user = this.#state.rules.find((rule) => rule.primaryAction === id);
        if (user) throw new Fault('aa:ActionConfigurationInUseFault', `action configuration ${id} is used by rule ${user.id}`);
        this.#state.actions = removeById(this.#state.actions, id, 'aa:InvalidConfigurationIDFault', 'action configuration');
        return this.#respond(AA, name, () => []);
      }
      case 'AddActionRule': {
        const rule = this.#readRule(operation);
        const stored = this.#store('rule', this.#state.rules, rule);
        return this.#respond(AA, name, (doc) => [this.#el(doc, AA, 'RuleID', stored.id)]);
      }
      case 'GetActionRules':
        expectElements(operation, AA, [], []);
        return this.#respond(AA, name, (doc) => [
          this.#el(doc, AA, 'ActionRules', this.#state.rules.map((rule) => this.#ruleNode(doc, rule))),
        ]);
      case 'RemoveActionRule': {
        const id = this.#idParameter(operation, AA, 'RuleID');
        this.#state.rules = removeById(this.#state.rules, id, 'aa:InvalidActionRuleIDFault', 'action rule');
        return this.#respond(AA, name, () => []);
      }
      case 'AddScheduledEvent': {
        const [event] = expectElements(operation, AEV, ['NewScheduledEvent'], []);
        const [nameElement, schedule] = expectElements(event as XmlElement, AEV, ['Name', 'Schedule'], []);
        const [icalendar] = expectElements(schedule as XmlElement, AEV, ['ICalendar'], []);
        if ((icalendar as XmlElement).getAttribute('Dialect') !== ICAL_DIALECT) throw new Fault('aev:InvalidScheduleFault', 'ICalendar needs the ical1 Dialect');
        const text = textOf(icalendar as XmlElement);
        validateICalendar(text);
        const stored = this.#store('schedule', this.#state.schedules, { name: requireText(nameElement as XmlElement, 'Name'), icalendar: text });
        return this.#respond(AEV, name, (doc) => [this.#el(doc, AEV, 'EventID', stored.id)]);
      }
      case 'GetEventInstances':
        expectElements(operation, AEV, [], []);
        return this.#respond(AEV, name, (doc) => [this.#el(doc, WSTOP, 'TopicSet', this.#options.eventTopics.map((topic) => this.#topicNode(doc, topic)))]);
      case 'GetScheduledEvents':
        expectElements(operation, AEV, [], []);
        return this.#respond(AEV, name, (doc) => [
          this.#el(
            doc,
            AEV,
            'ScheduledEvents',
            this.#state.schedules.map((event) =>
              this.#el(doc, AEV, 'ScheduledEvent', [
                this.#el(doc, AEV, 'EventID', event.id),
                this.#el(doc, AEV, 'Name', event.name),
                this.#el(doc, AEV, 'Schedule', [this.#el(doc, AEV, 'ICalendar', event.icalendar, { Dialect: ICAL_DIALECT })]),
              ]),
            ),
          ),
        ]);
      case 'RemoveScheduledEvent': {
        const id = this.#idParameter(operation, AEV, 'EventID');
        const user = this.#state.rules.find((rule) => [rule.startEvent, ...rule.conditions].some((filter) => filter && eventIdOf(filter.messageContent) === id));
        if (user) throw new Fault('aev:ScheduledEventInUseFault', `scheduled event ${id} is used by rule ${user.id}`);
        this.#state.schedules = removeById(this.#state.schedules, id, 'aev:InvalidEventIDFault', 'scheduled event');
        return this.#respond(AEV, name, () => []);
      }
      default:
        throw new Fault('ter:ActionNotSupported', `${name} is not simulated`);
    }
  }

  #idParameter(operation: XmlElement, ns: string, name: string): string {
    const [element] = expectElements(operation, ns, [name], []);
    return requireText(element as XmlElement, name);
  }

  #readConfiguration(operation: XmlElement, wrapper: string, kind: 'recipient' | 'action'): Omit<SimulatedConfiguration, 'id'> {
    const [configuration] = expectElements(operation, AA, [wrapper], []);
    const [nameElement, tokenElement, parametersElement] = expectElements(configuration as XmlElement, AA, ['Name', 'TemplateToken', 'Parameters'], []);
    const token = requireText(tokenElement as XmlElement, 'TemplateToken');
    const templates = kind === 'recipient' ? this.#options.recipientTemplates : this.#options.actionTemplates;
    const template = templates.find((candidate) => candidate.token === token);
    if (!template) throw new Fault('aa:InvalidTemplateTokenFault', `no ${kind} template ${token}`);
    const recipientTemplate = template.recipientTemplate === undefined ? undefined : this.#options.recipientTemplates.find((candidate) => candidate.token === template.recipientTemplate);
    const required = [...template.parameters, ...(recipientTemplate?.parameters ?? [])];

    const parameters: [string, string][] = [];
    for (const parameter of children(parametersElement as XmlElement)) {
      if (parameter.namespaceURI !== AA || parameter.localName !== 'Parameter') throw new Fault('ter:InvalidArgVal', `unexpected <${parameter.tagName}> in Parameters`);
      const parameterName = parameter.getAttribute('Name');
      const value = parameter.getAttribute('Value');
      if (parameterName === null || value === null) throw new Fault('ter:InvalidArgVal', 'a Parameter needs Name and Value attributes');
      if (!required.includes(parameterName)) throw new Fault('aa:InvalidParameterFault', `${token} has no parameter ${parameterName}`);
      if (parameters.some(([existing]) => existing === parameterName)) throw new Fault('aa:InvalidParameterFault', `parameter ${parameterName} given twice`);
      parameters.push([parameterName, value]);
    }
    const missing = required.filter((parameterName) => !parameters.some(([given]) => given === parameterName));
    if (missing.length > 0) throw new Fault('aa:InvalidParameterFault', `${token} needs every parameter; missing: ${missing.join(', ')}`);
    validateParameters(token, new Map(parameters));
    return { name: requireText(nameElement as XmlElement, 'Name'), templateToken: token, parameters };
  }

  #readFilter(element: XmlElement): SimulatedFilter {
    const [topic, content] = expectElements(element, WSNT, ['TopicExpression'], ['MessageContent']);
    const dialect = (topic as XmlElement).getAttribute('Dialect') ?? '';
    if (!TOPIC_DIALECTS.includes(dialect)) throw new Fault('aa:InvalidFilterFault', `unknown topic expression dialect ${dialect}`);
    const expression = textOf(topic as XmlElement);
    const resolved = expression
      .split('/')
      .map((step) => {
        const colon = step.indexOf(':');
        if (colon < 0) return step;
        const uri = (topic as XmlElement).lookupNamespaceURI(step.slice(0, colon));
        if (uri === null) throw new Fault('aa:InvalidFilterFault', `prefix ${step.slice(0, colon)} of the topic expression is not declared`);
        return `{${uri}}${step.slice(colon + 1)}`;
      })
      .join('/');
    if (content && (content).getAttribute('Dialect') !== ITEM_FILTER_DIALECT) throw new Fault('aa:InvalidFilterFault', 'unknown message content dialect');
    return { topic: resolved, topicDialect: dialect, ...(content && { messageContent: textOf(content) }) };
  }

  #readRule(operation: XmlElement): Omit<SimulatedRule, 'id'> {
    const [rule] = expectElements(operation, AA, ['NewActionRule'], []);
    const [nameElement, enabledElement, primary, startEvent, conditionsElement] = expectElements(
      rule as XmlElement,
      AA,
      ['Name', 'Enabled', 'PrimaryAction'],
      ['StartEvent', 'Conditions'],
    );
    const enabled = requireText(enabledElement as XmlElement, 'Enabled');
    if (!['true', 'false', '1', '0'].includes(enabled)) throw new Fault('ter:InvalidArgVal', `Enabled must be a boolean, not ${enabled}`);
    const primaryAction = requireText(primary as XmlElement, 'PrimaryAction');
    const action = this.#state.actions.find((candidate) => candidate.id === primaryAction);
    if (!action) throw new Fault('aa:InvalidConfigurationIDFault', `no action configuration ${primaryAction}`);
    const start = startEvent ? this.#readFilter(startEvent) : undefined;
    const conditions = conditionsElement
      ? children(conditionsElement).map((condition) => {
          if (condition.namespaceURI !== AA || condition.localName !== 'Condition') throw new Fault('ter:InvalidArgVal', `unexpected <${condition.tagName}> in Conditions`);
          return this.#readFilter(condition);
        })
      : [];
    if (!start && conditions.length === 0) throw new Fault('aa:InvalidConditionFilterFault', 'a rule needs a start event or a condition');
    if (conditions.some((condition) => condition.topic === PULSE_TOPIC)) {
      throw new Fault('aa:InvalidConditionFilterFault', 'a pulse is stateless and cannot be a condition; use it as the start event');
    }
    if (start?.topic === PULSE_TOPIC) {
      const eventId = eventIdOf(start.messageContent);
      const schedule = this.#state.schedules.find((candidate) => candidate.id === eventId);
      if (!schedule) throw new Fault('aa:InvalidFilterFault', `the start event selects scheduled event ${eventId ?? '(none)'}, which does not exist`);
      if (/DTEND/.test(schedule.icalendar)) throw new Fault('aa:InvalidFilterFault', `scheduled event ${eventId} is an interval, not a pulse`);
    }
    if (start) this.#checkEventFilter(start, 'start event');
    for (const condition of conditions) this.#checkEventFilter(condition, 'condition');
    if (action.templateToken.includes('.unlimited.') && conditions.length === 0) {
      throw new Fault('aa:InvalidConditionFilterFault', 'unlimited actions require at least one condition to prevent the action from running indefinitely');
    }
    return {
      name: requireText(nameElement as XmlElement, 'Name'),
      enabled: enabled === 'true' || enabled === '1',
      ...(start && { startEvent: start }),
      conditions,
      primaryAction,
    };
  }

  // --- answers --------------------------------------------------------------------------

  #prefixOf(ns: string): string {
    const { prefixes } = this.#options;
    return (
      { [SOAP12]: prefixes.soap, [AA]: prefixes.action, [AEV]: prefixes.event, [TNS1]: prefixes.tns1, [TNSAXIS]: prefixes.tnsaxis, [WSNT]: 'wsnt', [WSTOP]: 'wstop' }[ns] ?? 'x'
    );
  }

  #el(doc: XmlDocument, ns: string, name: string, content?: string | XmlElement[], attributes: Record<string, string> = {}): XmlElement {
    const prefix = this.#prefixOf(ns);
    const element = doc.createElementNS(ns, prefix === '' ? name : `${prefix}:${name}`);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (typeof content === 'string') element.appendChild(doc.createTextNode(content));
    else for (const child of content ?? []) element.appendChild(child);
    return element;
  }

  #respond(ns: string, operation: string, content: (doc: XmlDocument) => XmlElement[]): string {
    const soap = this.#prefixOf(SOAP12);
    const doc = new DOMImplementation().createDocument(SOAP12, `${soap}:Envelope`, null);
    const envelope = doc.documentElement as XmlElement;
    for (const ns of [AA, AEV, WSNT, WSTOP, TNS1, TNSAXIS]) {
      const prefix = this.#prefixOf(ns);
      envelope.setAttributeNS(XMLNS, prefix === '' ? 'xmlns' : `xmlns:${prefix}`, ns);
    }
    const body = doc.createElementNS(SOAP12, `${soap}:Body`);
    envelope.appendChild(body);
    body.appendChild(this.#el(doc, ns, `${operation}Response`, content(doc)));
    return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(doc)}`;
  }

  #sendFault(response: http.ServerResponse, fault: Fault): void {
    const soap = this.#prefixOf(SOAP12);
    const doc = new DOMImplementation().createDocument(SOAP12, `${soap}:Envelope`, null);
    const envelope = doc.documentElement as XmlElement;
    for (const [prefix, ns] of [['aa', AA], ['aev', AEV], ['ter', 'http://www.onvif.org/ver10/error'], ['env', SOAP12]] as const) {
      envelope.setAttributeNS(XMLNS, `xmlns:${prefix}`, ns);
    }
    const body = doc.createElementNS(SOAP12, `${soap}:Body`);
    const faultElement = doc.createElementNS(SOAP12, `${soap}:Fault`);
    const code = doc.createElementNS(SOAP12, `${soap}:Code`);
    const value = doc.createElementNS(SOAP12, `${soap}:Value`);
    value.appendChild(doc.createTextNode(`${soap}:${fault.code}`));
    const subcode = doc.createElementNS(SOAP12, `${soap}:Subcode`);
    const subValue = doc.createElementNS(SOAP12, `${soap}:Value`);
    subValue.appendChild(doc.createTextNode(fault.subcode));
    subcode.appendChild(subValue);
    code.appendChild(value);
    code.appendChild(subcode);
    const reason = doc.createElementNS(SOAP12, `${soap}:Reason`);
    const text = doc.createElementNS(SOAP12, `${soap}:Text`);
    text.setAttributeNS('http://www.w3.org/XML/1998/namespace', 'xml:lang', 'en');
    text.appendChild(doc.createTextNode(fault.message));
    reason.appendChild(text);
    faultElement.appendChild(code);
    faultElement.appendChild(reason);
    body.appendChild(faultElement);
    envelope.appendChild(body);
    response
      .writeHead(fault.status, { 'Content-Type': 'application/soap+xml; charset=utf-8' })
      .end(`<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(doc)}`);
  }

  #templatesNode(doc: XmlDocument, listName: string, itemName: string, templates: SimulatedTemplate[]): XmlElement {
    return this.#el(
      doc,
      AA,
      listName,
      templates.map((template) =>
        this.#el(doc, AA, itemName, [
          this.#el(doc, AA, 'TemplateToken', template.token),
          this.#el(
            doc,
            AA,
            'Parameters',
            template.parameters.map((parameter) => this.#el(doc, AA, 'Parameter', [], { Name: parameter, Type: 'xsd:string' })),
          ),
          ...(template.recipientTemplate === undefined ? [] : [this.#el(doc, AA, 'RecipientTemplate', template.recipientTemplate)]),
        ]),
      ),
    );
  }

  #configurationsNode(doc: XmlDocument, listName: string, itemName: string, items: SimulatedConfiguration[]): XmlElement {
    return this.#el(
      doc,
      AA,
      listName,
      items.map((item) =>
        this.#el(doc, AA, itemName, [
          this.#el(doc, AA, 'ConfigurationID', item.id),
          this.#el(doc, AA, 'Name', item.name),
          this.#el(doc, AA, 'TemplateToken', item.templateToken),
          this.#el(
            doc,
            AA,
            'Parameters',
            // Real devices list attributes Value before Name.
            item.parameters.map(([name, value]) => this.#el(doc, AA, 'Parameter', [], { Value: value, Name: name })),
          ),
        ]),
      ),
    );
  }

  #filterNode(doc: XmlDocument, wrapperName: string, filter: SimulatedFilter): XmlElement {
    const declared = new Map<string, string>();
    const topic = filter.topic.replace(/\{([^}]*)\}/g, (_, uri: string) => {
      const known = this.#prefixOf(uri);
      if (known !== 'x') return `${known}:`;
      if (!declared.has(uri)) declared.set(uri, `ns${declared.size + 1}`);
      return `${declared.get(uri)}:`;
    });
    const expression = this.#el(doc, WSNT, 'TopicExpression', topic, { Dialect: filter.topicDialect });
    for (const [uri, prefix] of declared) expression.setAttributeNS(XMLNS, `xmlns:${prefix}`, uri);
    return this.#el(doc, AA, wrapperName, [
      expression,
      ...(filter.messageContent === undefined ? [] : [this.#el(doc, WSNT, 'MessageContent', filter.messageContent, { Dialect: ITEM_FILTER_DIALECT })]),
    ]);
  }

  /** A topic of the tree as `GetEventInstances` answers it (VAPIX "Event topic tree syntax"). */
  #topicNode(doc: XmlDocument, topic: SimulatedTopic): XmlElement {
    const ns = topic.ns === undefined ? undefined : typeof topic.ns === 'string' ? { prefix: this.#prefixOf(topic.ns === 'tns1' ? TNS1 : TNSAXIS), uri: topic.ns === 'tns1' ? TNS1 : TNSAXIS } : topic.ns;
    const element = ns ? doc.createElementNS(ns.uri, `${ns.prefix}:${topic.name}`) : doc.createElementNS(null, topic.name);
    if (ns && typeof topic.ns === 'object') element.setAttributeNS(XMLNS, `xmlns:${ns.prefix}`, ns.uri);
    const aev = this.#prefixOf(AEV);
    if (topic.niceName !== undefined) element.setAttributeNS(AEV, `${aev}:NiceName`, topic.niceName);
    if (topic.event) {
      element.setAttributeNS(WSTOP, 'wstop:topic', 'true');
      const item = (definition: SimulatedEventItem): XmlElement => {
        const values = this.#itemValues(definition).map((value) => {
          const node = this.#el(doc, AEV, 'Value', typeof value === 'string' ? value : value.value);
          if (typeof value !== 'string') node.setAttributeNS(AEV, `${aev}:NiceName`, value.niceName);
          return node;
        });
        const node = this.#el(doc, AEV, 'SimpleItemInstance', values);
        if (definition.niceName !== undefined) node.setAttributeNS(AEV, `${aev}:NiceName`, definition.niceName);
        node.setAttribute('Type', definition.type);
        node.setAttribute('Name', definition.name);
        if (definition.state) node.setAttribute('isPropertyState', 'true');
        return node;
      };
      const { source = [], data = [] } = topic.event;
      const message = this.#el(doc, AEV, 'MessageInstance', [
        ...(source.length > 0 ? [this.#el(doc, AEV, 'SourceInstance', source.map(item))] : []),
        ...(data.length > 0 ? [this.#el(doc, AEV, 'DataInstance', data.map(item))] : []),
      ]);
      if (topic.event.stateful) message.setAttributeNS(AEV, `${aev}:isProperty`, 'true');
      element.appendChild(message);
    }
    for (const child of topic.children ?? []) element.appendChild(this.#topicNode(doc, child));
    return element;
  }

  /** The values of an item now: the schedules' IDs (named after the schedules) for the recurring events. */
  #itemValues(item: SimulatedEventItem): SimulatedEventValue[] {
    if (item.values === 'pulse schedules' || item.values === 'interval schedules') {
      const pulses = item.values === 'pulse schedules';
      return this.#state.schedules.filter((schedule) => /DTEND/.test(schedule.icalendar) !== pulses).map((schedule) => ({ value: schedule.id, niceName: schedule.name }));
    }
    return item.values ?? [];
  }

  /** Every event offered now, by its topic with namespaces spelled out (`{uri}VideoSource/MotionAlarm`). */
  #offeredEvents(): Map<string, OfferedEvent> {
    const offered = new Map<string, OfferedEvent>();
    const visit = (topic: SimulatedTopic, path: string): void => {
      const uri = topic.ns === undefined ? undefined : typeof topic.ns === 'string' ? (topic.ns === 'tns1' ? TNS1 : TNSAXIS) : topic.ns.uri;
      const here = `${path === '' ? '' : `${path}/`}${uri === undefined ? '' : `{${uri}}`}${topic.name}`;
      if (topic.event) {
        const items = (list: SimulatedEventItem[] = []): OfferedEvent['source'] =>
          list.map((item) => ({ name: item.name, type: item.type, values: this.#itemValues(item).map((value) => (typeof value === 'string' ? value : value.value)) }));
        offered.set(here, { stateful: topic.event.stateful, source: items(topic.event.source), data: items(topic.event.data) });
      }
      for (const child of topic.children ?? []) visit(child, here);
    };
    for (const topic of this.#options.eventTopics) visit(topic, '');
    return offered;
  }

  /**
   * A rule's start event or condition against the events offered: the topic must be one, its
   * ItemFilter name items the event has with values it lists; a condition must be one stateful
   * event (every source with several values pinned to one).
   */
  #checkEventFilter(filter: SimulatedFilter, role: 'start event' | 'condition'): void {
    const subcode = role === 'condition' ? 'aa:InvalidConditionFilterFault' : 'aa:InvalidFilterFault';
    const event = this.#offeredEvents().get(filter.topic);
    if (!event) throw new Fault(subcode, `the ${role} names topic ${filter.topic}, which this device does not offer`);
    const selected = new Map<string, string>();
    for (const [name, value] of parseItemFilter(filter.messageContent, subcode)) {
      const item = [...event.source, ...event.data].find((candidate) => candidate.name === name);
      if (!item) throw new Fault(subcode, `the ${role}'s MessageContent names item ${name}, which ${filter.topic} does not have`);
      if (item.type === 'xsd:boolean' && value !== '0' && value !== '1') throw new Fault(subcode, `${name} is a boolean: 0 or 1, not ${value}`);
      if (item.values.length > 0 && !item.values.includes(value)) throw new Fault(subcode, `${filter.topic} has no ${name} ${value}`);
      selected.set(name, value);
    }
    if (role === 'condition') {
      if (!event.stateful) throw new Fault(subcode, `${filter.topic} is a stateless event; stateless events cannot be used as conditions`);
      const open = event.source.filter((item) => item.values.length > 1 && !selected.has(item.name));
      if (open.length > 0) throw new Fault(subcode, `the condition matches multiple stateful events (${open.map((item) => `${item.name}: ${item.values.join(', ')}`).join('; ')})`);
    }
  }

  #ruleNode(doc: XmlDocument, rule: SimulatedRule): XmlElement {
    return this.#el(doc, AA, 'ActionRule', [
      this.#el(doc, AA, 'RuleID', rule.id),
      this.#el(doc, AA, 'Name', rule.name),
      this.#el(doc, AA, 'Enabled', String(rule.enabled)),
      ...(rule.startEvent ? [this.#filterNode(doc, 'StartEvent', rule.startEvent)] : []),
      ...(rule.conditions.length > 0 ? [this.#el(doc, AA, 'Conditions', rule.conditions.map((condition) => this.#filterNode(doc, 'Condition', condition)))] : []),
      this.#el(doc, AA, 'PrimaryAction', rule.primaryAction),
    ]);
  }
}

const ACTION_OPERATIONS = new Set([
  'GetRecipientTemplates',
  'GetActionTemplates',
  'AddRecipientConfiguration',
  'GetRecipientConfigurations',
  'RemoveRecipientConfiguration',
  'AddActionConfiguration',
  'GetActionConfigurations',
  'RemoveActionConfiguration',
  'AddActionRule',
  'GetActionRules',
  'RemoveActionRule',
]);
const EVENT_OPERATIONS = new Set(['GetEventInstances', 'AddScheduledEvent', 'GetScheduledEvents', 'RemoveScheduledEvent']);

function children(element: XmlElement): XmlElement[] {
  const result: XmlElement[] = [];
  let strayText = false;
  for (let node = element.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType === node.ELEMENT_NODE) result.push(node as XmlElement);
    else if (node.nodeType === node.TEXT_NODE && (node.nodeValue ?? '').trim() !== '') strayText = true;
  }
  if (strayText && result.length > 0) throw new Fault('ter:InvalidArgVal', `stray text in <${element.tagName}>`);
  return result;
}

/**
 * The children of `element`, which must be exactly `required` (each once) plus any of
 * `optional` (each at most once), all in namespace `ns`, in any order. Returns them in the
 * order of `required` then `optional` (undefined for absent optional ones).
 */
function expectElements(element: XmlElement, ns: string, required: string[], optional: string[]): (XmlElement | undefined)[] {
  const found = new Map<string, XmlElement>();
  for (const child of children(element)) {
    const name = child.localName ?? '';
    if (child.namespaceURI !== ns) {
      throw new Fault('ter:InvalidArgVal', `<${child.tagName}> in <${element.localName}> must be in namespace ${ns}, not ${child.namespaceURI ?? '(none)'}`);
    }
    if (!required.includes(name) && !optional.includes(name)) throw new Fault('ter:InvalidArgVal', `unexpected <${name}> in <${element.localName}>`);
    if (found.has(name)) throw new Fault('ter:InvalidArgVal', `<${name}> twice in <${element.localName}>`);
    found.set(name, child);
  }
  const missing = required.filter((name) => !found.has(name));
  if (missing.length > 0) throw new Fault('ter:InvalidArgVal', `<${element.localName}> lacks ${missing.map((name) => `<${name}>`).join(', ')}`);
  return [...required, ...optional].map((name) => found.get(name));
}

function textOf(element: XmlElement): string {
  return (element.textContent ?? '').trim();
}

function requireText(element: XmlElement, name: string): string {
  const text = textOf(element);
  if (text === '') throw new Fault('ter:InvalidArgVal', `${name} must not be empty`);
  return text;
}

function removeById<T extends { id: string }>(items: T[], id: string, subcode: string, what: string): T[] {
  if (!items.some((item) => item.id === id)) throw new Fault(subcode, `no ${what} ${id}`);
  return items.filter((item) => item.id !== id);
}

function eventIdOf(messageContent: string | undefined): string | undefined {
  return /@Name="id" and @Value="([^"]*)"/.exec(messageContent ?? '')?.[1];
}

/**
 * The `name=value` terms of an ItemFilter as Axis writes them,
 * `boolean(//SimpleItem[@Name="port" and @Value="1"]) and boolean(…)`; anything else is a fault.
 */
function parseItemFilter(text: string | undefined, subcode: string): [string, string][] {
  if (text === undefined) return [];
  const term = /^boolean\(\s*\/\/SimpleItem\[\s*@Name\s*=\s*(["'])(.*?)\1\s+and\s+@Value\s*=\s*(["'])(.*?)\3\s*\]\s*\)$/;
  return text
    .trim()
    .split(/\s+and\s+(?=boolean\()/)
    .map((part) => {
      const match = term.exec(part.trim());
      if (!match) throw new Fault(subcode, `MessageContent is not an item filter this device understands: ${part}`);
      return [match[2] as string, match[4] as string];
    });
}

function validateICalendar(text: string): void {
  const fields = text.split(/\s+/);
  if (!fields.some((field) => /^DTSTART:\d{8}T\d{6}$/.test(field))) throw new Fault('aev:InvalidScheduleFault', 'DTSTART:YYYYMMDDTHHMMSS is required');
  for (const field of fields) {
    if (/^(DTSTART|DTEND):\d{8}T\d{6}$/.test(field)) continue;
    const rule = /^RRULE:FREQ=(SECONDLY|MINUTELY|HOURLY|DAILY|WEEKLY|MONTHLY|YEARLY)(;INTERVAL=([1-9]\d*))?$/.exec(field);
    if (!rule) throw new Fault('aev:InvalidScheduleFault', `unsupported schedule line ${field}`);
  }
}

function validateParameters(token: string, parameters: Map<string, string>): void {
  const problem = (message: string): Fault => new Fault('aa:InvalidParameterFault', `${token}: ${message}`);
  const unsigned = (name: string, allowEmpty = false): void => {
    const value = parameters.get(name);
    if (value === undefined) return;
    if (!(allowEmpty && value === '') && !/^\d+$/.test(value)) throw problem(`${name} must be an unsigned integer, not ${JSON.stringify(value)}`);
  };
  const url = parameters.get('upload_url');
  if (url !== undefined) {
    const scheme = token.endsWith('.https') ? 'https:' : 'http:';
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed?.protocol !== scheme) throw problem(`upload_url must be a ${scheme}// URL, not ${JSON.stringify(url)}`);
  }
  const validate = parameters.get('validate_server_cert');
  if (validate !== undefined && validate !== '0' && validate !== '1') throw problem('validate_server_cert must be 0 or 1');
  // The file protocols' recipients (VAPIX: host "Required", port an unsigned integer, switches 0 or 1).
  if (/\.s?ftp$/.test(token)) {
    if ((parameters.get('host') ?? '') === '') throw problem('host is required');
    const port = parameters.get('port') ?? '';
    if (!(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) throw problem(`port must be 1…65535, not ${JSON.stringify(port)}`);
  }
  for (const name of ['passive', 'temporary']) {
    const value = parameters.get(name);
    if (value !== undefined && value !== '0' && value !== '1') throw problem(`${name} must be 0 or 1, not ${JSON.stringify(value)}`);
  }
  if (parameters.has('ssh_auth_type')) {
    const authType = parameters.get('ssh_auth_type');
    if (authType !== '1' && authType !== '2') throw problem(`ssh_auth_type must be 1 or 2, not ${JSON.stringify(authType)}`);
    const md5 = parameters.get('ssh_host_pub_key_md5') ?? '';
    const sha256 = parameters.get('ssh_host_pub_key_sha256') ?? '';
    if (md5 !== '' && !/^[0-9A-Fa-f]{32}$/.test(md5)) throw problem(`ssh_host_pub_key_md5 must be 32 hexadecimal characters, not ${JSON.stringify(md5)}`);
    if (md5 === '' && sha256 === '') throw problem('it is mandatory to have at least one key: ssh_host_pub_key_md5 or ssh_host_pub_key_sha256');
  }
  const qos = parameters.get('qos');
  if (qos !== undefined && !(/^\d+$/.test(qos) && Number(qos) <= 63)) throw problem('qos must be 0…63');
  unsigned('proxy_port', true);
  for (const name of ['pre_duration', 'post_duration', 'max_images', 'max_sequence_number']) unsigned(name);
  for (const name of ['max_file_size', 'max_duration']) unsigned(name, true);
  if (parameters.has('filename') && parameters.get('filename') === '') throw problem('filename must not be empty');
}
