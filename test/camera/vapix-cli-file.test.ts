import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { openHostKeys } from '../../src/sftp/host-keys.js';
import type { HostKey } from '../../src/sftp/host-keys.js';
import { stateFor } from '../../src/state/location.js';
import { TokenRegistry } from '../../src/tokens/registry.js';
import { camera } from '../support/camera-cli.js';
import type { CliResult } from '../support/camera-cli.js';
import { VapixSimulator } from '../support/vapix-simulator.js';


/** The parameters of the camera's only recipient and action of `name`. */
function parametersOn(simulator: VapixSimulator, name = 'images-to-s3 gate'): { recipient: Map<string, string>; action: Map<string, string>; templates: [string, string] } {
  const { recipients, actions } = simulator.configuration();
  const recipient = recipients.filter((item) => item.name === name);
  const action = actions.filter((item) => item.name === name);
  assert.equal(recipient.length, 1);
  assert.equal(action.length, 1);
  return { recipient: new Map(recipient[0]?.parameters), action: new Map(action[0]?.parameters), templates: [recipient[0]?.templateToken ?? '', action[0]?.templateToken ?? ''] };
}

const EMPTY = { recipients: [], schedules: [], actions: [], rules: [] };

describe('images-to-s3 camera setup --protocol sftp|ftp, end to end', () => {
  let simulator: VapixSimulator;
  let folder: string;
  let store: string;
  let rsa: HostKey;
  const login = (): string[] => ['--camera', simulator.url, '--user', 'root', '--password', 'pass'];

  before(async () => {
    simulator = await VapixSimulator.start();
    folder = await mkdtemp(join(tmpdir(), 'images-to-s3-camera-file-'));
    store = join(folder, 'images');
    // The receiver's state as `serve --sftp-port --store <store>` leaves it: the real host keys.
    const { keys } = await openHostKeys((await stateFor({ store })).sftpHostKeys);
    rsa = keys.find((key) => key.type === 'ssh-rsa')!;
  });

  after(async () => {
    await simulator.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('--protocol sftp with --create-token: the RSA key\'s fingerprint read from the receiver\'s state, the camera\'s name as the user; status; re-run; remove', async () => {
    const setup = (): Promise<CliResult> =>
      camera(['setup', ...login(), '--protocol', 'sftp', '--recipient', 'sftp://192.168.1.20:2222/', '--create-token', '--store', store, '--name', 'gate']);
    const first = await setup();
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^127\.0\.0\.1:\d+ \(images-to-s3 gate\): ok\n/);
    assert.match(first.stdout, new RegExp(`recipient\\s+\\d+\\s+sftp://192\\.168\\.1\\.20:2222/, host key MD5 ${rsa.md5} \\(the RSA key's, from \\S+sftp-host-keys\\.json\\)\\n`));
    assert.match(first.stdout, /action\s+\d+\s+com\.axis\.action\.fixed\.send_images\.sftp, user "gate", password \w{3}…\n/);

    const tokensFile = join(store, '.images-to-s3', 'tokens.json');
    const registry = new TokenRegistry(tokensFile);
    const { recipient, action, templates } = parametersOn(simulator);
    assert.deepEqual(templates, ['com.axis.recipient.sftp', 'com.axis.action.fixed.send_images.sftp']);
    assert.equal(recipient.get('ssh_host_pub_key_md5'), rsa.md5.replace(/:/g, ''), 'the RSA key, not the Ed25519 one');
    assert.equal(recipient.get('ssh_host_pub_key_sha256'), '');
    assert.equal(recipient.get('ssh_auth_type'), '2');
    assert.equal(recipient.get('login'), 'gate');
    assert.equal(action.get('create_folder'), '');
    const firstToken = recipient.get('password')!;
    assert.equal(await registry.verify(firstToken), 'gate', 'the password is a token of the camera the user names');
    assert.equal(action.get('password'), firstToken);
    assert.ok(!first.stdout.includes(firstToken) && !first.stderr.includes(firstToken), 'the token is never printed');

    const status = await camera(['status', ...login(), '--name', 'gate']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /\(images-to-s3 gate\): configured\n/);
    assert.match(status.stdout, /recipient\s+\d+\s+sftp:\/\/192\.168\.1\.20:2222\/\n/);
    assert.match(
      status.stdout,
      new RegExp(`action\\s+\\d+\\s+com\\.axis\\.action\\.fixed\\.send_images\\.sftp to sftp://192\\.168\\.1\\.20:2222/ as "gate": up to 1 image\\(s\\), filename \\S+, token present \\(\\w{3}…\\), host key MD5 ${rsa.md5}\\n`),
    );
    assert.ok(!status.stdout.includes(firstToken));

    // Run again: the same setup, a new token, the old one revoked.
    const second = await setup();
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /replaced\s+the previous setup: rule \d+, send-images action \d+, schedule \d+, recipient \d+/);
    assert.match(second.stdout, /revoked {4}tok_[0-9a-f]{10}: the token of the earlier setup/);
    const secondToken = parametersOn(simulator).recipient.get('password')!;
    assert.notEqual(secondToken, firstToken);
    // A registry read afresh: `registry` answers known tokens from what it read before, for up to its recheck time.
    assert.equal(await new TokenRegistry(tokensFile).verify(firstToken), undefined);
    assert.equal(await new TokenRegistry(tokensFile).verify(secondToken), 'gate');
    assert.equal((await camera(['status', ...login(), '--name', 'gate'])).code, 0);

    const removed = await camera(['remove', ...login(), '--name', 'gate', '--store', store]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /removed rule \d+, send-images action \d+, schedule \d+, recipient \d+; revoked token tok_[0-9a-f]{10}\n/);
    assert.deepEqual(simulator.configuration(), EMPTY);
    assert.equal(await new TokenRegistry(tokensFile).verify(secondToken), undefined);
  });

  it('--sftp-fingerprint given (SHA-256) and --token: the user is the camera the registry says the token is for', async () => {
    const tokens = join(folder, 'lobby-tokens.json');
    const registry = new TokenRegistry(tokens);
    const { token } = await registry.create('lobby');
    const result = await camera([
      'setup',
      ...login(),
      '--recipient',
      'sftp://receiver.lan:2222/',
      '--token',
      token,
      '--tokens',
      tokens,
      '--sftp-fingerprint',
      rsa.sha256,
      '--name',
      'front',
      '--on',
      'motion',
      '--send',
      'clip',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`recipient\\s+\\d+\\s+sftp://receiver\\.lan:2222/, host key ${rsa.sha256.replace(/[+/]/g, '\\$&')}\\n`));
    const { recipient, templates } = parametersOn(simulator, 'images-to-s3 front');
    assert.deepEqual(templates, ['com.axis.recipient.sftp', 'com.axis.action.fixed.send_videoclip.sftp']);
    assert.equal(recipient.get('login'), 'lobby', 'the token\'s camera, not --name');
    assert.equal(recipient.get('password'), token);
    assert.equal(recipient.get('ssh_host_pub_key_md5'), '');
    assert.equal(recipient.get('ssh_host_pub_key_sha256'), rsa.sha256.slice('SHA256:'.length));
    assert.ok(!result.stdout.includes(token) && !result.stderr.includes(token));

    const removed = await camera(['remove', ...login(), '--name', 'front', '--keep-token']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(simulator.configuration(), EMPTY);

    // A token the registry does not know: the user name cannot be known, nothing is changed.
    const unknown = await camera(['setup', ...login(), '--recipient', 'sftp://receiver.lan:2222/', '--token', 'NotInTheRegistry0123456789', '--tokens', tokens, '--sftp-fingerprint', rsa.md5]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /--token is not a token of the registry at \S+lobby-tokens\.json: an sftp:\/\/ recipient logs in with the name of the camera the token is for/);
    assert.deepEqual(simulator.configuration(), EMPTY);
  });

  it('--protocol ftp with host:port: passive, temporary names, and a note that the token crosses in clear', async () => {
    const result = await camera(['setup', ...login(), '--protocol', 'ftp', '--recipient', '192.168.1.20:2121', '--create-token', '--store', store, '--name', 'gate', '--every', '30s']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /recipient\s+\d+\s+ftp:\/\/192\.168\.1\.20:2121\/\n/);
    assert.match(result.stdout, /action\s+\d+\s+com\.axis\.action\.fixed\.send_images\.ftp, user "gate", password \w{3}…\n/);
    assert.match(result.stdout, /note\s+plain FTP: Axis documents no FTPS for its FTP recipient, so the token crosses the network in clear; sftp:\/\/ encrypts\n/);
    const { recipient, templates } = parametersOn(simulator);
    assert.deepEqual(templates, ['com.axis.recipient.ftp', 'com.axis.action.fixed.send_images.ftp']);
    assert.deepEqual([recipient.get('passive'), recipient.get('temporary'), recipient.get('login')], ['1', '1', 'gate']);

    const status = await camera(['status', ...login(), '--name', 'gate', '--json']);
    assert.equal(status.code, 0, status.stderr);
    const [outcome] = JSON.parse(status.stdout) as { result: string; status: { action: { url: string; login: string; token: string } } }[];
    assert.equal(outcome?.result, 'configured');
    assert.equal(outcome.status.action.url, 'ftp://192.168.1.20:2121/');
    assert.equal(outcome.status.action.login, 'gate');
    assert.match(outcome.status.action.token, /^present \(\w{3}…\)$/);

    assert.equal((await camera(['remove', ...login(), '--name', 'gate', '--store', store])).code, 0);
    assert.deepEqual(simulator.configuration(), EMPTY);
  });

  it('refuses a loopback or unspecified recipient unless told --force, before touching the camera or the registry', async () => {
    const tokens = join(folder, 'loopback-tokens.json');
    for (const [recipient, extra] of [
      ['sftp://127.0.0.1:2222/', ['--sftp-fingerprint', rsa.md5]],
      ['sftp://localhost:2222/', ['--sftp-fingerprint', rsa.md5]],
      ['ftp://[::1]:2121/', []],
      ['ftp://0.0.0.0:2121/', []],
    ] as const) {
      const refused = await camera(['setup', ...login(), '--recipient', recipient, '--create-token', '--tokens', tokens, ...extra]);
      assert.equal(refused.code, 1, recipient);
      assert.match(refused.stderr, /--recipient \S+: \S+ is (the camera itself|an address to listen on).*or --force to configure it anyway/, recipient);
    }
    const scheme = await camera(['setup', ...login(), '--protocol', 'sftp', '--recipient', '127.0.0.1:2222', '--create-token', '--tokens', tokens, '--sftp-fingerprint', rsa.md5]);
    assert.equal(scheme.code, 1);
    assert.match(scheme.stderr, /--recipient 127\.0\.0\.1:2222: 127\.0\.0\.1 is the camera itself/);
    assert.deepEqual(simulator.configuration(), EMPTY);
    assert.deepEqual(await new TokenRegistry(tokens).list(), [], 'no token was made');

    const forced = await camera(['setup', ...login(), '--recipient', 'sftp://127.0.0.1:2222/', '--create-token', '--tokens', tokens, '--sftp-fingerprint', rsa.md5, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(parametersOn(simulator, 'images-to-s3').recipient.get('host'), '127.0.0.1');
    assert.equal((await camera(['remove', ...login(), '--tokens', tokens])).code, 0);
    assert.deepEqual(simulator.configuration(), EMPTY);
  });

  it('says what is missing, before touching the camera: host keys, a fingerprint that is none, FTPS, a protocol that does not fit', async () => {
    const empty = join(folder, 'no-keys');
    const cases: [string[], RegExp][] = [
      [['--recipient', 'sftp://192.168.1.20:2222/', '--store', empty], /no SFTP host keys in \S+no-keys\/\.images-to-s3\/sftp-host-keys\.json: give --sftp-fingerprint/],
      [['--recipient', 'sftp://192.168.1.20:2222/', '--sftp-fingerprint', 'ssh-rsa AAAA', '--store', empty], /--sftp-fingerprint "ssh-rsa AAAA": give the RSA host key's fingerprint as `images-to-s3 sftp fingerprints` prints it/],
      [['--recipient', 'ftps://192.168.1.20/', '--store', empty], /must not be ftps:\/\/: Axis' FTP recipient has no TLS setting/],
      [['--protocol', 'ftp', '--recipient', 'https://r.example/', '--store', empty], /--protocol ftp does not go with --recipient https:\/\/r\.example\//],
      [['--recipient', 'ftp://192.168.1.20/', '--sftp-fingerprint', 'SHA256:sm0y0xxzovl25RUmlLViwP01u4HPN6QuqKRWVhGZuPc', '--store', empty], /--sftp-fingerprint is for an sftp:\/\/ recipient/],
      [['--recipient', 'sftp://192.168.1.20/', '--no-validate-recipient-cert', '--store', empty], /--no-validate-recipient-cert is for an https:\/\/ recipient/],
      [['--protocol', 'scp', '--recipient', 'r.example'], /argument 'scp' is invalid\. Allowed choices are https, http, sftp, ftp/],
    ];
    for (const [extra, message] of cases) {
      const result = await camera(['setup', ...login(), '--create-token', ...extra]);
      assert.equal(result.code, 1, extra.join(' '));
      assert.match(result.stderr, message, extra.join(' '));
    }
    assert.deepEqual(simulator.configuration(), EMPTY);
    assert.deepEqual(await new TokenRegistry(join(empty, '.images-to-s3', 'tokens.json')).list(), [], 'no token was made');
  });

  it('says in --help how to set up SFTP and FTP', async () => {
    const help = await camera(['setup', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--protocol <protocol>/);
    assert.match(help.stdout, /--sftp-fingerprint <fingerprint>/);
    assert.match(help.stdout, /--recipient sftp:\/\/192\.168\.1\.20:2222\/ --create-token/);
  });
});
