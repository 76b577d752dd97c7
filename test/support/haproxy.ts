/**
 * Debian's haproxy in front of receivers on loopback, as docs/fleet/haproxy.cfg sets it up: for the
 * fleet test and the fleet benchmark.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';

/** The haproxy binary (`HAPROXY`, or where Debian puts it, or on the PATH); `undefined` when there is none. */
export function haproxyBinary(): string | undefined {
  for (const candidate of [process.env.HAPROXY, '/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy']) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  const found = spawnSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' });
  return found.status === 0 && found.stdout.trim() ? found.stdout.trim() : undefined;
}

export interface HaproxySettings {
  /** Where cameras connect, on 127.0.0.1. */
  frontendPort: number;
  /** The receivers' ports on 127.0.0.1: servers r1, r2, … of backend `receivers`. */
  receiverPorts: number[];
  /** The runtime API's socket (`show stat`). */
  socket: string;
  /** How often each receiver's /readyz is checked, e.g. `1s` (docs/fleet uses 2s; a test wants 100ms). */
  checkInterval: string;
}

/** docs/fleet/haproxy.cfg on loopback: round robin, /readyz checks, a refused connection tried on another receiver. */
export function haproxyConfig({ frontendPort, receiverPorts, socket, checkInterval }: HaproxySettings): string {
  return `global
  maxconn 4096
  stats socket ${socket} mode 600 level admin

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-request 30s
  timeout queue 30s
  retries 3
  option redispatch 1

frontend cameras
  bind 127.0.0.1:${frontendPort}
  default_backend receivers

backend receivers
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter ${checkInterval} fastinter ${checkInterval} downinter ${checkInterval} fall 2 rise 2
${receiverPorts.map((port, n) => `  server r${n + 1} 127.0.0.1:${port} check`).join('\n')}
`;
}

/** What haproxy thinks of each receiver: `UP`, `DOWN`, `UP 1/2`, … by server name (r1, r2, …). */
export async function haproxyStatus(socket: string): Promise<Map<string, string>> {
  const answer = await new Promise<string>((resolve, reject) => {
    const connection = net.connect(socket);
    let text = '';
    connection.on('data', (chunk: Buffer) => (text += chunk.toString()));
    connection.on('end', () => resolve(text));
    connection.on('error', reject);
    connection.end('show stat\n');
  });
  const lines = answer.split('\n');
  const header = lines[0]!.replace(/^# /, '').split(',');
  const [proxy, server, status] = ['pxname', 'svname', 'status'].map((name) => header.indexOf(name));
  const found = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const fields = line.split(',');
    if (fields[proxy!] === 'receivers' && /^r\d+$/.test(fields[server!] ?? '')) found.set(fields[server!]!, fields[status!]!);
  }
  return found;
}
