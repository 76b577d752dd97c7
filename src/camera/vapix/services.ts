/**
 * The VAPIX action1 and event1 operations this project uses, and the shapes of their requests
 * and answers: everything that knows an element name of those services is in this file.
 *
 * @module
 */

import { CameraHttpError, SoapFaultError, VapixResponseError } from './errors.js';
import type { CameraHttpClient } from './http.js';
import { ICALENDAR_DIALECT } from './pulse.js';
import {
  ACTION1_NS,
  buildSoapEnvelope,
  childElement,
  childElements,
  descendantElements,
  elementChildren,
  EVENT1_NS,
  readSoapEnvelope,
  resolveTopicExpression,
  textOf,
  WSNT_NS,
  WSTOP_NS,
  xml,
  XmlSyntaxError,
} from './soap.js';
import type { XmlElement, XmlNode } from './soap.js';

/** Where VAPIX web services live, relative to the camera's base URL. */
export const VAPIX_SERVICES_PATH = 'vapix/services';

/** The content type Axis documents as working for VAPIX web services. */
const SOAP_CONTENT_TYPE = 'application/soap+xml; charset=utf-8';

/** Dialect of a concrete topic expression (`tns1:UserAlarm/tnsaxis:Recurring/Pulse`), as the pulse rule has always used. */
export const CONCRETE_TOPIC_DIALECT = 'http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete';
/** ONVIF's dialect for one concrete topic, the one Axis' own examples use for rules on events. */
export const CONCRETE_SET_TOPIC_DIALECT = 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet';
/** Dialect of an ONVIF item filter (`boolean(//SimpleItem[@Name="id" and @Value="7"])`). */
export const ITEM_FILTER_DIALECT = 'http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter';

/** A recipient or action configuration as sent: parameters in order, every one present. */
export interface ConfigurationInput {
  name: string;
  templateToken: string;
  parameters: Record<string, string>;
}

/** A recipient or action configuration as stored on the camera. */
export interface StoredConfiguration extends ConfigurationInput {
  /** Opaque ID (real devices use small integers). */
  id: string;
}

/** A topic filter with an optional message-content filter (a start event or a condition). */
export interface EventFilter {
  topicExpression: string;
  topicDialect: string;
  /** Namespaces declared on the `TopicExpression` element itself (prefix → URI), for the QNames in it. */
  namespaces?: Record<string, string>;
  messageContent?: string;
  messageContentDialect?: string;
}

/** An event filter read back, with its topic resolved to namespace URIs (see {@link resolveTopicExpression}). */
export interface StoredEventFilter extends EventFilter {
  resolvedTopic: string;
}

/** A new action rule. */
export interface ActionRuleInput {
  name: string;
  enabled: boolean;
  startEvent?: EventFilter;
  conditions?: EventFilter[];
  /** The action configuration's ID. */
  primaryAction: string;
}

/** An action rule as stored on the camera. */
export interface StoredActionRule {
  id: string;
  name: string;
  enabled: boolean;
  startEvent?: StoredEventFilter;
  conditions: StoredEventFilter[];
  primaryAction: string;
}

/** A new scheduled event. */
export interface ScheduledEventInput {
  name: string;
  /** iCalendar text, see {@link pulseICalendar}. */
  icalendar: string;
}

/** A scheduled event as stored on the camera. */
export interface StoredScheduledEvent extends ScheduledEventInput {
  id: string;
}

/** A recipient or action template the camera supports. */
export interface Template {
  token: string;
  /** Parameter names the template lists (may be empty if the device lists none). */
  parameters: string[];
}

/** One level of an event's topic: an element of the camera's topic tree. */
export interface TopicStep {
  /** Namespace URI; absent for an unqualified element (a child topic the camera writes without prefix). */
  namespace?: string;
  /** The prefix the camera wrote the element with, if any. */
  prefix?: string;
  name: string;
  /** The camera's human name for this level (`aev:NiceName`). */
  niceName?: string;
}

/** One possible value of an event item, with the camera's human name for it. */
export interface EventItemValue {
  value: string;
  niceName?: string;
}

/** A `SimpleItemInstance` of an event: a source item (which port, which disk) or a data item (the state). */
export interface EventItem {
  name: string;
  /** The XML Schema type as the camera declares it, e.g. `xsd:boolean`, `xsd:int`, `tt:ReferenceToken`. */
  type: string;
  niceName?: string;
  /** The values the camera lists (empty when it lists none: any value). */
  values: EventItemValue[];
  /** Whether this data item is the state of a stateful event (`isPropertyState`). */
  isState: boolean;
}

/** An event the camera can emit: a topic of `GetEventInstances` marked `wstop:topic="true"`. */
export interface EventInstance {
  /** The topic, from the root of the tree to the event. */
  path: TopicStep[];
  /** A stateful event (a property: motion active, input closed) or a momentary one (`aev:isProperty`). */
  stateful: boolean;
  source: EventItem[];
  data: EventItem[];
}

/**
 * Typed VAPIX operations over one authenticated connection.
 *
 * @example
 * const vapix = new VapixClient(new CameraHttpClient({ address: 'https://cam', user, password, verifyCertificate: false }));
 * const rules = await vapix.getActionRules();
 */
export class VapixClient {
  /** @param http - the connection; its password is redacted from everything the camera says. */
  constructor(readonly http: CameraHttpClient) {}

  /** The templates of `com.axis.recipient.*` recipients this camera supports. */
  async getRecipientTemplates(): Promise<Template[]> {
    return readTemplates(await this.#call(ACTION1_NS, 'GetRecipientTemplates', []), 'RecipientTemplate');
  }

  /** The templates of actions (`com.axis.action.*`) this camera supports. */
  async getActionTemplates(): Promise<Template[]> {
    return readTemplates(await this.#call(ACTION1_NS, 'GetActionTemplates', []), 'ActionTemplate');
  }

  /** Adds a recipient configuration; returns its ID. */
  async addRecipientConfiguration(recipient: ConfigurationInput): Promise<string> {
    const response = await this.#call(ACTION1_NS, 'AddRecipientConfiguration', [configurationNode('NewRecipientConfiguration', recipient)]);
    return requiredText(response, ACTION1_NS, 'ConfigurationID', 'AddRecipientConfiguration');
  }

  /** Every recipient configuration on the camera. */
  async getRecipientConfigurations(): Promise<StoredConfiguration[]> {
    const response = await this.#call(ACTION1_NS, 'GetRecipientConfigurations', []);
    return readConfigurations(response, 'RecipientConfigurations', 'RecipientConfiguration', 'GetRecipientConfigurations');
  }

  /** Removes a recipient configuration. */
  async removeRecipientConfiguration(id: string): Promise<void> {
    await this.#call(ACTION1_NS, 'RemoveRecipientConfiguration', [xml(ACTION1_NS, 'ConfigurationID', id)]);
  }

  /** Adds an action configuration; returns its ID. */
  async addActionConfiguration(action: ConfigurationInput): Promise<string> {
    const response = await this.#call(ACTION1_NS, 'AddActionConfiguration', [configurationNode('NewActionConfiguration', action)]);
    return requiredText(response, ACTION1_NS, 'ConfigurationID', 'AddActionConfiguration');
  }

  /** Every action configuration on the camera. */
  async getActionConfigurations(): Promise<StoredConfiguration[]> {
    const response = await this.#call(ACTION1_NS, 'GetActionConfigurations', []);
    return readConfigurations(response, 'ActionConfigurations', 'ActionConfiguration', 'GetActionConfigurations');
  }

  /** Removes an action configuration. */
  async removeActionConfiguration(id: string): Promise<void> {
    await this.#call(ACTION1_NS, 'RemoveActionConfiguration', [xml(ACTION1_NS, 'ConfigurationID', id)]);
  }

  /** Adds an action rule; returns its ID. */
  async addActionRule(rule: ActionRuleInput): Promise<string> {
    const content: XmlNode[] = [xml(ACTION1_NS, 'Name', rule.name), xml(ACTION1_NS, 'Enabled', String(rule.enabled))];
    if (rule.startEvent) content.push(xml(ACTION1_NS, 'StartEvent', filterNodes(rule.startEvent)));
    if (rule.conditions && rule.conditions.length > 0) {
      content.push(xml(ACTION1_NS, 'Conditions', rule.conditions.map((condition) => xml(ACTION1_NS, 'Condition', filterNodes(condition)))));
    }
    content.push(xml(ACTION1_NS, 'PrimaryAction', rule.primaryAction));
    const response = await this.#call(ACTION1_NS, 'AddActionRule', [xml(ACTION1_NS, 'NewActionRule', content)]);
    return requiredText(response, ACTION1_NS, 'RuleID', 'AddActionRule');
  }

  /** Every action rule on the camera. */
  async getActionRules(): Promise<StoredActionRule[]> {
    const response = await this.#call(ACTION1_NS, 'GetActionRules', []);
    const list = childElement(response, ACTION1_NS, 'ActionRules');
    return (list ? childElements(list, ACTION1_NS, 'ActionRule') : []).map((rule) => {
      const startEvent = childElement(rule, ACTION1_NS, 'StartEvent');
      const conditions = childElement(rule, ACTION1_NS, 'Conditions');
      return {
        id: requiredText(rule, ACTION1_NS, 'RuleID', 'GetActionRules'),
        name: textOf(childElement(rule, ACTION1_NS, 'Name')).trim(),
        enabled: /^\s*(true|1)\s*$/i.test(textOf(childElement(rule, ACTION1_NS, 'Enabled'))),
        ...(startEvent && { startEvent: readFilter(startEvent) }),
        conditions: conditions ? childElements(conditions, ACTION1_NS, 'Condition').map(readFilter) : [],
        primaryAction: textOf(childElement(rule, ACTION1_NS, 'PrimaryAction')).trim(),
      };
    });
  }

  /** Removes an action rule. */
  async removeActionRule(id: string): Promise<void> {
    await this.#call(ACTION1_NS, 'RemoveActionRule', [xml(ACTION1_NS, 'RuleID', id)]);
  }

  /** Adds a scheduled event; returns its event ID. */
  async addScheduledEvent(event: ScheduledEventInput): Promise<string> {
    const response = await this.#call(EVENT1_NS, 'AddScheduledEvent', [
      xml(EVENT1_NS, 'NewScheduledEvent', [
        xml(EVENT1_NS, 'Name', event.name),
        xml(EVENT1_NS, 'Schedule', [xml(EVENT1_NS, 'ICalendar', event.icalendar, { Dialect: ICALENDAR_DIALECT })]),
      ]),
    ]);
    return requiredText(response, EVENT1_NS, 'EventID', 'AddScheduledEvent');
  }

  /** The events this camera can emit now (they change with its configuration: VMD profiles, schedules, …). */
  async getEventInstances(): Promise<EventInstance[]> {
    return readEventInstances(await this.#call(EVENT1_NS, 'GetEventInstances', []));
  }

  /** Every scheduled event on the camera. */
  async getScheduledEvents(): Promise<StoredScheduledEvent[]> {
    const response = await this.#call(EVENT1_NS, 'GetScheduledEvents', []);
    const list = childElement(response, EVENT1_NS, 'ScheduledEvents');
    return (list ? childElements(list, EVENT1_NS, 'ScheduledEvent') : []).map((event) => {
      const schedule = childElement(event, EVENT1_NS, 'Schedule');
      return {
        id: requiredText(event, EVENT1_NS, 'EventID', 'GetScheduledEvents'),
        name: textOf(childElement(event, EVENT1_NS, 'Name')).trim(),
        icalendar: schedule ? textOf(childElement(schedule, EVENT1_NS, 'ICalendar')).trim() : '',
      };
    });
  }

  /** Removes a scheduled event. */
  async removeScheduledEvent(id: string): Promise<void> {
    await this.#call(EVENT1_NS, 'RemoveScheduledEvent', [xml(EVENT1_NS, 'EventID', id)]);
  }

  /**
   * Sends one operation and returns its `…Response` element.
   *
   * @throws {@link SoapFaultError} for a SOAP Fault (whatever the HTTP status),
   *   {@link CameraHttpError} for another non-2xx answer, {@link VapixResponseError} for an
   *   answer that is not the expected SOAP, and whatever {@link CameraHttpClient.post} throws.
   */
  async #call(ns: string, operation: string, content: XmlNode[]): Promise<XmlElement> {
    const envelope = buildSoapEnvelope(xml(ns, operation, content));
    const response = await this.http.post(VAPIX_SERVICES_PATH, envelope, SOAP_CONTENT_TYPE);
    let body;
    try {
      body = readSoapEnvelope(response.body);
    } catch (error) {
      if (!(error instanceof XmlSyntaxError)) throw error;
      if (response.status >= 200 && response.status < 300) throw new VapixResponseError(operation, error.message);
      throw new CameraHttpError(this.http.label, response.status, describeNonSoapAnswer(response.status, this.http.redact(response.body)));
    }
    if (body.kind === 'fault') {
      const fault = {
        ...body.fault,
        reason: this.http.redact(body.fault.reason),
        ...(body.fault.detail !== undefined && { detail: this.http.redact(body.fault.detail) }),
      };
      throw new SoapFaultError(operation, response.status, fault);
    }
    if (response.status < 200 || response.status >= 300) {
      throw new CameraHttpError(this.http.label, response.status, `${operation}: ${describeNonSoapAnswer(response.status, '')}`);
    }
    const element = body.element;
    if (!element || element.localName !== `${operation}Response` || element.namespaceURI !== ns) {
      const got = element ? `<${element.localName}> in namespace ${element.namespaceURI ?? '(none)'}` : 'an empty Body';
      throw new VapixResponseError(operation, `expected <${operation}Response> in namespace ${ns}, got ${got}`);
    }
    return element;
  }
}

/** Text of an answer that is not SOAP, already redacted, shortened for a message. */
function describeNonSoapAnswer(status: number, redactedBody: string): string {
  if (status === 404) return 'no VAPIX web services at /vapix/services (not an Axis device, or AXIS OS older than 5.50)';
  const text = redactedBody.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return text === '' ? 'no details' : text.slice(0, 200);
}

function configurationNode(elementName: string, configuration: ConfigurationInput): XmlNode {
  return xml(ACTION1_NS, elementName, [
    xml(ACTION1_NS, 'Name', configuration.name),
    xml(ACTION1_NS, 'TemplateToken', configuration.templateToken),
    xml(
      ACTION1_NS,
      'Parameters',
      Object.entries(configuration.parameters).map(([name, value]) => xml(ACTION1_NS, 'Parameter', [], { Name: name, Value: value })),
    ),
  ]);
}

function filterNodes(filter: EventFilter): XmlNode[] {
  const nodes: XmlNode[] = [
    {
      ...xml(WSNT_NS, 'TopicExpression', filter.topicExpression, { Dialect: filter.topicDialect }),
      ...(filter.namespaces !== undefined && { namespaces: filter.namespaces }),
    },
  ];
  if (filter.messageContent !== undefined) {
    nodes.push(xml(WSNT_NS, 'MessageContent', filter.messageContent, { Dialect: filter.messageContentDialect ?? ITEM_FILTER_DIALECT }));
  }
  return nodes;
}

function readFilter(element: XmlElement): StoredEventFilter {
  const topic = childElement(element, WSNT_NS, 'TopicExpression');
  const content = childElement(element, WSNT_NS, 'MessageContent');
  const topicExpression = textOf(topic).trim();
  return {
    topicExpression,
    topicDialect: topic?.getAttribute('Dialect') ?? '',
    resolvedTopic: topic ? resolveTopicExpression(topicExpression, topic) : '',
    ...(content && { messageContent: textOf(content).trim(), messageContentDialect: content.getAttribute('Dialect') ?? '' }),
  };
}

function requiredText(parent: XmlElement, ns: string, name: string, operation: string): string {
  const value = textOf(childElement(parent, ns, name)).trim();
  if (value === '') throw new VapixResponseError(operation, `no ${name} in the answer`);
  return value;
}

function readConfigurations(response: XmlElement, listName: string, itemName: string, operation: string): StoredConfiguration[] {
  const list = childElement(response, ACTION1_NS, listName);
  return (list ? childElements(list, ACTION1_NS, itemName) : []).map((item) => {
    const parameters: Record<string, string> = {};
    const wrapper = childElement(item, ACTION1_NS, 'Parameters');
    for (const parameter of wrapper ? childElements(wrapper, ACTION1_NS, 'Parameter') : []) {
      const name = parameter.getAttribute('Name');
      if (name !== null && name !== '') parameters[name] = parameter.getAttribute('Value') ?? '';
    }
    return {
      id: requiredText(item, ACTION1_NS, 'ConfigurationID', operation),
      name: textOf(childElement(item, ACTION1_NS, 'Name')).trim(),
      templateToken: textOf(childElement(item, ACTION1_NS, 'TemplateToken')).trim(),
      parameters,
    };
  });
}

/**
 * Templates are read loosely, as their exact nesting is not documented: every `itemName`
 * element anywhere in the answer that has a `TemplateToken` child counts, with the `Name` of
 * each `Parameter` below it. (An `ActionTemplate` refers to its recipient template by a
 * plain-text `RecipientTemplate` child, which has no `TemplateToken` and so is skipped.)
 */
function readTemplates(response: XmlElement, itemName: string): Template[] {
  return descendantElements(response, ACTION1_NS, itemName)
    .map((item) => ({
      token: textOf(childElement(item, ACTION1_NS, 'TemplateToken')).trim(),
      parameters: descendantElements(item, ACTION1_NS, 'Parameter')
        .map((parameter) => parameter.getAttribute('Name') ?? '')
        .filter((name) => name !== ''),
    }))
    .filter((template) => template.token !== '');
}

const isTrue = (value: string | null): boolean => value !== null && /^\s*(true|1)\s*$/.test(value);

/**
 * Reads the topic tree of a `GetEventInstances` answer (VAPIX "Event topic tree syntax"): a
 * `wstop:TopicSet` whose elements are topics, namespace-qualified (`tns1:VideoSource`) or not
 * (`MotionAlarm`, a child topic), each event marked `wstop:topic="true"` and described by an
 * `aev:MessageInstance` (`aev:isProperty` for a stateful event) with `aev:SourceInstance` and
 * `aev:DataInstance` items (`aev:SimpleItemInstance` with `Name`, `Type`, `isPropertyState` and
 * `aev:Value` children). Elements are matched by namespace, never by prefix; an element without
 * namespace is a topic, never one of the `aev:` elements.
 *
 * @throws {@link VapixResponseError} when there is no TopicSet or an item has no name.
 */
export function readEventInstances(response: XmlElement): EventInstance[] {
  const topicSet = elementChildren(response).find((child) => child.namespaceURI === WSTOP_NS && child.localName === 'TopicSet');
  if (!topicSet) throw new VapixResponseError('GetEventInstances', 'no wstop:TopicSet in the answer');
  const instances: EventInstance[] = [];
  const visit = (element: XmlElement, path: TopicStep[]): void => {
    for (const child of elementChildren(element)) {
      // The event's description and any WS-Topics annotations are not topics.
      if (child.namespaceURI === EVENT1_NS || child.namespaceURI === WSTOP_NS) continue;
      const niceName = child.getAttributeNS(EVENT1_NS, 'NiceName');
      const step: TopicStep = {
        ...(child.namespaceURI !== null && child.namespaceURI !== '' && { namespace: child.namespaceURI }),
        ...(child.prefix !== null && child.prefix !== '' && { prefix: child.prefix }),
        name: child.localName ?? '',
        ...(niceName !== null && niceName !== '' && { niceName }),
      };
      const stepPath = [...path, step];
      if (isTrue(child.getAttributeNS(WSTOP_NS, 'topic'))) instances.push(readEventInstance(child, stepPath));
      visit(child, stepPath);
    }
  };
  visit(topicSet, []);
  return instances;
}

function aevChildren(parent: XmlElement, localName: string): XmlElement[] {
  return elementChildren(parent).filter((child) => child.namespaceURI === EVENT1_NS && child.localName === localName);
}

function readEventInstance(topic: XmlElement, path: TopicStep[]): EventInstance {
  const message = aevChildren(topic, 'MessageInstance')[0];
  const items = (wrapperName: string): EventItem[] =>
    message ? aevChildren(message, wrapperName).flatMap((wrapper) => aevChildren(wrapper, 'SimpleItemInstance').map((item) => readEventItem(item, path))) : [];
  return { path, stateful: message !== undefined && isTrue(message.getAttributeNS(EVENT1_NS, 'isProperty')), source: items('SourceInstance'), data: items('DataInstance') };
}

function readEventItem(item: XmlElement, path: TopicStep[]): EventItem {
  const name = item.getAttribute('Name') ?? '';
  if (name.trim() === '') throw new VapixResponseError('GetEventInstances', `an item of topic ${path.map((step) => step.name).join('/')} has no Name`);
  const niceName = item.getAttributeNS(EVENT1_NS, 'NiceName');
  return {
    name: name.trim(),
    type: (item.getAttribute('Type') ?? '').trim(),
    ...(niceName !== null && niceName !== '' && { niceName }),
    values: aevChildren(item, 'Value').map((value) => {
      const valueNiceName = value.getAttributeNS(EVENT1_NS, 'NiceName');
      return { value: textOf(value).trim(), ...(valueNiceName !== null && valueNiceName !== '' && { niceName: valueNiceName }) };
    }),
    isState: isTrue(item.getAttribute('isPropertyState')) || isTrue(item.getAttributeNS(EVENT1_NS, 'isPropertyState')),
  };
}
