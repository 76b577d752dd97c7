/**
 * The camera's events, as `camera events` lists them and `camera setup --on` takes them.
 *
 * An event is written as its topic with the usual prefixes (`tns1:VideoSource/MotionAlarm`,
 * `tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY`), followed by item selectors where
 * one topic covers several sources (`tns1:Device/tnsaxis:IO/Port port=1`): exactly what `camera
 * events` prints. Common events also have short aliases (./event-aliases.ts: `motion`,
 * `input:N`, …), looked up among what each camera offers. This module turns a choice into the
 * rule's filter: a `wsnt:TopicExpression` in the ConcreteSet dialect with its namespaces declared,
 * and an ItemFilter for the selectors and, for a stateful event, its state.
 *
 * Where the filter goes (VAPIX "Action rules"): the primary action runs when the start event
 * occurs and every condition holds, and stops when a condition no longer holds; a condition must
 * be one stateful event; an unlimited action needs a condition. So a fixed action (images, or a
 * clip of pre + post time) gets the event as its **start event**, with the state filter `=1` for
 * a stateful event: it fires when the event becomes active, and nothing cuts its post-event time
 * short. An unlimited action (a clip for as long as the event lasts) gets it as its **condition**.
 *
 * Pure: no I/O.
 *
 * @module
 */

import { CameraEventError } from './errors.js';
import { EVENT_ALIASES, EVENT_ALIAS_USAGES } from './event-aliases.js';
import type { EventAliasName } from './event-aliases.js';
import { CONCRETE_SET_TOPIC_DIALECT, ITEM_FILTER_DIALECT } from './services.js';
import type { EventFilter, EventInstance, EventItem, StoredEventFilter } from './services.js';
import { TNS1_NS, TNSAXIS_NS, TOPIC_PREFIXES } from './soap.js';

/** Item selectors in order: `[['port', '1'], ['state', '1']]`. */
export type Selectors = [name: string, value: string][];

/** A `--on` value, read but not yet looked up on a camera. */
export interface EventRequest {
  /** As given, for messages. */
  text: string;
  /** An alias, with its number for `input:N` and `scenario:N`… */
  alias?: { name: EventAliasName; number?: string };
  /** …or a topic as `camera events` prints it. */
  topic?: string;
  /** Selectors given after the alias or topic. */
  selectors: Selectors;
}

/** A `--on` value that cannot be read; says how to write one. */
export class InvalidEventOptionError extends Error {
  override readonly name = 'InvalidEventOptionError';
}

/** Where a rule holds its event. */
export type EventPlacement = 'start' | 'condition';

/** A `--on` value looked up among the camera's events: what the rule gets. */
export interface ResolvedEvent {
  instance: EventInstance;
  /** The event as `--on` takes it: topic and every selector the filter holds. */
  on: string;
  placement: EventPlacement;
  filter: EventFilter;
}

/** One line of `camera events`: an event as `--on` takes it. */
export interface EventChoice {
  /** Topic and selectors, e.g. `tns1:Device/tnsaxis:IO/Port port=1`. */
  on: string;
  topic: string;
  selectors: Record<string, string>;
  /** The camera's human name for it, where it declares one. */
  name?: string;
  stateful: boolean;
  source: EventItem[];
  data: EventItem[];
}

const NAME = /^[A-Za-z_][\w.-]*$/;
const STEP = /^(?:[A-Za-z_][\w.-]*:)?[A-Za-z_][\w.-]*$/;

/**
 * Reads a `--on` value: an alias or a topic, then `name=value` selectors (a value with spaces
 * in double quotes). Checks the form only; {@link resolveEvent} checks it against a camera.
 *
 * @example
 * parseEventOption('tns1:Device/tnsaxis:IO/Port port=1')
 * // → { text: '…', topic: 'tns1:Device/tnsaxis:IO/Port', selectors: [['port', '1']] }
 * @throws {@link InvalidEventOptionError}
 */
export function parseEventOption(text: string): EventRequest {
  const trimmed = text.trim();
  const [, head = '', tail = ''] = /^(\S*)(.*)$/s.exec(trimmed) ?? [];
  if (head === '') throw new InvalidEventOptionError(`give an alias (${EVENT_ALIAS_USAGES}) or a topic as \`camera events\` prints it`);

  const selectors: Selectors = [];
  let rest = tail;
  while (rest.trim() !== '') {
    const match = /^\s+([^\s=]+)=(?:"([^"]*)"|([^\s"]*))(?=\s|$)/.exec(rest);
    if (!match || !NAME.test(match[1] as string)) {
      throw new InvalidEventOptionError(`cannot read ${JSON.stringify(rest.trim())}: after the event come selectors name=value (a value with spaces in double quotes: name="a b")`);
    }
    const name = match[1] as string;
    if (selectors.some(([given]) => given === name)) throw new InvalidEventOptionError(`selects ${name} twice`);
    selectors.push([name, match[2] ?? match[3] ?? '']);
    rest = rest.slice(match[0].length);
  }

  const alias = /^([a-z]+)(?::(.*))?$/.exec(head);
  if (alias && Object.hasOwn(EVENT_ALIASES, alias[1] as string)) {
    const name = alias[1] as EventAliasName;
    const usage = EVENT_ALIASES[name].usage;
    const takesNumber = usage.endsWith(':N');
    const number = alias[2];
    if (takesNumber && (number === undefined || !/^\d+$/.test(number))) throw new InvalidEventOptionError(`write ${usage} with a number, e.g. ${usage.replace('N', '1')}`);
    if (!takesNumber && number !== undefined) throw new InvalidEventOptionError(`${name} takes no number`);
    return { text: trimmed, alias: { name, ...(number !== undefined && { number }) }, selectors };
  }
  if (!head.includes(':') && !head.includes('/')) {
    throw new InvalidEventOptionError(`no such alias (${EVENT_ALIAS_USAGES}); or give a topic as \`camera events\` prints it, e.g. tns1:VideoSource/MotionAlarm`);
  }
  if (!head.split('/').every((step) => STEP.test(step))) {
    throw new InvalidEventOptionError(`${JSON.stringify(head)} is not a topic: its steps are [prefix:]Name separated by /, e.g. tns1:Device/tnsaxis:IO/Port`);
  }
  return { text: trimmed, topic: head, selectors };
}

/** The topic as printed and taken by `--on`: `tns1:`/`tnsaxis:` for their namespaces, the camera's prefix for others. */
export function topicOf(instance: EventInstance): string {
  return instance.path
    .map((step) => {
      const prefix = step.namespace === undefined ? undefined : (TOPIC_PREFIXES[step.namespace] ?? step.prefix);
      return prefix === undefined ? step.name : `${prefix}:${step.name}`;
    })
    .join('/');
}

/** The topic with its namespaces spelled out (`{uri}Device/{uri}IO/Port`), as a rule read back from the camera has it. */
export function resolvedTopicOf(instance: EventInstance): string {
  return instance.path.map((step) => (step.namespace === undefined ? step.name : `{${step.namespace}}${step.name}`)).join('/');
}

/** `topic name=value …`, a value with spaces or nothing in double quotes. */
export function formatEvent(topic: string, selectors: Selectors): string {
  return [topic, ...selectors.map(([name, value]) => `${name}=${value === '' || /[\s"]/.test(value) ? `"${value}"` : value}`)].join(' ');
}

/** The ONVIF ItemFilter selecting messages whose items have these values, as Axis writes it. */
export function itemFilter(selectors: Selectors): string {
  return selectors.map(([name, value]) => `boolean(//SimpleItem[@Name="${name}" and @Value="${value}"])`).join(' and ');
}

/** The `name=value` pairs of an ItemFilter, whichever order and quotes it uses. */
export function readItemFilter(text: string | undefined): Selectors {
  const pairs: Selectors = [];
  const term = /\[\s*@(Name|Value)\s*=\s*(["'])(.*?)\2\s+and\s+@(Name|Value)\s*=\s*(["'])(.*?)\5\s*\]/g;
  for (const match of (text ?? '').matchAll(term)) {
    if (match[1] === match[4]) continue;
    pairs.push(match[1] === 'Name' ? [match[3] as string, match[6] as string] : [match[6] as string, match[3] as string]);
  }
  return pairs;
}

/**
 * A rule's filter as `--on` takes it, for `camera status`: `tns1:Device/tnsaxis:IO/Port port=1 state=1`.
 * The topic is written with `tns1:`/`tnsaxis:` whatever prefixes the camera used.
 */
export function describeEventFilter(filter: StoredEventFilter): string {
  const written = filter.topicExpression.split('/');
  const steps: string[] = [];
  for (const [index, step] of splitResolvedTopic(filter.resolvedTopic).entries()) {
    const prefix = step.namespace === undefined ? undefined : TOPIC_PREFIXES[step.namespace];
    steps.push(prefix !== undefined ? `${prefix}:${step.name}` : step.namespace !== undefined ? (written[index] ?? step.name) : step.name);
  }
  return formatEvent(steps.join('/'), readItemFilter(filter.messageContent));
}

/** `{uri}Name/Child` → its steps (a URI may hold slashes, a name never does). */
function splitResolvedTopic(resolved: string): { namespace?: string; name: string }[] {
  const steps: { namespace?: string; name: string }[] = [];
  for (const match of resolved.matchAll(/(?:\{([^}]*)\})?([^/{}]*)(?:\/|$)/g)) {
    if (match[0] === '') break;
    steps.push({ ...(match[1] !== undefined && { namespace: match[1] }), name: match[2] as string });
  }
  return steps;
}

const ONVIF = `{${TNS1_NS}}`;
const AXIS = `{${TNSAXIS_NS}}`;
const VMD4 = `${AXIS}CameraApplicationPlatform/VMD/`;
const VMD3 = `${ONVIF}RuleEngine/${AXIS}VMD3/`;
const MOTION_ALARM = `${ONVIF}VideoSource/MotionAlarm`;
const LEGACY_MOTION_DETECTION = `${ONVIF}VideoAnalytics/${AXIS}MotionDetection`;
/** Digital inputs: Axis' own event first (ports numbered as in the web interface), then ONVIF's. */
const INPUT_TOPICS = [
  { topic: `${ONVIF}Device/${AXIS}IO/Port`, item: 'port' },
  { topic: `${ONVIF}Device/Trigger/DigitalInput`, item: 'InputToken' },
];
const TAMPERING = `${ONVIF}VideoSource/${AXIS}Tampering`;
const STORAGE_DISRUPTION = `${AXIS}Storage/Disruption`;
const OBJECT_ANALYTICS = `${AXIS}CameraApplicationPlatform/ObjectAnalytics/`;

/** An alias found among a camera's events: the event and the selectors the alias implies. */
interface AliasMatch {
  instance: EventInstance;
  selectors: Selectors;
}

const lastName = (instance: EventInstance): string => instance.path.at(-1)?.name ?? '';
const notOffered = (what: string): CameraEventError => new CameraEventError(`the camera offers no ${what}; \`camera events\` lists the events it has`);
const withTopic = (instances: readonly EventInstance[], topic: string): EventInstance | undefined => instances.find((instance) => resolvedTopicOf(instance) === topic);

/** The one event among `candidates`, or an error naming them when there are several. */
function onlyOne(candidates: EventInstance[], what: string): EventInstance | undefined {
  if (candidates.length > 1) {
    throw new CameraEventError(`the camera has ${candidates.length} ${what} events (${candidates.map(topicOf).join(', ')}): give the one you mean with --on`);
  }
  return candidates[0];
}

function objectAnalyticsScenarios(instances: readonly EventInstance[]): { instance: EventInstance; device: number; scenario: string }[] {
  return instances.flatMap((instance) => {
    const match = resolvedTopicOf(instance).startsWith(OBJECT_ANALYTICS) ? /^Device(\d+)Scenario(\d+)$/.exec(lastName(instance)) : null;
    return match ? [{ instance, device: Number(match[1]), scenario: match[2] as string }] : [];
  });
}

/** How each alias is found among a camera's events, and every use of it that camera allows (for `camera events`). */
const ALIAS_RULES: Record<EventAliasName, { find(instances: readonly EventInstance[], number?: string): AliasMatch; uses(instances: readonly EventInstance[]): string[] }> = {
  motion: {
    find(instances) {
      const vmd4 = instances.filter((instance) => resolvedTopicOf(instance).startsWith(VMD4));
      const anyProfile = vmd4.find((instance) => lastName(instance) === 'Camera1ProfileANY') ?? vmd4.find((instance) => lastName(instance).endsWith('ProfileANY'));
      const instance =
        anyProfile ??
        onlyOne(vmd4, 'AXIS Video Motion Detection') ??
        onlyOne(
          instances.filter((candidate) => resolvedTopicOf(candidate).startsWith(VMD3)),
          'VMD 3',
        ) ??
        withTopic(instances, MOTION_ALARM) ??
        withTopic(instances, LEGACY_MOTION_DETECTION);
      if (!instance) throw notOffered('motion event (neither AXIS Video Motion Detection nor tns1:VideoSource/MotionAlarm)');
      return { instance, selectors: [] };
    },
    uses: () => ['motion'],
  },
  input: {
    find(instances, number = '') {
      for (const { topic, item } of INPUT_TOPICS) {
        const instance = withTopic(instances, topic);
        if (!instance) continue;
        const values = instance.source.find((candidate) => candidate.name === item)?.values ?? [];
        if (values.length > 0 && !values.some((value) => value.value === number)) {
          throw new CameraEventError(`the camera has no input ${number}: ${topicOf(instance)} lists ${item} ${values.map((value) => value.value).join(', ')}`);
        }
        return { instance, selectors: [[item, number]] };
      }
      throw notOffered('digital input event (tns1:Device/tnsaxis:IO/Port or tns1:Device/Trigger/DigitalInput)');
    },
    uses(instances) {
      for (const { topic, item } of INPUT_TOPICS) {
        const instance = withTopic(instances, topic);
        if (instance) return (instance.source.find((candidate) => candidate.name === item)?.values ?? []).filter((value) => /^\d+$/.test(value.value)).map((value) => `input:${value.value}`);
      }
      return [];
    },
  },
  tampering: {
    find(instances) {
      const instance = withTopic(instances, TAMPERING);
      if (!instance) throw notOffered('tampering event (tns1:VideoSource/tnsaxis:Tampering)');
      return { instance, selectors: [] };
    },
    uses: () => ['tampering'],
  },
  storage: {
    find(instances) {
      const instance = withTopic(instances, STORAGE_DISRUPTION);
      if (!instance) throw notOffered('storage disruption event (tnsaxis:Storage/Disruption)');
      return { instance, selectors: [] };
    },
    uses: () => ['storage'],
  },
  scenario: {
    find(instances, number = '') {
      const scenarios = objectAnalyticsScenarios(instances).filter((candidate) => candidate.scenario === number);
      const found = scenarios.find((candidate) => candidate.device === 1) ?? scenarios[0];
      if (!found) {
        const offered = objectAnalyticsScenarios(instances).map((candidate) => candidate.scenario);
        throw offered.length > 0
          ? new CameraEventError(`the camera has no AXIS Object Analytics scenario ${number} (it has ${[...new Set(offered)].join(', ')})`)
          : notOffered('AXIS Object Analytics scenario');
      }
      return { instance: found.instance, selectors: [] };
    },
    uses: (instances) => [...new Set(objectAnalyticsScenarios(instances).map((candidate) => `scenario:${candidate.scenario}`))],
  },
};

const isBoolean = (item: EventItem): boolean => /(^|:)boolean$/.test(item.type);

/** The item that holds a stateful event's state: the one marked so, else its only boolean data item. */
function stateItemOf(instance: EventInstance): EventItem | undefined {
  if (!instance.stateful) return undefined;
  const booleans = instance.data.filter(isBoolean);
  return instance.data.find((item) => item.isState) ?? (booleans.length === 1 ? booleans[0] : undefined);
}

/**
 * Looks `request` up among the camera's events and builds the rule's filter: the event's topic
 * expression, and an ItemFilter with the selectors and, for a stateful event, its state `1`
 * (unless a selector names the state). `whileActive` asks for a condition (the event must be
 * stateful, and narrowed to one source), otherwise it is the start event (see the module's
 * description).
 *
 * @throws {@link CameraEventError} when the camera does not offer the event, an alias fits
 *   several, a selector names an item or value the event lacks, or the event does not suit.
 */
export function resolveEvent(request: EventRequest, instances: readonly EventInstance[], { whileActive }: { whileActive: boolean }): ResolvedEvent {
  let instance: EventInstance;
  const selected = new Map<string, string>();
  if (request.alias) {
    const match = ALIAS_RULES[request.alias.name].find(instances, request.alias.number);
    instance = match.instance;
    for (const [name, value] of match.selectors) selected.set(name, value);
  } else {
    const found = instances.find((candidate) => topicOf(candidate) === request.topic);
    if (!found) {
      const bare = (topic: string): string => topic.replace(/[^/:]+:/g, '').toLowerCase();
      const similar = instances.find((candidate) => bare(topicOf(candidate)) === bare(request.topic ?? ''));
      throw new CameraEventError(
        `the camera offers no event ${request.topic}${similar ? ` (did you mean ${topicOf(similar)}?)` : ''}; \`camera events\` lists the events it has`,
      );
    }
    instance = found;
  }
  const topic = topicOf(instance);

  const items = [...instance.source, ...instance.data];
  for (const [name, given] of request.selectors) {
    const item = items.find((candidate) => candidate.name === name);
    if (!item) throw new CameraEventError(`${topic} has no item ${name}${items.length > 0 ? ` (its items: ${items.map((candidate) => candidate.name).join(', ')})` : ''}`);
    let value = given;
    if (isBoolean(item)) {
      value = { true: '1', false: '0' }[given.toLowerCase()] ?? given;
      if (value !== '0' && value !== '1') throw new CameraEventError(`${topic}: ${name} is true or false (1 or 0), not ${JSON.stringify(given)}`);
    }
    if (item.values.length > 0 && !item.values.some((candidate) => candidate.value === value)) {
      throw new CameraEventError(`${topic}: the camera lists ${name} ${item.values.map((candidate) => candidate.value).join(', ')}, not ${JSON.stringify(given)}`);
    }
    const implied = selected.get(name);
    if (implied !== undefined && implied !== value) throw new CameraEventError(`${request.text}: ${name}=${given} contradicts ${name}=${implied}`);
    selected.set(name, value);
  }

  const state = stateItemOf(instance);
  if (state && !selected.has(state.name) && isBoolean(state)) selected.set(state.name, '1');

  if (whileActive) {
    if (!instance.stateful) throw new CameraEventError(`${topic} is a momentary event (stateless): it does not last, so there is nothing to record while it is active; leave out --clip-while-active`);
    if (!state || !selected.has(state.name)) {
      throw new CameraEventError(`${topic}: cannot tell which state to record while${state ? `: add ${state.name}=<value>` : ' (the camera marks no item as its state)'}`);
    }
    for (const item of instance.source) {
      if (item.values.length > 1 && !selected.has(item.name)) {
        throw new CameraEventError(
          `${topic} is ${item.values.length} events, one per ${item.name} (${item.values.map((value) => value.value).join(', ')}); ` +
            `a rule can only record while one of them lasts: add ${item.name}=${item.values[0]?.value}`,
        );
      }
    }
  }

  const selectors: Selectors = items.filter((item) => selected.has(item.name)).map((item) => [item.name, selected.get(item.name) as string]);
  const { expression, namespaces } = topicExpressionOf(instance);
  return {
    instance,
    on: formatEvent(topic, selectors),
    placement: whileActive ? 'condition' : 'start',
    filter: {
      topicExpression: expression,
      topicDialect: CONCRETE_SET_TOPIC_DIALECT,
      namespaces,
      ...(selectors.length > 0 && { messageContent: itemFilter(selectors), messageContentDialect: ITEM_FILTER_DIALECT }),
    },
  };
}

/**
 * The topic expression to send, with the namespaces to declare on it: `tns1` and `tnsaxis`
 * always (as Axis' own examples do), and the camera's prefix (or `ns1`, …) for any other.
 */
function topicExpressionOf(instance: EventInstance): { expression: string; namespaces: Record<string, string> } {
  const namespaces: Record<string, string> = Object.fromEntries(Object.entries(TOPIC_PREFIXES).map(([uri, prefix]) => [prefix, uri]));
  const prefixFor = (uri: string, cameraPrefix: string | undefined): string => {
    const declared = Object.entries(namespaces).find(([, candidate]) => candidate === uri)?.[0];
    if (declared !== undefined) return declared;
    let prefix = cameraPrefix !== undefined && !/^(wsnt|xml.*)$/i.test(cameraPrefix) && !(cameraPrefix in namespaces) ? cameraPrefix : undefined;
    for (let index = 1; prefix === undefined; index += 1) if (!(`ns${index}` in namespaces)) prefix = `ns${index}`;
    namespaces[prefix] = uri;
    return prefix;
  };
  const expression = instance.path.map((step) => (step.namespace === undefined ? step.name : `${prefixFor(step.namespace, step.prefix)}:${step.name}`)).join('/');
  return { expression, namespaces };
}

/** Above this many combinations of source values, an event is listed once, without selectors. */
const MAX_LISTED_COMBINATIONS = 32;

/**
 * The lines of `camera events`: every event, once per source value where one topic covers
 * several sources (one line per input port, per disk), each exactly as `--on` takes it.
 */
export function eventChoices(instances: readonly EventInstance[]): EventChoice[] {
  return instances.flatMap((instance) => {
    const topic = topicOf(instance);
    const varying = instance.source.filter((item) => item.values.length > 1);
    let combinations: { selectors: Selectors; names: string[] }[] = [{ selectors: [], names: [] }];
    for (const item of varying) {
      combinations = combinations.flatMap((combination) =>
        item.values.map((value) => ({ selectors: [...combination.selectors, [item.name, value.value] as [string, string]], names: [...combination.names, ...(value.niceName ? [value.niceName] : [])] })),
      );
    }
    if (combinations.length > MAX_LISTED_COMBINATIONS) combinations = [{ selectors: [], names: [] }];
    const topicName = instance.path.at(-1)?.niceName;
    return combinations.map(({ selectors, names }) => {
      const name = [topicName, names.join(', ')].filter((part) => part !== undefined && part !== '').join(': ');
      return {
        on: formatEvent(topic, selectors),
        topic,
        selectors: Object.fromEntries(selectors),
        ...(name !== '' && { name }),
        stateful: instance.stateful,
        source: instance.source,
        data: instance.data,
      };
    });
  });
}

/** The aliases this camera's events allow and what each stands for there: `motion` → `tnsaxis:…/Camera1ProfileANY`. */
export function eventAliases(instances: readonly EventInstance[]): { alias: string; on: string }[] {
  return (Object.keys(ALIAS_RULES) as EventAliasName[]).flatMap((name) =>
    ALIAS_RULES[name].uses(instances).flatMap((alias) => {
      try {
        const match = ALIAS_RULES[name].find(instances, alias.split(':')[1]);
        return [{ alias, on: formatEvent(topicOf(match.instance), match.selectors) }];
      } catch (error) {
        if (error instanceof CameraEventError) return [];
        throw error;
      }
    }),
  );
}
