/**
 * Soak test: a large simulated fleet against a real `images-to-s3 serve` process, for minutes,
 * reporting throughput, errors and the server's memory over time.
 *
 *   npm run soak -- --minutes 10 --cameras 1000 --interval 5
 *
 * Every camera has its own token and sends the sample image every `interval` seconds (time
 * compressed: a real camera sends once a minute), starting at a random moment in the first
 * interval. Only 127.0.0.1 is used. Images go to a temporary folder, removed at the end.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { expandAxisFilename, AXIS_DEFAULT_FILENAME_PATTERN } from '../src/camera/filename-pattern.js';
import { TokenRegistry } from '../src/tokens/registry.js';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const positive = (value: string): number => {
  const number = Number(value);
  if (!(number > 0)) throw new InvalidArgumentError('must be a positive number');
  return number;
};
const options = new Command('soak')
  .option('--minutes <m>', 'how long to run', positive, 10)
  .option('--cameras <n>', 'simulated cameras', positive, 1000)
  .option('--interval <s>', 'seconds between two images of one camera', positive, 5)
  .option('--report <s>', 'seconds between two report lines', positive, 10)
  .option('--connections <n>', 'connections the fleet shares (a camera opens one per image; this bounds the load generator)', positive, 64)
  .parse()
  .opts<{ minutes: number; cameras: number; interval: number; report: number; connections: number }>();

const folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-soak-'));
const image = await readFile(path.join(projectRoot, 'assets', 'sample.jpg'));
const registry = new TokenRegistry(path.join(folder, 'tokens.json'));
const tokens: string[] = [];
for (let camera = 1; camera <= options.cameras; camera++) tokens.push((await registry.create(`cam-${String(camera).padStart(4, '0')}`)).token);

const server = spawn(
  process.execPath,
  // The Node flag `npm start` and the systemd unit give the receiver (README, "Performance").
  ['--no-incremental-marking', path.join(projectRoot, 'dist', 'cli', 'main.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--store', `file:${folder}/images`, '--tokens', path.join(folder, 'tokens.json'), '--log-level', 'warn'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
let banner = '';
server.stdout.on('data', (chunk: Buffer) => (banner += chunk.toString()));
const started = Date.now();
while (!/http:\/\/127\.0\.0\.1:\d+\//.test(banner)) {
  if (Date.now() - started > 30_000) throw new Error(`serve did not start:\n${banner}`);
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const recipient = /http:\/\/127\.0\.0\.1:\d+\//.exec(banner)![0];

const rssMb = async (): Promise<number> => {
  const status = await readFile(`/proc/${server.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
};

const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
const totals = { sent: 0, stored: 0, failed: 0, byStatus: new Map<string, number>(), latencies: [] as number[] };
let window = { stored: 0, failed: 0, latencies: [] as number[] };

function upload(camera: number, sequence: number): Promise<void> {
  const filename = expandAxisFilename(AXIS_DEFAULT_FILENAME_PATTERN, { time: new Date(), sequence });
  const began = performance.now();
  totals.sent++;
  return new Promise((resolve) => {
    const finish = (status: string): void => {
      const latency = performance.now() - began;
      if (status === '200') {
        totals.stored++;
        window.stored++;
      } else {
        totals.failed++;
        window.failed++;
      }
      totals.byStatus.set(status, (totals.byStatus.get(status) ?? 0) + 1);
      window.latencies.push(latency);
      resolve();
    };
    const request = http.request(`${recipient}?accessToken=${tokens[camera]}`, {
      method: 'POST',
      agent,
      timeout: 30_000,
      headers: { 'content-type': 'image/jpeg', 'content-length': image.length, 'content-disposition': `attachment; filename="${filename}"` },
    });
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => finish(String(response.statusCode)));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
    request.end(image);
  });
}

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

const endAt = Date.now() + options.minutes * 60_000;
const inFlight = new Set<Promise<void>>();
const timers: NodeJS.Timeout[] = [];
const sequences = new Array<number>(options.cameras).fill(0);
for (let camera = 0; camera < options.cameras; camera++) {
  const fire = (): void => {
    if (Date.now() >= endAt) return;
    const sending = upload(camera, ++sequences[camera]!);
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending));
  };
  timers.push(
    setTimeout(() => {
      fire();
      timers.push(setInterval(fire, options.interval * 1000));
    }, Math.random() * options.interval * 1000),
  );
}

const samples: Array<{ seconds: number; rss: number }> = [];
console.log(`soak: ${options.cameras} cameras, one image each every ${options.interval} s (${(options.cameras / options.interval).toFixed(0)} uploads/s offered), ${options.minutes} min, ${image.length} bytes per image`);
console.log('   time  uploads/s  errors  p50 ms  p99 ms  server RSS MB');
const reporter = setInterval(() => {
  void rssMb().then((rss) => {
    const seconds = Math.round((Date.now() - (endAt - options.minutes * 60_000)) / 1000);
    samples.push({ seconds, rss });
    console.log(
      `${String(seconds).padStart(6)}s ${(window.stored / options.report).toFixed(1).padStart(10)} ${String(window.failed).padStart(7)} ${percentile(window.latencies, 50).toFixed(1).padStart(7)} ${percentile(window.latencies, 99).toFixed(1).padStart(7)} ${rss.toFixed(1).padStart(14)}`,
    );
    totals.latencies.push(...window.latencies);
    window = { stored: 0, failed: 0, latencies: [] };
  });
}, options.report * 1000);

await new Promise((resolve) => setTimeout(resolve, endAt - Date.now()));
for (const timer of timers) clearInterval(timer);
await Promise.all(inFlight);
clearInterval(reporter);
server.kill('SIGTERM');
const exitCode = await new Promise<number | null>((resolve) => server.on('exit', resolve));
await rm(folder, { recursive: true, force: true });

// Memory is judged after warm-up: the first fifth of the run is the heap growing to its working size.
const steady = samples.slice(Math.floor(samples.length / 5));
const summary = {
  minutes: options.minutes,
  cameras: options.cameras,
  offered_per_s: options.cameras / options.interval,
  sent: totals.sent,
  stored: totals.stored,
  errors: totals.failed,
  by_status: Object.fromEntries(totals.byStatus),
  uploads_per_s: totals.stored / (options.minutes * 60),
  p50_ms: percentile(totals.latencies, 50),
  p99_ms: percentile(totals.latencies, 99),
  rss_mb_steady_min: Math.min(...steady.map((sample) => sample.rss)),
  rss_mb_steady_max: Math.max(...steady.map((sample) => sample.rss)),
  rss_mb_first_steady: steady[0]?.rss,
  rss_mb_last: steady.at(-1)?.rss,
  server_exit_code: exitCode,
};
console.log(JSON.stringify(summary));
process.exitCode = totals.failed === 0 && exitCode === 0 ? 0 : 1;
