/**
 * `serve --ftp-port`: the FTP receiver as the CLI runs it, options and environment variables,
 * beside the HTTP receiver on the same store and registry, and its shutdown.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { TokenRegistry } from '../../src/tokens/registry.js';
import { OPENSSL_MISSING, selfSignedCertificate } from '../support/tls.js';
import { CAMERA, CURL_MISSING, PYTHON_MISSING, SAMPLE_JPEG_FILE, filesUnder, run } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const SAMPLE_JPEG = await readFile(SAMPLE_JPEG_FILE);

interface Serving {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
  ftpPort: number;
}

/** The environment without settings of ours that could steer the child. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(IMAGES_TO_S3_|AWS_|NODE_TEST_)/.test(name) && name !== 'NODE_OPTIONS'));
  return { ...env, ...extra };
}

/** Runs `serve` from the sources; resolves with its FTP port once the banner names it (or rejects with its output). */
function serve(args: string[], env: Record<string, string> = {}): Promise<Serving> {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--no-gallery', ...args], { env: cleanEnv(env) });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve printed no FTP address:\n${output}`));
    }, 30_000);
    const look = (): void => {
      const match = /^\s+ftp:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(output);
      if (!match) return;
      clearTimeout(timer);
      resolve({ child, output: () => output, exited, ftpPort: Number(match[1]) });
    };
    child.stdout.on('data', look);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`serve exited:\n${output}`));
    });
  });
}

describe('serve --ftp-port', { skip: OPENSSL_MISSING || CURL_MISSING || PYTHON_MISSING }, () => {
  let folder: string;
  let token: string;
  let common: string[];
  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-ftp-serve-'));
    const tokens = path.join(folder, 'tokens.json');
    ({ token } = await new TokenRegistry(tokens).create(CAMERA));
    const { cert, key } = selfSignedCertificate('127.0.0.1');
    await writeFile(path.join(folder, 'cert.pem'), cert);
    await writeFile(path.join(folder, 'key.pem'), key);
    await writeFile(path.join(folder, 'upload.jpg'), SAMPLE_JPEG);
    common = ['--store', `file:${path.join(folder, 'images')}`, '--tokens', tokens, '--tls-cert', path.join(folder, 'cert.pem'), '--tls-key', path.join(folder, 'key.pem')];
  });
  after(() => rm(folder, { recursive: true, force: true }));

  it('takes FTPS uploads with the options from the environment, says so in its banner, and finishes a transfer under way on SIGTERM', async () => {
    const serving = await serve([...common, '--ftp-port', '0'], { IMAGES_TO_S3_FTP_REQUIRE_TLS: '1', IMAGES_TO_S3_FTP_PASSIVE_PORTS: '40200-40209' });
    try {
      assert.match(serving.output(), /FTP recipient \(user: the camera's name, password: one of its access tokens\):\n.*\n\s+explicit FTPS \(AUTH TLS\) required; passive mode only: ports 40200-40209\n/);
      const upload = await run('curl', ['--silent', '--show-error', '--ssl-reqd', '--cacert', path.join(folder, 'cert.pem'), '--user', `${CAMERA}:${token}`, '-T', path.join(folder, 'upload.jpg'), `ftp://127.0.0.1:${serving.ftpPort}/served.jpg`]);
      assert.equal(upload.code, 0, upload.stderr);
      const plain = await run('curl', ['--silent', '--user', `${CAMERA}:${token}`, '-T', path.join(folder, 'upload.jpg'), `ftp://127.0.0.1:${serving.ftpPort}/plain.jpg`]);
      assert.notEqual(plain.code, 0, 'a plain FTP log-in was taken though TLS is required');

      // A file under way when SIGTERM comes is received to its end and stored; then serve exits 0.
      const signal = path.join(folder, 'half-sent');
      const client = run('python3', [
        '-c',
        `
import ftplib, os, ssl, sys, time
client = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=sys.argv[1]), timeout=20)
client.connect('127.0.0.1', int(sys.argv[2]))
client.login(sys.argv[3], sys.argv[4])
client.prot_p()
data = open(sys.argv[5], 'rb').read()
conn = client.transfercmd('STOR during-shutdown.jpg')
conn.sendall(data[:20000])
open(sys.argv[6], 'w').close()
time.sleep(1)
conn.sendall(data[20000:])
conn.unwrap()
conn.close()
print(client.voidresp())
`,
        path.join(folder, 'cert.pem'),
        String(serving.ftpPort),
        CAMERA,
        token,
        path.join(folder, 'upload.jpg'),
        signal,
      ]);
      for (let waited = 0; waited < 20_000; waited += 50) {
        if ((await readFile(signal).catch(() => undefined)) !== undefined) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      serving.child.kill('SIGTERM');
      const finished = await client;
      assert.match(finished.stdout, /^226 Stored as .*during-shutdown\.jpg/, finished.stderr);
      assert.equal(await serving.exited, 0, serving.output());
      const names = (await filesUnder(path.join(folder, 'images'))).filter((file) => !file.startsWith('.')).map((file) => path.basename(file));
      assert.deepEqual(names.sort(), ['during-shutdown.jpg', 'served.jpg']);
    } finally {
      serving.child.kill('SIGKILL');
    }
  });

  it('refuses options that cannot work, before it starts', async () => {
    const noTls = await run(process.execPath, ['--import', TSX, MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--store', `file:${path.join(folder, 'images')}`, '--ftp-port', '0', '--ftp-require-tls'], { environment: cleanEnv({}) });
    assert.notEqual(noTls.code, 0);
    assert.match(noTls.stderr, /--ftp-require-tls needs --tls-cert and --tls-key/);
    const range = await run(process.execPath, ['--import', TSX, MAIN, 'serve', '--ftp-port', '2121', '--ftp-passive-ports', '60000-50000'], { environment: cleanEnv({}) });
    assert.notEqual(range.code, 0);
    assert.match(range.stderr, /"60000-50000" is not a port range/);
    const address = await run(process.execPath, ['--import', TSX, MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--store', `file:${path.join(folder, 'images')}`, '--ftp-port', '0', '--ftp-public-address', 'cameras.example.net'], { environment: cleanEnv({}) });
    assert.notEqual(address.code, 0);
    assert.match(address.stderr, /--ftp-public-address cameras\.example\.net: give an IPv4 address/);
  });
});
