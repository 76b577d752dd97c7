/**
 * Where one file's time and system calls go in our FTP or SFTP receiver: figures that do not
 * depend on how busy the machine is, for the `ftp` and `sftp` scenarios of bench/run.ts.
 *
 *   node --import tsx bench/file-transfer-profile.ts --mode ftp|sftp [--files 300] [--cameras 1]
 *     [--no-fsync] [--strace] [--root <checkout>] [--cpu-prof <folder>] [--perf <perf.data>]
 *     [--fresh-fs 2G] [--temporary-names] [--strace-output <file>]
 *
 * Starts `serve --ftp-port` (or `--sftp-port`) from the sources of `--root` (default: this
 * checkout), transpiled as the bench does, with a disk store in a temporary folder; logs one camera
 * in (or `--cameras`), then uploads `--files` 500 KB JPEGs back to back and prints, per file:
 *
 * - the server's CPU (all its threads, from /proc/<pid>/task/<tid>/schedstat, in nanoseconds),
 *   on the main thread and on the others (libuv's pool, V8's workers);
 * - with `--strace` (a second pass, under strace -f, so its latency is not counted): system calls
 *   per file by name, on the main thread and on the others: each call on a pool thread is one
 *   hand-off of the event loop to the thread pool and back (open, writev, fsync, link, …);
 * - each file's latency (from `PASV` to the 226; from `put` to its end for SFTP), p50/p90/p99.
 *
 * `--fresh-fs <size>`: the store on an ext4 file system made for the run (a loop device; root
 * only), so that runs compare on the same footing. Everything it makes goes in one temporary
 * folder, removed at the end.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { benchImage } from './image.js';
import { freePort } from './processes.js';

const args = process.argv.slice(2);
const value = (name: string): string | undefined => {
  const index = args.indexOf(name);
  return index === -1 ? undefined : args[index + 1];
};
const flag = (name: string): boolean => args.includes(name);

const mode = value('--mode') ?? 'ftp';
if (mode !== 'ftp' && mode !== 'sftp') throw new Error('--mode ftp or --mode sftp');
const files = Number(value('--files') ?? 300);
const cameras = Number(value('--cameras') ?? 1);
/** Upload each file under a temporary name (`x.jpg.tmp`), then rename it, as many cameras do. */
const temporaryNames = flag('--temporary-names');
const ROOT = path.resolve(value('--root') ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const BUILD = path.join(ROOT, 'node_modules', '.cache', `images-to-s3-profile-${process.pid}`, 'build');
const CAMERA = 'bench';
const TOKEN = 'bench-token-0123456789abcdef';

async function transpile(): Promise<void> {
  await rm(BUILD, { recursive: true, force: true });
  const entries = readdirSync(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
  await build({ entryPoints: entries, outdir: BUILD, outbase: ROOT, format: 'esm', platform: 'node', target: 'node20', bundle: false, logLevel: 'error' });
  await symlink(path.join(ROOT, 'package.json'), path.join(BUILD, 'package.json'));
  await symlink(path.join(ROOT, 'assets'), path.join(BUILD, 'assets'));
}

/** Context switches of the main thread of `pid` and of all its threads (voluntary and not). */
function switches(pid: number): { main: number; all: number } {
  let main = 0;
  let all = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
      const count = [...status.matchAll(/ctxt_switches:\s+(\d+)/g)].reduce((n, match) => n + Number(match[1]), 0);
      all += count;
      if (Number(task) === pid) main += count;
    } catch {
      // The thread ended.
    }
  }
  return { main, all };
}

/** User and system CPU of the whole process `pid` and of its main thread, in ms (clock ticks: 10 ms). */
function userSystemMs(pid: number): { user: number; system: number; mainUser: number; mainSystem: number } {
  const fields = (file: string): string[] => {
    const stat = readFileSync(file, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  };
  const all = fields(`/proc/${pid}/stat`);
  const main = fields(`/proc/${pid}/task/${pid}/stat`);
  return { user: Number(all[11]) * 10, system: Number(all[12]) * 10, mainUser: Number(main[11]) * 10, mainSystem: Number(main[12]) * 10 };
}

/** CPU of every thread of `pid` in ms: the main thread's and the others'. */
function threadCpuMs(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      if (Number(task) === pid) main += ns / 1e6;
      else others += ns / 1e6;
    } catch {
      // The thread ended.
    }
  }
  return { main, others };
}

async function waitForGreeting(port: number, prefix: string): Promise<void> {
  for (let attempt = 0; attempt < 100 && server?.exitCode === null; attempt++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.setEncoding('latin1');
      socket.once('data', (text: string) => {
        socket.destroy();
        resolve(text.startsWith(prefix));
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`no ${prefix} greeting on port ${port}`);
}

let server: ChildProcess | undefined;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A camera: logs in, uploads a named file, logs out. */
interface Camera {
  open(): Promise<void>;
  upload(name: string): Promise<void>;
  close(): Promise<void>;
}

class FtpCamera implements Camera {
  private socket!: net.Socket;
  private text = '';
  private replies: Array<{ code: number; text: string }> = [];
  private waiting: ((reply: { code: number; text: string }) => void) | undefined;

  constructor(
    private readonly port: number,
    private readonly body: Buffer,
  ) {}

  async open(): Promise<void> {
    this.socket = await connect(this.port);
    this.socket.setEncoding('latin1');
    this.socket.on('data', (chunk: string) => {
      this.text += chunk;
      for (let end = this.text.indexOf('\r\n'); end !== -1; end = this.text.indexOf('\r\n')) {
        const line = this.text.slice(0, end);
        this.text = this.text.slice(end + 2);
        if (!/^\d{3} /.test(line)) continue;
        const reply = { code: Number(line.slice(0, 3)), text: line };
        const waiting = this.waiting;
        this.waiting = undefined;
        if (waiting) waiting(reply);
        else this.replies.push(reply);
      }
    });
    await this.expect(undefined, 220);
    await this.expect(`USER ${CAMERA}`, 331);
    await this.expect(`PASS ${TOKEN}`, 230);
    await this.expect('TYPE I', 200);
  }

  async upload(name: string): Promise<void> {
    const passive = await this.expect('PASV', 227);
    const address = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(passive.text)!;
    const data = await connect(Number(address[5]) * 256 + Number(address[6]));
    const closed = new Promise<void>((resolve) => data.once('close', () => resolve()));
    await this.expect(`STOR ${temporaryNames ? `${name}.tmp` : name}`, 150);
    data.end(this.body);
    await closed;
    await this.expect(undefined, 226);
    if (!temporaryNames) return;
    await this.expect(`RNFR ${name}.tmp`, 350);
    await this.expect(`RNTO ${name}`, 250);
  }

  async close(): Promise<void> {
    await this.expect('QUIT', 221).catch(() => undefined);
    this.socket.destroy();
  }

  private async expect(command: string | undefined, code: number): Promise<{ code: number; text: string }> {
    if (command !== undefined) this.socket.write(`${command}\r\n`);
    const reply = this.replies.shift() ?? (await new Promise<{ code: number; text: string }>((resolve) => (this.waiting = resolve)));
    if (reply.code !== code) throw new Error(`${command ?? 'greeting'}: ${reply.text}`);
    return reply;
  }
}

/** OpenSSH's `sftp` in batch mode, as bench/load.ts drives it: `put`, then `pwd` to hear that it ended. */
class SftpCamera implements Camera {
  private child!: ChildProcess;
  private output = '';
  private waiting: (() => void) | undefined;

  constructor(
    private readonly port: number,
    private readonly imageFile: string,
    private readonly askpass: string,
  ) {}

  async open(): Promise<void> {
    this.child = spawn(
      'sftp',
      ['-P', String(this.port), '-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=keyboard-interactive,password', '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-b', '-', `${CAMERA}@127.0.0.1`],
      { env: { ...process.env, SSH_ASKPASS: this.askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (text: string) => {
      this.output += text;
      for (let end = this.output.indexOf('\n'); end !== -1; end = this.output.indexOf('\n')) {
        const line = this.output.slice(0, end);
        this.output = this.output.slice(end + 1);
        if (line.startsWith('Remote working directory:')) {
          const waiting = this.waiting;
          this.waiting = undefined;
          waiting?.();
        }
      }
    });
    await this.send('pwd');
  }

  upload(name: string): Promise<void> {
    return this.send(temporaryNames ? `put "${this.imageFile}" "${name}.tmp"\nrename "${name}.tmp" "${name}"\npwd` : `put "${this.imageFile}" "${name}"\npwd`);
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('close', resolve));
    this.child.stdin!.end();
    await exited;
  }

  private send(lines: string): Promise<void> {
    const done = new Promise<void>((resolve) => (this.waiting = resolve));
    this.child.stdin!.write(`${lines}\n`);
    return done;
  }
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Uploads `count` files from the cameras, back to back; each file's latency in ms, sorted. */
async function upload(list: Camera[], count: number, tag: string): Promise<number[]> {
  const latencies: number[] = [];
  let issued = 0;
  await Promise.all(
    list.map(async (camera) => {
      while (issued < count) {
        const n = issued++;
        const begun = performance.now();
        await camera.upload(`${tag}-${n}.jpg`);
        latencies.push(performance.now() - begun);
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** The system calls that libuv's thread pool makes for the receiver's file operations. */
const FILE_OPERATIONS = ['openat', 'write', 'writev', 'pwrite64', 'pwritev', 'fsync', 'fdatasync', 'close', 'link', 'unlink', 'mkdir', 'statx', 'newfstatat', 'fstat', 'rename', 'read', 'pread64'];

/** System calls in an `strace -f -o` output: per name, on the main thread (`pid`) and the others. */
function countSyscalls(text: string, pid: number): { main: Map<string, number>; others: Map<string, number> } {
  const main = new Map<string, number>();
  const others = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\d+)\s+([a-z0-9_]+)\((\d+<[^>]*>)?/.exec(line);
    if (!match) continue;
    const counts = Number(match[1]) === pid ? main : others;
    // Reads and writes of libuv's eventfd (the loop woken, and woken up), and of the log (stdout,
    // written by pino's sonic-boom through the thread pool), apart from those of files.
    const fd = match[3];
    const io = match[2] === 'write' || match[2] === 'read' || match[2] === 'writev';
    const name = io && fd?.includes('eventfd') ? `${match[2]}(eventfd)` : io && (fd?.startsWith('1<') || fd?.startsWith('2<')) ? `${match[2]}(log)` : match[2]!;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return { main, others };
}

function describe(counts: Map<string, number>, per: number): string {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${round(n / per, 1)}`)
    .join(', ');
}

const sum = (counts: Map<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0);

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-profile-'));
  const store = path.join(work, 'store');
  await mkdir(store);
  let mounted = false;
  try {
    const fresh = value('--fresh-fs');
    if (fresh !== undefined) {
      // A file system of its own, made for the run: ext4 finds free inodes at once in it, not after
      // skipping those of files removed a moment ago (which costs the pool threads more CPU than
      // anything else after a run that removed many files).
      const image = path.join(work, 'fs.img');
      execFileSync('truncate', ['-s', fresh, image]);
      execFileSync('mkfs.ext4', ['-q', '-F', image]);
      execFileSync('mount', ['-o', 'loop', image, store]);
      mounted = true;
    }
    await transpile();
    const { TokenRegistry } = (await import(path.join(BUILD, 'src', 'tokens', 'registry.js'))) as { TokenRegistry: new (file: string) => { create(camera: string, options: { token: string }): Promise<unknown> } };
    await new TokenRegistry(path.join(work, 'tokens.json')).create(CAMERA, { token: TOKEN });
    const imageFile = path.join(work, 'image.jpg');
    await writeFile(imageFile, await benchImage());
    const body = await readFile(imageFile);
    const askpass = path.join(work, 'askpass.sh');
    await writeFile(askpass, `#!/bin/sh\necho '${TOKEN}'\n`, { mode: 0o700 });

    const port = await freePort();
    const protocolPort = await freePort();
    server = spawn(
      process.execPath,
      [
        '--no-incremental-marking',
        ...(value('--cpu-prof') !== undefined ? ['--cpu-prof', '--cpu-prof-dir', value('--cpu-prof')!] : []),
        ...(value('--perf') !== undefined ? ['--perf-basic-prof'] : []),
        path.join(BUILD, 'src', 'cli', 'main.js'),
        'serve',
        '--host', '127.0.0.1',
        '--port', String(port),
        '--store', store,
        '--tokens', path.join(work, 'tokens.json'),
        '--log-level', 'info',
        mode === 'ftp' ? '--ftp-port' : '--sftp-port', String(protocolPort),
        ...(flag('--no-fsync') ? ['--no-fsync'] : []),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_NO_WARNINGS: '1' } },
    );
    const pid = server.pid!;
    await waitForGreeting(protocolPort, mode === 'ftp' ? '220' : 'SSH-');
    const newCamera = (): Camera => (mode === 'ftp' ? new FtpCamera(protocolPort, body) : new SftpCamera(protocolPort, imageFile, askpass));

    // Warm up (JIT, the store's folders), then the measured pass.
    const list = Array.from({ length: cameras }, newCamera);
    await Promise.all(list.map((camera) => camera.open()));
    await upload(list, 50, 'warm');
    const perf = value('--perf') !== undefined ? spawn('perf', ['record', '-g', '-s', '-o', value('--perf')!, '-p', String(pid)], { stdio: 'ignore' }) : undefined;
    if (perf) await sleep(500);
    const before = threadCpuMs(pid);
    const splitBefore = userSystemMs(pid);
    const switchesBefore = switches(pid);
    const started = performance.now();
    const latencies = await upload(list, files, 'run');
    const seconds = (performance.now() - started) / 1000;
    const after = threadCpuMs(pid);
    const splitAfter = userSystemMs(pid);
    const switchesAfter = switches(pid);
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((resolve) => perf.once('close', resolve));
    }
    const main = (after.main - before.main) / files;
    const others = (after.others - before.others) / files;
    console.log(`${ROOT} ${mode}${flag('--no-fsync') ? ' --no-fsync' : ''}${temporaryNames ? ' (temporary names, renamed)' : ''}: ${files} files of ${body.byteLength} bytes, ${cameras} camera(s), ${round(files / seconds, 1)} files/s`);
    console.log(`  CPU per file: ${round(main + others, 3)} ms (main thread ${round(main, 3)}, other threads ${round(others, 3)}; user ${round((splitAfter.user - splitBefore.user) / files, 2)}, system ${round((splitAfter.system - splitBefore.system) / files, 2)}; main thread user ${round((splitAfter.mainUser - splitBefore.mainUser) / files, 2)}, system ${round((splitAfter.mainSystem - splitBefore.mainSystem) / files, 2)})`);
    console.log(`  context switches per file: ${round((switchesAfter.all - switchesBefore.all) / files, 1)} (main thread ${round((switchesAfter.main - switchesBefore.main) / files, 1)})`);
    const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length;
    console.log(`  latency ms: mean ${round(mean)}, p10 ${round(percentile(latencies, 10))}, p50 ${round(percentile(latencies, 50))}, p90 ${round(percentile(latencies, 90))}, p99 ${round(percentile(latencies, 99))}, max ${round(latencies.at(-1)!)}`);

    if (flag('--strace')) {
      const traced = Math.min(files, 200);
      const output = value('--strace-output') ?? path.join(work, 'strace.txt');
      // -y: file descriptors with what they are, so that a write to libuv's eventfd (a thread-pool
      // thread waking the event loop) is told from a write to a file.
      const strace = spawn('strace', ['-f', '-qq', '-y', '-o', output, '-p', String(pid)], { stdio: 'ignore' });
      await sleep(1000);
      await upload(list, traced, 'traced');
      // Let the last file's answers and the pool's last wake-ups be counted.
      await sleep(300);
      strace.kill('SIGINT');
      await new Promise((resolve) => strace.once('close', resolve));
      const traceText = await readFile(output, 'utf8');
      const counts = countSyscalls(traceText, pid);
      const total = sum(counts.main) + sum(counts.others);
      console.log(`  system calls per file: ${round(total / traced, 1)} (main thread ${round(sum(counts.main) / traced, 1)}, other threads ${round(sum(counts.others) / traced, 1)})`);
      console.log(`    main: ${describe(counts.main, traced)}`);
      console.log(`    others: ${describe(counts.others, traced)}`);
      // Threads that made a file's system calls are libuv's pool; the others V8's workers (and the like).
      const perThread = new Map<number, Map<string, number>>();
      for (const line of traceText.split('\n')) {
        const match = /^(\d+)\s+([a-z0-9_]+)\(/.exec(line);
        if (!match) continue;
        const calls = perThread.get(Number(match[1])) ?? new Map<string, number>();
        calls.set(match[2]!, (calls.get(match[2]!) ?? 0) + 1);
        perThread.set(Number(match[1]), calls);
      }
      const byThread = new Map<string, number>();
      for (const [tid, calls] of perThread) {
        const kind = tid === pid ? 'main' : FILE_OPERATIONS.some((name) => calls.has(name)) ? 'pool' : 'other';
        byThread.set(kind, (byThread.get(kind) ?? 0) + sum(calls));
      }
      console.log(`    by thread: ${describe(byThread, traced)}`);
      const fileOperations = [...counts.others].filter(([name]) => FILE_OPERATIONS.includes(name)).reduce((n, [, calls]) => n + calls, 0);
      console.log(`    file operations on the thread pool per file (each a round trip from the event loop): ${round(fileOperations / traced, 1)}`);
    }
    await Promise.all(list.map((camera) => camera.close()));
  } finally {
    server?.kill('SIGTERM');
    if (server) await new Promise((resolve) => (server!.exitCode !== null ? resolve(undefined) : server!.once('exit', resolve)));
    if (mounted) execFileSync('umount', [store]);
    await rm(work, { recursive: true, force: true });
    await rm(path.dirname(BUILD), { recursive: true, force: true });
  }
}

if (!existsSync('/proc/self/task')) throw new Error('Linux only (/proc)');
await main();
