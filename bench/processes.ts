/** Processes of `npm run bench`: starting servers, waiting for them, and reading their CPU and memory from /proc. */
import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

const running = new Set<ChildProcess>();

/** Ends every process the bench started (by its own pid), e.g. on Ctrl-C. */
export function stopAll(): void {
  for (const child of running) child.kill('SIGTERM');
}

export interface Started {
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/** Starts a process; `ready` resolves once it can take requests. */
export async function start(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions; ready: (child: ChildProcess) => Promise<void> }): Promise<Started> {
  const child = spawn(command, args, { env: options.env ?? process.env, stdio: options.stdio ?? ['ignore', 'pipe', 'inherit'] });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => running.delete(child));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', reject);
    void exited.then(() => reject(new Error(`${command} ${args.join(' ')} exited before it was ready`)));
  });
  failed.catch(() => undefined);
  await Promise.race([options.ready(child), failed, timeout(30_000, `${command} did not become ready`)]);
  return {
    child,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

function timeout(ms: number, message: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());
}

/** Resolves with the port from a `listening <port>` line on the child's standard output. */
export function listeningLine(onPort: (port: number) => void): (child: ChildProcess) => Promise<void> {
  return (child) =>
    new Promise((resolve) => {
      let text = '';
      const onData = (chunk: Buffer): void => {
        text += chunk.toString();
        const match = /listening (\d+)/.exec(text);
        if (match) {
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          onPort(Number(match[1]));
          resolve();
        }
      };
      child.stdout!.on('data', onData);
    });
}

/** Resolves once an HTTP GET of `path` (HTTPS with `tls`, any certificate) gets any answer (or `status` when given). */
export function answering(port: number, path: string, status?: number, tls = false): () => Promise<void> {
  return async () => {
    for (;;) {
      const answer = await new Promise<number | undefined>((resolve) => {
        const request = (tls ? https : http).get({ host: '127.0.0.1', port, path, agent: false, ...(tls && { rejectUnauthorized: false }) }, (response) => {
          response.resume();
          resolve(response.statusCode);
        });
        request.on('error', () => resolve(undefined));
      });
      if (answer !== undefined && (status === undefined || answer === status)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
}

/**
 * Resolves with the first line a server on `port` sends once connected (an SSH identification
 * string, an FTP greeting), once it starts with `prefix`; retries until then.
 */
export function greeting(port: number, prefix: string, onLine: (line: string) => void = () => undefined): () => Promise<void> {
  return async () => {
    for (;;) {
      const line = await new Promise<string | undefined>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port });
        let text = '';
        const done = (value: string | undefined): void => {
          socket.destroy();
          resolve(value);
        };
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => {
          text += chunk;
          const end = text.indexOf('\n');
          if (end !== -1) done(text.slice(0, end).trim());
        });
        socket.on('error', () => done(undefined));
        socket.on('close', () => done(undefined));
        socket.setTimeout(2000, () => done(undefined));
      });
      if (line?.startsWith(prefix)) {
        onLine(line);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `pid` and all its descendants (cluster workers, nginx workers). */
export function processTree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    const current = pids[i]!;
    try {
      for (const task of readdirSync(`/proc/${current}/task`)) {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        if (children) pids.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // The process ended meanwhile.
    }
  }
  return pids;
}

const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) used so far by the processes, and by their children that have ended
 * and been waited for (sshd's and vsftpd's per-connection processes, which end with their session).
 */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // ended
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** A field of /proc/<pid>/status in MB (VmRSS, VmHWM). */
export function memoryMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples the summed RSS of a process tree until stopped; returns the peak (MB). Sampled rather
 * than VmHWM so that a start-up peak does not count, and so that cluster workers add up.
 */
export function rssSampler(pid: number, everyMs = 20): { stop(): number } {
  let peak = 0;
  const sample = (): void => {
    const pids = processTree(pid);
    const sum = pids.reduce((total, each) => total + memoryMb(each, 'VmRSS'), 0);
    peak = Math.max(peak, sum);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

/** Milliseconds the block devices have spent doing I/O so far (the `io_ticks` of /proc/diskstats). */
function busyMs(): number {
  try {
    let total = 0;
    for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 13 || /^(loop|ram|zram)/.test(fields[2]!)) continue;
      total += Number(fields[12]);
    }
    return total;
  } catch {
    return 0;
  }
}

/**
 * Waits until the disks have been idle for two windows in a row (at most `maxMs`): deleting the
 * previous run's files makes the filesystem discard their blocks after `sync` has returned, and a
 * run that fsyncs would otherwise wait behind them. Returns the milliseconds waited.
 */
export async function quietDisks(maxMs = 30_000): Promise<number> {
  const began = Date.now();
  let quietWindows = 0;
  let before = busyMs();
  while (quietWindows < 2 && Date.now() - began < maxMs) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = busyMs();
    quietWindows = now - before <= 10 ? quietWindows + 1 : 0;
    before = now;
  }
  return Date.now() - began;
}
