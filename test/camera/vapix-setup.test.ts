import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CameraEventError, CameraSetupError, CameraStepError, SoapFaultError, UnsupportedCameraError } from '../../src/camera/vapix/errors.js';
import { itemFilter } from '../../src/camera/vapix/events.js';
import { CameraHttpClient } from '../../src/camera/vapix/http.js';
import { parsePulseInterval } from '../../src/camera/vapix/pulse.js';
import { VapixClient } from '../../src/camera/vapix/services.js';
import type { ActionRuleInput } from '../../src/camera/vapix/services.js';
import { cameraSetupStatus, InvalidSetupOptionError, removeCameraSetup, setupCamera } from '../../src/camera/vapix/setup.js';
import type { CameraSetupOptions } from '../../src/camera/vapix/setup.js';
import { parseXml, TNS1_NS, TNSAXIS_NS } from '../../src/camera/vapix/soap.js';
import { SIMULATED_ACTION_TEMPLATES, SIMULATED_RECIPIENT_TEMPLATES, VapixSimulator } from '../support/vapix-simulator.js';
import type { InjectedFailure, SimulatedConfigurationState, VapixSimulatorOptions } from '../support/vapix-simulator.js';

const TOKEN = 'Q2x9abcdefghijklmnopqrstuvwxyz01';
const RECIPIENT = 'https://receiver.example/upload?site=a&zone=b';
const OPTIONS: CameraSetupOptions = { recipient: RECIPIENT, token: TOKEN };
const PULSE_TOPIC = '{http://www.onvif.org/ver10/topics}UserAlarm/{http://www.axis.com/2009/event/topics}Recurring/Pulse';

async function withCamera(work: (simulator: VapixSimulator, vapix: VapixClient) => Promise<void>, options: VapixSimulatorOptions = {}): Promise<void> {
  const simulator = await VapixSimulator.start(options);
  const client = new CameraHttpClient({ address: simulator.url, user: 'root', password: 'pass', timeoutMs: 5000 });
  try {
    await work(simulator, new VapixClient(client));
  } finally {
    client.close();
    await simulator.close();
  }
}

/** Configuration someone made in the web interface: must survive every run untouched. */
function seedForeignConfiguration(simulator: VapixSimulator): void {
  const [recipient] = simulator.seed({
    recipients: [{ name: 'Images to AWS S3', templateToken: 'com.axis.recipient.https', parameters: [['upload_url', 'https://old.example/'], ['qos', '0']] }],
    schedules: [{ name: 'Office hours', icalendar: 'DTSTART:20240101T080000\nDTEND:20240101T170000\nRRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR' }],
    actions: [{ name: 'Notify', templateToken: 'com.axis.action.fixed.notification.http', parameters: [['message', 'hello'], ['upload_url', 'http://notify.example/']] }],
  }).recipients;
  assert.ok(recipient);
  const { actions, schedules } = simulator.configuration();
  simulator.seed({
    rules: [
      {
        name: 'Notify in office hours',
        enabled: true,
        conditions: [{ topic: '{http://www.onvif.org/ver10/topics}UserAlarm/{http://www.axis.com/2009/event/topics}Recurring/Interval', topicDialect: 'http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete', messageContent: `boolean(//SimpleItem[@Name="id" and @Value="${schedules[0]?.id}"])` }],
        primaryAction: actions[0]?.id ?? '',
      },
    ],
  });
}

/** The configuration named `name`, one list per kind. */
function named(state: SimulatedConfigurationState, name: string): SimulatedConfigurationState {
  return {
    recipients: state.recipients.filter((item) => item.name === name),
    schedules: state.schedules.filter((item) => item.name === name),
    actions: state.actions.filter((item) => item.name === name),
    rules: state.rules.filter((item) => item.name === name),
  };
}

function others(state: SimulatedConfigurationState, name: string): SimulatedConfigurationState {
  return {
    recipients: state.recipients.filter((item) => item.name !== name),
    schedules: state.schedules.filter((item) => item.name !== name),
    actions: state.actions.filter((item) => item.name !== name),
    rules: state.rules.filter((item) => item.name !== name),
  };
}

describe('camera setup', () => {
  it('creates exactly the seed\'s configuration: HTTPS recipient, pulse every minute, send images with the token, rule on the pulse', async () => {
    await withCamera(async (simulator, vapix) => {
      const filename = 'cam_%Y<&>"#s".jpg';
      const result = await setupCamera(vapix, { ...OPTIONS, filename });

      assert.deepEqual(simulator.calls, [
        'GetRecipientTemplates',
        'GetActionTemplates',
        'GetActionRules',
        'GetActionConfigurations',
        'GetScheduledEvents',
        'GetRecipientConfigurations',
        'AddRecipientConfiguration',
        'AddScheduledEvent',
        'AddActionConfiguration',
        'AddActionRule',
      ]);
      const recipientParameters: [string, string][] = [
        ['upload_url', RECIPIENT],
        ['validate_server_cert', '1'],
        ['login', ''],
        ['password', ''],
        ['proxy_host', ''],
        ['proxy_port', ''],
        ['proxy_login', ''],
        ['proxy_password', ''],
        ['qos', '0'],
      ];
      const { recipients, schedules, actions, rules } = simulator.configuration();
      assert.deepEqual(recipients, [{ id: result.recipient.id, name: 'images-to-s3', templateToken: 'com.axis.recipient.https', parameters: recipientParameters }]);
      assert.deepEqual(schedules, [{ id: result.schedule?.id, name: 'images-to-s3', icalendar: 'DTSTART:19700101T000000\nRRULE:FREQ=MINUTELY;INTERVAL=1' }]);
      assert.deepEqual(actions, [
        {
          id: result.action.id,
          name: 'images-to-s3',
          templateToken: 'com.axis.action.fixed.send_images.https',
          parameters: [
            ['stream_options', '&videocodec=jpeg&audio=0&camera=1'],
            ['pre_duration', '0'],
            ['post_duration', '3000'],
            ['max_images', '1'],
            ['create_folder', ''],
            ['filename', filename],
            ['max_sequence_number', '0'],
            ['custom_params', `accessToken=${TOKEN}`],
            ...recipientParameters,
          ],
        },
      ]);
      assert.deepEqual(rules, [
        {
          id: result.rule.id,
          name: 'images-to-s3',
          enabled: true,
          startEvent: {
            topic: PULSE_TOPIC,
            topicDialect: 'http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete',
            messageContent: `boolean(//SimpleItem[@Name="id" and @Value="${result.schedule?.id}"])`,
          },
          conditions: [],
          primaryAction: result.action.id,
        },
      ]);
      assert.deepEqual(result.replaced, []);
    });
  });

  it('uses the .http templates for an HTTP recipient, and validate_server_cert=0 when asked', async () => {
    await withCamera(async (simulator, vapix) => {
      await setupCamera(vapix, { ...OPTIONS, recipient: 'http://192.168.0.10:8080/', name: 'lobby', every: parsePulseInterval('30s'), maxImages: 3 });
      const { recipients, actions, schedules } = simulator.configuration();
      assert.equal(recipients[0]?.templateToken, 'com.axis.recipient.http');
      assert.equal(actions[0]?.templateToken, 'com.axis.action.fixed.send_images.http');
      assert.equal(actions[0]?.name, 'images-to-s3 lobby');
      assert.ok(!actions[0]?.parameters.some(([name]) => name === 'validate_server_cert'));
      assert.deepEqual(actions[0]?.parameters.find(([name]) => name === 'max_images'), ['max_images', '3']);
      assert.equal(schedules[0]?.icalendar, 'DTSTART:19700101T000000\nRRULE:FREQ=SECONDLY;INTERVAL=30');

      await setupCamera(vapix, { ...OPTIONS, name: 'lobby', validateRecipientCertificate: false });
      const action = simulator.configuration().actions.find((item) => item.name === 'images-to-s3 lobby');
      assert.deepEqual(action?.parameters.find(([name]) => name === 'validate_server_cert'), ['validate_server_cert', '0']);
    });
  });

  it('setup → status → setup again → remove: idempotent, other configuration untouched, camera restored', async () => {
    await withCamera(async (simulator, vapix) => {
      seedForeignConfiguration(simulator);
      const before = simulator.configuration();

      const first = await setupCamera(vapix, OPTIONS);
      const status = await cameraSetupStatus(vapix);
      assert.equal(status.state, 'configured');
      assert.deepEqual(status.problems, []);
      assert.deepEqual(status.rule, { id: first.rule.id, enabled: true, trigger: 'pulse' });
      assert.deepEqual(status.schedule, { id: first.schedule?.id, description: 'every minute' });
      assert.deepEqual(status.recipient, { id: first.recipient.id, url: RECIPIENT });
      assert.equal(status.action?.token, 'present (Q2x…)');
      assert.ok(!JSON.stringify(status).includes(TOKEN), 'status never carries the token');

      const second = await setupCamera(vapix, { ...OPTIONS, every: parsePulseInterval('2h') });
      assert.deepEqual(second.replaced, [`rule ${first.rule.id}`, `send-images action ${first.action.id}`, `schedule ${first.schedule?.id}`, `recipient ${first.recipient.id}`]);
      const after = simulator.configuration();
      assert.deepEqual(others(after, 'images-to-s3'), before, 'everything else is untouched');
      const ours = named(after, 'images-to-s3');
      assert.deepEqual([ours.recipients.length, ours.schedules.length, ours.actions.length, ours.rules.length], [1, 1, 1, 1]);
      assert.equal((await cameraSetupStatus(vapix)).schedule?.description, 'every 2 hours');

      const removed = await removeCameraSetup(vapix);
      assert.deepEqual(removed.removed, [`rule ${second.rule.id}`, `send-images action ${second.action.id}`, `schedule ${second.schedule?.id}`, `recipient ${second.recipient.id}`]);
      assert.deepEqual(simulator.configuration(), before, 'remove restores the camera');
      assert.equal((await cameraSetupStatus(vapix)).state, 'absent');
      assert.deepEqual((await removeCameraSetup(vapix)).removed, [], 'removing again is not an error');
    });
  });

  const STEPS = [
    { operation: 'AddRecipientConfiguration', step: 'adding the recipient', createdBefore: 0 },
    { operation: 'AddScheduledEvent', step: 'adding the pulse schedule', createdBefore: 1 },
    { operation: 'AddActionConfiguration', step: 'adding the send-images action', createdBefore: 2 },
    { operation: 'AddActionRule', step: 'adding the rule', createdBefore: 3 },
  ];
  const FAILURES: { label: string; failure: InjectedFailure; reason: RegExp }[] = [
    { label: 'a SOAP fault', failure: { kind: 'fault', subcode: 'aa:InvalidParameterFault', reason: 'upload_url is bad' }, reason: /SOAP fault InvalidParameterFault: upload_url is bad \(HTTP 400\)/ },
    { label: 'an HTTP 500', failure: { kind: 'http', status: 500, body: '<html>Internal error</html>' }, reason: /answered HTTP 500: Internal error/ },
    { label: 'a dropped connection', failure: { kind: 'disconnect' }, reason: /Cannot reach 127\.0\.0\.1:\d+: socket hang up/ },
  ];

  for (const { operation, step, createdBefore } of STEPS) {
    for (const { label, failure, reason } of FAILURES) {
      it(`rolls back when ${operation} fails with ${label}, leaving the previous setup working`, async () => {
        await withCamera(async (simulator, vapix) => {
          seedForeignConfiguration(simulator);
          await setupCamera(vapix, OPTIONS);
          const before = simulator.configuration();

          simulator.failNext(operation, failure);
          const error = await setupCamera(vapix, { ...OPTIONS, every: parsePulseInterval('5m') }).then(
            () => assert.fail('setup should fail'),
            (failed: unknown) => failed,
          );
          assert.ok(error instanceof CameraSetupError, String(error));
          assert.equal(error.step, step);
          assert.match(error.message, new RegExp(`^${step} failed: `));
          assert.match(error.message, reason);
          assert.equal(error.rollback.removed.length, createdBefore);
          assert.deepEqual(error.rollback.failed, []);
          assert.match(error.message, createdBefore === 0 ? /nothing had been changed on the camera/ : /rolled back: removed /);
          assert.deepEqual(simulator.configuration(), before, 'the camera is as it was before this run');
          assert.equal((await cameraSetupStatus(vapix)).state, 'configured');
        });
      });
    }
  }

  it('reports an incomplete rollback, and the next run cleans up what was left', async () => {
    await withCamera(async (simulator, vapix) => {
      simulator.failNext('AddActionRule', { kind: 'fault', reason: 'out of rules' });
      simulator.failNext('RemoveScheduledEvent', { kind: 'fault', reason: 'busy' });
      const error = await setupCamera(vapix, OPTIONS).catch((failed: unknown) => failed);
      assert.ok(error instanceof CameraSetupError);
      assert.deepEqual(error.rollback.removed, ['send-images action 1', 'recipient 1']);
      assert.deepEqual(error.rollback.failed.map(({ what }) => what), ['schedule 1']);
      assert.match(error.message, /ROLLBACK INCOMPLETE: could not remove schedule 1 \(RemoveScheduledEvent: SOAP fault InjectedFault: busy/);

      const result = await setupCamera(vapix, OPTIONS);
      assert.deepEqual(result.replaced, ['schedule 1']);
      const ours = named(simulator.configuration(), 'images-to-s3');
      assert.deepEqual([ours.recipients.length, ours.schedules.length, ours.actions.length, ours.rules.length], [1, 1, 1, 1]);
    });
  });

  it('cleans up, on the next run, what the camera created although its answer was lost', async () => {
    await withCamera(async (simulator, vapix) => {
      simulator.failNext('AddActionConfiguration', { kind: 'disconnect-after-applying' });
      await assert.rejects(setupCamera(vapix, OPTIONS), CameraSetupError);
      assert.equal(named(simulator.configuration(), 'images-to-s3').actions.length, 1, 'an orphan the client never heard of');
      const result = await setupCamera(vapix, OPTIONS);
      assert.deepEqual(result.replaced, ['send-images action 1']);
      assert.equal((await cameraSetupStatus(vapix)).state, 'configured');
    });
  });

  it('says so when the new setup is in place but the previous one could not be removed', async () => {
    await withCamera(async (simulator, vapix) => {
      const first = await setupCamera(vapix, OPTIONS);
      simulator.failNext('RemoveActionRule', { kind: 'fault', reason: 'locked' });
      const error = await setupCamera(vapix, OPTIONS).catch((failed: unknown) => failed);
      assert.ok(error instanceof CameraStepError && !(error instanceof CameraSetupError));
      assert.equal(error.step, `removing the previous rule ${first.rule.id}`);
      assert.match(error.message, /the new setup \(rule 2\) is in place and working/);
      assert.equal(named(simulator.configuration(), 'images-to-s3').rules.length, 2);
      // Running it again converges.
      await setupCamera(vapix, OPTIONS);
      assert.equal((await cameraSetupStatus(vapix)).state, 'configured');
    });
  });

  it('stops before changing anything when the camera lacks a template', async () => {
    await withCamera(
      async (simulator, vapix) => {
        const error = await setupCamera(vapix, OPTIONS).catch((failed: unknown) => failed);
        assert.ok(error instanceof CameraSetupError);
        assert.ok(error.cause instanceof UnsupportedCameraError);
        assert.match(error.message, /no template com\.axis\.recipient\.https .*nothing had been changed/);
        assert.ok(!simulator.calls.some((call) => call.startsWith('Add')));
      },
      { recipientTemplates: SIMULATED_RECIPIENT_TEMPLATES.filter((template) => template.token !== 'com.axis.recipient.https') },
    );
  });

  it('goes ahead when the camera cannot list templates (a fault), as older firmware might', async () => {
    await withCamera(async (simulator, vapix) => {
      simulator.failNext('GetRecipientTemplates', { kind: 'fault', subcode: 'ter:ActionNotSupported', reason: 'not supported' });
      await setupCamera(vapix, OPTIONS);
      assert.equal((await cameraSetupStatus(vapix)).state, 'configured');
    });
  });

  it('works with a device that answers with other namespace prefixes', async () => {
    await withCamera(
      async (_, vapix) => {
        await setupCamera(vapix, OPTIONS);
        const status = await cameraSetupStatus(vapix);
        assert.equal(status.state, 'configured', status.problems.join('; '));
        assert.deepEqual((await removeCameraSetup(vapix)).removed.length, 4);
      },
      { prefixes: { soap: 'env', action: 'ns3', event: 'ev', tns1: 'onvif', tnsaxis: 'ax' } },
    );
  });

  it('keeps setups of different names apart', async () => {
    await withCamera(async (simulator, vapix) => {
      await setupCamera(vapix, OPTIONS);
      await setupCamera(vapix, { ...OPTIONS, name: 'front-door', recipient: 'https://other.example/' });
      assert.deepEqual((await cameraSetupStatus(vapix)).otherSetups, ['images-to-s3 front-door']);
      assert.equal((await cameraSetupStatus(vapix, 'front-door')).recipient?.url, 'https://other.example/');
      await removeCameraSetup(vapix, 'front-door');
      assert.deepEqual(others(simulator.configuration(), 'images-to-s3'), { recipients: [], schedules: [], actions: [], rules: [] });
      assert.equal((await cameraSetupStatus(vapix)).state, 'configured');
    });
  });

  it('refuses invalid options before sending anything', async () => {
    await withCamera(async (simulator, vapix) => {
      const refused: CameraSetupOptions[] = [
        { ...OPTIONS, token: 'short' },
        { ...OPTIONS, token: 'has spaces and & in it!!' },
        { ...OPTIONS, recipient: 'ftp://x/' },
        { ...OPTIONS, recipient: 'https://user:pw@x/' },
        { ...OPTIONS, recipient: 'not a url' },
        { ...OPTIONS, recipient: 'https://r.example/?accessToken=abcdefghijklmnop' },
        { ...OPTIONS, name: '../etc' },
        { ...OPTIONS, filename: ' ' },
        { ...OPTIONS, maxImages: 0 },
        { ...OPTIONS, on: 'motion', every: parsePulseInterval('1m') },
        { ...OPTIONS, on: 'motoin' },
        { ...OPTIONS, on: 'input' },
        { ...OPTIONS, send: 'clip', maxImages: 2 },
        { ...OPTIONS, on: 'motion', clipWhileActive: true },
        { ...OPTIONS, send: 'clip', clipWhileActive: true },
        { ...OPTIONS, send: 'video' as 'clip' },
        { ...OPTIONS, preMs: -1 },
      ];
      for (const options of refused) await assert.rejects(setupCamera(vapix, options), InvalidSetupOptionError, JSON.stringify(options));
      assert.deepEqual(simulator.calls, []);
    });
  });
});

describe('camera status', () => {
  it('names every inconsistency', async () => {
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, OPTIONS);
      await vapix.removeRecipientConfiguration(result.recipient.id);
      simulator.seed({ rules: [{ name: 'images-to-s3', enabled: false, conditions: [], primaryAction: result.action.id, startEvent: { topic: 'tns1:Device/Trigger', topicDialect: 'x' } }] });
      const status = await cameraSetupStatus(vapix);
      assert.equal(status.state, 'inconsistent');
      assert.deepEqual(status.problems, ['2 rules with this name (expected one)', 'no recipient']);
    });
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, OPTIONS);
      await vapix.removeActionRule(result.rule.id);
      simulator.seed({
        schedules: [{ name: 'elsewhere', icalendar: 'DTSTART:19700101T000000\nRRULE:FREQ=HOURLY' }],
        rules: [
          {
            name: 'images-to-s3',
            enabled: false,
            conditions: [],
            primaryAction: '99',
            startEvent: { topic: PULSE_TOPIC, topicDialect: 'x', messageContent: 'boolean(//SimpleItem[@Name="id" and @Value="2"])' },
          },
        ],
      });
      const status = await cameraSetupStatus(vapix);
      assert.deepEqual(status.problems, [
        'rule 2 is disabled',
        `rule 2 runs action 99, not send-images action ${result.action.id}`,
        `rule 2 waits for the pulse of schedule 2, not schedule ${result.schedule?.id}`,
      ]);
    });
  });
});

describe('camera remove', () => {
  it('names the part that could not be removed and what already was', async () => {
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, OPTIONS);
      simulator.failNext('RemoveScheduledEvent', { kind: 'fault', reason: 'busy' });
      const error = await removeCameraSetup(vapix).catch((failed: unknown) => failed);
      assert.ok(error instanceof CameraStepError);
      assert.ok(error.cause instanceof SoapFaultError);
      assert.equal(error.step, `removing schedule ${result.schedule?.id}`);
      assert.match(error.message, new RegExp(`already removed: rule ${result.rule.id}, send-images action ${result.action.id}$`));
      assert.deepEqual((await removeCameraSetup(vapix)).removed, [`schedule ${result.schedule?.id}`, `recipient ${result.recipient.id}`]);
    });
  });
});

describe('camera setup on an event', () => {
  const MOTION_CLIP: CameraSetupOptions = { ...OPTIONS, on: 'motion', send: 'clip', preMs: 3000, postMs: 7000 };
  const VMD_ANY = `{${TNSAXIS_NS}}CameraApplicationPlatform/VMD/Camera1ProfileANY`;
  const RECIPIENT_PARAMETERS: [string, string][] = [
    ['upload_url', RECIPIENT],
    ['validate_server_cert', '1'],
    ['login', ''],
    ['password', ''],
    ['proxy_host', ''],
    ['proxy_port', ''],
    ['proxy_login', ''],
    ['proxy_password', ''],
    ['qos', '0'],
  ];

  it('--on motion --send clip --pre 3s --post 7s: a send_videoclip action with every parameter, and a rule started by VMD motion', async () => {
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, MOTION_CLIP);
      assert.deepEqual(simulator.calls, [
        'GetRecipientTemplates',
        'GetActionTemplates',
        'GetActionRules',
        'GetActionConfigurations',
        'GetScheduledEvents',
        'GetRecipientConfigurations',
        'GetEventInstances',
        'AddRecipientConfiguration',
        'AddActionConfiguration',
        'AddActionRule',
      ]);
      const { recipients, schedules, actions, rules } = simulator.configuration();
      assert.equal(recipients.length, 1);
      assert.deepEqual(schedules, [], 'no pulse schedule for an event');
      assert.deepEqual(actions, [
        {
          id: result.action.id,
          name: 'images-to-s3',
          templateToken: 'com.axis.action.fixed.send_videoclip.https',
          parameters: [
            ['stream_options', '&videocodec=h264&audio=0&camera=1'],
            ['pre_duration', '3000'],
            ['post_duration', '7000'],
            ['create_folder', ''],
            ['filename', 'clip%y-%m-%d_%H-%M-%S-%f.mkv'],
            ['max_file_size', ''],
            ['max_duration', ''],
            ['custom_params', `accessToken=${TOKEN}`],
            ...RECIPIENT_PARAMETERS,
          ],
        },
      ]);
      assert.deepEqual(rules, [
        {
          id: result.rule.id,
          name: 'images-to-s3',
          enabled: true,
          startEvent: {
            topic: VMD_ANY,
            topicDialect: 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet',
            messageContent: 'boolean(//SimpleItem[@Name="active" and @Value="1"])',
          },
          conditions: [],
          primaryAction: result.action.id,
        },
      ]);
      assert.deepEqual(result.event, { on: 'tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY active=1', placement: 'start' });
      assert.equal(result.schedule, undefined);
      assert.equal(result.action.sends, 'clip from 3 s before to 7 s after the event');

      // The TopicExpression carries its own namespace declarations, as Axis' examples do.
      const request = simulator.requests.find((sent) => sent.operation === 'AddActionRule')?.body ?? '';
      const topic = parseXml(request).getElementsByTagNameNS('http://docs.oasis-open.org/wsn/b-2', 'TopicExpression')[0];
      assert.ok(topic);
      assert.equal(topic.getAttribute('xmlns:tns1'), TNS1_NS);
      assert.equal(topic.getAttribute('xmlns:tnsaxis'), TNSAXIS_NS);
      assert.equal(topic.getAttribute('Dialect'), 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet');
      assert.equal(topic.textContent, 'tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY');
    });
  });

  it('status shows the trigger and the clip; a re-run replaces it; remove restores the camera', async () => {
    await withCamera(async (simulator, vapix) => {
      seedForeignConfiguration(simulator);
      const before = simulator.configuration();
      const first = await setupCamera(vapix, MOTION_CLIP);
      const status = await cameraSetupStatus(vapix);
      assert.equal(status.state, 'configured', status.problems.join('; '));
      assert.deepEqual(status.rule, { id: first.rule.id, enabled: true, trigger: 'on tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY active=1' });
      assert.equal(status.schedule, undefined);
      assert.equal(status.action?.sends, 'clip from 3 s before to 7 s after the event');
      assert.equal(status.action?.templateToken, 'com.axis.action.fixed.send_videoclip.https');
      assert.equal(status.action?.token, 'present (Q2x…)');

      const configured = named(simulator.configuration(), 'images-to-s3');
      const second = await setupCamera(vapix, MOTION_CLIP);
      assert.deepEqual(second.replaced, [`rule ${first.rule.id}`, `send-clip action ${first.action.id}`, `recipient ${first.recipient.id}`]);
      const again = named(simulator.configuration(), 'images-to-s3');
      const withoutIds = <T extends { id: string }>(items: T[]): Omit<T, 'id'>[] => items.map(({ id: _, ...rest }) => rest);
      assert.deepEqual(withoutIds(again.actions), withoutIds(configured.actions), 'the same action, new ID');
      assert.deepEqual(
        again.rules.map(({ id: _, primaryAction: __, ...rest }) => rest),
        configured.rules.map(({ id: _, primaryAction: __, ...rest }) => rest),
      );
      assert.deepEqual(others(simulator.configuration(), 'images-to-s3'), before);

      const removed = await removeCameraSetup(vapix);
      assert.deepEqual(removed.removed, [`rule ${second.rule.id}`, `send-clip action ${second.action.id}`, `recipient ${second.recipient.id}`]);
      assert.deepEqual(simulator.configuration(), before);
    });
  });

  it('switches a pulse setup to an event and back, the pulse schedule going and coming with it', async () => {
    await withCamera(async (simulator, vapix) => {
      const pulse = await setupCamera(vapix, OPTIONS);
      const event = await setupCamera(vapix, { ...OPTIONS, on: 'input:1', maxImages: 3, preMs: 1000 });
      assert.deepEqual(event.replaced, [`rule ${pulse.rule.id}`, `send-images action ${pulse.action.id}`, `schedule ${pulse.schedule?.id}`, `recipient ${pulse.recipient.id}`]);
      assert.deepEqual(simulator.configuration().schedules, []);
      const status = await cameraSetupStatus(vapix);
      assert.equal(status.state, 'configured', status.problems.join('; '));
      assert.equal(status.rule?.trigger, 'on tns1:Device/tnsaxis:IO/Port port=1 state=1');
      assert.equal(status.action?.sends, 'up to 3 image(s)');
      assert.deepEqual(
        simulator.configuration().actions[0]?.parameters.filter(([name]) => ['pre_duration', 'post_duration', 'max_images'].includes(name)),
        [
          ['pre_duration', '1000'],
          ['post_duration', '3000'],
          ['max_images', '3'],
        ],
      );

      await setupCamera(vapix, { ...OPTIONS, every: parsePulseInterval('10s') });
      const back = await cameraSetupStatus(vapix);
      assert.equal(back.state, 'configured', back.problems.join('; '));
      assert.deepEqual([back.rule?.trigger, back.schedule?.description], ['pulse', 'every 10 seconds']);
    });
  });

  it('records while an input is active: an unlimited clip action, the input as the rule\'s condition', async () => {
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, { ...OPTIONS, on: 'input:2', send: 'clip', clipWhileActive: true, postMs: 30_000 });
      const { actions, rules } = simulator.configuration();
      assert.equal(actions[0]?.templateToken, 'com.axis.action.unlimited.send_videoclip.https');
      assert.deepEqual(rules[0]?.startEvent, undefined);
      assert.deepEqual(rules[0]?.conditions, [
        {
          topic: `{${TNS1_NS}}Device/{${TNSAXIS_NS}}IO/Port`,
          topicDialect: 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet',
          messageContent: 'boolean(//SimpleItem[@Name="port" and @Value="2"]) and boolean(//SimpleItem[@Name="state" and @Value="1"])',
        },
      ]);
      assert.deepEqual(result.event, { on: 'tns1:Device/tnsaxis:IO/Port port=2 state=1', placement: 'condition' });
      const status = await cameraSetupStatus(vapix);
      assert.equal(status.state, 'configured', status.problems.join('; '));
      assert.equal(status.rule?.trigger, 'while tns1:Device/tnsaxis:IO/Port port=2 state=1');
      assert.equal(status.action?.sends, 'clip from 3 s before the event while it lasts until 30 s after it ends');
    });
  });

  it('stops before changing anything when the camera does not offer the event, or it does not suit', async () => {
    const cases: [Partial<CameraSetupOptions>, RegExp][] = [
      [{ on: 'tns1:VideoSource/tnsaxis:Smoke' }, /^looking the event up among the camera's events failed: the camera offers no event tns1:VideoSource\/tnsaxis:Smoke; `camera events` lists the events it has; nothing had been changed on the camera$/],
      [{ on: 'input:7' }, /the camera has no input 7/],
      [{ on: 'tampering', send: 'clip', clipWhileActive: true }, /momentary event/],
      [{ on: 'storage', send: 'clip', clipWhileActive: true }, /is 2 events, one per disk_id/],
    ];
    for (const [options, message] of cases) {
      await withCamera(async (simulator, vapix) => {
        seedForeignConfiguration(simulator);
        const before = simulator.configuration();
        const error = await setupCamera(vapix, { ...OPTIONS, ...options }).catch((failed: unknown) => failed);
        assert.ok(error instanceof CameraSetupError, String(error));
        assert.ok(error.cause instanceof CameraEventError);
        assert.match(error.message, message);
        assert.ok(!simulator.calls.some((call) => call.startsWith('Add') || call.startsWith('Remove')));
        assert.deepEqual(simulator.configuration(), before);
      });
    }
  });

  it('refuses the schedule of the setup it replaces as the event, and takes another schedule', async () => {
    await withCamera(async (simulator, vapix) => {
      const pulse = await setupCamera(vapix, OPTIONS);
      const before = simulator.configuration();
      const own = `tns1:UserAlarm/tnsaxis:Recurring/Pulse id=${pulse.schedule?.id}`;
      const error = await setupCamera(vapix, { ...OPTIONS, on: own }).catch((failed: unknown) => failed);
      assert.ok(error instanceof CameraSetupError && error.cause instanceof CameraEventError, String(error));
      assert.match(error.message, /is the schedule of the setup this one replaces.*use --every instead of --on; nothing had been changed/);
      assert.deepEqual(simulator.configuration(), before);

      const other = await setupCamera(vapix, { ...OPTIONS, name: 'other', on: own });
      assert.equal(other.event?.on, own);
      assert.equal((await cameraSetupStatus(vapix, 'other')).state, 'configured');
    });
  });

  for (const operation of ['AddActionConfiguration', 'AddActionRule']) {
    it(`rolls back when ${operation} fails, leaving the previous pulse setup working`, async () => {
      await withCamera(async (simulator, vapix) => {
        await setupCamera(vapix, OPTIONS);
        const before = simulator.configuration();
        simulator.failNext(operation, { kind: 'fault', subcode: 'aa:InvalidConditionFilterFault', reason: 'no' });
        const error = await setupCamera(vapix, MOTION_CLIP).catch((failed: unknown) => failed);
        assert.ok(error instanceof CameraSetupError);
        assert.equal(error.step, operation === 'AddActionRule' ? 'adding the rule' : 'adding the send-clip action');
        assert.deepEqual(error.rollback.removed, operation === 'AddActionRule' ? ['send-clip action 2', 'recipient 2'] : ['recipient 2']);
        assert.deepEqual(simulator.configuration(), before);
        assert.equal((await cameraSetupStatus(vapix)).rule?.trigger, 'pulse');
      });
    });
  }

  it('sends every parameter the camera\'s template lists, and refuses one that lacks a parameter setup needs', async () => {
    const withExtra = SIMULATED_ACTION_TEMPLATES.map((template) =>
      template.token === 'com.axis.action.fixed.send_videoclip.https' ? { ...template, parameters: [...template.parameters, 'stream_profile'] } : template,
    );
    await withCamera(
      async (simulator, vapix) => {
        await setupCamera(vapix, MOTION_CLIP);
        assert.deepEqual(simulator.configuration().actions[0]?.parameters.find(([name]) => name === 'stream_profile'), ['stream_profile', '']);
      },
      { actionTemplates: withExtra },
    );
    const withoutCustomParameters = SIMULATED_ACTION_TEMPLATES.map((template) => ({ ...template, parameters: template.parameters.filter((name) => name !== 'custom_params') }));
    await withCamera(
      async (simulator, vapix) => {
        const error = await setupCamera(vapix, MOTION_CLIP).catch((failed: unknown) => failed);
        assert.ok(error instanceof CameraSetupError && error.cause instanceof UnsupportedCameraError, String(error));
        assert.match(error.message, /template com\.axis\.action\.fixed\.send_videoclip\.https has no parameter custom_params, which this setup needs/);
        assert.ok(!simulator.calls.some((call) => call.startsWith('Add')));
      },
      { actionTemplates: withoutCustomParameters },
    );
    await withCamera(
      async (simulator, vapix) => {
        const error = await setupCamera(vapix, MOTION_CLIP).catch((failed: unknown) => failed);
        assert.match(String(error), /no template com\.axis\.action\.fixed\.send_videoclip\.https .*cannot send video clips over HTTPS/);
        assert.ok(!simulator.calls.some((call) => call.startsWith('Add')));
      },
      { actionTemplates: SIMULATED_ACTION_TEMPLATES.filter((template) => !template.token.includes('videoclip')) },
    );
  });

  it('works with a device that answers with other namespace prefixes', async () => {
    await withCamera(
      async (_, vapix) => {
        await setupCamera(vapix, { ...MOTION_CLIP, on: 'storage disk_id=SD_DISK', clipWhileActive: true });
        const status = await cameraSetupStatus(vapix);
        assert.equal(status.state, 'configured', status.problems.join('; '));
        assert.equal(status.rule?.trigger, 'while tnsaxis:Storage/Disruption disk_id=SD_DISK disruption=1');
      },
      { prefixes: { soap: 'env', action: 'ns3', event: 'ev', tns1: 'onvif', tnsaxis: 'ax' } },
    );
  });

  it('status names a left-over pulse schedule and an unlimited action without a condition', async () => {
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, MOTION_CLIP);
      simulator.seed({ schedules: [{ name: 'images-to-s3', icalendar: 'DTSTART:19700101T000000\nRRULE:FREQ=MINUTELY;INTERVAL=1' }] });
      const leftOver = await cameraSetupStatus(vapix);
      assert.deepEqual(leftOver.problems, [`schedule 1 is left over: rule ${result.rule.id} is not started by a pulse`]);
    });
    await withCamera(async (simulator, vapix) => {
      const [action] = simulator.seed({ actions: [{ name: 'images-to-s3', templateToken: 'com.axis.action.unlimited.send_videoclip.https', parameters: [['upload_url', RECIPIENT], ['custom_params', `accessToken=${TOKEN}`]] }] }).actions;
      simulator.seed({
        recipients: [{ name: 'images-to-s3', templateToken: 'com.axis.recipient.https', parameters: [['upload_url', RECIPIENT]] }],
        rules: [{ name: 'images-to-s3', enabled: true, startEvent: { topic: VMD_ANY, topicDialect: 'x' }, conditions: [], primaryAction: action?.id ?? '' }],
      });
      assert.deepEqual((await cameraSetupStatus(vapix)).problems, [`rule 1 has no condition, which the unlimited action ${action?.id} needs to end`]);
    });
  });
});

describe('the simulated camera checks rules on events as a real one does', () => {
  const CONCRETE_SET = 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet';
  const cases: { label: string; rule: (actionId: string) => ActionRuleInput; fault: RegExp; unlimited?: boolean }[] = [
    {
      label: 'an undeclared prefix',
      rule: (action) => ({ name: 'r', enabled: true, startEvent: { topicExpression: 'acme:VideoSource/MotionAlarm', topicDialect: CONCRETE_SET }, primaryAction: action }),
      fault: /InvalidFilterFault: prefix acme of the topic expression is not declared/,
    },
    {
      label: 'a topic the camera does not offer',
      rule: (action) => ({ name: 'r', enabled: true, startEvent: { topicExpression: 'tns1:VideoSource/Smoke', topicDialect: CONCRETE_SET }, primaryAction: action }),
      fault: /InvalidFilterFault: the start event names topic \{http:\/\/www\.onvif\.org\/ver10\/topics\}VideoSource\/Smoke, which this device does not offer/,
    },
    {
      label: 'a topic in the wrong namespace',
      rule: (action) => ({ name: 'r', enabled: true, startEvent: { topicExpression: 'tnsaxis:VideoSource/MotionAlarm', topicDialect: CONCRETE_SET }, primaryAction: action }),
      fault: /does not offer/,
    },
    {
      label: 'an item the event does not have',
      rule: (action) => ({
        name: 'r',
        enabled: true,
        startEvent: { topicExpression: 'tns1:Device/tnsaxis:IO/Port', topicDialect: CONCRETE_SET, messageContent: itemFilter([['input', '1']]) },
        primaryAction: action,
      }),
      fault: /names item input, which .*IO\/Port does not have/,
    },
    {
      label: 'a value the camera does not list',
      rule: (action) => ({
        name: 'r',
        enabled: true,
        startEvent: { topicExpression: 'tns1:Device/tnsaxis:IO/Port', topicDialect: CONCRETE_SET, messageContent: itemFilter([['port', '5']]) },
        primaryAction: action,
      }),
      fault: /has no port 5/,
    },
    {
      label: 'a message content that is no item filter',
      rule: (action) => ({
        name: 'r',
        enabled: true,
        startEvent: { topicExpression: 'tns1:Device/tnsaxis:IO/Port', topicDialect: CONCRETE_SET, messageContent: '//SimpleItem[@Name="port"]' },
        primaryAction: action,
      }),
      fault: /not an item filter/,
    },
    {
      label: 'a stateless event as a condition',
      rule: (action) => ({ name: 'r', enabled: true, conditions: [{ topicExpression: 'tns1:VideoSource/tnsaxis:Tampering', topicDialect: CONCRETE_SET }], primaryAction: action }),
      fault: /InvalidConditionFilterFault: .*stateless events cannot be used as conditions/,
    },
    {
      label: 'a condition matching several stateful events',
      rule: (action) => ({ name: 'r', enabled: true, conditions: [{ topicExpression: 'tns1:Device/tnsaxis:IO/Port', topicDialect: CONCRETE_SET }], primaryAction: action }),
      fault: /InvalidConditionFilterFault: the condition matches multiple stateful events \(port: 1, 2\)/,
    },
    {
      label: 'an unlimited action without a condition',
      rule: (action) => ({ name: 'r', enabled: true, startEvent: { topicExpression: 'tns1:VideoSource/MotionAlarm', topicDialect: CONCRETE_SET }, primaryAction: action }),
      fault: /unlimited actions require at least one condition/,
      unlimited: true,
    },
  ];
  for (const { label, rule, fault, unlimited } of cases) {
    it(`refuses ${label}`, async () => {
      await withCamera(async (simulator, vapix) => {
        const [action] = simulator.seed({
          actions: [{ name: 'a', templateToken: `com.axis.action.${unlimited ? 'unlimited' : 'fixed'}.send_videoclip.https`, parameters: [] }],
        }).actions;
        const error = await vapix.addActionRule(rule(action?.id ?? '')).catch((failed: unknown) => failed);
        assert.ok(error instanceof SoapFaultError, String(error));
        assert.match(error.message, fault);
        assert.deepEqual(simulator.configuration().rules, []);
      });
    });
  }
});
