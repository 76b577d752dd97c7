/**
 * `npm run bench [-- --quick]`: the receiver against baselines measured in the same run, on the
 * same data and the same disk or S3 server, so the results are ratios that hold on a noisy machine.
 *
 * Every server runs in a process of its own; the simulated cameras (bench/load.ts) run in another
 * and reach them over loopback. Throughput runs alternate between the variants round by round, and
 * a ratio is the median of the per-round ratios. The last line printed is one JSON object.
 *
 * Load generator: in S1 and S6, wrk when installed (Debian package wrk, or WRK=<path>; driven by
 * bench/load.ts, with bench/wrk.lua for the bodies and unique names), else bench/load.ts itself;
 * in https bench/load.ts (wrk there only with `--load-generator wrk`: it spins through TLS
 * handshakes, see scenarioHttps); everywhere else bench/load.ts. The tables and the JSON say which
 * (`load_generator` for S1 and S6, `https_load_generator`). With wrk, 500 KB bodies cost more
 * client CPU than with bench/load.ts (0.43 ms per image in a quick S1 run, against 0.14–0.19 in
 * bench/RESULTS.md: wrk.lua builds each request, body included, anew for its unique name), and
 * p50/p99 count from a request's first byte (after any handshake).
 *
 * Workers: `--workers N` (default: the available cores): our receiver gets `serve --workers N`
 * in S1 and S6, nginx `worker_processes N`; https runs one worker each. The JSON has `workers`.
 * The receiver's Node is started with `--no-incremental-marking`: with one worker, `serve` then runs in that process (no supervisor);
 * with more, its workers run with the flag whatever the supervisor's Node was given. Scenarios
 * that pass no `--workers` get `serve`'s default, one worker per core.
 *
 * S1 disk: 500 KB JPEGs from 32 cameras, our receiver (disk store) against a bare node:http
 *    server piping bodies to files, in images on disk per second (the run plus the `sync` after
 *    it; see RunStats.storedPerSecond); the full run adds `--no-fsync`, the bare server with
 *    fsync, and our contract's core on bare node:http (bench/servers/core.ts).
 * S2 S3: the same through the S3 store against a local S3 server, against the same client sending
 *    PutObjects directly (`direct PutObject`): `ours --no-spool` answers once the store has the
 *    image (`s3_ratio`); `ours (spool)`, the default, answers once the image is in its spool and
 *    forwards it in the background, so it counts images in the store per second, the run plus the
 *    time until its spool is empty (`s3_spool_ratio`; answers per second: `s3_spool_answered_ratio`).
 *    Each variant writes under its own key prefix.
 * S3 memory: 32 uploads of 50 MB at once, peak RSS of the receiver: disk store, S3 store with the
 *    spool (sampled until the spool is empty) and with `--no-spool` (16 uploads with --quick).
 * S4: p99 added at low load (4 paced cameras). S5: the Lambda figures of bench/lambda.ts (full
 *    run). S6: the S1 load against nginx (WebDAV PUT, `--workers` worker processes, no access log),
 *    when installed (`nginx_ratio`).
 * clip: one 500 MB clip (a Matroska header, then filler: only the head is looked at) streamed over
 *    loopback to the receiver, disk store and S3 store with the spool (sampled until the spool is
 *    empty): peak RSS (`clip_500mb_peak_rss_mb`, `clip_500mb_peak_rss_mb_s3_spool`), and its growth
 *    over idle; it must not grow with the clip's size.
 * S7 drain: the receiver starts while its S3 server is down (a port reserved, nothing listening),
 *    takes 2000 images (300 with --quick; all must be answered 200), then the S3 server starts on
 *    that port: the seconds until the forwarder notices (its backoff: 1 s doubling, up to
 *    `--forward-max-backoff`, 30 s by default), then the images per second until the spool is
 *    empty (`drain_images_per_s`), and a check that the bucket holds every image exactly once.
 *
 * https (issue 19 calls it S7; here S7 is the drain): what an Axis camera does, HTTPS with a new
 *    TLS connection for every image (`Connection: close`, no keep-alive, no TLS session resumed),
 *    32 cameras, 500 KB JPEGs: our receiver (`serve --tls-cert --tls-key`, disk store, as S1's)
 *    against nginx over TLS (the S6 WebDAV PUT, `listen … ssl`, TLS 1.2 and 1.3, default ciphers),
 *    one worker each, the same self-signed RSA-2048 certificate for 127.0.0.1 (made with the
 *    openssl CLI in the work folder): images on disk per second as S1 (`https_nginx_ratio`; the
 *    full run adds `--no-fsync`: `https_nginx_ratio_nofsync`). Checked each run: a session offered
 *    again would be resumed or not (each server), and nginx's access log (`$ssl_session_reused
 *    $connection_requests`) of every image: on a resumed session, on a kept connection
 *    (`https_tls`). With wrk, which offers its last session again on each reconnect, both servers
 *    run without TLS session tickets (OPENSSL_CONF with NumTickets = 0).
 *
 * fleet: 1, 2 and 3 receivers (each in a working directory of its own, the token registry in the
 *    bucket) behind haproxy on one S3 server, the same load for each size (and straight to one
 *    receiver, for what haproxy costs): images per second answered through haproxy, and in the
 *    store (until every spool is empty). Skipped without haproxy.
 *
 * sftp: 500 KB JPEGs from 32 cameras, each an OpenSSH `sftp` client (bench/load.ts) in a session
 *    kept for the run, to our receiver's SFTP server (`serve --sftp-port`, disk store; with and
 *    without `--no-fsync`) and to OpenSSH's own (`sshd`, `internal-sftp`, no fsync) writing into a
 *    folder on the same disk: images on disk per second (the run plus the `sync` after it), as S1
 *    (`sftp_ratio`); then ours (fsync and not) and sshd with 4 cameras (`sftp_ratio_4_cameras`,
 *    `sftp_ratio_nofsync_4_cameras`), where each upload's latency sets the pace. Skipped without
 *    sshd (Debian openssh-server) or sftp. bench/file-transfer-profile.ts tells where one file's
 *    system calls and CPU go.
 * ftp: the same over FTP (passive, binary; one data connection per image, a session per camera kept
 *    for the run) to our receiver (`serve --ftp-port`) and to vsftpd (anonymous upload into a
 *    folder on the same disk, no fsync): `ftp_ratio`, `ftp_ratio_4_cameras` (and their `_nofsync`
 *    variants). Skipped without vsftpd or root.
 *
 * events: the S1 load with and without event sinks (a webhook, and MQTT when mosquitto is installed):
 *    `events_ratio` (to stay ≥ 0.95), `event_latency_p50_ms`, `event_latency_p99_ms`.
 *
 * Options: --quick; --rounds N; --seconds S; --only s1,s2,s3,s4,s5,s6,s7,https,clip,fleet,sftp,ftp,events;
 * --workers N (S1 and S6, see above); --load-generator wrk|node (S1, S6 and https; see above);
 * --serve-args "…" (extra `serve` flags for our receiver); --receiver-node-args "…" (Node flags for
 * our receiver, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`); --dir <folder> (where data goes;
 * default the OS temp folder); --keep (leave it there); --s3 s3rver|env (env: the server named by S3_TEST_ENDPOINT,
 * S3_TEST_ACCESS_KEY_ID, S3_TEST_SECRET_ACCESS_KEY, the default when they are set; S7 then reaches
 * it through a relay in the bench's process that starts late).
 * Results of a full run, and how to read them: bench/RESULTS.md.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { S3Client } from '@aws-sdk/client-s3';
import { TokenRegistry } from '../src/tokens/registry.js';
import { MATROSKA_HEAD, clipBody, streamUpload } from '../test/support/clips.js';
import { haproxyBinary, haproxyConfig, haproxyStatus } from '../test/support/haproxy.js';
import { MOSQUITTO_MISSING, startMosquitto } from '../test/support/mosquitto.js';
import { benchImage } from './image.js';
import type { LoadPlan, LoadResult } from './load.js';
import { answering, cpuSeconds, freePort, greeting, listeningLine, memoryMb, processTree, quietDisks, rssSampler, start, stopAll } from './processes.js';
import type { Started } from './processes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TSX = ['--import', 'tsx'];
/**
 * The receiver, the baseline servers and the load generator run as plain JavaScript, transpiled
 * file by file (as `npm run build` does, without type checking) into this folder at the start of
 * each run: the measured code is the current source, without tsx's loader in the process.
 */
const BUILD = path.join(ROOT, 'node_modules', '.cache', 'images-to-s3-bench-run', 'build');
const TOKEN = 'bench-token-0123456789abcdef';
const CAMERA = 'bench';
const MB = 1024 * 1024;

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(name);
const value = (name: string): string | undefined => {
  const index = argv.findIndex((arg) => arg === name || arg.startsWith(`${name}=`));
  if (index === -1) return undefined;
  return argv[index]!.includes('=') ? argv[index]!.slice(name.length + 1) : argv[index + 1];
};
const quick = flag('--quick');
const rounds = Number(value('--rounds') ?? (quick ? 1 : 5));
const seconds = Number(value('--seconds') ?? (quick ? 3 : 6));
const only = new Set((value('--only') ?? 's1,s2,s3,s4,s5,s6,s7,https,clip,fleet,sftp,ftp,events').split(','));
const serveArgs = (value('--serve-args') ?? '').split(' ').filter(Boolean);
const receiverNodeArgs = (value('--receiver-node-args') ?? '').split(' ').filter(Boolean);
const s3Choice = value('--s3') ?? (process.env.S3_TEST_ENDPOINT && process.env.S3_TEST_ACCESS_KEY_ID && process.env.S3_TEST_SECRET_ACCESS_KEY ? 'env' : 's3rver');
const CONNECTIONS = 32;
/** Workers of our receiver (`serve --workers`, when it has the option) and nginx's worker processes in S1 and S6. */
const workers = Number(value('--workers') ?? os.availableParallelism());
if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers ${value('--workers')}: a whole number, at least 1`);
/**
 * `--load-generator wrk|node`: the load generator of S1, S6 and https. By default wrk (when
 * installed) for S1 and S6, bench/load.ts for https (wrk busy-polls through every TLS handshake:
 * see {@link scenarioHttps}).
 */
const generatorChoice = value('--load-generator');
if (generatorChoice !== undefined && generatorChoice !== 'wrk' && generatorChoice !== 'node') throw new Error(`--load-generator ${generatorChoice}: wrk or node`);

// ---------------------------------------------------------------- helpers

interface RunStats {
  /** Images answered 2xx (SFTP: puts that ended well; FTP: transfers with a 226). */
  answered: number;
  /** Images answered 2xx per second of the run. */
  imagesPerSecond: number;
  /**
   * Images per second until they are where they count: the run's duration plus the time the work
   * a server left for after the run then takes (its variant's `settle`).
   *
   * S1, on disk: the time `sync` takes to write what the server left in the page cache. A server
   * that answers before its data is on disk leaves the writing to the kernel, after the run; this
   * counts that work (as a run long enough for writeback to keep pace would) so that every variant
   * does the same work: images on disk. For our receiver (fsync before the 200) the flush takes
   * ~10 ms. S2, in the store: the time until the receiver's spool is empty (every answered image
   * forwarded to the bucket); for the variants that answer only once the store has the image, 0.
   */
  storedPerSecond: number;
  /** Seconds the settling after the run took (S1: `sync`; S2: until the spool was empty). */
  settleSeconds: number;
  mbPerSecond: number;
  p50: number;
  p99: number;
  /** Server CPU (all its processes) per stored image, ms. */
  cpuMsPerImage: number;
  /** Load generator CPU per image, ms. */
  clientCpuMsPerImage: number;
  failed: number;
  firstError?: string;
}

const median = (values: number[]): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const percentile = (sorted: number[], p: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

let tagCounter = 0;

/**
 * Runs the load generator in its own process. `clock` is called when it says its clock starts and
 * stops (modes that log in before the clock starts: sftp, ftp); it waits for that call.
 */
async function load(plan: Omit<LoadPlan, 'tag' | 'imageFile'> & { imageFile?: string; tag?: string }, clock?: (mark: 'started' | 'stopped') => void): Promise<LoadResult> {
  const full: LoadPlan = { imageFile: imagePath, tag: `r${process.pid}x${tagCounter++}`, ...plan };
  const child = spawn(process.execPath, [path.join(BUILD, 'bench', 'load.js'), JSON.stringify(full)], { stdio: ['pipe', 'pipe', 'inherit'], cwd: ROOT, env: quietEnv });
  child.stdin.on('error', () => undefined);
  let output = '';
  let seen = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    for (let end = output.indexOf('\n', seen); end !== -1; end = output.indexOf('\n', seen)) {
      const mark = /^clock (started|stopped)$/.exec(output.slice(seen, end));
      if (mark) {
        clock?.(mark[1] as 'started' | 'stopped');
        // After the last mark nothing more is read: the end of stdin lets the load generator exit.
        if (mark[1] === 'stopped') child.stdin.end('go\n');
        else child.stdin.write('go\n');
      }
      seen = end + 1;
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.stdin.end();
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  return JSON.parse(output.trim().split('\n').at(-1)!) as LoadResult;
}

/**
 * One measured load run against a server, with the server's CPU use over the run and the settling
 * after it (`settle` resolves with its seconds: a disk's flush, a spool's draining), which counts
 * into {@link RunStats.storedPerSecond} and the server's CPU. Where the load generator logs in
 * before its clock starts (sftp, ftp), the server's CPU counts from then until the clock stops
 * (and over the settling), not over the log-ins and log-outs.
 */
async function measure(server: Started, plan: Omit<LoadPlan, 'tag' | 'imageFile'>, settle?: () => Promise<number>): Promise<RunStats> {
  const serverCpu = (): number => cpuSeconds(processTree(server.pid));
  let cpuBefore = serverCpu();
  let cpuAtStop: number | undefined;
  const result = await load(plan, (mark) => {
    if (mark === 'started') cpuBefore = serverCpu();
    else cpuAtStop = serverCpu();
  });
  const cpuAtEnd = serverCpu();
  const settleSeconds = settle ? await settle() : 0;
  const cpu = (cpuAtStop ?? cpuAtEnd) - cpuBefore + (serverCpu() - cpuAtEnd);
  const stored = Math.max(1, result.ok);
  return {
    answered: result.ok,
    imagesPerSecond: result.ok / result.seconds,
    storedPerSecond: result.ok / (result.seconds + settleSeconds),
    settleSeconds,
    mbPerSecond: result.bytes / MB / result.seconds,
    p50: percentile(result.latencies, 50),
    p99: percentile(result.latencies, 99),
    cpuMsPerImage: (cpu * 1000) / stored,
    clientCpuMsPerImage: result.cpuMs / stored,
    failed: result.failed,
    ...(result.firstError !== undefined && { firstError: result.firstError }),
  };
}

/** Seconds that writing the dirty pages of the filesystems holding `folders` to disk takes (`sync -f`). */
function flush(folders: string[]): number {
  const began = performance.now();
  spawnSync('sync', ['-f', ...folders.filter((folder) => existsSync(folder))]);
  return (performance.now() - began) / 1000;
}

/**
 * Frees the space of what the previous run stored and waits for the disk to settle, so that no
 * run pays for another's dirty pages or discards.
 *
 * The files are truncated to nothing rather than deleted (the scenario's folder goes at the end):
 * on an ext4 without a journal (this kind of VM) the inode allocator skips every inode freed in
 * the last minute, looking each one up, so after deleting a run's thousands of files every file
 * the next run creates cost it that scan: 8–15 % of the servers' CPU in `perf`, more for the
 * variants that create files where the deleted ones were. Truncated files keep their inodes.
 */
async function clean(...folders: string[]): Promise<void> {
  for (const folder of folders) {
    const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
    const files = entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
    for (let i = 0; i < files.length; i += 64) await Promise.all(files.slice(i, i + 64).map((file) => truncate(file, 0)));
    await mkdir(folder, { recursive: true, mode: 0o777 });
    await chmod(folder, 0o777);
  }
  flush(folders);
  await quietDisks();
}

function log(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function table(title: string, rows: Array<Record<string, string | number>>): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  const cell = (value: string | number): string => (typeof value === 'number' ? (Number.isFinite(value) ? String(round(value, value >= 100 ? 0 : value >= 10 ? 1 : 2)) : '–') : value);
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => cell(row[column] ?? '').length)));
  log(title);
  log(columns.map((column, i) => (i === 0 ? column.padEnd(widths[i]!) : column.padStart(widths[i]!))).join('  '));
  for (const row of rows) log(columns.map((column, i) => (i === 0 ? cell(row[column] ?? '').padEnd(widths[i]!) : cell(row[column] ?? '').padStart(widths[i]!))).join('  '));
  log();
}

/** The AWS SDK's warning about Node 20 would only clutter the table. */
const quietEnv: NodeJS.ProcessEnv = { ...process.env, NODE_NO_WARNINGS: '1' };

async function sources(folder: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, folder), { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => path.join(entry.parentPath, entry.name));
}

/** Transpiles src/ and the bench's processes into {@link BUILD}, beside a link to package.json and assets/. */
async function buildAll(): Promise<void> {
  await rm(BUILD, { recursive: true, force: true });
  await mkdir(BUILD, { recursive: true });
  const entryPoints = [...(await sources('src')), path.join(ROOT, 'bench', 'load.ts'), path.join(ROOT, 'bench', 'processes.ts'), path.join(ROOT, 'bench', 'servers', 'bare.ts'), path.join(ROOT, 'bench', 'servers', 'core.ts'), path.join(ROOT, 'bench', 'servers', 's3rver.ts'), path.join(ROOT, 'bench', 'servers', 'webhook.ts')];
  await build({ entryPoints, outdir: BUILD, outbase: ROOT, format: 'esm', platform: 'node', target: 'node20', bundle: false, logLevel: 'error' });
  await symlink(path.join(ROOT, 'package.json'), path.join(BUILD, 'package.json'));
  await symlink(path.join(ROOT, 'assets'), path.join(BUILD, 'assets'));
}

// ---------------------------------------------------------------- servers

let work = '';
let imagePath = '';
let imageBytes = 0;

/**
 * Our receiver, `images-to-s3 serve`, from the sources, with the Node flag that `npm start` and
 * the systemd unit give it (as they run the same code built).
 */
async function startReceiver(name: string, store: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}, ready?: () => Promise<void>): Promise<Started & { port: number }> {
  const port = await freePort();
  const logFile = openSync(path.join(work, `${name}.log`), 'a');
  const args = [
    '--no-incremental-marking',
    ...receiverNodeArgs,
    path.join(BUILD, 'src', 'cli', 'main.js'),
    'serve',
    '--host', '127.0.0.1',
    '--port', String(port),
    '--store', store,
    '--tokens', path.join(work, 'tokens.json'),
    ...extra,
    ...serveArgs,
  ];
  const started = await start(process.execPath, args, {
    env: { ...quietEnv, ...env },
    stdio: ['ignore', logFile, logFile],
    ready: async () => {
      await answering(port, '/readyz', 200, extra.includes('--tls-cert'))();
      await ready?.();
    },
  });
  return { ...started, port };
}

/** `serve` flags for `n` workers. */
const workerArgs = (n: number): string[] => ['--workers', String(n)];

/** wrk, when installed (and not `--load-generator node`): the load generator of S1 and S6, and of https with `--load-generator wrk`. */
let wrk: LoadPlan['wrk'];
/** wrk for https: only when asked for (`--load-generator wrk`). */
const httpsWrk = (): LoadPlan['wrk'] => (generatorChoice === 'wrk' ? wrk : undefined);
const loadGenerator = (): 'wrk' | 'node' => (wrk ? 'wrk' : 'node');
const httpsLoadGenerator = (): 'wrk' | 'node' => (httpsWrk() ? 'wrk' : 'node');

/** Our receiver's core and disk store behind a bare node:http handler (bench/servers/core.ts). */
function startCore(folder: string): Promise<Started & { port: number }> {
  return startBenchServer('core', folder, [path.join(work, 'tokens.json')]);
}

function startBare(folder: string, fsync = false): Promise<Started & { port: number }> {
  return startBenchServer('bare', folder, fsync ? ['--fsync'] : []);
}

/** One of bench/servers/ storing into `folder`; it prints `listening <port>` once it listens. */
async function startBenchServer(server: 'bare' | 'core', folder: string, args: string[]): Promise<Started & { port: number }> {
  await mkdir(folder, { recursive: true });
  let port = 0;
  const started = await start(process.execPath, [path.join(BUILD, 'bench', 'servers', `${server}.js`), folder, ...args], {
    env: quietEnv,
    ready: listeningLine((found) => (port = found)),
  });
  return { ...started, port };
}

function nginxBinary(): string | undefined {
  for (const candidate of [process.env.NGINX, '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * nginx on loopback with WebDAV PUT into `folder` (bodies go to a temp file on the same disk, then
 * renamed), with `workers` worker processes. With `tls`: HTTPS only (TLS 1.2 and 1.3, nginx's
 * default ciphers), and an access log of each request's `$ssl_session_reused $connection_requests
 * $status` (buffered; written out when nginx stops) in `<home>/logs/tls.log`.
 */
async function startNginx(binary: string, folder: string, options: { name?: string; workers: number; tls?: { cert: string; key: string }; env?: NodeJS.ProcessEnv }): Promise<Started & { port: number; home: string }> {
  const home = path.join(work, options.name ?? 'nginx');
  await mkdir(path.join(home, 'temp'), { recursive: true });
  await mkdir(path.join(home, 'logs'), { recursive: true });
  await mkdir(folder, { recursive: true });
  // Workers run as nobody when started as root.
  for (const dir of [home, path.join(home, 'temp'), path.join(home, 'logs'), folder]) await chmod(dir, 0o777);
  const port = await freePort();
  const tls = options.tls;
  const config = `worker_processes ${options.workers};
daemon off;
pid ${home}/nginx.pid;
error_log ${home}/logs/error.log warn;
events { worker_connections 1024; }
http {
${tls ? `  log_format tls '$ssl_session_reused $connection_requests $status';
  access_log ${home}/logs/tls.log tls buffer=64k;` : '  access_log off;'}
  client_body_temp_path ${home}/temp;
  client_max_body_size 100m;
  server {
    listen 127.0.0.1:${port}${tls ? ' ssl' : ''};
${tls ? `    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;
` : ''}    root ${folder};
    location / { dav_methods PUT; create_full_put_path on; }
  }
}
`;
  await writeFile(path.join(home, 'nginx.conf'), config);
  const started = await start(binary, ['-p', home, '-c', path.join(home, 'nginx.conf'), '-e', path.join(home, 'logs', 'error.log')], {
    ...(options.env && { env: { ...process.env, ...options.env } }),
    stdio: ['ignore', 'ignore', 'inherit'],
    ready: answering(port, '/', undefined, tls !== undefined),
  });
  return { ...started, port, home };
}

// ---------------------------------------------------------------- scenarios

interface Variant {
  name: string;
  server: Started & { port: number };
  plan: Omit<LoadPlan, 'tag' | 'imageFile' | 'connections'>;
  /** Folders holding what a run stored, emptied before the next (see {@link clean}). */
  data: string[];
  /** Waits after a run until what it stored is where it counts; resolves with the seconds. Default: `sync` of `data`. */
  settle?: () => Promise<number>;
  /** Removes what a run stored, instead of emptying `data`. */
  cleanUp?: () => Promise<void>;
  /** Checks what a run stored (after its settling, before the clean-up); says what is wrong, if anything. */
  verify?: (stats: RunStats) => Promise<string | undefined>;
  info?: string;
}

/**
 * Rounds of alternating runs; the order rotates each round so no variant always follows the same
 * one. Each variant first runs `warmSeconds` unmeasured (none with 0: servers warmed already).
 */
async function alternate(variants: Variant[], connections: number, runSeconds: number, warmSeconds: number, roundCount = rounds): Promise<Map<string, RunStats[]>> {
  const results = new Map<string, RunStats[]>(variants.map((variant) => [variant.name, []]));
  const settle = (variant: Variant): (() => Promise<number>) | undefined => variant.settle ?? (variant.data.length > 0 ? () => Promise.resolve(flush(variant.data)) : undefined);
  const cleanUp = (variant: Variant): Promise<void> => (variant.cleanUp ? variant.cleanUp() : clean(...variant.data));
  for (const variant of warmSeconds > 0 ? variants : []) {
    await measure(variant.server, { ...variant.plan, connections, durationMs: warmSeconds * 1000 }, settle(variant));
    await cleanUp(variant);
  }
  for (let r = 0; r < roundCount; r++) {
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(i + r) % variants.length]!;
      const stats = await measure(variant.server, { ...variant.plan, connections, durationMs: runSeconds * 1000 }, settle(variant));
      if (stats.failed > 0) log(`  ! ${variant.name}: ${stats.failed} failed (${stats.firstError})`);
      const wrong = await variant.verify?.(stats);
      if (wrong !== undefined) log(`  ! ${variant.name}: ${wrong}`);
      results.get(variant.name)!.push(stats);
      await cleanUp(variant);
    }
  }
  return results;
}

type Rate = 'storedPerSecond' | 'imagesPerSecond';

/** Median of the per-round ratios a/b of a rate (by default images stored per second: on disk, in the store). */
function ratio(results: Map<string, RunStats[]>, a: string, b: string, rate: Rate = 'storedPerSecond'): number {
  const left = results.get(a);
  const right = results.get(b);
  if (!left || !right) return NaN;
  return median(left.map((stats, i) => stats[rate] / right[i]![rate]));
}

/**
 * Table rows. With `stored` the throughput columns are images stored per second (see
 * {@link RunStats.storedPerSecond}), headed `stored.rate`, beside answers per second and the
 * settling's seconds (headed `stored.wait`).
 */
function rows(results: Map<string, RunStats[]>, baseline: string, infos: Record<string, string> = {}, stored?: { rate: string; wait: string }): Array<Record<string, string | number>> {
  const settled = stored !== undefined;
  const rate: Rate = settled ? 'storedPerSecond' : 'imagesPerSecond';
  return [...results].map(([name, runs]) => ({
    variant: name,
    ...(settled && { 'answered/s': median(runs.map((run) => run.imagesPerSecond)), [stored.wait]: median(runs.map((run) => run.settleSeconds)) }),
    [stored?.rate ?? 'images/s']: median(runs.map((run) => run[rate])),
    'MB/s': median(runs.map((run) => (run.mbPerSecond * run[rate]) / run.imagesPerSecond)),
    'p50 ms': median(runs.map((run) => run.p50)),
    'p99 ms': median(runs.map((run) => run.p99)),
    'server CPU ms/img': median(runs.map((run) => run.cpuMsPerImage)),
    'client CPU ms/img': median(runs.map((run) => run.clientCpuMsPerImage)),
    [`× ${baseline}`]: ratio(results, name, baseline, rate),
    'per-round': runs.map((run, i) => round(run[rate] / results.get(baseline)![i]![rate], 2)).join(' '),
    ...(settled && { [`answered × ${baseline}`]: ratio(results, name, baseline, 'imagesPerSecond') }),
    note: infos[name] ?? '',
  }));
}

const summary: Record<string, unknown> = {};

async function scenarioDisk(): Promise<void> {
  const disk = path.join(work, 'disk');
  const variants: Variant[] = [];
  const httpPlan = (pathTemplate = `/?accessToken=${TOKEN}`, method = 'POST'): Variant['plan'] => ({ mode: 'http', host: '127.0.0.1', port: 0, method, path: pathTemplate, contentDisposition: true, ...(wrk && { wrk }) });
  const add = (name: string, server: Started & { port: number }, plan: Variant['plan'], data: string[]): void => {
    variants.push({ name, server, plan: { ...plan, port: server.port }, data });
  };
  const started: Started[] = [];
  try {
    const bare = await startBare(path.join(disk, 'bare'));
    started.push(bare);
    add('bare', bare, httpPlan('/'), [path.join(disk, 'bare')]);
    const ours = await startReceiver('receiver-disk', `file:${path.join(disk, 'ours')}`, ['--log-level', 'info', ...workerArgs(workers)]);
    started.push(ours);
    add('ours', ours, httpPlan(), [path.join(disk, 'ours', CAMERA)]);
    if (!quick) {
      const unsynced = await startReceiver('receiver-disk-nofsync', `file:${path.join(disk, 'ours-nofsync')}`, ['--log-level', 'info', '--no-fsync', ...workerArgs(workers)]);
      started.push(unsynced);
      add('ours --no-fsync', unsynced, httpPlan(), [path.join(disk, 'ours-nofsync', CAMERA)]);
      const bareSync = await startBare(path.join(disk, 'bare-fsync'), true);
      started.push(bareSync);
      add('bare+fsync', bareSync, httpPlan('/'), [path.join(disk, 'bare-fsync')]);
      const core = await startCore(path.join(disk, 'core'));
      started.push(core);
      add('contract core', core, httpPlan(), [path.join(disk, 'core', CAMERA)]);
    }
    const nginx = only.has('s6') ? nginxBinary() : undefined;
    if (nginx) {
      const server = await startNginx(nginx, path.join(disk, 'nginx'), { workers });
      started.push(server);
      add('nginx', server, httpPlan('/up/{n}.jpg', 'PUT'), [path.join(disk, 'nginx', 'up')]);
    }
    const results = await alternate(variants, CONNECTIONS, seconds, quick ? 1 : 2);
    const ourWorkers = `--workers ${workers}`;
    table(`S1 disk (and S6 nginx): 500 KB JPEGs, ${CONNECTIONS} cameras (keep-alive), ${rounds} round(s) of ${seconds} s, load generator ${loadGenerator()}`, rows(results, 'bare', {
      bare: 'node:http pipe to file, no checks, no fsync',
      ours: `full contract, fsync before 200, ${ourWorkers}`,
      'ours --no-fsync': `full contract, no fsync (opt-out), ${ourWorkers}`,
      'bare+fsync': 'bare + fsync of file and folder',
      'contract core': 'ImageReceiver + DiskStore on bare node:http',
      nginx: `WebDAV PUT, no fsync, ${workers} worker process${workers === 1 ? '' : 'es'}`,
    }, { rate: 'on disk/s', wait: 'flush s' }));
    // The ratios of images on disk per second are the headline; `_answered` ones compare answers per second.
    const ratios = (suffix: string, rate: Rate): void => {
      summary[`disk_ratio${suffix}`] = round(ratio(results, 'ours', 'bare', rate), 3);
      summary[`nginx_ratio${suffix}`] = nginx ? round(ratio(results, 'ours', 'nginx', rate), 3) : null;
      if (nginx) summary[`bare_nginx_ratio${suffix}`] = round(ratio(results, 'bare', 'nginx', rate), 3);
      if (results.has('ours --no-fsync')) {
        summary[`disk_ratio_nofsync${suffix}`] = round(ratio(results, 'ours --no-fsync', 'bare', rate), 3);
        if (nginx) summary[`nginx_ratio_nofsync${suffix}`] = round(ratio(results, 'ours --no-fsync', 'nginx', rate), 3);
      }
      if (results.has('bare+fsync')) summary[`fsync_cost_ratio${suffix}`] = round(ratio(results, 'bare+fsync', 'bare', rate), 3);
      if (results.has('contract core')) {
        summary[`core_ratio${suffix}`] = round(ratio(results, 'contract core', 'bare', rate), 3);
        summary[`server_layer_ratio${suffix}`] = round(ratio(results, 'ours', 'contract core', rate), 3);
      }
    };
    ratios('', 'storedPerSecond');
    ratios('_answered', 'imagesPerSecond');
    summary.disk_images_on_disk_per_s = Object.fromEntries([...results].map(([name, runs]) => [name, round(median(runs.map((run) => run.storedPerSecond)), 1)]));
    summary.disk_images_answered_per_s = Object.fromEntries([...results].map(([name, runs]) => [name, round(median(runs.map((run) => run.imagesPerSecond)), 1)]));
  } finally {
    for (const server of started) await server.stop();
  }
}

// ---------------------------------------------------------------- https: a new TLS connection per image

/**
 * OpenSSL configuration of the https scenario's servers when wrk sends (OPENSSL_CONF; nginx reads
 * `openssl_conf`, Node `nodejs_conf`): no TLS 1.3 session tickets, so that no connection can resume
 * a session, whatever the client offers. wrk offers the session of its connection's last handshake
 * again on each reconnect (it keeps its SSL object: SSL_shutdown, SSL_clear), where a camera makes
 * a full handshake every time; without tickets, and without a TLS 1.2 session cache (neither server
 * keeps one by default), every connection is a full handshake. The servers then only save issuing
 * tickets the cameras would throw away (microseconds, against the RSA signature's millisecond).
 * bench/load.ts never offers a session again: with it the servers keep their defaults.
 */
const NO_TICKETS_CONF = `openssl_conf = bench_conf
nodejs_conf = bench_conf
[bench_conf]
ssl_conf = bench_ssl
[bench_ssl]
system_default = bench_tls
[bench_tls]
NumTickets = 0
`;

/** A self-signed RSA-2048 certificate for 127.0.0.1 in `folder` (openssl CLI); undefined when it cannot be made. */
function makeCertificate(folder: string): { cert: string; key: string } | undefined {
  const cert = path.join(folder, 'cert.pem');
  const key = path.join(folder, 'key.pem');
  const subject = ['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'];
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '7', ...subject], { stdio: 'ignore' });
  return made.status === 0 && existsSync(cert) && existsSync(key) ? { cert, key } : undefined;
}

/**
 * Whether a TLS server on `port` lets a client resume: the session a first connection got (a TLS
 * 1.3 ticket, a TLS 1.2 session), offered on a second connection.
 */
async function resumes(port: number): Promise<boolean> {
  const options = { host: '127.0.0.1', port, rejectUnauthorized: false };
  const session = await new Promise<Buffer | undefined>((resolve) => {
    let last: Buffer | undefined;
    const socket = tls.connect(options, () => socket.end(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    socket.on('session', (each: Buffer) => (last = each));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(last));
    socket.setTimeout(5000, () => socket.destroy());
    socket.resume();
  });
  if (!session) return false;
  return new Promise((resolve) => {
    const socket = tls.connect({ ...options, session }, () => {
      resolve(socket.isSessionReused());
      socket.destroy();
    });
    socket.on('error', () => resolve(false));
  });
}

/**
 * What nginx's TLS access log (see {@link startNginx}) says of the images it stored (2xx): how
 * many, how many on a resumed TLS session, how many not the first request of their connection.
 */
async function nginxTlsLog(home: string): Promise<{ images: number; resumed: number; kept: number }> {
  const text = await readFile(path.join(home, 'logs', 'tls.log'), 'utf8').catch(() => '');
  const counts = { images: 0, resumed: 0, kept: 0 };
  for (const line of text.split('\n')) {
    const [reused, requests, status] = line.split(' ');
    if (!status?.startsWith('2')) continue;
    counts.images++;
    if (reused === 'r') counts.resumed++;
    if (Number(requests) > 1) counts.kept++;
  }
  return counts;
}

/**
 * https ("S7" in issue 19; S7 here is the drain): what an Axis camera does, HTTPS with a new TLS
 * connection for every image (`Connection: close`; no keep-alive, no session resumed), 32 cameras,
 * 500 KB JPEGs: our receiver (`serve --tls-cert --tls-key`, disk store) against nginx over TLS
 * (WebDAV PUT), one worker each, in images on disk per second as S1 (`https_nginx_ratio`).
 *
 * The cameras are bench/load.ts unless `--load-generator wrk`: wrk waits for each TLS handshake's
 * answer with its socket registered for writing too (socket_connected on AE_READABLE|AE_WRITABLE,
 * SSL_connect returning WANT_READ), so it spins a core while any handshake is under way, the
 * longer the slower the server answers, and takes that CPU from the servers on a small machine (in
 * quick runs: 2.9 ms of client CPU per image against nginx, 8.5 against ours, where bench/load.ts
 * takes 1.2–1.4 against either).
 */
async function scenarioHttps(): Promise<void> {
  const folder = path.join(work, 'https');
  await mkdir(folder, { recursive: true });
  const certificate = makeCertificate(folder);
  if (!certificate) {
    log('https: skipped (the openssl CLI could not make a certificate)');
    log();
    summary.https_nginx_ratio = null;
    return;
  }
  const sender = httpsWrk();
  const env: NodeJS.ProcessEnv = {};
  if (sender) {
    env.OPENSSL_CONF = path.join(folder, 'openssl-no-tickets.cnf');
    await writeFile(env.OPENSSL_CONF, NO_TICKETS_CONF);
  }
  const plan = (port: number, pathTemplate: string, method: string): Variant['plan'] => ({ mode: 'http', host: '127.0.0.1', port, method, path: pathTemplate, contentDisposition: true, tls: true, close: true, ...(sender && { wrk: sender }) });
  const receiverArgs = ['--log-level', 'info', '--tls-cert', certificate.cert, '--tls-key', certificate.key, ...workerArgs(1)];
  const variants: Variant[] = [];
  const started: Started[] = [];
  try {
    const ours = await startReceiver('receiver-https', `file:${path.join(folder, 'ours')}`, receiverArgs, env);
    started.push(ours);
    variants.push({ name: 'ours', server: ours, plan: plan(ours.port, `/?accessToken=${TOKEN}`, 'POST'), data: [path.join(folder, 'ours', CAMERA)] });
    if (!quick) {
      const unsynced = await startReceiver('receiver-https-nofsync', `file:${path.join(folder, 'ours-nofsync')}`, [...receiverArgs, '--no-fsync'], env);
      started.push(unsynced);
      variants.push({ name: 'ours --no-fsync', server: unsynced, plan: plan(unsynced.port, `/?accessToken=${TOKEN}`, 'POST'), data: [path.join(folder, 'ours-nofsync', CAMERA)] });
    }
    const binary = nginxBinary();
    const nginx = binary ? await startNginx(binary, path.join(folder, 'nginx'), { name: 'nginx-https', workers: 1, tls: certificate, env }) : undefined;
    if (nginx) {
      started.push(nginx);
      variants.push({ name: 'nginx', server: nginx, plan: plan(nginx.port, '/up/{n}.jpg', 'PUT'), data: [path.join(folder, 'nginx', 'up')] });
    }
    const resumable: Record<string, boolean> = {};
    for (const variant of variants) resumable[variant.name] = await resumes(variant.server.port);
    const results = await alternate(variants, CONNECTIONS, seconds, quick ? 1 : 2);
    // nginx writes out its buffered access log as it stops.
    await nginx?.stop();
    const handshakes = nginx ? await nginxTlsLog(nginx.home) : undefined;
    const baseline = nginx ? 'nginx' : 'ours';
    const ourWorkers = '--workers 1';
    table(`https: 500 KB JPEGs, ${CONNECTIONS} cameras, a new TLS connection (full handshake) per image, one worker each, ${rounds} round(s) of ${seconds} s, load generator ${httpsLoadGenerator()}`, rows(results, baseline, {
      ours: `HTTPS, full contract, fsync before 200, ${ourWorkers}`,
      'ours --no-fsync': `HTTPS, full contract, no fsync, ${ourWorkers}`,
      nginx: 'WebDAV PUT over TLS, no fsync, 1 worker process',
    }, { rate: 'on disk/s', wait: 'flush s' }));
    const resumeLine = variants.map((variant) => `${variant.name} ${resumable[variant.name] ? 'yes' : 'no'}`).join(', ');
    log(`  TLS 1.2–1.3 (nginx's and Node's default ciphers), RSA-2048 self-signed certificate; ${sender ? 'servers without session tickets (OPENSSL_CONF NumTickets = 0), as wrk offers its last session again' : 'servers at their TLS defaults, the cameras never offer a session again'}; a session offered again would be resumed: ${resumeLine}`);
    if (handshakes) log(`  nginx's log: ${handshakes.images} images stored, ${handshakes.resumed} on a resumed TLS session, ${handshakes.kept} not the first request of their connection`);
    if (sender) log('  wrk spins while each TLS handshake is under way (client CPU), and times a request from its first byte, after the TCP and TLS handshakes (p50, p99)');
    log();
    summary.https_nginx_ratio = nginx ? round(ratio(results, 'ours', 'nginx'), 3) : null;
    if (nginx) {
      summary.https_nginx_ratio_answered = round(ratio(results, 'ours', 'nginx', 'imagesPerSecond'), 3);
      if (results.has('ours --no-fsync')) summary.https_nginx_ratio_nofsync = round(ratio(results, 'ours --no-fsync', 'nginx'), 3);
    }
    summary.https_images_on_disk_per_s = Object.fromEntries([...results].map(([name, runs]) => [name, round(median(runs.map((run) => run.storedPerSecond)), 1)]));
    summary.https_tls = { session_tickets: !sender, resumable, ...(handshakes && { nginx_log: handshakes }) };
    summary.https_load_generator = httpsLoadGenerator();
  } finally {
    for (const server of started) await server.stop();
  }
}

// ---------------------------------------------------------------- file transfers: SFTP and FTP

/** Cameras (sessions) of the sftp and ftp scenarios, as S1's connections. */
const FILE_TRANSFER_SESSIONS = CONNECTIONS;
/**
 * Cameras of the second part of the sftp and ftp scenarios: a few at once, as at most sites, where
 * each upload's own latency (not the machine's CPU) sets the pace.
 */
const FEW_SESSIONS = 4;

function installedBinary(variable: string, candidates: string[]): string | undefined {
  for (const candidate of [process.env[variable], ...candidates]) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** A program on the PATH. */
function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Files of `bytes` bytes under `folder`: what the last run stored (those of earlier runs are
 * truncated to nothing, see {@link clean}).
 */
async function completeFiles(folder: string, bytes: number): Promise<number> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  let complete = 0;
  for (const entry of entries) {
    if (entry.isFile() && (await stat(path.join(entry.parentPath, entry.name))).size === bytes) complete++;
  }
  return complete;
}

/** The run's uploads that ended well must all be on disk, complete: a file-transfer variant's {@link Variant.verify}. */
function onDisk(folder: string): (stats: RunStats) => Promise<string | undefined> {
  return async (stats) => {
    const complete = await completeFiles(folder, imageBytes);
    return complete === stats.answered ? undefined : `${stats.answered} uploads ended well, ${complete} complete files on disk`;
  };
}

/** What OpenSSH's client is told for every server: no user configuration, no host key checks (the servers are the bench's own). */
const SSH_CLIENT_OPTIONS = ['-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'];

interface SftpPeer extends Started {
  port: number;
  /** The server's identification string, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u5`. */
  banner: string;
  plan: Variant['plan'];
}

/**
 * OpenSSH's sshd on loopback as an SFTP-only server: `internal-sftp` forced, starting in `folder`
 * (no chroot: every folder above a chroot must be root's and not writable by others, which the
 * OS temp folder is not), the user running the bench logging in with a key made for the run.
 * sshd forks a process per connection (and one more once logged in), as it does in service.
 */
async function startSshd(binary: string, folder: string): Promise<SftpPeer> {
  const home = path.join(work, 'sshd');
  await mkdir(home, { recursive: true });
  await mkdir(folder, { recursive: true, mode: 0o777 });
  for (const key of ['host_ed25519', 'client_ed25519']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'images-to-s3-bench', '-f', path.join(home, key)]);
  await copyFile(path.join(home, 'client_ed25519.pub'), path.join(home, 'authorized_keys'));
  const user = os.userInfo().username;
  // As root, sshd wants its privilege separation folder, which Debian's service makes when it starts.
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = path.join(home, 'sshd_config');
  await writeFile(
    config,
    `ListenAddress 127.0.0.1:${port}
HostKey ${home}/host_ed25519
PidFile none
AuthorizedKeysFile ${home}/authorized_keys
AllowUsers ${user}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
ForceCommand internal-sftp -d ${folder}
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTTY no
PermitUserRC no
MaxStartups ${FILE_TRANSFER_SESSIONS * 2}
UseDNS no
PrintMotd no
LogLevel ERROR
`,
  );
  let banner = '';
  const logFile = openSync(path.join(work, 'sshd.log'), 'a');
  const started = await start(binary, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', logFile], ready: greeting(port, 'SSH-', (line) => (banner = line)) });
  const plan: Variant['plan'] = { mode: 'sftp', host: '127.0.0.1', port, user, sftpArgs: ['-P', String(port), '-i', path.join(home, 'client_ed25519'), '-o', 'IdentitiesOnly=yes', ...SSH_CLIENT_OPTIONS] };
  return { ...started, port, banner, plan };
}

/** Our receiver with its SFTP server, the disk store in `store`; the plan logs in as the bench's camera, with its token as password. */
async function startSftpReceiver(name: string, store: string, extra: string[]): Promise<Started & { port: number; plan: Variant['plan'] }> {
  const sftpPort = await freePort();
  const receiver = await startReceiver(name, `file:${store}`, ['--log-level', 'info', '--sftp-port', String(sftpPort), ...extra], {}, greeting(sftpPort, 'SSH-'));
  const askpass = path.join(work, 'askpass.sh');
  await writeFile(askpass, `#!/bin/sh\necho '${TOKEN}'\n`, { mode: 0o700 });
  const plan: Variant['plan'] = {
    mode: 'sftp',
    host: '127.0.0.1',
    port: sftpPort,
    user: CAMERA,
    sftpArgs: ['-P', String(sftpPort), '-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=keyboard-interactive,password', ...SSH_CLIENT_OPTIONS],
    env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
  };
  return { ...receiver, plan };
}

/** The SSH cipher a server and OpenSSH's client agree on (from `sftp -v`), for the table's notes. */
function negotiatedCipher(plan: Variant['plan']): string {
  const run = spawnSync('sftp', ['-v', ...(plan.sftpArgs ?? []), '-b', '-', `${plan.user}@${plan.host}`], { input: 'pwd\n', env: { ...process.env, ...plan.env }, encoding: 'utf8', timeout: 20_000 });
  return /client->server cipher: (\S+)/.exec(run.stderr ?? '')?.[1] ?? '?';
}

/** Median images per second of each variant, by name. */
function perSecond(results: Map<string, RunStats[]>, rate: Rate): Record<string, number> {
  return Object.fromEntries([...results].map(([name, runs]) => [name, round(median(runs.map((run) => run[rate])), 1)]));
}

/**
 * The second part of a file-transfer scenario: our receiver (fsync and `--no-fsync`) and the peer
 * with {@link FEW_SESSIONS} cameras, the servers warm from the first part; a table, and the ratios
 * into the summary as `<prefix>_ratio_<n>_cameras` and `<prefix>_ratio_nofsync_<n>_cameras` (the
 * peers do not fsync either).
 */
async function fewCameras(prefix: string, variants: Variant[], peer: string, notes: Record<string, string>): Promise<void> {
  // --quick: 2 s runs (the pace of a few cameras settles at once).
  const runSeconds = quick ? Math.min(2, seconds) : seconds;
  // Their spread is small: at most 3 rounds.
  const roundCount = Math.min(3, rounds);
  const results = await alternate(variants.filter((variant) => [peer, 'ours', 'ours --no-fsync'].includes(variant.name)), FEW_SESSIONS, runSeconds, 0, roundCount);
  table(`${prefix}: the same with ${FEW_SESSIONS} cameras, ${roundCount} round(s) of ${runSeconds} s`, rows(results, peer, notes, { rate: 'on disk/s', wait: 'flush s' }));
  summary[`${prefix}_ratio_${FEW_SESSIONS}_cameras`] = round(ratio(results, 'ours', peer), 3);
  summary[`${prefix}_ratio_nofsync_${FEW_SESSIONS}_cameras`] = round(ratio(results, 'ours --no-fsync', peer), 3);
  summary[`${prefix}_images_on_disk_per_s_${FEW_SESSIONS}_cameras`] = perSecond(results, 'storedPerSecond');
  summary[`${prefix}_p50_ms_${FEW_SESSIONS}_cameras`] = Object.fromEntries([...results].map(([name, runs]) => [name, round(median(runs.map((run) => run.p50)), 1)]));
}

/** The ratios of a file-transfer scenario against its peer, into the summary under `prefix`. */
function fileTransferSummary(prefix: string, results: Map<string, RunStats[]>, peer: string, banner: string): void {
  summary[`${prefix}_ratio`] = round(ratio(results, 'ours', peer), 3);
  summary[`${prefix}_ratio_nofsync`] = round(ratio(results, 'ours --no-fsync', peer), 3);
  summary[`${prefix}_ratio_answered`] = round(ratio(results, 'ours', peer, 'imagesPerSecond'), 3);
  summary[`${prefix}_ratio_nofsync_answered`] = round(ratio(results, 'ours --no-fsync', peer, 'imagesPerSecond'), 3);
  summary[`${prefix}_images_on_disk_per_s`] = perSecond(results, 'storedPerSecond');
  summary[`${prefix}_images_answered_per_s`] = perSecond(results, 'imagesPerSecond');
  summary[`${prefix}_peer`] = banner;
}


/**
 * sftp: OpenSSH's `sftp` clients (one per camera, a session kept for the run) against sshd
 * (`internal-sftp`) and our receiver's SFTP server, with and without fsync, on the same disk.
 */
async function scenarioSftp(): Promise<void> {
  const sshd = installedBinary('SSHD', ['/usr/sbin/sshd', '/usr/local/sbin/sshd']);
  const missing = !sshd ? "OpenSSH's server is not installed (apt-get install openssh-server, or set SSHD)" : !onPath('sftp') || !onPath('ssh-keygen') ? "OpenSSH's client is not installed (apt-get install openssh-client)" : undefined;
  if (missing) {
    log(`sftp: ${missing}; skipped`);
    log();
    summary.sftp_skipped = missing;
    return;
  }
  const folder = path.join(work, 'sftp');
  const started: Started[] = [];
  try {
    const peer = await startSshd(sshd!, path.join(folder, 'sshd'));
    started.push(peer);
    const ours = await startSftpReceiver('receiver-sftp', path.join(folder, 'ours'), []);
    started.push(ours);
    const unsynced = await startSftpReceiver('receiver-sftp-nofsync', path.join(folder, 'ours-nofsync'), ['--no-fsync']);
    started.push(unsynced);
    const data = { sshd: path.join(folder, 'sshd'), ours: path.join(folder, 'ours', CAMERA), unsynced: path.join(folder, 'ours-nofsync', CAMERA) };
    const variants: Variant[] = [
      { name: 'sshd', server: peer, plan: peer.plan, data: [data.sshd], verify: onDisk(data.sshd) },
      { name: 'ours', server: ours, plan: ours.plan, data: [data.ours], verify: onDisk(data.ours) },
      { name: 'ours --no-fsync', server: unsynced, plan: unsynced.plan, data: [data.unsynced], verify: onDisk(data.unsynced) },
    ];
    const ciphers = { sshd: negotiatedCipher(peer.plan), ours: negotiatedCipher(ours.plan) };
    const notes = {
      sshd: `${peer.banner.replace(/^SSH-2\.0-/, '')}, internal-sftp, key log-in, ${ciphers.sshd}, no fsync`,
      ours: `serve --sftp-port, full contract, fsync before the reply, password log-in, ${ciphers.ours}`,
      'ours --no-fsync': 'the same, --no-fsync',
    };
    const results = await alternate(variants, FILE_TRANSFER_SESSIONS, seconds, quick ? 0.5 : 1);
    table(
      `sftp: 500 KB JPEGs, ${FILE_TRANSFER_SESSIONS} cameras (OpenSSH sftp, a session each), ${rounds} round(s) of ${seconds} s; on disk/s counts the sync after the run`,
      rows(results, 'sshd', notes, { rate: 'on disk/s', wait: 'flush s' }),
    );
    fileTransferSummary('sftp', results, 'sshd', peer.banner);
    await fewCameras('sftp', variants, 'sshd', notes);
  } finally {
    for (const server of started) await server.stop();
    await rm(folder, { recursive: true, force: true });
  }
}

interface FtpPeer extends Started {
  port: number;
  banner: string;
}

/**
 * vsftpd on loopback: anonymous log-in (no password), uploads into `<root>/up`, passive mode; a
 * process per session (and a privileged one beside it), as in service. It has to start as root.
 */
async function startVsftpd(binary: string, root: string): Promise<FtpPeer> {
  const home = path.join(work, 'vsftpd');
  await mkdir(path.join(home, 'empty'), { recursive: true, mode: 0o755 });
  // The anonymous user's root must not be writable by it; it writes into up/.
  await mkdir(path.join(root, 'up'), { recursive: true });
  await chmod(root, 0o755);
  await chmod(path.join(root, 'up'), 0o777);
  const port = await freePort();
  const config = path.join(home, 'vsftpd.conf');
  // Passive ports below the ephemeral range: vsftpd picks one at random and ends the session when
  // it cannot bind it (seen a few times in 5,000 transfers with its default, 1024-65535, which the
  // clients' own ephemeral ports share).
  const [ephemeral] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const passive = ephemeral !== undefined && ephemeral > 12_000 ? `pasv_min_port=${ephemeral - 10_000}\npasv_max_port=${ephemeral - 1}\n` : '';
  await writeFile(
    config,
    `listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=${port}
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=${root}
write_enable=YES
anon_upload_enable=YES
local_enable=NO
port_enable=NO
pasv_enable=YES
${passive}secure_chroot_dir=${home}/empty
xferlog_enable=NO
dirmessage_enable=NO
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
max_clients=${FILE_TRANSFER_SESSIONS * 4}
max_per_ip=${FILE_TRANSFER_SESSIONS * 4}
`,
  );
  let banner = '';
  const logFile = openSync(path.join(work, 'vsftpd.log'), 'a');
  const started = await start(binary, [config], { stdio: ['ignore', logFile, logFile], ready: greeting(port, '220', (line) => (banner = line)) });
  return { ...started, port, banner };
}

/**
 * ftp: one FTP session per camera (bench/load.ts: passive, binary, a data connection per image)
 * against vsftpd and our receiver's FTP server, with and without fsync, on the same disk.
 */
async function scenarioFtp(): Promise<void> {
  const vsftpd = installedBinary('VSFTPD', ['/usr/sbin/vsftpd', '/usr/local/sbin/vsftpd']);
  const missing = !vsftpd ? 'vsftpd is not installed (apt-get install vsftpd, or set VSFTPD)' : process.getuid?.() !== 0 ? 'vsftpd has to start as root' : undefined;
  if (missing) {
    log(`ftp: ${missing}; skipped`);
    log();
    summary.ftp_skipped = missing;
    return;
  }
  const folder = path.join(work, 'ftp');
  const started: Started[] = [];
  try {
    const peer = await startVsftpd(vsftpd!, path.join(folder, 'vsftpd'));
    started.push(peer);
    const receiver = async (name: string, store: string, extra: string[]): Promise<Started & { port: number; plan: Variant['plan'] }> => {
      const ftpPort = await freePort();
      const server = await startReceiver(name, `file:${store}`, ['--log-level', 'info', '--ftp-port', String(ftpPort), ...extra], {}, greeting(ftpPort, '220'));
      return { ...server, plan: { mode: 'ftp', host: '127.0.0.1', port: ftpPort, user: CAMERA, password: TOKEN } };
    };
    const ours = await receiver('receiver-ftp', path.join(folder, 'ours'), []);
    started.push(ours);
    const unsynced = await receiver('receiver-ftp-nofsync', path.join(folder, 'ours-nofsync'), ['--no-fsync']);
    started.push(unsynced);
    const data = { vsftpd: path.join(folder, 'vsftpd', 'up'), ours: path.join(folder, 'ours', CAMERA), unsynced: path.join(folder, 'ours-nofsync', CAMERA) };
    const variants: Variant[] = [
      { name: 'vsftpd', server: peer, plan: { mode: 'ftp', host: '127.0.0.1', port: peer.port, user: 'anonymous', password: 'bench@', folder: 'up/' }, data: [data.vsftpd], verify: onDisk(data.vsftpd) },
      { name: 'ours', server: ours, plan: ours.plan, data: [data.ours], verify: onDisk(data.ours) },
      { name: 'ours --no-fsync', server: unsynced, plan: unsynced.plan, data: [data.unsynced], verify: onDisk(data.unsynced) },
    ];
    const notes = {
      vsftpd: `${peer.banner.replace(/^220 /, '')}, anonymous upload, no fsync`,
      ours: 'serve --ftp-port, full contract, fsync before the 226',
      'ours --no-fsync': 'the same, --no-fsync',
    };
    const results = await alternate(variants, FILE_TRANSFER_SESSIONS, seconds, quick ? 0.5 : 1);
    table(
      `ftp: 500 KB JPEGs, ${FILE_TRANSFER_SESSIONS} cameras (an FTP session each, passive, a data connection per image), ${rounds} round(s) of ${seconds} s; on disk/s counts the sync after the run`,
      rows(results, 'vsftpd', notes, { rate: 'on disk/s', wait: 'flush s' }),
    );
    fileTransferSummary('ftp', results, 'vsftpd', peer.banner);
    await fewCameras('ftp', variants, 'vsftpd', notes);
  } finally {
    for (const server of started) await server.stop();
    await rm(folder, { recursive: true, force: true });
  }
}

interface S3Target {
  port: number;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
  label: string;
  /** `--s3-conditional-writes` for our receiver. */
  conditionalWrites: string;
  /** The keys of the objects under a key prefix (e.g. `drain/`), listed by the server. */
  keys(prefix: string): Promise<string[]>;
  /** Removes what runs stored under a key prefix. */
  clean(prefix: string): Promise<void>;
  stop(): Promise<void>;
}

/** What the bench's s3rver serves (bench/servers/s3rver.ts), known before it runs. */
const S3RVER = {
  bucket: 'bench',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  region: 'us-east-1',
  label: 's3rver 3.7 (own process)',
  // s3rver ignores If-None-Match, so `auto` would fall back to check-then-write (HEAD + PUT).
  // Against AWS S3, Ceph RGW, MinIO the store sends one conditional PUT: measure that path.
  conditionalWrites: 'yes',
};

/** An SDK client in the bench's own process, for listing and cleaning up (never in a measured path). */
async function benchS3Client(endpoint: string, credentials: S3Target['credentials'], region: string): Promise<{ keys(bucket: string, prefix: string): Promise<string[]>; destroy(): void; client: S3Client }> {
  // The SDK's warning about Node 20, as in the servers' environment (quietEnv), would only clutter the output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { S3Client, ListObjectsCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  return {
    client,
    // ListObjects (v1), paged by the last key: s3rver 3.7's ListObjectsV2 fails (500) whenever it
    // has to make a continuation token, with DES, which OpenSSL 3 no longer has.
    keys: async (bucket, prefix) => {
      const keys: string[] = [];
      let marker: string | undefined;
      for (;;) {
        const page = await client.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000, ...(marker !== undefined && { Marker: marker }) }));
        for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
        if (!page.IsTruncated || keys.length === 0) return keys;
        marker = keys.at(-1);
      }
    },
    destroy: () => client.destroy(),
  };
}

/**
 * s3rver in its own process, serving `<work>/<name>` (on `port` when given), or the S3 server
 * named by S3_TEST_* (e.g. Ceph RGW from scripts/ceph-rgw.sh) with a bucket of its own.
 */
async function startS3(name = 's3rver', port = 0): Promise<S3Target> {
  if (s3Choice === 'env') {
    const { CreateBucketCommand, ListObjectsV2Command, DeleteObjectsCommand } = await import('@aws-sdk/client-s3');
    const endpoint = new URL(process.env.S3_TEST_ENDPOINT!);
    const credentials = { accessKeyId: process.env.S3_TEST_ACCESS_KEY_ID!, secretAccessKey: process.env.S3_TEST_SECRET_ACCESS_KEY! };
    const region = process.env.S3_TEST_REGION || 'us-east-1';
    const serverPort = Number(endpoint.port || 80);
    const bench = await benchS3Client(endpoint.origin, credentials, region);
    const { client } = bench;
    const bucket = `images-to-s3-bench-${Date.now()}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    return {
      port: serverPort,
      bucket,
      credentials,
      region,
      label: process.env.S3_TEST_SERVER || endpoint.origin,
      conditionalWrites: 'auto',
      keys: (prefix) => bench.keys(bucket, prefix),
      clean: async (prefix) => {
        for (;;) {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
          const keys = (page.Contents ?? []).map((object) => ({ Key: object.Key! }));
          if (keys.length === 0) return;
          await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
        }
      },
      stop: () => Promise.resolve(bench.destroy()),
    };
  }
  const folder = path.join(work, name);
  await mkdir(folder, { recursive: true });
  let listening = 0;
  const server = await start(process.execPath, [path.join(BUILD, 'bench', 'servers', 's3rver.js'), folder, S3RVER.bucket, String(port)], {
    ready: listeningLine((found) => (listening = found)),
  });
  const bench = await benchS3Client(`http://127.0.0.1:${listening}`, S3RVER.credentials, S3RVER.region);
  return {
    ...S3RVER,
    port: listening,
    keys: (prefix) => bench.keys(S3RVER.bucket, prefix),
    clean: async (prefix) => {
      await rm(path.join(folder, S3RVER.bucket, prefix), { recursive: true, force: true });
      flush([folder]);
      await quietDisks();
    },
    stop: async () => {
      bench.destroy();
      await server.stop();
    },
  };
}

function receiverS3Env(target: Pick<S3Target, 'port' | 'credentials' | 'region'>): NodeJS.ProcessEnv {
  return {
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${target.port}`,
    AWS_ACCESS_KEY_ID: target.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: target.credentials.secretAccessKey,
    AWS_REGION: target.region,
  };
}

/** A GET to a server on loopback: status and body (undefined when it does not answer). */
function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', () => resolve(undefined));
    });
    request.on('error', () => resolve(undefined));
  });
}

/** The receiver's unlabelled /metrics samples, by name (e.g. `images_to_s3_forwarded_total`). */
async function receiverMetrics(port: number): Promise<Map<string, number>> {
  const answer = await httpGet(port, '/metrics');
  const samples = new Map<string, number>();
  for (const line of answer?.body.split('\n') ?? []) {
    const match = /^([a-zA-Z_:][\w:]*) (\S+)$/.exec(line);
    if (match) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

/** Images waiting in a receiver's spool, from its /readyz (`spooled`); undefined while it does not say. */
async function spooledImages(port: number): Promise<number | undefined> {
  const answer = await httpGet(port, '/readyz');
  if (answer?.status !== 200) return undefined;
  const facts = JSON.parse(answer.body) as { spooled?: unknown };
  return typeof facts.spooled === 'number' ? facts.spooled : undefined;
}

const SPOOL_POLL_MS = 50;
/** Far longer than the forwarder's longest backoff (`--forward-max-backoff`, 30 s by default): a spool that has not moved for this long is stuck. */
const SPOOL_STALL_MS = 180_000;

/**
 * Polls a receiver's /readyz every {@link SPOOL_POLL_MS} until the number of images in its spool
 * satisfies `done`; resolves with that number and when it was seen (`performance.now()`). Cheaper
 * for the receiver than scraping /metrics at that rate. Throws when the number has not changed
 * for {@link SPOOL_STALL_MS}.
 */
async function pollSpool(port: number, done: (spooled: number) => boolean): Promise<{ spooled: number; at: number }> {
  let last: number | undefined;
  let changedAt = performance.now();
  for (;;) {
    const spooled = await spooledImages(port);
    const at = performance.now();
    if (spooled !== undefined && done(spooled)) return { spooled, at };
    if (spooled !== last) {
      last = spooled;
      changedAt = at;
    } else if (at - changedAt > SPOOL_STALL_MS) {
      throw new Error(`the spool of the receiver on port ${port} has held ${spooled} images for ${Math.round((at - changedAt) / 1000)} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, SPOOL_POLL_MS));
  }
}

/** Seconds until a receiver's spool is empty: every image it answered is in the store. */
async function spoolDrained(port: number): Promise<number> {
  const began = performance.now();
  const { at } = await pollSpool(port, (spooled) => spooled === 0);
  return (at - began) / 1000;
}

async function scenarioS3(): Promise<void> {
  const target = await startS3();
  const started: Started[] = [];
  try {
    const common = ['--log-level', 'info', '--s3-conditional-writes', target.conditionalWrites];
    // Each variant writes under its own key prefix: the baseline's keys are `direct/…` (bench/load.ts).
    const noSpool = await startReceiver('receiver-s3-nospool', `s3://${target.bucket}/ours-nospool`, [...common, '--no-spool'], receiverS3Env(target));
    started.push(noSpool);
    const spooling = await startReceiver('receiver-s3-spool', `s3://${target.bucket}/ours-spool`, [...common, '--spool', path.join(work, 'spool-s2')], receiverS3Env(target));
    started.push(spooling);
    const upload = (server: Started & { port: number }): Variant['plan'] => ({ mode: 'http', host: '127.0.0.1', port: server.port, method: 'POST', path: `/?accessToken=${TOKEN}`, contentDisposition: true });
    const variants: Variant[] = [
      {
        name: 'direct PutObject',
        server: noSpool,
        plan: { mode: 's3', host: '127.0.0.1', port: target.port, bucket: target.bucket, credentials: target.credentials, region: target.region },
        data: [],
        cleanUp: () => target.clean('direct'),
      },
      { name: 'ours --no-spool', server: noSpool, plan: upload(noSpool), data: [], cleanUp: () => target.clean('ours-nospool') },
      // Answered is not yet stored: in store per second counts until the spool is empty.
      { name: 'ours (spool)', server: spooling, plan: upload(spooling), data: [], settle: () => spoolDrained(spooling.port), cleanUp: () => target.clean('ours-spool') },
    ];
    const runS3Rounds = quick ? 1 : Math.max(3, Math.ceil(rounds / 2) + 1);
    const results = await alternate(variants, CONNECTIONS, seconds, 1, runS3Rounds);
    const shown = rows(results, 'direct PutObject', {
      'direct PutObject': 'the same client, SDK PutObject straight to the server',
      'ours --no-spool': `receiver → ${target.label}, 200 once stored, conditional writes ${target.conditionalWrites}`,
      'ours (spool)': 'receiver → spool (fsync) → 200; forwarder (4 at once) → the same server',
    }, { rate: 'in store/s', wait: 'drain s' }).map((row) => ({ ...row, 'server CPU ms/img': row.variant === 'direct PutObject' ? '–' : row['server CPU ms/img']! }));
    table(`S2 S3 store: 500 KB JPEGs, ${CONNECTIONS} cameras, ${runS3Rounds} round(s) of ${seconds} s, ${target.label}; in store/s counts until the spool is empty`, shown);
    // s3_ratio stays the path that answers once the store has the image, as before the spool.
    summary.s3_ratio = round(ratio(results, 'ours --no-spool', 'direct PutObject', 'imagesPerSecond'), 3);
    summary.s3_spool_ratio = round(ratio(results, 'ours (spool)', 'direct PutObject', 'storedPerSecond'), 3);
    summary.s3_spool_answered_ratio = round(ratio(results, 'ours (spool)', 'direct PutObject', 'imagesPerSecond'), 3);
    summary.s3_images_in_store_per_s = Object.fromEntries([...results].map(([name, runs]) => [name, round(median(runs.map((run) => run.storedPerSecond)), 1)]));
    summary.s3_images_answered_per_s = Object.fromEntries([...results].map(([name, runs]) => [name, round(median(runs.map((run) => run.imagesPerSecond)), 1)]));
    summary.s3_spool_drain_s = round(median(results.get('ours (spool)')!.map((run) => run.settleSeconds)), 2);
    summary.s3_server = target.label;
  } finally {
    for (const server of started) await server.stop();
    await target.stop();
  }
}

/** A TCP relay from `port` to `targetPort` on loopback, in the bench's process: an S3 server outside the bench that "comes up". */
async function relay(port: number, targetPort: number): Promise<{ stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const each of [socket, upstream]) {
      sockets.add(each);
      each.on('close', () => sockets.delete(each));
      each.on('error', () => {
        socket.destroy();
        upstream.destroy();
      });
    }
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * S7: images arriving while the store is down are spooled and answered, and forwarded once it is
 * back. The receiver starts against a port reserved for the S3 server (nothing listens there yet),
 * takes `count` images (all must be answered 200), then the S3 server starts on that port and the
 * bench times how long the forwarder takes to notice (its breaker's backoff: 1 s doubling, up to
 * `--forward-max-backoff`, with jitter), and, apart from that, how fast it then empties the spool. Every image must be
 * in the bucket exactly once, under its own key.
 */
async function scenarioDrain(): Promise<void> {
  const count = quick ? 300 : 2000;
  const port = await freePort();
  // An S3 server outside the bench cannot be started late: it is reached through a relay that is.
  const outside = s3Choice === 'env' ? await startS3() : undefined;
  const settings = outside ?? S3RVER;
  let receiver: (Started & { port: number }) | undefined;
  let up: { stop(): Promise<void> } | undefined;
  let target: S3Target | undefined = outside;
  try {
    receiver = await startReceiver(
      'receiver-drain',
      `s3://${settings.bucket}/drain`,
      ['--log-level', 'info', '--s3-conditional-writes', settings.conditionalWrites, '--spool', path.join(work, 'spool-drain')],
      receiverS3Env({ ...settings, port }),
    );
    const downSince = performance.now();
    const tag = `drain${process.pid}`;
    const receiveCpuBefore = cpuSeconds(processTree(receiver.pid));
    const result = await load({ mode: 'http', host: '127.0.0.1', port: receiver.port, method: 'POST', path: `/?accessToken=${TOKEN}`, contentDisposition: true, connections: CONNECTIONS, count, tag });
    if (result.ok !== count) log(`  ! drain: ${result.ok} of ${count} answered 2xx (${result.firstError})`);
    const receiveCpu = cpuSeconds(processTree(receiver.pid)) - receiveCpuBefore;
    const waiting = await spooledImages(receiver.port);
    const outage = await receiverMetrics(receiver.port);
    if (outage.get('images_to_s3_store_reachable') !== 0) log(`  ! drain: the receiver did not report the store unreachable`);
    const cpuBefore = cpuSeconds(processTree(receiver.pid));
    if (s3Choice === 'env') up = await relay(port, outside!.port);
    else {
      target = await startS3('s3rver-drain', port);
      up = target;
    }
    const upAt = performance.now();
    const first = await pollSpool(receiver.port, (spooled) => spooled < result.ok);
    const empty = await pollSpool(receiver.port, (spooled) => spooled === 0);
    const forwardCpu = cpuSeconds(processTree(receiver.pid)) - cpuBefore;
    const after = await receiverMetrics(receiver.port);
    const keys = await target!.keys('drain/');
    const expected = new Set(Array.from({ length: count }, (_, n) => `${tag}-${n}.jpg`));
    const names = new Set(keys.map((key) => key.slice(key.lastIndexOf('/') + 1)));
    const exactlyOnce = keys.length === count && names.size === count && [...names].every((name) => expected.has(name));
    if (!exactlyOnce) log(`  ! drain: ${keys.length} objects under drain/ for ${count} images, ${names.size} distinct names`);
    const reconnectSeconds = (first.at - upAt) / 1000;
    const forwardedAtFirst = result.ok - first.spooled;
    const drainSeconds = (empty.at - first.at) / 1000;
    const drainRate = (result.ok - forwardedAtFirst) / drainSeconds;
    const totalSeconds = (empty.at - upAt) / 1000;
    table(`S7 drain after an S3 outage: ${count} × 500 KB JPEGs from ${CONNECTIONS} cameras while ${settings.label} was down, then up`, [
      {
        answered: result.ok,
        'answered/s': result.ok / result.seconds,
        'receive CPU ms/img': (receiveCpu * 1000) / Math.max(1, result.ok),
        'spooled at up': waiting ?? '–',
        'outage s': (upAt - downSince) / 1000,
        'failed attempts': outage.get('images_to_s3_forward_failures_total') ?? NaN,
        'reconnect s': reconnectSeconds,
        'drain s': drainSeconds,
        'drain images/s': drainRate,
        'up → empty s': totalSeconds,
        'images/s incl. reconnect': result.ok / totalSeconds,
        'forward CPU ms/img': (forwardCpu * 1000) / Math.max(1, result.ok),
        forwarded: after.get('images_to_s3_forwarded_total') ?? NaN,
        'in bucket': keys.length,
        'exactly once': exactlyOnce ? 'yes' : 'NO',
      },
    ]);
    log('  reconnect: from the S3 server listening to the first image leaving the spool (the breaker\'s backoff); drain: from then until the spool is empty;');
    log('  receive / forward CPU: the receiver\'s, per image, while it took the images (store down), and from the S3 server up until the spool was empty');
    log();
    summary.drain_images = count;
    summary.drain_answered = result.ok;
    summary.drain_images_per_s = round(drainRate, 1);
    summary.drain_reconnect_s = round(reconnectSeconds, 2);
    summary.drain_seconds = round(drainSeconds, 2);
    summary.drain_images_per_s_incl_reconnect = round(result.ok / totalSeconds, 1);
    summary.drain_receive_cpu_ms_per_image = round((receiveCpu * 1000) / Math.max(1, result.ok), 2);
    summary.drain_forward_cpu_ms_per_image = round((forwardCpu * 1000) / Math.max(1, result.ok), 2);
    summary.drain_failed_attempts = outage.get('images_to_s3_forward_failures_total') ?? null;
    summary.drain_in_bucket = keys.length;
    summary.drain_exactly_once = exactlyOnce;
  } finally {
    await receiver?.stop();
    await up?.stop();
    if (outside) await outside.stop();
  }
}

/** haproxy in front of receivers on `ports`; ready once it reports every one of them UP. */
async function startHaproxy(binary: string, name: string, ports: number[]): Promise<Started & { port: number }> {
  const home = path.join(work, name);
  await mkdir(home, { recursive: true });
  const port = await freePort();
  const socket = path.join(home, 'admin.sock');
  await writeFile(path.join(home, 'haproxy.cfg'), haproxyConfig({ frontendPort: port, receiverPorts: ports, socket, checkInterval: '1s' }));
  const started = await start(binary, ['-f', path.join(home, 'haproxy.cfg'), '-db'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    ready: async () => {
      const up = async (): Promise<number> => [...(await haproxyStatus(socket).catch(() => new Map<string, string>())).values()].filter((status) => status === 'UP').length;
      while ((await up()) < ports.length) await new Promise((resolve) => setTimeout(resolve, 100));
    },
  });
  return { ...started, port };
}

/**
 * A receiver of the fleet as a user runs one: its own working directory (so its spool and
 * thumbnail cache are its own, in `./.images-to-s3/`), no `--tokens` (the registry is in the bucket).
 */
async function startFleetReceiver(name: string, store: string, extra: string[], env: NodeJS.ProcessEnv): Promise<Started & { port: number }> {
  const home = path.join(work, 'fleet', name);
  await mkdir(home, { recursive: true });
  const port = await freePort();
  const logFile = openSync(path.join(work, `${name}.log`), 'a');
  const args = ['--no-incremental-marking', path.join(BUILD, 'src', 'cli', 'main.js'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--store', store, ...extra, ...serveArgs];
  // `env -C` starts it in its folder (and becomes it: the pid is the receiver's).
  const started = await start('env', ['-C', home, process.execPath, ...args], { env: { ...quietEnv, ...env }, stdio: ['ignore', logFile, logFile], ready: answering(port, '/readyz', 200) });
  return { ...started, port };
}

/**
 * fleet: one S3 server, three receivers, and three haproxy instances in front of the first one,
 * two and three of them. Each round sends the same load (CONNECTIONS cameras for `seconds`) through
 * each haproxy in turn, and straight to the first receiver (the order rotating), and waits until
 * the spools it filled are empty.
 * Receivers outside the measured size stay idle (they poll the registry, once a second).
 */
async function scenarioFleet(): Promise<void> {
  const binary = haproxyBinary();
  if (!binary) {
    log('fleet: haproxy is not installed (apt-get install haproxy, or set HAPROXY); skipped');
    log();
    return;
  }
  const target = await startS3('s3rver-fleet');
  const prefix = 'fleet';
  const store = `s3://${target.bucket}/${prefix}`;
  const env = receiverS3Env(target);
  const started: Started[] = [];
  try {
    // The bench's token, in the registry in the bucket, with the CLI as a user adds a camera.
    const cliHome = path.join(work, 'fleet', 'cli');
    await mkdir(cliHome, { recursive: true });
    execFileSync(process.execPath, [path.join(BUILD, 'src', 'cli', 'main.js'), 'token', 'create', CAMERA, '--token', TOKEN, '--store', store], { cwd: cliHome, env: { ...quietEnv, ...env }, stdio: 'ignore' });
    const receivers: Array<Started & { port: number }> = [];
    for (let n = 1; n <= 3; n++) {
      const receiver = await startFleetReceiver(`receiver-fleet-r${n}`, store, ['--log-level', 'info', '--s3-conditional-writes', target.conditionalWrites], env);
      started.push(receiver);
      receivers.push(receiver);
    }
    // The same load straight to one receiver too: what haproxy itself costs.
    const sizes: Array<{ name: string; receivers: Array<Started & { port: number }>; haproxy?: Started; port: number }> = [{ name: '1, no haproxy', receivers: receivers.slice(0, 1), port: receivers[0]!.port }];
    for (const size of [1, 2, 3]) {
      const haproxy = await startHaproxy(binary, `haproxy-${size}`, receivers.slice(0, size).map((receiver) => receiver.port));
      started.push(haproxy);
      sizes.push({ name: String(size), receivers: receivers.slice(0, size), haproxy, port: haproxy.port });
    }
    interface FleetRun {
      answered: number;
      stored: number;
      drain: number;
      p50: number;
      p99: number;
      receiverCpu: number;
      haproxyCpu: number;
      failed: number;
    }
    const runOnce = async (fleet: (typeof sizes)[number], durationMs: number): Promise<FleetRun> => {
      const receiverPids = (): number[] => fleet.receivers.flatMap((receiver) => processTree(receiver.pid));
      const receiverCpuBefore = cpuSeconds(receiverPids());
      const haproxyPids = (): number[] => (fleet.haproxy ? processTree(fleet.haproxy.pid) : []);
      const haproxyCpuBefore = cpuSeconds(haproxyPids());
      const result = await load({ mode: 'http', host: '127.0.0.1', port: fleet.port, method: 'POST', path: `/?accessToken=${TOKEN}`, contentDisposition: true, connections: CONNECTIONS, durationMs });
      const drain = Math.max(...(await Promise.all(fleet.receivers.map((receiver) => spoolDrained(receiver.port)))));
      const images = Math.max(1, result.ok);
      const run: FleetRun = {
        answered: result.ok / result.seconds,
        stored: result.ok / (result.seconds + drain),
        drain,
        p50: percentile(result.latencies, 50),
        p99: percentile(result.latencies, 99),
        receiverCpu: ((cpuSeconds(receiverPids()) - receiverCpuBefore) * 1000) / images,
        haproxyCpu: fleet.haproxy ? ((cpuSeconds(haproxyPids()) - haproxyCpuBefore) * 1000) / images : NaN,
        failed: result.failed,
      };
      if (result.failed > 0) log(`  ! fleet ${fleet.name}: ${result.failed} failed (${result.firstError})`);
      await target.clean(`${prefix}/${CAMERA}/`);
      return run;
    };
    for (const fleet of sizes) await runOnce(fleet, 1000);
    const results = new Map<string, FleetRun[]>(sizes.map((fleet) => [fleet.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < sizes.length; i++) {
        const fleet = sizes[(i + r) % sizes.length]!;
        results.get(fleet.name)!.push(await runOnce(fleet, seconds * 1000));
      }
    }
    const one = results.get('1')!;
    const of = (runs: FleetRun[], field: keyof FleetRun): number => median(runs.map((run) => run[field]));
    table(
      `fleet: ${CONNECTIONS} cameras (500 KB JPEGs) through haproxy, ${rounds} round(s) of ${seconds} s, 1/2/3 receivers (spool, registry in the bucket) on one ${target.label}, all on this ${os.cpus().length}-core machine`,
      [...results].map(([name, runs]) => ({
        receivers: name,
        'answered/s': of(runs, 'answered'),
        'drain s': of(runs, 'drain'),
        'in store/s': of(runs, 'stored'),
        'p50 ms': of(runs, 'p50'),
        'p99 ms': of(runs, 'p99'),
        'receivers CPU ms/img': of(runs, 'receiverCpu'),
        'haproxy CPU ms/img': of(runs, 'haproxyCpu'),
        '× 1 answered': median(runs.map((run, i) => run.answered / one[i]!.answered)),
        'per-round': runs.map((run, i) => round(run.answered / one[i]!.answered, 2)).join(' '),
        failed: runs.reduce((sum, run) => sum + run.failed, 0),
      })),
    );
    summary.fleet_images_answered_per_s = Object.fromEntries([...results].map(([name, runs]) => [name, round(of(runs, 'answered'), 1)]));
    summary.fleet_images_in_store_per_s = Object.fromEntries([...results].map(([name, runs]) => [name, round(of(runs, 'stored'), 1)]));
    summary.fleet_server = target.label;
  } finally {
    for (const server of started.reverse()) await server.stop();
    await target.stop();
  }
}

async function scenarioMemory(): Promise<void> {
  const size = 50 * MB;
  const rowsOut: Array<Record<string, string | number>> = [];
  const folder = path.join(work, 'memory');
  const plan = { mode: 'http' as const, host: '127.0.0.1', method: 'POST', contentDisposition: true, connections: CONNECTIONS, count: CONNECTIONS, bodyBytes: size };
  const bare = await startBare(path.join(folder, 'bare'));
  try {
    const idle = memoryMb(bare.pid, 'VmRSS');
    const result = await load({ ...plan, port: bare.port, path: '/' });
    rowsOut.push({ server: 'bare', 'idle RSS MB': idle, 'peak RSS MB': memoryMb(bare.pid, 'VmHWM'), stored: result.ok, seconds: result.seconds, 'drain s': '–' });
  } finally {
    await bare.stop();
    await clean(path.join(folder, 'bare'));
  }
  const ours = await startReceiver('receiver-memory', `file:${path.join(folder, 'ours')}`, ['--max-bytes', '64MB', '--log-level', 'info']);
  try {
    const idle = treeRss(ours.pid);
    const sampler = rssSampler(ours.pid);
    const result = await load({ ...plan, port: ours.port, path: `/?accessToken=${TOKEN}` });
    const peak = sampler.stop();
    if (result.failed > 0) log(`  ! ours: ${result.failed} failed (${result.firstError})`);
    rowsOut.push({ server: 'ours (disk)', 'idle RSS MB': idle, 'peak RSS MB': peak, stored: result.ok, seconds: result.seconds, 'drain s': '–' });
    summary.peak_rss_mb = round(peak, 1);
  } finally {
    await ours.stop();
    await clean(path.join(folder, 'ours'));
  }
  // The S3 store: 64 MiB of bodies in memory at most (src/stores/s3.ts). With the spool the uploads
  // go to disk and the forwarder streams them from there; the sampled window lasts until the spool
  // is empty, so forwarding counts. `stored` is what the bucket holds afterwards. Without the spool
  // the budget takes the uploads 4 at a time (two 8 MB parts each) at s3rver's pace, ~20 s for
  // 32: --quick sends 16 there, which still fill the budget for 4 turns.
  const target = await startS3('s3rver-memory');
  try {
    for (const [name, key, prefix, extra, uploads] of [
      ['ours (S3, spool)', 'peak_rss_mb_s3_spool', 'memory-spool', ['--spool', path.join(folder, 'spool')], CONNECTIONS],
      ['ours (S3, --no-spool)', 'peak_rss_mb_s3_no_spool', 'memory-nospool', ['--no-spool'], quick ? CONNECTIONS / 2 : CONNECTIONS],
    ] as const) {
      const receiver = await startReceiver(`receiver-memory-${prefix}`, `s3://${target.bucket}/${prefix}`, ['--max-bytes', '64MB', '--log-level', 'info', '--s3-conditional-writes', target.conditionalWrites, ...extra], receiverS3Env(target));
      try {
        // Idle once the store is open (the SDK loaded): the spool's forwarder opens it after start.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const idle = treeRss(receiver.pid);
        const sampler = rssSampler(receiver.pid);
        const result = await load({ ...plan, connections: uploads, count: uploads, port: receiver.port, path: `/?accessToken=${TOKEN}` });
        const drain = extra[0] === '--spool' ? await spoolDrained(receiver.port) : undefined;
        const peak = sampler.stop();
        if (result.failed > 0) log(`  ! ${name}: ${result.failed} failed (${result.firstError})`);
        const stored = (await target.keys(`${prefix}/`)).length;
        rowsOut.push({ server: name, 'idle RSS MB': idle, 'peak RSS MB': peak, stored, seconds: result.seconds, 'drain s': drain ?? '–' });
        summary[key] = round(peak, 1);
      } finally {
        await receiver.stop();
        await target.clean(prefix);
      }
    }
  } finally {
    await target.stop();
  }
  table(`S3 memory: ${CONNECTIONS} concurrent uploads of 50 MB${quick ? ` (${CONNECTIONS / 2} for --no-spool)` : ''}, --max-bytes 64MB (peak RSS of the server's processes, summed; ours (S3, spool) until its spool is empty)`, rowsOut);
}

async function scenarioLatency(): Promise<void> {
  const disk = path.join(work, 'latency');
  const cameras = 4;
  const pauseMs = 100;
  const blocks = quick ? 1 : 3;
  const blockSeconds = quick ? 4 : 8;
  const servers: Started[] = [];
  const variants: Array<{ name: string; port: number; path: string; data: string; note: string }> = [];
  try {
    const bare = await startBare(path.join(disk, 'bare'));
    servers.push(bare);
    variants.push({ name: 'bare', port: bare.port, path: '/', data: path.join(disk, 'bare'), note: 'no fsync' });
    const ours = await startReceiver('receiver-latency', `file:${path.join(disk, 'ours')}`, ['--log-level', 'info']);
    servers.push(ours);
    variants.push({ name: 'ours', port: ours.port, path: `/?accessToken=${TOKEN}`, data: path.join(disk, 'ours', CAMERA), note: 'fsync before 200 (default)' });
    if (!quick) {
      const unsynced = await startReceiver('receiver-latency-nofsync', `file:${path.join(disk, 'ours-nofsync')}`, ['--log-level', 'info', '--no-fsync']);
      servers.push(unsynced);
      variants.push({ name: 'ours --no-fsync', port: unsynced.port, path: `/?accessToken=${TOKEN}`, data: path.join(disk, 'ours-nofsync', CAMERA), note: 'the contract without fsync' });
      const bareSync = await startBare(path.join(disk, 'bare-fsync'), true);
      servers.push(bareSync);
      variants.push({ name: 'bare+fsync', port: bareSync.port, path: '/', data: path.join(disk, 'bare-fsync'), note: 'fsync of file and folder' });
    }
    const samples = new Map<string, number[]>(variants.map((variant) => [variant.name, []]));
    for (const variant of variants) await load({ mode: 'http', host: '127.0.0.1', port: variant.port, path: variant.path, method: 'POST', contentDisposition: true, connections: cameras, count: 40 });
    for (let block = 0; block < blocks; block++) {
      for (let i = 0; i < variants.length; i++) {
        const variant = variants[(i + block) % variants.length]!;
        const result = await load({ mode: 'http', host: '127.0.0.1', port: variant.port, path: variant.path, method: 'POST', contentDisposition: true, connections: cameras, pauseMs, durationMs: blockSeconds * 1000 });
        if (result.failed > 0) log(`  ! ${variant.name}: ${result.failed} failed (${result.firstError})`);
        samples.get(variant.name)!.push(...result.latencies);
        await clean(variant.data);
      }
    }
    const stats = new Map(
      [...samples].map(([name, values]) => {
        const sorted = values.sort((a, b) => a - b);
        return [name, { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length }];
      }),
    );
    const base = stats.get('bare')!;
    table(
      `S4 latency at low load: ${cameras} cameras, one 500 KB image each every ${pauseMs} ms, ${blocks} block(s) of ${blockSeconds} s`,
      variants.map((variant) => {
        const own = stats.get(variant.name)!;
        return { variant: variant.name, requests: own.n, 'p50 ms': own.p50, 'p99 ms': own.p99, 'p50 added ms': own.p50 - base.p50, 'p99 added ms': own.p99 - base.p99, note: variant.note };
      }),
    );
    summary.p99_added_ms = round(stats.get('ours')!.p99 - base.p99, 2);
    summary.p50_added_ms = round(stats.get('ours')!.p50 - base.p50, 2);
    if (stats.has('ours --no-fsync')) summary.p99_added_ms_nofsync = round(stats.get('ours --no-fsync')!.p99 - base.p99, 2);
    if (stats.has('bare+fsync')) summary.p99_added_ms_bare_fsync = round(stats.get('bare+fsync')!.p99 - base.p99, 2);
  } finally {
    for (const server of servers) await server.stop();
  }
}

function scenarioLambda(): void {
  const script = path.join(ROOT, 'bench', 'lambda.ts');
  if (!existsSync(script)) return;
  const output = execFileSync(process.execPath, [...TSX, script, '--json', ...(quick ? ['--runs', '3'] : [])], { cwd: ROOT, encoding: 'utf8', maxBuffer: 16 * MB });
  const report = JSON.parse(output) as { runs: number; bareNodeMs: number; rows: Array<{ handler: string; variant: string; bundleKB: number; packageKB?: number; initMs: number; importMs: number }> };
  table(`S5 Lambda (bench/lambda.ts, median of ${report.runs} runs; bare node ${report.bareNodeMs} ms)`, report.rows.map((row) => ({
    handler: row.handler,
    variant: row.variant,
    'bundle KB': row.bundleKB,
    ...(row.packageKB !== undefined && { 'package KB': row.packageKB }),
    'init ms': row.initMs,
    'import ms': row.importMs,
  })));
  const deployed = report.rows.filter((row) => row.variant === 'deployed');
  summary.lambda = Object.fromEntries(deployed.map((row) => [row.handler, { bundle_kb: row.bundleKB, ...(row.packageKB !== undefined && { package_kb: row.packageKB }), init_ms: row.initMs }]));
}

/** Resident memory of a process and its children, MB. */
function treeRss(pid: number): number {
  return processTree(pid).reduce((sum, each) => sum + memoryMb(each, 'VmRSS'), 0);
}

async function scenarioClip(): Promise<void> {
  const size = 500 * 1000 * 1000;
  const folder = path.join(work, 'clip');
  const rowsOut: Array<Record<string, string | number>> = [];
  const target = await startS3('s3rver-clip');
  try {
    for (const [name, key, store, extra, env] of [
      ['ours (disk)', 'clip_500mb_peak_rss_mb', `file:${path.join(folder, 'disk')}`, [], {}],
      ['ours (S3, spool)', 'clip_500mb_peak_rss_mb_s3_spool', `s3://${target.bucket}/clip`, ['--spool', path.join(folder, 'spool'), '--s3-conditional-writes', target.conditionalWrites], receiverS3Env(target)],
    ] as const) {
      const receiver = await startReceiver(`receiver-${key}`, store, ['--max-clip-bytes', '1GB', '--log-level', 'info', ...extra], env);
      try {
        // Idle once the store is open (for S3 the forwarder opens it after start).
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const idle = treeRss(receiver.pid);
        const sampler = rssSampler(receiver.pid);
        const headers = { 'content-type': 'video/x-matroska', 'content-disposition': 'attachment; filename="event.mkv"', 'content-length': String(size) };
        const answer = await streamUpload(`http://127.0.0.1:${receiver.port}/?accessToken=${TOKEN}`, headers, clipBody(MATROSKA_HEAD, size));
        const drain = extra.length > 0 ? await spoolDrained(receiver.port) : undefined;
        const peak = sampler.stop();
        if (answer.status !== 200) log(`  ! ${name}: ${answer.status} ${answer.body}`);
        rowsOut.push({ server: name, status: answer.status, 'idle RSS MB': idle, 'peak RSS MB': peak, 'growth MB': peak - idle, 'upload s': answer.elapsedMs / 1000, 'drain s': drain ?? '–' });
        summary[key] = round(peak, 1);
        summary[`${key.replace('peak_rss', 'rss_growth')}`] = round(peak - idle, 1);
      } finally {
        await receiver.stop();
      }
    }
  } finally {
    await target.stop();
    await rm(folder, { recursive: true, force: true });
  }
  table('clip: one 500 MB clip over loopback (peak RSS of the server\'s processes; S3 with the spool until its spool is empty)', rowsOut);
}

/** A real JPEG of about 500 KB (noise compresses badly, like a busy outdoor scene). */
async function makeImage(file: string): Promise<number> {
  const image = await benchImage();
  await writeFile(file, image);
  return image.byteLength;
}

// ---------------------------------------------------------------- events: sinks on against off

/**
 * events: the S1 load (disk store) to our receiver without event sinks and to one with a webhook
 * (bench/servers/webhook.ts, which checks every signature) and, when mosquitto is installed, an
 * MQTT broker: images on disk per second with sinks against without (`events_ratio`, to stay
 * ≥ 0.95), and the time from each image's receipt to its webhook's arrival under that load
 * (`event_latency_p50_ms`, `event_latency_p99_ms`), read once every event has arrived. The
 * webhook endpoint and the broker run at the lowest priority (nice 19), standing in for machines of
 * their own.
 */
async function scenarioEvents(): Promise<void> {
  const disk = path.join(work, 'events');
  const secret = `whsec_${Buffer.from('images-to-s3 bench webhook secret').toString('base64')}`;
  const started: Started[] = [];
  const broker = MOSQUITTO_MISSING === false ? await startMosquitto() : undefined;
  try {
    let hookPort = 0;
    const hook = await start(process.execPath, [path.join(BUILD, 'bench', 'servers', 'webhook.js'), secret], { env: quietEnv, ready: listeningLine((found) => (hookPort = found)) });
    started.push(hook);
    // The webhook's endpoint and the broker stand in for other machines (a VMS, a home server): at
    // the lowest priority they use only the CPU the receiver and the cameras leave, instead of
    // taking it from the receiver under test on this machine's few cores.
    const peers = [hook.pid, ...(broker ? execFileSync('pgrep', ['-P', String(process.pid), '-x', 'mosquitto'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number) : [])];
    for (const pid of peers) os.setPriority(pid, 19);
    const plan: Variant['plan'] = { mode: 'http', host: '127.0.0.1', port: 0, method: 'POST', path: `/?accessToken=${TOKEN}`, contentDisposition: true };
    const off = await startReceiver('receiver-events-off', `file:${path.join(disk, 'off')}`, ['--log-level', 'warn']);
    started.push(off);
    const sinks = ['--webhook', `http://127.0.0.1:${hookPort}/hook`, ...(broker ? ['--mqtt', broker.url] : [])];
    const on = await startReceiver('receiver-events-on', `file:${path.join(disk, 'on')}`, ['--log-level', 'warn', ...sinks], { IMAGES_TO_S3_WEBHOOK_SECRET: secret });
    started.push(on);
    const stats = async (method = 'GET'): Promise<{ delivered: number; forged: number; latencies: number[] }> =>
      (await (await fetch(`http://127.0.0.1:${hookPort}/stats`, { method })).json()) as { delivered: number; forged: number; latencies: number[] };
    const variants: Variant[] = [
      { name: 'ours', server: off, plan: { ...plan, port: off.port }, data: [path.join(disk, 'off', CAMERA)] },
      { name: `ours + webhook${broker ? ' + mqtt' : ''}`, server: on, plan: { ...plan, port: on.port }, data: [path.join(disk, 'on', CAMERA)] },
    ];
    const results = await alternate(variants, CONNECTIONS, seconds, quick ? 1 : 2);
    const withSinks = variants[1]!.name;
    // The latencies are read once the receiver with sinks has nothing pending (every event delivered).
    const pending = async (): Promise<number> => {
      const text = (await httpGet(on.port, '/metrics'))?.body ?? '';
      return [...text.matchAll(/^images_to_s3_events_pending\{[^}]*\} (\S+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    };
    const deadline = Date.now() + 60_000;
    while ((await pending()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    const answered = results.get(withSinks)!.reduce((sum, run) => sum + run.answered, 0);
    const delivered = await stats();
    const latencies = [...delivered.latencies].sort((a, b) => a - b);
    const at = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
    table(`events: the S1 load, ${CONNECTIONS} cameras, without sinks and with ${withSinks.slice('ours + '.length)}, ${rounds} round(s) of ${seconds} s`, rows(results, 'ours', {
      ours: 'no event sinks',
      [withSinks]: 'image.stored to each sink, through the outbox (fsync)',
    }, { rate: 'on disk/s', wait: 'flush s' }));
    log(`  webhook deliveries: ${delivered.latencies.length} image.stored (${answered} images in the measured rounds, the rest in the warm-up), ${delivered.forged} with a bad signature; receipt to arrival p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
    summary.events_ratio = round(ratio(results, withSinks, 'ours'), 3);
    summary.events_ratio_answered = round(ratio(results, withSinks, 'ours', 'imagesPerSecond'), 3);
    summary.event_latency_p50_ms = at(0.5);
    summary.event_latency_p99_ms = at(0.99);
    summary.event_sinks = broker ? 'webhook+mqtt' : 'webhook';
    await stats('DELETE');
  } finally {
    for (const server of started) await server.stop();
    await broker?.dispose();
  }
}

async function main(): Promise<void> {
  const began = Date.now();
  const parent = value('--dir') ?? os.tmpdir();
  await mkdir(parent, { recursive: true });
  work = await mkdtemp(path.join(parent, 'images-to-s3-bench-'));
  await chmod(work, 0o755);
  process.on('SIGINT', () => {
    stopAll();
    process.exit(130);
  });
  try {
    await buildAll();
    const wrkBinary = generatorChoice !== 'node' ? installedBinary('WRK', ['/usr/bin/wrk', '/usr/local/bin/wrk']) : undefined;
    wrk = wrkBinary ? { binary: wrkBinary, script: path.join(ROOT, 'bench', 'wrk.lua') } : undefined;
    if (generatorChoice === 'wrk' && !wrk) log('--load-generator wrk: wrk is not installed (Debian package wrk, or WRK=<path>); bench/load.ts sends instead');
    imagePath = path.join(work, 'image.jpg');
    imageBytes = await makeImage(imagePath);
    await new TokenRegistry(path.join(work, 'tokens.json')).create(CAMERA, { token: TOKEN });
    const load1 = os.loadavg()[0]!;
    log(`images-to-s3 bench${quick ? ' --quick' : ''}: ${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString()}, load average ${load1.toFixed(2)}`);
    log(`image ${imageBytes} bytes (sha256 ${createHash('sha256').update(await readFile(imagePath)).digest('hex').slice(0, 12)}…), data in ${work}`);
    const wrkFor = httpsWrk() ? 'S1, S6 and https' : 'S1 and S6';
    log(`load generator: ${wrk ? `wrk (${wrk.binary}, bench/wrk.lua) for ${wrkFor}, ` : ''}bench/load.ts (own process)${wrk ? ' for the rest' : ''}; ratios are medians of per-round ratios`);
    log(`workers: S1/S6 ours --workers ${workers}, nginx ${workers}; https one each`);
    log();
    if (only.has('s1') || only.has('s6')) await scenarioDisk();
    if (only.has('https')) await scenarioHttps();
    if (only.has('sftp')) await scenarioSftp();
    if (only.has('ftp')) await scenarioFtp();
    if (only.has('s2')) await scenarioS3();
    if (only.has('s3')) await scenarioMemory();
    if (only.has('s4')) await scenarioLatency();
    if (only.has('s7')) await scenarioDrain();
    if (only.has('clip')) await scenarioClip();
    if (only.has('fleet')) await scenarioFleet();
    if (only.has('events')) await scenarioEvents();
    if (only.has('s5') && !quick) scenarioLambda();
    const result = {
      disk_ratio: null,
      s3_ratio: null,
      s3_spool_ratio: null,
      s3_spool_answered_ratio: null,
      drain_images_per_s: null,
      peak_rss_mb: null,
      peak_rss_mb_s3_spool: null,
      peak_rss_mb_s3_no_spool: null,
      clip_500mb_peak_rss_mb: null,
      p99_added_ms: null,
      nginx_ratio: null,
      https_nginx_ratio: null,
      sftp_ratio: null,
      ftp_ratio: null,
      ...summary,
      workers,
      load_generator: loadGenerator(),
      quick,
      cores: os.cpus().length,
      node: process.version,
      date: new Date().toISOString(),
      load_average: [round(load1, 2), round(os.loadavg()[0]!, 2)],
      seconds: Math.round((Date.now() - began) / 1000),
    };
    log(JSON.stringify(result));
  } finally {
    stopAll();
    if (!flag('--keep')) await rm(work, { recursive: true, force: true });
  }
}

await main();
