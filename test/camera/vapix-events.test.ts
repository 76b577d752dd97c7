import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CameraEventError, VapixResponseError } from '../../src/camera/vapix/errors.js';
import {
  describeEventFilter,
  eventAliases,
  eventChoices,
  formatEvent,
  InvalidEventOptionError,
  itemFilter,
  parseEventOption,
  readItemFilter,
  resolveEvent,
  topicOf,
} from '../../src/camera/vapix/events.js';
import { CameraHttpClient } from '../../src/camera/vapix/http.js';
import { describeDurationMs, InvalidDurationError, parseDurationMs } from '../../src/camera/vapix/pulse.js';
import { CONCRETE_SET_TOPIC_DIALECT, readEventInstances, VapixClient } from '../../src/camera/vapix/services.js';
import type { EventInstance } from '../../src/camera/vapix/services.js';
import { readSoapEnvelope, TNS1_NS, TNSAXIS_NS } from '../../src/camera/vapix/soap.js';
import type { XmlElement } from '../../src/camera/vapix/soap.js';
import { SIMULATED_EVENT_TOPICS, VapixSimulator } from '../support/vapix-simulator.js';
import type { SimulatedTopic, VapixSimulatorOptions } from '../support/vapix-simulator.js';

/** The events of a simulated camera, read over VAPIX. */
async function eventsOf(options: VapixSimulatorOptions = {}): Promise<EventInstance[]> {
  const simulator = await VapixSimulator.start(options);
  const http = new CameraHttpClient({ address: simulator.url, user: 'root', password: 'pass', timeoutMs: 5000 });
  try {
    return await new VapixClient(http).getEventInstances();
  } finally {
    http.close();
    await simulator.close();
  }
}

/** The answer element of a GetEventInstances reply written by hand. */
function answer(topicSet: string, declarations = ''): XmlElement {
  const body = readSoapEnvelope(
    `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" xmlns:ev="http://www.axis.com/vapix/ws/event1" ${declarations}>` +
      `<env:Body><ev:GetEventInstancesResponse>${topicSet}</ev:GetEventInstancesResponse></env:Body></env:Envelope>`,
  );
  assert.equal(body.kind, 'content');
  return (body as { element: XmlElement }).element;
}

/** Only the topics named, from the simulated camera's tree. */
function treeWithout(...names: string[]): SimulatedTopic[] {
  const prune = (topics: SimulatedTopic[]): SimulatedTopic[] =>
    topics.filter((topic) => !names.includes(topic.name)).map((topic) => ({ ...topic, ...(topic.children && { children: prune(topic.children) }) }));
  return prune(SIMULATED_EVENT_TOPICS);
}

describe('readEventInstances', () => {
  it('reads a topic tree by namespace, whatever the prefixes: qualified and unqualified topics, state, items, values and their names', () => {
    const instances = readEventInstances(
      answer(
        '<wstop:TopicSet>' +
          '<on:Device ev:NiceName="Device"><ax:IO ev:NiceName="Input ports">' +
          '<Port wstop:topic="true" ev:NiceName="Digital input"><ev:MessageInstance ev:isProperty="true">' +
          '<ev:SourceInstance><ev:SimpleItemInstance ev:NiceName="Port" Type="xsd:int" Name="port"><ev:Value ev:NiceName="Door">1</ev:Value><ev:Value> 2 </ev:Value></ev:SimpleItemInstance></ev:SourceInstance>' +
          '<ev:DataInstance><ev:SimpleItemInstance ev:NiceName="Active" Type="xsd:boolean" Name="state" isPropertyState="true"/></ev:DataInstance>' +
          '</ev:MessageInstance></Port></ax:IO></on:Device>' +
          '<on:VideoSource><ax:Tampering wstop:topic="true" ev:NiceName="Camera tampering"><ev:MessageInstance>' +
          '<ev:SourceInstance><ev:SimpleItemInstance Type="xsd:int" Name="channel"><ev:Value>1</ev:Value></ev:SimpleItemInstance></ev:SourceInstance>' +
          '</ev:MessageInstance></ax:Tampering></on:VideoSource>' +
          // An unqualified element named like an aev: one is a topic, not a description.
          '<ax:Odd><MessageInstance wstop:topic="1"/></ax:Odd>' +
          '</wstop:TopicSet>',
        `xmlns:on="${TNS1_NS}" xmlns:ax="${TNSAXIS_NS}"`,
      ),
    );
    assert.deepEqual(instances.map(topicOf), ['tns1:Device/tnsaxis:IO/Port', 'tns1:VideoSource/tnsaxis:Tampering', 'tnsaxis:Odd/MessageInstance']);
    const [port, tampering, odd] = instances as [EventInstance, EventInstance, EventInstance];
    assert.deepEqual(port.path, [
      { namespace: TNS1_NS, prefix: 'on', name: 'Device', niceName: 'Device' },
      { namespace: TNSAXIS_NS, prefix: 'ax', name: 'IO', niceName: 'Input ports' },
      { name: 'Port', niceName: 'Digital input' },
    ]);
    assert.equal(port.stateful, true);
    assert.deepEqual(port.source, [{ name: 'port', type: 'xsd:int', niceName: 'Port', values: [{ value: '1', niceName: 'Door' }, { value: '2' }], isState: false }]);
    assert.deepEqual(port.data, [{ name: 'state', type: 'xsd:boolean', niceName: 'Active', values: [], isState: true }]);
    assert.equal(tampering.stateful, false, 'no isProperty: a momentary event');
    assert.deepEqual(odd, { path: [{ namespace: TNSAXIS_NS, prefix: 'ax', name: 'Odd' }, { name: 'MessageInstance' }], stateful: false, source: [], data: [] });
  });

  it('refuses an answer without a TopicSet, and an item without a name', () => {
    assert.throws(() => readEventInstances(answer('<TopicSet/>')), VapixResponseError);
    assert.throws(
      () => readEventInstances(answer(`<wstop:TopicSet><x:A xmlns:x="${TNS1_NS}" wstop:topic="true"><ev:MessageInstance><ev:DataInstance><ev:SimpleItemInstance Type="xsd:int"/></ev:DataInstance></ev:MessageInstance></x:A></wstop:TopicSet>`)),
      /an item of topic A has no Name/,
    );
  });

  it('reads the simulated camera the same with any prefixes', async () => {
    const standard = await eventsOf();
    const other = await eventsOf({ prefixes: { soap: 'env', action: 'ns3', event: 'ev', tns1: 'onvif', tnsaxis: 'ax' } });
    assert.deepEqual(other.map(topicOf), standard.map(topicOf));
    assert.ok(standard.some((instance) => topicOf(instance) === 'tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY'));
  });
});

describe('parseEventOption', () => {
  it('reads aliases, topics and selectors', () => {
    assert.deepEqual(parseEventOption(' motion '), { text: 'motion', alias: { name: 'motion' }, selectors: [] });
    assert.deepEqual(parseEventOption('input:2'), { text: 'input:2', alias: { name: 'input', number: '2' }, selectors: [] });
    assert.deepEqual(parseEventOption('storage disk_id=SD_DISK'), { text: 'storage disk_id=SD_DISK', alias: { name: 'storage' }, selectors: [['disk_id', 'SD_DISK']] });
    assert.deepEqual(parseEventOption('tns1:RuleEngine/MotionRegionDetector/Motion RuleName="VMD 4 ACAP" VideoSource=0'), {
      text: 'tns1:RuleEngine/MotionRegionDetector/Motion RuleName="VMD 4 ACAP" VideoSource=0',
      topic: 'tns1:RuleEngine/MotionRegionDetector/Motion',
      selectors: [
        ['RuleName', 'VMD 4 ACAP'],
        ['VideoSource', '0'],
      ],
    });
  });

  it('says what is wrong with a value it cannot read', () => {
    const cases: [string, RegExp][] = [
      ['', /give an alias \(motion, input:N, tampering, storage, scenario:N\) or a topic/],
      ['motoin', /no such alias \(motion, input:N, tampering, storage, scenario:N\)/],
      ['input', /write input:N with a number, e.g. input:1/],
      ['input:x', /with a number/],
      ['motion:2', /motion takes no number/],
      ['tns1:Device//Port', /is not a topic/],
      ['tns1:Device/a b', /cannot read "b"/],
      ['motion active=1 active=0', /selects active twice/],
      ['motion a="b', /cannot read/],
    ];
    for (const [text, message] of cases) assert.throws(() => parseEventOption(text), (error: unknown) => error instanceof InvalidEventOptionError && message.test(error.message), text);
  });
});

describe('resolveEvent', () => {
  const start = { whileActive: false };
  const whileActive = { whileActive: true };

  it('makes motion a start event on VMD 4\'s any-profile topic with its state =1, ConcreteSet dialect, namespaces declared', async () => {
    const resolved = resolveEvent(parseEventOption('motion'), await eventsOf(), start);
    assert.equal(resolved.on, 'tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY active=1');
    assert.equal(resolved.placement, 'start');
    assert.deepEqual(resolved.filter, {
      topicExpression: 'tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY',
      topicDialect: CONCRETE_SET_TOPIC_DIALECT,
      namespaces: { tns1: TNS1_NS, tnsaxis: TNSAXIS_NS },
      messageContent: 'boolean(//SimpleItem[@Name="active" and @Value="1"])',
      messageContentDialect: 'http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter',
    });
  });

  it('finds motion where the camera has it: the only VMD profile, else VMD 3, else the ONVIF motion alarm; names the profiles when it cannot choose', async () => {
    const vmdProfiles = (names: string[]): SimulatedTopic => ({
      ns: 'tnsaxis',
      name: 'CameraApplicationPlatform',
      children: [{ name: 'VMD', children: names.map((name) => ({ name, event: { stateful: true, data: [{ name: 'active', type: 'xsd:boolean', state: true }] } })) }],
    });
    const motionAlarm = SIMULATED_EVENT_TOPICS.find((topic) => topic.name === 'VideoSource') as SimulatedTopic;
    const vmd3: SimulatedTopic = {
      ns: 'tns1',
      name: 'RuleEngine',
      children: [{ ns: 'tnsaxis', name: 'VMD3', children: [{ name: 'vmd3_video_1', event: { stateful: true, source: [{ name: 'areaid', type: 'xsd:int', values: ['0'] }], data: [{ name: 'active', type: 'xsd:boolean', state: true }] } }] }],
    };
    const motion = async (eventTopics: SimulatedTopic[]): Promise<string> => resolveEvent(parseEventOption('motion'), await eventsOf({ eventTopics }), start).on;
    assert.equal(await motion([vmdProfiles(['Camera1Profile1']), vmd3, motionAlarm]), 'tnsaxis:CameraApplicationPlatform/VMD/Camera1Profile1 active=1');
    assert.equal(await motion([vmd3, motionAlarm]), 'tns1:RuleEngine/tnsaxis:VMD3/vmd3_video_1 active=1');
    assert.equal(await motion([motionAlarm]), 'tns1:VideoSource/MotionAlarm State=1');
    await assert.rejects(
      motion([vmdProfiles(['Camera1Profile1', 'Camera1Profile2']), motionAlarm]),
      /the camera has 2 AXIS Video Motion Detection events \(tnsaxis:CameraApplicationPlatform\/VMD\/Camera1Profile1, tnsaxis:CameraApplicationPlatform\/VMD\/Camera1Profile2\): give the one you mean/,
    );
    await assert.rejects(motion([]), (error: unknown) => error instanceof CameraEventError && /offers no motion event/.test(error.message));
  });

  it('makes input:N Axis\' port N, or ONVIF\'s digital input where the camera has only that, and checks N', async () => {
    const instances = await eventsOf();
    assert.equal(resolveEvent(parseEventOption('input:2'), instances, start).on, 'tns1:Device/tnsaxis:IO/Port port=2 state=1');
    assert.throws(() => resolveEvent(parseEventOption('input:9'), instances, start), /the camera has no input 9: tns1:Device\/tnsaxis:IO\/Port lists port 1, 2/);
    const onvifOnly = await eventsOf({ eventTopics: treeWithout('IO') });
    assert.equal(resolveEvent(parseEventOption('input:1'), onvifOnly, start).on, 'tns1:Device/Trigger/DigitalInput InputToken=1 LogicalState=1');
    const noInputs = await eventsOf({ eventTopics: treeWithout('IO', 'Trigger') });
    assert.throws(() => resolveEvent(parseEventOption('input:1'), noInputs, start), /offers no digital input event/);
  });

  it('takes the other aliases and topics as printed, with selectors checked against the camera\'s items and values', async () => {
    const instances = await eventsOf();
    const on = (text: string): string => resolveEvent(parseEventOption(text), instances, start).on;
    assert.equal(on('tampering'), 'tns1:VideoSource/tnsaxis:Tampering', 'stateless: no state filter');
    assert.equal(on('storage'), 'tnsaxis:Storage/Disruption disruption=1', 'any disk');
    assert.equal(on('storage disk_id=NetworkShare'), 'tnsaxis:Storage/Disruption disk_id=NetworkShare disruption=1');
    assert.equal(on('scenario:2'), 'tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario2 active=1');
    assert.equal(on('input:1 state=false'), 'tns1:Device/tnsaxis:IO/Port port=1 state=0', 'a selector on the state replaces the default =1');
    assert.equal(on('tns1:Device/tnsaxis:IO/VirtualInput port=3'), 'tns1:Device/tnsaxis:IO/VirtualInput port=3 active=1');

    const refused: [string, RegExp][] = [
      ['tns1:VideoSource/MotionAlarms', /offers no event tns1:VideoSource\/MotionAlarms; `camera events` lists/],
      ['tnsaxis:VideoSource/MotionAlarm', /offers no event tnsaxis:VideoSource\/MotionAlarm \(did you mean tns1:VideoSource\/MotionAlarm\?\)/],
      ['input:1 colour=red', /tns1:Device\/tnsaxis:IO\/Port has no item colour \(its items: port, state\)/],
      ['input:1 port=2', /port=2 contradicts port=1/],
      ['input:1 state=maybe', /state is true or false \(1 or 0\), not "maybe"/],
      ['storage disk_id=USB', /the camera lists disk_id SD_DISK, NetworkShare, not "USB"/],
      ['scenario:7', /no AXIS Object Analytics scenario 7 \(it has 1, 2\)/],
    ];
    for (const [text, message] of refused) assert.throws(() => resolveEvent(parseEventOption(text), instances, start), (error: unknown) => error instanceof CameraEventError && message.test(error.message), text);
  });

  it('makes the event a condition for a clip while it lasts: stateful, and one source only', async () => {
    const instances = await eventsOf();
    const resolved = resolveEvent(parseEventOption('input:1'), instances, whileActive);
    assert.equal(resolved.placement, 'condition');
    assert.equal(resolved.filter.messageContent, 'boolean(//SimpleItem[@Name="port" and @Value="1"]) and boolean(//SimpleItem[@Name="state" and @Value="1"])');
    assert.throws(() => resolveEvent(parseEventOption('tampering'), instances, whileActive), /is a momentary event \(stateless\).*leave out --clip-while-active/);
    assert.throws(() => resolveEvent(parseEventOption('storage'), instances, whileActive), /is 2 events, one per disk_id \(SD_DISK, NetworkShare\).*add disk_id=SD_DISK/);
    assert.equal(resolveEvent(parseEventOption('storage disk_id=SD_DISK'), instances, whileActive).placement, 'condition');
  });

  it('declares a topic namespace other than tns1 and tnsaxis under the camera\'s prefix', async () => {
    const acme = { prefix: 'acme', uri: 'http://example.com/acme/topics' };
    const instances = await eventsOf({ eventTopics: [{ ns: acme, name: 'Doorbell', children: [{ name: 'Ring', niceName: 'Doorbell rings', event: { stateful: false } }] }] });
    const resolved = resolveEvent(parseEventOption('acme:Doorbell/Ring'), instances, start);
    assert.equal(resolved.filter.topicExpression, 'acme:Doorbell/Ring');
    assert.deepEqual(resolved.filter.namespaces, { tns1: TNS1_NS, tnsaxis: TNSAXIS_NS, acme: acme.uri });
    assert.equal(resolved.filter.messageContent, undefined);
  });
});

describe('eventChoices and eventAliases', () => {
  it('lists every event once per source value, each exactly as --on takes it, with the camera\'s names', async () => {
    const instances = await eventsOf();
    const choices = eventChoices(instances);
    const byOn = new Map(choices.map((choice) => [choice.on, choice]));
    assert.deepEqual(
      ['tns1:Device/tnsaxis:IO/Port port=1', 'tns1:Device/tnsaxis:IO/Port port=2'].map((on) => byOn.get(on)?.name),
      ['Digital input: Door contact', 'Digital input: Gate'],
    );
    assert.equal(byOn.get('tns1:VideoSource/MotionAlarm')?.name, undefined, 'no NiceName, no name');
    assert.equal(byOn.get('tns1:VideoSource/tnsaxis:Tampering')?.stateful, false);
    assert.deepEqual(byOn.get('tnsaxis:Storage/Disruption disk_id=SD_DISK')?.selectors, { disk_id: 'SD_DISK' });
    for (const choice of choices) {
      const resolved = resolveEvent(parseEventOption(choice.on), instances, { whileActive: false });
      assert.equal(topicOf(resolved.instance), choice.topic, choice.on);
      assert.ok(resolved.on.startsWith(choice.on), `${choice.on} → ${resolved.on}`);
    }
  });

  it('says what each alias stands for on this camera', async () => {
    assert.deepEqual(eventAliases(await eventsOf()), [
      { alias: 'motion', on: 'tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY' },
      { alias: 'input:1', on: 'tns1:Device/tnsaxis:IO/Port port=1' },
      { alias: 'input:2', on: 'tns1:Device/tnsaxis:IO/Port port=2' },
      { alias: 'tampering', on: 'tns1:VideoSource/tnsaxis:Tampering' },
      { alias: 'storage', on: 'tnsaxis:Storage/Disruption' },
      { alias: 'scenario:1', on: 'tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1' },
      { alias: 'scenario:2', on: 'tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario2' },
    ]);
    assert.deepEqual(eventAliases([]), []);
  });
});

describe('item filters and stored filters', () => {
  it('writes and reads item filters in either order and quotes', () => {
    const selectors: [string, string][] = [
      ['port', '1'],
      ['state', '1'],
    ];
    assert.equal(itemFilter(selectors), 'boolean(//SimpleItem[@Name="port" and @Value="1"]) and boolean(//SimpleItem[@Name="state" and @Value="1"])');
    assert.deepEqual(readItemFilter(itemFilter(selectors)), selectors);
    assert.deepEqual(readItemFilter("boolean(//SimpleItem[@Value='3' and @Name='id'])"), [['id', '3']]);
    assert.deepEqual(readItemFilter(undefined), []);
    assert.equal(formatEvent('t', [['RuleName', 'VMD 4'], ['x', '']]), 't RuleName="VMD 4" x=""');
  });

  it('describes a rule\'s filter with tns1/tnsaxis whatever prefixes the camera used', () => {
    assert.equal(
      describeEventFilter({
        topicExpression: 'onvif:Device/ax:IO/Port',
        topicDialect: CONCRETE_SET_TOPIC_DIALECT,
        resolvedTopic: `{${TNS1_NS}}Device/{${TNSAXIS_NS}}IO/Port`,
        messageContent: 'boolean(//SimpleItem[@Name="port" and @Value="1"]) and boolean(//SimpleItem[@Name="state" and @Value="1"])',
      }),
      'tns1:Device/tnsaxis:IO/Port port=1 state=1',
    );
    assert.equal(
      describeEventFilter({ topicExpression: 'acme:Doorbell/Ring', topicDialect: CONCRETE_SET_TOPIC_DIALECT, resolvedTopic: '{http://example.com/a/b}Doorbell/Ring' }),
      'acme:Doorbell/Ring',
    );
  });
});

describe('clip durations', () => {
  it('parses --pre/--post as --every values are parsed, plus 0, into milliseconds', () => {
    const cases: [string, number, string][] = [
      ['3s', 3000, '3 s'],
      ['0', 0, '0 s'],
      ['0s', 0, '0 s'],
      ['2 min', 120_000, '2 min'],
      ['1h', 3_600_000, '1 h'],
    ];
    for (const [text, ms, words] of cases) {
      assert.equal(parseDurationMs(text), ms, text);
      assert.equal(describeDurationMs(ms), words);
    }
    assert.equal(describeDurationMs(2500), '2.5 s');
    for (const bad of ['', 's', '-1s', '1.5s', '1d', '2w', '0x']) assert.throws(() => parseDurationMs(bad), InvalidDurationError, bad);
  });
});
