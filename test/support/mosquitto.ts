/**
 * Debian's mosquitto on loopback, for the MQTT sink's tests: a broker of its own per call, on a free
 * port, anonymous or with users, optionally with TLS; stopped and started again on the same port.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

const BINARY = process.env.MOSQUITTO ?? '/usr/sbin/mosquitto';

/** A skip reason where mosquitto is not installed, else false. */
export const MOSQUITTO_MISSING = existsSync(BINARY) ? false : `mosquitto is not installed (${BINARY}; apt-get install mosquitto, or set MOSQUITTO)`;

export interface MosquittoOptions {
  /** Users and their passwords; anonymous clients are refused when given. */
  users?: Record<string, string>;
  /** A TLS listener (mqtts) with this certificate and key (PEM). */
  tls?: { cert: Buffer; key: Buffer };
}

export interface Mosquitto {
  port: number;
  /** `mqtt://127.0.0.1:<port>`, or `mqtts://` with TLS. */
  url: string;
  /** Stops the broker (its retained messages are lost: no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  dispose(): Promise<void>;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-mosquitto-'));
  const port = await freePort();
  const lines = [
    `listener ${port} 127.0.0.1`,
    // As root, mosquitto would otherwise switch to the user "mosquitto", who cannot read this folder.
    `user ${os.userInfo().username}`,
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
  ];
  if (options.users) {
    const passwords = path.join(folder, 'passwords');
    await writeFile(passwords, '', { mode: 0o600 });
    for (const [user, password] of Object.entries(options.users)) execFileSync('mosquitto_passwd', ['-b', passwords, user, password], { stdio: 'ignore' });
    lines.push('allow_anonymous false', `password_file ${passwords}`);
  } else {
    lines.push('allow_anonymous true');
  }
  if (options.tls) {
    await writeFile(path.join(folder, 'cert.pem'), options.tls.cert);
    await writeFile(path.join(folder, 'key.pem'), options.tls.key, { mode: 0o600 });
    lines.push(`certfile ${path.join(folder, 'cert.pem')}`, `keyfile ${path.join(folder, 'key.pem')}`);
  }
  const config = path.join(folder, 'mosquitto.conf');
  await writeFile(config, `${lines.join('\n')}\n`);

  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const started = spawn(BINARY, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    let output = '';
    started.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (started.exitCode !== null) throw new Error(`mosquitto exited with ${started.exitCode}: ${output}`);
      if (await accepts(port)) return;
      if (Date.now() > deadline) throw new Error(`mosquitto does not accept connections on ${port}: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  try {
    await start();
  } catch (error) {
    await stop();
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    start,
    stop,
    dispose: async () => {
      await stop();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
