import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { TokenRegistry } from '../../src/tokens/registry.js';
import { camera } from '../support/camera-cli.js';
import { VapixSimulator } from '../support/vapix-simulator.js';


function tokenOn(simulator: VapixSimulator): string | undefined {
  const custom = simulator.configuration().actions[0]?.parameters.find(([name]) => name === 'custom_params')?.[1];
  return custom === undefined ? undefined : new URLSearchParams(custom).get('accessToken') ?? undefined;
}

describe('images-to-s3 camera, end to end', () => {
  const passwords = ['first-Pa55word', 'second-Pa55word', 'third-Pa55word', 'fourth-Pa55word'];
  const ENV_PASSWORD = passwords[1] as string;
  let cameras: VapixSimulator[];
  let folder: string;
  let fleetFile: string;
  let tokensFile: string;

  before(async () => {
    cameras = await Promise.all(passwords.map((password) => VapixSimulator.start({ password })));
    folder = await mkdtemp(join(tmpdir(), 'images-to-s3-camera-cli-'));
    fleetFile = join(folder, 'cameras.csv');
    tokensFile = join(folder, 'tokens.json');
    const rows = cameras.map((simulator, index) => `${simulator.url},root,${index === 1 ? '' : passwords[index]},cam-${index + 1}`);
    await writeFile(fleetFile, ['address,user,password,name', ...rows, ''].join('\n'));
  });

  after(async () => {
    await Promise.all(cameras.map((simulator) => simulator.close()));
    await rm(folder, { recursive: true, force: true });
  });

  it('sets up a fleet with one failing camera: the others succeed, the summary and the exit code say so', async () => {
    cameras[2]?.failNext('AddActionConfiguration', { kind: 'fault', subcode: 'aa:InvalidParameterFault', reason: 'storage full' });
    const result = await camera(
      ['setup', '--cameras', fleetFile, '--recipient', 'https://receiver.example/', '--create-token', '--tokens', tokensFile, '--concurrency', '2'],
      { IMAGES_TO_S3_CAMERA_PASSWORD: ENV_PASSWORD },
    );

    assert.equal(result.code, 1, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^CAMERA\s+NAME\s+RESULT\s+DETAILS$/);
    assert.equal(lines.length, 6);
    for (const index of [0, 1, 3]) {
      const host = new URL(cameras[index]?.url ?? '').host;
      assert.match(result.stdout, new RegExp(`${host}\\s+images-to-s3 cam-${index + 1}\\s+ok\\s+rule 1, every minute, up to 1 image\\(s\\), https://receiver.example/, new token tok_[0-9a-f]{10} for camera "cam-${index + 1}"`));
    }
    const failed = new URL(cameras[2]?.url ?? '').host;
    assert.match(
      result.stdout,
      new RegExp(`${failed}\\s+images-to-s3 cam-3\\s+FAILED\\s+adding the send-images action failed: AddActionConfiguration: SOAP fault InvalidParameterFault: storage full \\(HTTP 400\\); rolled back: removed schedule 1, recipient 1`),
    );
    assert.equal(lines.at(-1), 'setup: 4 cameras, 3 ok, 1 failed');
    assert.match(result.stderr, /setup 4\/4: /, 'a progress line per camera off a terminal');

    // The failing camera is as it was, and its token was revoked again.
    assert.deepEqual(cameras[2]?.configuration(), { recipients: [], schedules: [], actions: [], rules: [] });
    const registry = new TokenRegistry(tokensFile);
    assert.deepEqual((await registry.list()).map((entry) => entry.camera).sort(), ['cam-1', 'cam-2', 'cam-4']);
    for (const index of [0, 1, 3]) {
      const token = tokenOn(cameras[index] as VapixSimulator);
      assert.ok(token, `camera ${index + 1} has a token`);
      assert.equal(await registry.verify(token), `cam-${index + 1}`);
      assert.ok(!result.stdout.includes(token) && !result.stderr.includes(token), 'tokens are never printed');
    }
    for (const password of passwords) assert.ok(!result.stdout.includes(password) && !result.stderr.includes(password), 'passwords are never printed');
  });

  it('shows the fleet\'s status, then removes every setup', async () => {
    const status = await camera(['status', '--cameras', fleetFile], { IMAGES_TO_S3_CAMERA_PASSWORD: ENV_PASSWORD });
    assert.equal(status.code, 1, 'one camera is not set up');
    assert.match(status.stdout, /images-to-s3 cam-1\s+configured\s+rule 1 enabled, every minute, up to 1 image\(s\), https:\/\/receiver.example\/, token present \(\w{3}…\)/);
    assert.match(status.stdout, /images-to-s3 cam-3\s+absent\s+not set up/);
    assert.match(status.stdout, /status: 4 cameras, 3 ok, 1 not ok\n$/);

    const removed = await camera(['remove', '--cameras', fleetFile, '--tokens', tokensFile, '--json'], { IMAGES_TO_S3_CAMERA_PASSWORD: ENV_PASSWORD });
    assert.equal(removed.code, 0, removed.stderr);
    const outcomes = JSON.parse(removed.stdout) as { camera: string; ok: boolean; remove: { removed: string[]; revokedTokens: string[] } }[];
    assert.deepEqual(
      outcomes.map((outcome) => outcome.remove.removed.length),
      [4, 4, 0, 4],
    );
    // The tokens setup created for them are revoked with the setups.
    assert.deepEqual(
      outcomes.map((outcome) => outcome.remove.revokedTokens.length),
      [1, 1, 0, 1],
    );
    assert.deepEqual(await new TokenRegistry(tokensFile).list(), []);
    for (const simulator of cameras) assert.deepEqual(simulator.configuration(), { recipients: [], schedules: [], actions: [], rules: [] });
  });

  it('sets up one camera and shows it, with the token masked', async () => {
    const simulator = cameras[0] as VapixSimulator;
    const token = 'SeedStackToken0123456789';
    const setup = await camera(['setup', '--camera', simulator.url, '--user', 'root', '--token', token, '--recipient', 'http://10.1.2.3:8080/', '--every', '30s', '--name', 'gate'], {
      IMAGES_TO_S3_CAMERA_PASSWORD: passwords[0] as string,
    });
    assert.equal(setup.code, 0, setup.stderr);
    assert.match(setup.stdout, /^127\.0\.0\.1:\d+ \(images-to-s3 gate\): ok\n/);
    assert.match(setup.stdout, /schedule\s+\d+\s+pulse every 30 seconds/);
    assert.match(setup.stdout, /com\.axis\.action\.fixed\.send_images\.http, accessToken=See…/);
    assert.equal(tokenOn(simulator), token);

    const status = await camera(['status', '--camera', simulator.url, '--user', 'root', '--password', passwords[0] as string, '--name', 'gate']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /\(images-to-s3 gate\): configured/);
    assert.match(status.stdout, /token present \(See…\)/);
    for (const output of [setup, status]) assert.ok(!output.stdout.includes(token) && !output.stderr.includes(token));
  });

  it('fails with a clear message: wrong password, missing token choice', async () => {
    const simulator = cameras[3] as VapixSimulator;
    const wrong = await camera(['status', '--camera', simulator.url, '--user', 'root', '--password', 'not-the-Pa55word']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /FAILED\n\s+reading the camera's event configuration failed: 127\.0\.0\.1:\d+ refused the credentials of user "root" \(HTTP 401\)/);
    assert.ok(!wrong.stderr.includes('not-the-Pa55word'));

    const noToken = await camera(['setup', '--camera', simulator.url, '--user', 'root', '--password', 'x', '--recipient', 'https://r.example/']);
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /give --token TOKEN, or --create-token/);
  });

  it('replaces the token of an earlier setup on a re-run, and revokes it with remove unless --keep-token; says so', async () => {
    const simulator = cameras[1] as VapixSimulator;
    const registryFile = join(folder, 'rerun-tokens.json');
    const registry = new TokenRegistry(registryFile);
    const handMade = await registry.create('lobby');
    const setup = (): ReturnType<typeof camera> =>
      camera(['setup', '--camera', simulator.url, '--user', 'root', '--create-token', '--tokens', registryFile, '--recipient', 'https://receiver.example/', '--name', 'lobby'], {
        IMAGES_TO_S3_CAMERA_PASSWORD: passwords[1] as string,
      });
    const first = await setup();
    assert.equal(first.code, 0, first.stderr);
    const firstToken = tokenOn(simulator)!;
    const second = await setup();
    assert.equal(second.code, 0, second.stderr);
    const secondToken = tokenOn(simulator)!;
    assert.notEqual(secondToken, firstToken);
    assert.match(second.stdout, /revoked {4}tok_[0-9a-f]{10}: the token of the earlier setup, which the camera no longer holds/);
    assert.equal(await registry.verify(firstToken), undefined);
    assert.equal(await registry.verify(secondToken), 'lobby');
    assert.equal(await registry.verify(handMade.token), 'lobby', 'a token made by hand is left alone');

    const kept = await camera(['remove', '--camera', simulator.url, '--user', 'root', '--name', 'lobby', '--tokens', registryFile, '--keep-token'], { IMAGES_TO_S3_CAMERA_PASSWORD: passwords[1] as string });
    assert.equal(kept.code, 0, kept.stderr);
    assert.doesNotMatch(kept.stdout, /revoked/);
    assert.equal(await registry.verify(secondToken), 'lobby');

    // Set up again: the kept token is one an earlier setup made, so this one replaces it.
    await setup();
    const removed = await camera(['remove', '--camera', simulator.url, '--user', 'root', '--name', 'lobby', '--tokens', registryFile], { IMAGES_TO_S3_CAMERA_PASSWORD: passwords[1] as string });
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /removed rule \d+, .*; revoked token tok_[0-9a-f]{10}\n/);
    assert.deepEqual(
      (await registry.list()).map((entry) => entry.id),
      [handMade.id],
    );
  });

  it('refuses a recipient no camera can reach unless told --force, before touching the camera', async () => {
    const simulator = cameras[2] as VapixSimulator;
    const before = tokenOn(simulator);
    for (const recipient of ['http://127.0.0.1:8080/', 'http://localhost:8080/', 'http://[::1]:8080/', 'http://0.0.0.0:8080/']) {
      const refused = await camera(['setup', '--camera', simulator.url, '--user', 'root', '--password', passwords[2] as string, '--token', 'SeedStackToken0123456789', '--recipient', recipient]);
      assert.equal(refused.code, 1, recipient);
      assert.match(refused.stderr, /--recipient \S+: \S+ is (the camera itself|an address to listen on).*or --force to configure it anyway/);
      assert.equal(tokenOn(simulator), before, `${recipient} reached the camera`);
    }
    const forced = await camera(['setup', '--camera', simulator.url, '--user', 'root', '--token', 'SeedStackToken0123456789', '--recipient', 'http://127.0.0.1:8080/', '--force'], {
      IMAGES_TO_S3_CAMERA_PASSWORD: passwords[2] as string,
    });
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(tokenOn(simulator), 'SeedStackToken0123456789');
  });
});

describe('images-to-s3 camera events, and setup on an event', () => {
  let simulator: VapixSimulator;
  const login = (): string[] => ['--camera', simulator.url, '--user', 'root', '--password', 'pass'];

  before(async () => {
    simulator = await VapixSimulator.start();
  });

  after(async () => {
    await simulator.close();
  });

  it('lists the camera\'s events as --on takes them, with their names, and the aliases', async () => {
    const listed = await camera(['events', ...login()]);
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.split('\n');
    assert.match(lines[0] ?? '', /^127\.0\.0\.1:\d+: 19 events$/);
    assert.match(lines[1] ?? '', /^ {2}EVENT \(as --on takes it\)\s+STATE\s+NAME$/);
    assert.match(listed.stdout, /\n {2}tnsaxis:CameraApplicationPlatform\/VMD\/Camera1ProfileANY\s+stateful\s+VMD 4: Any Profile\n/);
    assert.match(listed.stdout, /\n {2}tns1:Device\/tnsaxis:IO\/Port port=1\s+stateful\s+Digital input: Door contact\n/);
    assert.match(listed.stdout, /\n {2}tns1:VideoSource\/tnsaxis:Tampering\s+stateless\s+Camera tampering\n/);
    assert.match(listed.stdout, /\n {2}tns1:VideoSource\/MotionAlarm\s+stateful\n/);
    assert.match(listed.stdout, /\n {2}Aliases on this camera \(--on takes them too\):\n {4}motion\s+tnsaxis:CameraApplicationPlatform\/VMD\/Camera1ProfileANY\n {4}input:1\s+tns1:Device\/tnsaxis:IO\/Port port=1\n/);

    const json = await camera(['events', ...login(), '--json']);
    assert.equal(json.code, 0, json.stderr);
    const [outcome] = JSON.parse(json.stdout) as { ok: boolean; result: string; events: { events: { on: string; stateful: boolean; name?: string; source: { name: string }[] }[]; aliases: { alias: string; on: string }[] } }[];
    assert.ok(outcome?.ok);
    assert.equal(outcome.events.events.length, 19);
    const port = outcome.events.events.find((event) => event.on === 'tns1:Device/tnsaxis:IO/Port port=2');
    assert.deepEqual([port?.stateful, port?.name, port?.source.map((item) => item.name)], [true, 'Digital input: Gate', ['port']]);
    assert.deepEqual(outcome.events.aliases.find((alias) => alias.alias === 'storage'), { alias: 'storage', on: 'tnsaxis:Storage/Disruption' });
    assert.deepEqual(simulator.configuration(), { recipients: [], schedules: [], actions: [], rules: [] }, 'listing changes nothing');
  });

  it('sets up a clip on motion, shows it, and removes it', async () => {
    const setup = await camera(['setup', ...login(), '--token', 'SeedStackToken0123456789', '--recipient', 'http://10.1.2.3:8080/', '--name', 'yard', '--on', 'motion', '--send', 'clip', '--pre', '3s', '--post', '7s']);
    assert.equal(setup.code, 0, setup.stderr);
    assert.match(setup.stdout, /^127\.0\.0\.1:\d+ \(images-to-s3 yard\): ok\n/);
    assert.doesNotMatch(setup.stdout, /schedule/);
    assert.match(setup.stdout, /action\s+\d+\s+com\.axis\.action\.fixed\.send_videoclip\.http, accessToken=See…/);
    assert.match(setup.stdout, /rule\s+\d+\s+enabled: on tnsaxis:CameraApplicationPlatform\/VMD\/Camera1ProfileANY active=1 → clip from 3 s before to 7 s after the event\n/);
    const rule = simulator.configuration().rules[0];
    assert.equal(rule?.startEvent?.topicDialect, 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet');

    const status = await camera(['status', ...login(), '--name', 'yard']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /\(images-to-s3 yard\): configured\n/);
    assert.match(status.stdout, /rule\s+\d+\s+enabled, on tnsaxis:CameraApplicationPlatform\/VMD\/Camera1ProfileANY active=1\n/);
    assert.match(status.stdout, /action\s+\d+\s+com\.axis\.action\.fixed\.send_videoclip\.http to http:\/\/10\.1\.2\.3:8080\/: clip from 3 s before to 7 s after the event, filename clip%y-%m-%d_%H-%M-%S-%f\.mkv, token present \(See…\)/);
    assert.doesNotMatch(status.stdout, /schedule/);

    const removed = await camera(['remove', ...login(), '--name', 'yard', '--keep-token']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /removed rule \d+, send-clip action \d+, recipient \d+\n/);
    assert.deepEqual(simulator.configuration(), { recipients: [], schedules: [], actions: [], rules: [] });
  });

  it('refuses what does not go together before touching the camera, and an event the camera lacks before changing it', async () => {
    const base = ['setup', ...login(), '--token', 'SeedStackToken0123456789', '--recipient', 'http://10.1.2.3:8080/'];
    const cases: [string[], RegExp][] = [
      [['--on', 'motion', '--every', '1m'], /--every sets the pulse schedule; with --on the event starts the action/],
      [['--send', 'clip', '--max-images', '2'], /--max-images is for --send images/],
      [['--pre', '1d'], /option '--pre <duration>' argument '1d' is invalid\. "1d" is not a duration/],
      [['--send', 'video'], /argument 'video' is invalid\. Allowed choices are images, clip/],
      [['--on', 'input:x'], /--on "input:x": write input:N with a number, e\.g\. input:1/],
    ];
    for (const [extra, message] of cases) {
      const result = await camera([...base, ...extra]);
      assert.equal(result.code, 1, extra.join(' '));
      assert.match(result.stderr, message);
    }
    const calls = simulator.calls.length;
    const lacking = await camera([...base, '--on', 'tns1:VideoSource/tnsaxis:Smoke']);
    assert.equal(lacking.code, 1);
    assert.match(lacking.stderr, /FAILED\n {2}looking the event up among the camera's events failed: the camera offers no event tns1:VideoSource\/tnsaxis:Smoke; `camera events` lists the events it has; nothing had been changed on the camera/);
    assert.ok(!simulator.calls.slice(calls).some((call) => call.startsWith('Add')));
  });

  it('says in --help what --on takes', async () => {
    const help = await camera(['setup', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--on <event>/);
    assert.match(help.stdout, /input:N {5}digital input port N/);
    assert.match(help.stdout, /--clip-while-active/);
  });
});
