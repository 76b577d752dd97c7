import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';

import { CameraSetupError, UnsupportedCameraError } from '../../src/camera/vapix/errors.js';
import { CameraHttpClient } from '../../src/camera/vapix/http.js';
import {
  describeFingerprint,
  destinationOf,
  fileDestination,
  InvalidRecipientError,
  parseHostKeyFingerprint,
  recipientUrl,
} from '../../src/camera/vapix/recipients.js';
import { VapixClient } from '../../src/camera/vapix/services.js';
import { cameraSetupStatus, InvalidSetupOptionError, removeCameraSetup, setupCamera } from '../../src/camera/vapix/setup.js';
import type { CameraSetupOptions } from '../../src/camera/vapix/setup.js';
import { fingerprints } from '../../src/sftp/host-keys.js';
import { FTP_RECIPIENT, SFTP_RECIPIENT, SIMULATED_ACTION_TEMPLATES, SIMULATED_RECIPIENT_TEMPLATES, VapixSimulator } from '../support/vapix-simulator.js';
import type { SimulatedConfigurationState, VapixSimulatorOptions } from '../support/vapix-simulator.js';

const TOKEN = 'Q2x9abcdefghijklmnopqrstuvwxyz01';
const MD5 = 'e4:61:4d:5e:64:85:0d:18:cf:db:ab:cf:4b:5b:b3:1f';
const MD5_HEX = MD5.replace(/:/g, '');
const SHA256 = 'SHA256:sm0y0xxzovl25RUmlLViwP01u4HPN6QuqKRWVhGZuPc';
const SFTP: CameraSetupOptions = { recipient: 'sftp://192.168.1.20:2222/', token: TOKEN, login: 'gate', sftpFingerprint: MD5, name: 'gate' };
const FTP: CameraSetupOptions = { recipient: 'ftp://192.168.1.20:2121/', token: TOKEN, login: 'gate', name: 'gate' };
const EMPTY: SimulatedConfigurationState = { recipients: [], schedules: [], actions: [], rules: [] };

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

describe('recipient URLs and host key fingerprints', () => {
  it('reads sftp:// and ftp:// recipients, with default ports, IPv6 hosts and folders', () => {
    assert.deepEqual(fileDestination(recipientUrl('sftp://192.168.1.20:2222/')), { protocol: 'sftp', host: '192.168.1.20', port: 2222, uploadPath: '' });
    assert.deepEqual(fileDestination(recipientUrl('sftp://receiver.lan')), { protocol: 'sftp', host: 'receiver.lan', port: 22, uploadPath: '' });
    assert.deepEqual(fileDestination(recipientUrl('ftp://receiver.lan:21/')), { protocol: 'ftp', host: 'receiver.lan', port: 21, uploadPath: '' });
    assert.deepEqual(fileDestination(recipientUrl('ftp://[fd00::20]:2121/site/gate%20a/')), { protocol: 'ftp', host: 'fd00::20', port: 2121, uploadPath: '/site/gate a' });
    // With --protocol, host:port will do; a URL must agree with it.
    assert.equal(recipientUrl('192.168.1.20:2222', 'sftp').href, 'sftp://192.168.1.20:2222');
    assert.equal(recipientUrl('https://r.example/', 'https').href, 'https://r.example/');
    assert.throws(() => recipientUrl('https://r.example/', 'sftp'), /--protocol sftp does not go with --recipient https:\/\/r\.example\//);
    assert.throws(() => recipientUrl('192.168.1.20:2222'), InvalidRecipientError);
    assert.throws(() => recipientUrl('ftps://r.example/'), /Axis' FTP recipient has no TLS setting/);
    assert.throws(() => recipientUrl('smb://r.example/'), /must be an https:\/\/, http:\/\/, sftp:\/\/ or ftp:\/\/ URL, not smb:/);
    assert.throws(() => fileDestination(recipientUrl('sftp://gate:secret@r.example/')), /must not contain a user or password/);
    assert.throws(() => fileDestination(recipientUrl('ftp://r.example/?x=1')), /no query or fragment/);
    assert.throws(() => fileDestination(recipientUrl('sftp://r.example:0/')), /the port must be 1–65535/);
  });

  it('shows a recipient as the URL it stands for, from its parameters', () => {
    assert.equal(destinationOf('com.axis.recipient.sftp', { host: '192.168.1.20', port: '2222', upload_path: '' }), 'sftp://192.168.1.20:2222/');
    assert.equal(destinationOf('com.axis.action.fixed.send_images.ftp', { host: 'fd00::20', port: '21', upload_path: '/site/gate' }), 'ftp://[fd00::20]:21/site/gate/');
    assert.equal(destinationOf('com.axis.action.fixed.send_images.https', { upload_url: 'https://r.example/x' }), 'https://r.example/x');
  });

  it('takes a fingerprint in every form `sftp fingerprints` prints, and gives it in the form VAPIX documents', () => {
    for (const text of [MD5, `MD5 ${MD5}`, `MD5:${MD5.toUpperCase()}`, MD5_HEX]) assert.deepEqual(parseHostKeyFingerprint(text), { md5: MD5_HEX }, text);
    assert.deepEqual(parseHostKeyFingerprint(SHA256), { sha256: SHA256.slice('SHA256:'.length) });
    // The SHA-256 as hex pairs (`sftp fingerprints --json`'s sha256Hex) is the same fingerprint.
    const key = Buffer.from('a public key in SSH wire format');
    const { sha256 } = fingerprints(key);
    const hex = createHash('sha256').update(key).digest('hex');
    assert.deepEqual(parseHostKeyFingerprint(hex.replace(/(..)(?!$)/g, '$1:')), { sha256: sha256.slice('SHA256:'.length) });
    assert.deepEqual(parseHostKeyFingerprint(hex), { sha256: sha256.slice('SHA256:'.length) });
    for (const text of ['', 'SHA256:short', 'e4:61:4d', 'ssh-rsa AAAAB3NzaC1yc2E']) assert.throws(() => parseHostKeyFingerprint(text), /give the RSA host key's fingerprint/, text);
    assert.equal(describeFingerprint({ md5: MD5_HEX }), `MD5 ${MD5}`);
    assert.equal(describeFingerprint({ md5: '', sha256: 'abc' }), 'SHA256:abc');
  });
});

describe('camera setup with an SFTP recipient', () => {
  it('creates the SFTP recipient and a send_images.sftp action with every parameter: password authentication, the host key pinned, no folder', async () => {
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, SFTP);
      const recipientParameters: [string, string][] = [
        ['host', '192.168.1.20'],
        ['upload_path', ''],
        ['port', '2222'],
        ['login', 'gate'],
        ['password', TOKEN],
        ['ssh_host_pub_key_md5', MD5_HEX],
        ['ssh_host_pub_key_sha256', ''],
        ['ssh_auth_type', '2'],
        ['ssh_public_key', ''],
        ['ssh_private_key', ''],
        ['ssh_private_key_passphrase', ''],
        ['temporary', '0'],
        ['qos', '0'],
      ];
      const { recipients, actions, rules, schedules } = simulator.configuration();
      assert.deepEqual(recipients, [{ id: result.recipient.id, name: 'images-to-s3 gate', templateToken: 'com.axis.recipient.sftp', parameters: recipientParameters }]);
      assert.deepEqual(actions, [
        {
          id: result.action.id,
          name: 'images-to-s3 gate',
          templateToken: 'com.axis.action.fixed.send_images.sftp',
          parameters: [
            ['stream_options', '&videocodec=jpeg&audio=0&camera=1'],
            ['pre_duration', '0'],
            ['post_duration', '3000'],
            ['max_images', '1'],
            ['create_folder', ''],
            ['filename', 'image%y-%m-%d_%H-%M-%S-%f_#s.jpg'],
            ['max_sequence_number', '0'],
            ...recipientParameters,
          ],
        },
      ]);
      assert.equal(schedules.length, 1);
      assert.equal(rules[0]?.primaryAction, result.action.id);
      assert.deepEqual(result.recipient, { id: result.recipient.id, url: 'sftp://192.168.1.20:2222/', protocol: 'sftp', login: 'gate', hostKey: `MD5 ${MD5}` });
      assert.deepEqual(result.notes, []);

      const status = await cameraSetupStatus(vapix, 'gate');
      assert.equal(status.state, 'configured', status.problems.join('; '));
      assert.deepEqual(status.recipient, { id: result.recipient.id, url: 'sftp://192.168.1.20:2222/' });
      assert.equal(status.action?.url, 'sftp://192.168.1.20:2222/');
      assert.equal(status.action?.login, 'gate');
      assert.equal(status.action?.hostKey, `MD5 ${MD5}`);
      assert.equal(status.action?.token, 'present (Q2x…)');
      assert.equal(status.action?.sends, 'up to 1 image(s)');
    });
  });

  it('is idempotent: a re-run replaces the setup (even a switch from HTTPS), remove restores the camera', async () => {
    await withCamera(async (simulator, vapix) => {
      await setupCamera(vapix, { recipient: 'https://receiver.example/', token: TOKEN, name: 'gate' });
      const first = await setupCamera(vapix, SFTP);
      assert.deepEqual(first.replaced, ['rule 1', 'send-images action 1', 'schedule 1', 'recipient 1']);
      const afterFirst = simulator.configuration();
      const second = await setupCamera(vapix, SFTP);
      assert.deepEqual(second.replaced, [`rule ${first.rule.id}`, `send-images action ${first.action.id}`, `schedule ${first.schedule?.id}`, `recipient ${first.recipient.id}`]);
      const afterSecond = simulator.configuration();
      // The same setup under new IDs.
      const withoutIds = (state: SimulatedConfigurationState): unknown =>
        JSON.parse(JSON.stringify(state, (key: string, value: unknown) => (key === 'id' || key === 'primaryAction' || key === 'messageContent' ? undefined : value)));
      assert.deepEqual(withoutIds(afterSecond), withoutIds(afterFirst));
      assert.equal((await cameraSetupStatus(vapix, 'gate')).state, 'configured');

      const removed = await removeCameraSetup(vapix, 'gate');
      assert.deepEqual(removed.removed, [`rule ${second.rule.id}`, `send-images action ${second.action.id}`, `schedule ${second.schedule?.id}`, `recipient ${second.recipient.id}`]);
      assert.deepEqual(simulator.configuration(), EMPTY);
      assert.equal((await cameraSetupStatus(vapix, 'gate')).state, 'absent');
    });
  });

  it('sends a clip on motion with send_videoclip.sftp, and a clip while an input is active with the unlimited one', async () => {
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, { ...SFTP, recipient: 'sftp://receiver.lan/yard/', on: 'motion', send: 'clip' });
      const action = simulator.configuration().actions[0];
      assert.equal(action?.templateToken, 'com.axis.action.fixed.send_videoclip.sftp');
      assert.deepEqual(
        action?.parameters.slice(0, 7),
        [
          ['stream_options', '&videocodec=h264&audio=0&camera=1'],
          ['pre_duration', '3000'],
          ['post_duration', '7000'],
          ['create_folder', ''],
          ['filename', 'clip%y-%m-%d_%H-%M-%S-%f.mkv'],
          ['max_file_size', ''],
          ['max_duration', ''],
        ],
      );
      assert.ok(!action?.parameters.some(([name]) => name === 'custom_params'));
      assert.deepEqual(action?.parameters.filter(([name]) => ['host', 'port', 'upload_path'].includes(name)), [['host', 'receiver.lan'], ['upload_path', '/yard'], ['port', '22']]);
      assert.equal(result.recipient.url, 'sftp://receiver.lan:22/yard/');
      assert.equal((await cameraSetupStatus(vapix, 'gate')).state, 'configured');

      await setupCamera(vapix, { ...SFTP, on: 'input:1', send: 'clip', clipWhileActive: true });
      assert.equal(simulator.configuration().actions[0]?.templateToken, 'com.axis.action.unlimited.send_videoclip.sftp');
      assert.equal((await cameraSetupStatus(vapix, 'gate')).state, 'configured');
    });
  });

  it('pins the SHA-256 when given one, and refuses it on firmware whose template only takes the MD5', async () => {
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, { ...SFTP, sftpFingerprint: SHA256 });
      const parameters = new Map(simulator.configuration().recipients[0]?.parameters);
      assert.equal(parameters.get('ssh_host_pub_key_md5'), '');
      assert.equal(parameters.get('ssh_host_pub_key_sha256'), SHA256.slice('SHA256:'.length));
      assert.equal(result.recipient.hostKey, SHA256);
    });
    // The parameters of a real configuration published from AXIS OS 10.12: no SHA-256 field.
    const md5Only = (parameters: string[]): string[] => parameters.filter((name) => name !== 'ssh_host_pub_key_sha256');
    await withCamera(
      async (simulator, vapix) => {
        const error = await setupCamera(vapix, { ...SFTP, sftpFingerprint: SHA256 }).catch((failed: unknown) => failed);
        assert.ok(error instanceof CameraSetupError && error.cause instanceof UnsupportedCameraError, String(error));
        assert.match(error.message, /template com\.axis\.recipient\.sftp has no parameter ssh_host_pub_key_sha256, which this setup needs/);
        assert.ok(!simulator.calls.some((call) => call.startsWith('Add')));

        await setupCamera(vapix, SFTP);
        const parameters = simulator.configuration().recipients[0]?.parameters.map(([name]) => name);
        assert.deepEqual(parameters, md5Only(SFTP_RECIPIENT));
        assert.equal((await cameraSetupStatus(vapix, 'gate')).state, 'configured');
      },
      {
        recipientTemplates: SIMULATED_RECIPIENT_TEMPLATES.map((template) => (template.token === 'com.axis.recipient.sftp' ? { ...template, parameters: md5Only(template.parameters) } : template)),
      },
    );
  });

  it('stops before changing anything when the camera has no SFTP templates', async () => {
    await withCamera(
      async (simulator, vapix) => {
        const error = await setupCamera(vapix, SFTP).catch((failed: unknown) => failed);
        assert.ok(error instanceof CameraSetupError && error.cause instanceof UnsupportedCameraError, String(error));
        assert.match(error.message, /no template com\.axis\.action\.fixed\.send_images\.sftp .*cannot send images over SFTP this way with this firmware/);
        assert.deepEqual(simulator.configuration(), EMPTY);
      },
      { actionTemplates: SIMULATED_ACTION_TEMPLATES.filter((template) => !template.token.endsWith('.sftp')) },
    );
  });

  it('rolls back when a step fails: the camera is as it was, the previous setup still in place', async () => {
    await withCamera(async (simulator, vapix) => {
      await setupCamera(vapix, FTP);
      const before = simulator.configuration();
      simulator.failNext('AddActionRule', { kind: 'fault', subcode: 'aa:InvalidFilterFault', reason: 'out of rules' });
      const error = await setupCamera(vapix, SFTP).catch((failed: unknown) => failed);
      assert.ok(error instanceof CameraSetupError, String(error));
      assert.equal(error.step, 'adding the rule');
      assert.deepEqual(error.rollback.removed, ['send-images action 2', 'schedule 2', 'recipient 2']);
      assert.match(error.message, /rolled back/);
      assert.ok(!error.message.includes(TOKEN), 'the token is not in the message');
      assert.deepEqual(simulator.configuration(), before);
      assert.equal((await cameraSetupStatus(vapix, 'gate')).action?.url, 'ftp://192.168.1.20:2121/');
    });
  });

  it('refuses what cannot work before sending anything', async () => {
    await withCamera(async (simulator, vapix) => {
      const refused: [CameraSetupOptions, RegExp][] = [
        [{ ...SFTP, login: undefined }, /logs in with the camera's name as the user: none was given/],
        [{ ...SFTP, login: '../etc' }, /"\.\.\/etc" is not one/],
        [{ ...SFTP, sftpFingerprint: undefined }, /pins the receiver's host key: give --sftp-fingerprint/],
        [{ ...SFTP, sftpFingerprint: 'ssh-rsa AAAA' }, /--sftp-fingerprint "ssh-rsa AAAA": give the RSA host key's fingerprint/],
        [{ ...SFTP, recipient: 'sftp://gate:pw@192.168.1.20/' }, /must not contain a user or password/],
        [{ ...SFTP, recipient: 'ftps://192.168.1.20/' }, /no TLS setting/],
        [{ ...SFTP, protocol: 'ftp' }, /--protocol ftp does not go with --recipient sftp:/],
        [{ ...SFTP, validateRecipientCertificate: false }, /--no-validate-recipient-cert is for an https:\/\/ recipient/],
        [{ ...FTP, sftpFingerprint: MD5 }, /--sftp-fingerprint is for an sftp:\/\/ recipient, not ftp:\/\//],
        [{ recipient: 'https://r.example/', token: TOKEN, login: 'gate' }, /a user name is for an sftp:\/\/ or ftp:\/\/ recipient/],
        [{ ...SFTP, token: 'short' }, /the access token is not usable/],
      ];
      for (const [options, message] of refused) await assert.rejects(setupCamera(vapix, options), (error: unknown) => error instanceof InvalidSetupOptionError && message.test(error.message), JSON.stringify(options));
      assert.deepEqual(simulator.calls, []);
    });
  });
});

describe('camera setup with an FTP recipient', () => {
  it('creates the FTP recipient: passive, temporary names; says the token crosses in clear', async () => {
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, { ...FTP, recipient: '192.168.1.20:2121', protocol: 'ftp', on: 'motion', send: 'clip', preMs: 2000, postMs: 30_000 });
      const recipientParameters: [string, string][] = [
        ['host', '192.168.1.20'],
        ['upload_path', ''],
        ['port', '2121'],
        ['login', 'gate'],
        ['password', TOKEN],
        ['passive', '1'],
        ['temporary', '1'],
        ['qos', '0'],
      ];
      const { recipients, actions, schedules } = simulator.configuration();
      assert.deepEqual(recipients[0]?.parameters, recipientParameters);
      assert.equal(recipients[0]?.templateToken, 'com.axis.recipient.ftp');
      assert.deepEqual(actions[0], {
        id: result.action.id,
        name: 'images-to-s3 gate',
        templateToken: 'com.axis.action.fixed.send_videoclip.ftp',
        parameters: [
          ['stream_options', '&videocodec=h264&audio=0&camera=1'],
          ['pre_duration', '2000'],
          ['post_duration', '30000'],
          ['create_folder', ''],
          ['filename', 'clip%y-%m-%d_%H-%M-%S-%f.mkv'],
          ['max_file_size', ''],
          ['max_duration', ''],
          ...recipientParameters,
        ],
      });
      assert.deepEqual(schedules, [], 'an event starts it');
      assert.equal(result.recipient.url, 'ftp://192.168.1.20:2121/');
      assert.equal(result.recipient.hostKey, undefined);
      assert.match(result.notes.join('\n'), /plain FTP: Axis documents no FTPS for its FTP recipient, so the token crosses the network in clear/);

      const status = await cameraSetupStatus(vapix, 'gate');
      assert.equal(status.state, 'configured', status.problems.join('; '));
      assert.equal(status.action?.url, 'ftp://192.168.1.20:2121/');
      assert.equal(status.rule?.trigger, 'on tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY active=1');
      assert.deepEqual((await removeCameraSetup(vapix, 'gate')).removed.length, 3);
      assert.deepEqual(simulator.configuration(), EMPTY);
    });
  });

  it('sends a TLS-looking parameter of the camera\'s template empty, and says so; goes without temporary on old firmware', async () => {
    const ftpTemplate = (parameters: string[]): VapixSimulatorOptions => ({
      recipientTemplates: SIMULATED_RECIPIENT_TEMPLATES.map((template) => (template.token === 'com.axis.recipient.ftp' ? { ...template, parameters } : template)),
    });
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, FTP);
      assert.deepEqual(simulator.configuration().recipients[0]?.parameters.find(([name]) => name === 'ftps_mode'), ['ftps_mode', '']);
      assert.match(result.notes.join('\n'), /template lists ftps_mode, which Axis does not document: sent empty, so plain FTP/);
    }, ftpTemplate([...FTP_RECIPIENT, 'ftps_mode']));
    await withCamera(async (simulator, vapix) => {
      await setupCamera(vapix, FTP);
      assert.ok(!simulator.configuration().recipients[0]?.parameters.some(([name]) => name === 'temporary'));
      assert.equal((await cameraSetupStatus(vapix, 'gate')).state, 'configured');
    }, ftpTemplate(FTP_RECIPIENT.filter((name) => name !== 'temporary')));
  });
});

describe('camera status of SFTP and FTP setups', () => {
  it('names what keeps the camera from reaching the receiver: public-key authentication, no host key, active FTP', async () => {
    await withCamera(async (simulator, vapix) => {
      const sftp = await setupCamera(vapix, SFTP);
      await setupCamera(vapix, { ...FTP, name: 'door' });
      // Edited in the web interface: the same names, the wrong settings.
      const spoil = async (name: string, changes: Record<string, string>): Promise<void> => {
        const { actions, rules } = simulator.configuration();
        const action = actions.find((item) => item.name === name)!;
        const rule = rules.find((item) => item.name === name)!;
        await vapix.removeActionRule(rule.id);
        await vapix.removeActionConfiguration(action.id);
        const parameters = action.parameters.map(([key, value]): [string, string] => [key, changes[key] ?? value]);
        const [copy] = simulator.seed({ actions: [{ name, templateToken: action.templateToken, parameters }] }).actions;
        simulator.seed({ rules: [{ name, enabled: true, ...(rule.startEvent && { startEvent: rule.startEvent }), conditions: rule.conditions, primaryAction: copy!.id }] });
      };
      await spoil('images-to-s3 gate', { ssh_auth_type: '1', ssh_host_pub_key_md5: '', password: '' });
      await spoil('images-to-s3 door', { passive: '0' });

      const gate = await cameraSetupStatus(vapix, 'gate');
      assert.equal(gate.state, 'inconsistent');
      assert.notEqual(gate.action?.id, sftp.action.id);
      assert.equal(gate.action?.token, 'not shown by the camera');
      assert.equal(gate.action?.hostKey, 'none');
      assert.deepEqual(gate.problems, [
        `action ${gate.action?.id} pins no host key fingerprint (ssh_host_pub_key_md5 and ssh_host_pub_key_sha256 are empty)`,
        `action ${gate.action?.id} has ssh_auth_type="1", not 2 (password): the camera never sends the password and reports a misleading error`,
      ]);

      const door = await cameraSetupStatus(vapix, 'door');
      assert.deepEqual(door.problems, [`action ${door.action?.id} uses active FTP (passive="0"), which the receiver refuses`]);
    });
  });

  it('names an action that sends elsewhere than its recipient', async () => {
    await withCamera(async (simulator, vapix) => {
      const result = await setupCamera(vapix, SFTP);
      const recipient = simulator.configuration().recipients[0]!;
      await vapix.removeActionRule(result.rule.id);
      await vapix.removeActionConfiguration(result.action.id);
      await vapix.removeScheduledEvent(result.schedule!.id);
      await vapix.removeRecipientConfiguration(recipient.id);
      await setupCamera(vapix, { ...SFTP, recipient: 'sftp://192.168.1.21:2222/' });
      const action = simulator.configuration().actions[0]!;
      await vapix.removeRecipientConfiguration(simulator.configuration().recipients[0]!.id);
      simulator.seed({ recipients: [{ ...recipient }] });
      const status = await cameraSetupStatus(vapix, 'gate');
      assert.ok(status.problems.includes(`action ${action.id} sends to sftp://192.168.1.21:2222/, but recipient ${simulator.configuration().recipients[0]?.id} says sftp://192.168.1.20:2222/`), status.problems.join('; '));
    });
  });
});
