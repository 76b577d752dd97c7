/**
 * The SFTP receiver on 127.0.0.1 for tests, and the clients that talk to it: OpenSSH's `sftp` and
 * `ssh` (the password given through SSH_ASKPASS), curl (libssh2, the library Axis cameras use),
 * and ssh2's own client for what no well-behaved client sends.
 *
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ConnectConfig, SFTPWrapper } from 'ssh2';
import { ImageReceiver } from '../../src/core/receiver.js';
import type { ImageStore } from '../../src/core/store.js';
import { CameraLogin } from '../../src/file-transfer/camera-login.js';
import { FailedAuthLimiter } from '../../src/server/failed-auth-limiter.js';
import { FileDocument } from '../../src/state/file-document.js';
import { presentedKeys } from '../../src/sftp/describe.js';
import { openHostKeys } from '../../src/sftp/host-keys.js';
import type { HostKey } from '../../src/sftp/host-keys.js';
import { SftpServer } from '../../src/sftp/server.js';
import type { SftpLimits } from '../../src/sftp/server.js';
import { DiskStore } from '../../src/stores/disk.js';
import { TokenRegistry } from '../../src/tokens/registry.js';

/** The receive time of every image in these tests, so keys are known in advance. */
export const RECEIVED_AT = new Date('2026-12-06T10:15:03.042Z');
export const DAY = '2026/12/06';
export const CAMERA = 'front-door';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

export interface RunningSftp {
  port: number;
  camera: string;
  token: string;
  root: string;
  tokens: TokenRegistry;
  store: ImageStore;
  server: SftpServer;
  /** Every host key made; `presented` those the server offers. */
  hostKeys: HostKey[];
  presented: HostKey[];
  logs: LogLine[];
  /** Every file under the disk store's folder (relative), hidden ones included; [] for another store. */
  files(): Promise<string[]>;
  /** Files in the hold folder (uploads under temporary names waiting for their rename). */
  held(): Promise<string[]>;
  /** A known_hosts file that pins the presented keys for this server's address. */
  knownHosts: string;
  close(): Promise<void>;
}

let keys: Promise<HostKey[]> | undefined;

/** One set of host keys for the whole test process: making an RSA key takes a moment. */
export function testHostKeys(): Promise<HostKey[]> {
  keys ??= (async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-sftp-keys-'));
    const opened = await openHostKeys(new FileDocument(path.join(folder, 'sftp-host-keys.json')));
    await rm(folder, { recursive: true, force: true });
    return opened.keys;
  })();
  return keys;
}

export async function startSftpReceiver(
  options: { store?: ImageStore; limits?: Partial<SftpLimits>; rsaOnly?: boolean; maxBytes?: number; failedAuthPerMinute?: number } = {},
): Promise<RunningSftp> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-sftp-'));
  const store = options.store ?? new DiskStore(path.join(root, 'images'));
  await store.open();
  const tokens = new TokenRegistry(path.join(root, 'tokens.json'));
  const { token } = await tokens.create(CAMERA);
  const receiver = new ImageReceiver({ tokens, store, clock: () => RECEIVED_AT, ...(options.maxBytes !== undefined && { maxBytes: options.maxBytes, maxClipBytes: options.maxBytes }) });
  const logs: LogLine[] = [];
  const logAt =
    (level: LogLine['level']) =>
    (fields: object, message: string): void =>
      void logs.push({ level, message, fields: fields as Record<string, unknown> });
  const hostKeys = await testHostKeys();
  const presented = presentedKeys(hostKeys, options.rsaOnly === true);
  const holdFolder = path.join(root, 'held');
  const server = await SftpServer.start({
    host: '127.0.0.1',
    port: 0,
    receiver,
    login: new CameraLogin(tokens, new FailedAuthLimiter(options.failedAuthPerMinute ?? 20)),
    hostKeys: presented,
    holdFolder,
    log: { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') },
    ...(options.limits && { limits: options.limits }),
  });
  const knownHosts = path.join(root, 'known_hosts');
  await writeFile(knownHosts, presented.map((key) => `[127.0.0.1]:${server.port} ${key.type} ${key.publicKey.toString('base64')}\n`).join(''));
  return {
    port: server.port,
    camera: CAMERA,
    token,
    root,
    tokens,
    store,
    server,
    hostKeys,
    presented,
    logs,
    knownHosts,
    files: () => listFiles(path.join(root, 'images')),
    held: () => listFiles(holdFolder),
    close: async () => {
      server.destroy();
      await server.close();
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Whether a command is installed (for tests that need OpenSSH's client or curl). */
export function installed(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** Whether curl speaks SFTP (it does when built with libssh2, as Debian's is). */
export function curlHasSftp(): boolean {
  const version = spawnSync('curl', ['-V'], { encoding: 'utf8' });
  return version.status === 0 && /\bsftp\b/.test(version.stdout);
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`), with `input` on its standard input. */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'], ...(options.cwd && { cwd: options.cwd }) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A program that exits without reading its input (ssh-keyscan, ssh-keygen) closes the pipe: not an error of the run.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Environment and files that make OpenSSH's clients log in with `password`, with no terminal. */
async function askpass(root: string, password: string): Promise<NodeJS.ProcessEnv> {
  const script = path.join(root, `askpass-${Math.random().toString(36).slice(2)}.sh`);
  await writeFile(script, '#!/bin/sh\nprintf \'%s\\n\' "$IMAGES_TO_S3_TEST_PASSWORD"\n');
  await chmod(script, 0o700);
  return { SSH_ASKPASS: script, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', IMAGES_TO_S3_TEST_PASSWORD: password };
}

/** The options every OpenSSH client here is given: the pinned host keys (`knownHosts`, or every key presented), the password only. */
function openSshOptions(receiver: RunningSftp, extra: { hostKeyAlgorithms?: string; knownHosts?: string } = {}): string[] {
  return [
    '-F', '/dev/null',
    '-o', 'BatchMode=no',
    '-o', `UserKnownHostsFile=${extra.knownHosts ?? receiver.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'PubkeyAuthentication=no',
    '-o', 'PreferredAuthentications=password,keyboard-interactive',
    '-o', 'NumberOfPasswordPrompts=1',
    '-o', 'ConnectTimeout=10',
    ...(extra.hostKeyAlgorithms ? ['-o', `HostKeyAlgorithms=${extra.hostKeyAlgorithms}`] : []),
  ];
}

/** Runs OpenSSH's `sftp` in batch mode with these commands (a leading `-` lets a command fail without ending the batch). */
export async function openSshSftp(
  receiver: RunningSftp,
  commands: string[],
  options: { user?: string; password?: string; hostKeyAlgorithms?: string; knownHosts?: string } = {},
): Promise<Run> {
  const batch = path.join(receiver.root, `batch-${Math.random().toString(36).slice(2)}`);
  await writeFile(batch, `${commands.join('\n')}\n`);
  const env = await askpass(receiver.root, options.password ?? receiver.token);
  return run(
    'sftp',
    [...openSshOptions(receiver, options), '-P', String(receiver.port), '-b', batch, `${options.user ?? receiver.camera}@127.0.0.1`],
    { env },
  );
}

/** Runs OpenSSH's `ssh` with these arguments after the destination (a command, `-N`, …). */
export async function openSsh(receiver: RunningSftp, args: string[], options: { before?: string[]; hostKeyAlgorithms?: string } = {}): Promise<Run> {
  const env = await askpass(receiver.root, receiver.token);
  return run('ssh', [...openSshOptions(receiver, options), ...(options.before ?? []), '-p', String(receiver.port), `${receiver.camera}@127.0.0.1`, ...args], { env, timeoutMs: 20_000 });
}

/** Runs curl with these arguments; HOME is a fresh folder, so no known_hosts of the machine counts. */
export function curl(receiver: RunningSftp, args: string[]): Promise<Run> {
  return run('curl', ['-sS', '--connect-timeout', '10', ...args], { env: { HOME: receiver.root } });
}

/** An ssh2 client logged in to the receiver (rejects when the log-in is refused). */
export function connect(receiver: RunningSftp, config: Partial<ConnectConfig> = {}): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.once('ready', () => resolve(client));
    client.once('error', reject);
    client.connect({ host: '127.0.0.1', port: receiver.port, username: receiver.camera, password: receiver.token, readyTimeout: 10_000, ...config });
  });
}

/** The SFTP channel of a connected client. */
export function sftpOf(client: ssh2.Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => client.sftp((error, sftp) => (error ? reject(error) : resolve(sftp))));
}

/** Calls an SFTP client method with a callback, as a promise (the error is the server's status). */
export function call<T>(start: (callback: (error: Error | null | undefined, result?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((error, result) => (error ? reject(error) : resolve(result as T))));
}

/** Resolves once the client's connection is closed (by either side). */
export function closed(client: ssh2.Client): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

/** Waits until `check` holds, or fails after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
