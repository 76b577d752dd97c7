/**
 * The FTP receiver on 127.0.0.1 over a real store, and the real clients the tests drive it with:
 * curl, Python's ftplib and lftp (when installed).
 */
import { ReceiverMetrics } from '../../src/server/metrics.js';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageReceiver } from '../../src/core/receiver.js';
import type { ImageStore } from '../../src/core/store.js';
import { CameraLogin } from '../../src/file-transfer/camera-login.js';
import type { PortRange } from '../../src/ftp/passive.js';
import { FtpServer } from '../../src/ftp/server.js';
import type { FtpLog } from '../../src/ftp/session.js';
import { FailedAuthLimiter } from '../../src/server/failed-auth-limiter.js';
import { DiskStore } from '../../src/stores/disk.js';
import { TokenRegistry } from '../../src/tokens/registry.js';
import { selfSignedCertificate } from '../support/tls.js';

export const SAMPLE_JPEG_FILE = fileURLToPath(new URL('../../assets/sample.jpg', import.meta.url));
export const CAMERA = 'front-door';

/** A log line the receiver wrote. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

export interface RunningFtp {
  server: FtpServer;
  port: number;
  root: string;
  /** The disk store's folder (when the store is the default disk store). */
  images: string;
  token: string;
  tokens: TokenRegistry;
  store: ImageStore;
  logs: LogLine[];
  /** PEM files of the server's certificate, when it has one. */
  tls?: { cert: string; key: string };
  holdFolder: string;
  /** The metrics the server counts each file's outcome into, as `serve` shares them with HTTP. */
  metrics: ReceiverMetrics;
  /** Every file under the disk store's folder, relative (temporary ones included), sorted. */
  files(): Promise<string[]>;
  close(): Promise<void>;
}

export interface FtpTestOptions {
  tls?: boolean;
  requireTls?: boolean;
  maxSessions?: number;
  idleTimeoutMs?: number;
  passivePorts?: PortRange;
  publicAddress?: string;
  /** The store, or how to make it in the receiver's folder; default a disk store in `<root>/images`. */
  store?: ImageStore | ((images: string) => ImageStore);
  maxBytes?: number;
  failedAuthLimit?: number;
}

let certificate: { cert: Buffer; key: Buffer } | undefined;

/** The receiver with a disk store (or `options.store`) in a temp folder and one token for {@link CAMERA}. */
export async function startFtp(options: FtpTestOptions = {}): Promise<RunningFtp> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-ftp-'));
  const images = path.join(root, 'images');
  const store = typeof options.store === 'function' ? options.store(images) : (options.store ?? new DiskStore(images));
  await store.open();
  const tokens = new TokenRegistry(path.join(root, 'tokens.json'));
  const { token } = await tokens.create(CAMERA);
  const receiver = new ImageReceiver({ tokens, store, ...(options.maxBytes !== undefined && { maxBytes: options.maxBytes, maxClipBytes: options.maxBytes }) });
  const logs: LogLine[] = [];
  const logger = (level: LogLine['level']) => (fields: object, message: string) => void logs.push({ level, message, fields: fields as Record<string, unknown> });
  const log: FtpLog = { debug: logger('debug'), info: logger('info'), warn: logger('warn'), error: logger('error') };
  let tls: RunningFtp['tls'];
  if (options.tls) {
    certificate ??= selfSignedCertificate('127.0.0.1');
    tls = { cert: path.join(root, 'cert.pem'), key: path.join(root, 'key.pem') };
    await writeFile(tls.cert, certificate.cert);
    await writeFile(tls.key, certificate.key);
  }
  const holdFolder = path.join(root, 'held');
  const metrics = new ReceiverMetrics();
  const server = await FtpServer.start({
    receiver,
    login: new CameraLogin(tokens, new FailedAuthLimiter(options.failedAuthLimit ?? 20)),
    host: '127.0.0.1',
    port: 0,
    passivePorts: options.passivePorts,
    publicAddress: options.publicAddress,
    tls: options.tls ? certificate : undefined,
    requireTls: options.requireTls ?? false,
    ...(options.maxSessions !== undefined && { maxSessions: options.maxSessions }),
    ...(options.idleTimeoutMs !== undefined && { idleTimeoutMs: options.idleTimeoutMs }),
    holdFolder,
    log,
    metrics,
  });
  return {
    server,
    port: server.port,
    root,
    images,
    token,
    tokens,
    store,
    logs,
    ...(tls && { tls }),
    holdFolder,
    metrics,
    files: () => filesUnder(images),
    close: async () => {
      server.destroy();
      await server.close();
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Every file under `folder`, relative, sorted ([] when it does not exist). */
export async function filesUnder(folder: string): Promise<string[]> {
  try {
    const entries = await readdir(folder, { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** The stored images of {@link CAMERA}: files under the store, without the receiver's own dot folders. */
export async function storedImages(ftp: RunningFtp): Promise<string[]> {
  return (await ftp.files()).filter((file) => !file.startsWith('.'));
}

/** What a client program did: its exit code and output. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to its end (at most `timeoutMs`), whatever its exit code; `env` is added to this
 * process's environment, `environment` replaces it.
 */
export function run(
  program: string,
  args: readonly string[],
  options: { env?: Record<string, string>; environment?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      program,
      args,
      { env: options.environment ?? { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** curl against the receiver, as the camera: `-v` so that the server's replies are in stderr. */
export function curl(ftp: RunningFtp, args: readonly string[], user = `${CAMERA}:${ftp.token}`): Promise<Run> {
  return run('curl', ['--silent', '--show-error', '--verbose', '--max-time', '30', '--user', user, ...args]);
}

/** The replies (`< 226 …`) in curl's verbose output. */
export function curlReplies(result: Run): string[] {
  return result.stderr
    .split('\n')
    .filter((line) => /^< \d{3}[ -]/.test(line))
    .map((line) => line.slice(2).trim());
}

/** A Python prelude: `connect()`, `login()` and the sample JPEG, from the environment. */
const PYTHON_PRELUDE = `
import ftplib, json, os, socket, ssl, sys, time
HOST = '127.0.0.1'
PORT = int(os.environ['FTP_PORT'])
USER = os.environ['FTP_USER']
TOKEN = os.environ['FTP_TOKEN']
JPEG = open(os.environ['SAMPLE_JPEG'], 'rb').read()
def connect(secure=False):
    if secure:
        client = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=os.environ['FTP_CA']), timeout=20)
    else:
        client = ftplib.FTP(timeout=20)
    client.connect(HOST, PORT)
    return client
def login(secure=False, user=None, password=None):
    client = connect(secure)
    client.login(user or USER, password or TOKEN)
    if secure:
        client.prot_p()
    return client
def attempt(action):
    try:
        return str(action())
    except (ftplib.Error, OSError, EOFError) as error:
        return 'error: ' + str(error)
def store(client, name, data):
    return attempt(lambda: client.storbinary('STOR ' + name, __import__('io').BytesIO(data)))
`;

/** Runs Python code after {@link PYTHON_PRELUDE}; what it prints as JSON on its last line is returned. */
export async function python<T>(ftp: RunningFtp, code: string, env: Record<string, string> = {}): Promise<T> {
  const result = await run('python3', ['-c', `${PYTHON_PRELUDE}\n${code}`], {
    env: { FTP_PORT: String(ftp.port), FTP_USER: CAMERA, FTP_TOKEN: ftp.token, SAMPLE_JPEG: SAMPLE_JPEG_FILE, ...(ftp.tls && { FTP_CA: ftp.tls.cert }), ...env },
  });
  const last = result.stdout.trim().split('\n').at(-1);
  if (result.code !== 0 || last === undefined) throw new Error(`python failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  return JSON.parse(last) as T;
}

function installed(program: string): boolean {
  try {
    execFileSync(program, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Skip reasons for the clients that may be missing (else false). */
export const CURL_MISSING = installed('curl') ? false : 'curl is not installed';
export const PYTHON_MISSING = installed('python3') ? false : 'python3 is not installed';
export const LFTP_MISSING = installed('lftp') ? false : 'lftp is not installed (apt-get install lftp)';

/** Polls `check` until it holds or `ms` pass; the last value. */
export async function eventually<T>(check: () => Promise<T>, holds: (value: T) => boolean, ms = 5_000): Promise<T> {
  const until = Date.now() + ms;
  let value = await check();
  while (!holds(value) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await check();
  }
  return value;
}
