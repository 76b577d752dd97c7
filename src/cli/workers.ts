/**
 * `serve --workers N`: the primary process, which serves nothing itself. It starts worker 1 (which
 * checks the options, opens the store, makes the first token, prints the banner and runs what
 * runs once: SFTP, FTP, retention, silence alerts), then, once worker 1 serves, workers 2 to N.
 * All workers take HTTP uploads on the one port (node:cluster shares it) into the one store.
 *
 * What users see stays one receiver:
 * - one log stream: each worker's output is passed on here whole line by whole line, so that lines
 *   of two workers never mix;
 * - one /metrics: any worker asked answers with the sum over all (prom-client's AggregatorRegistry);
 * - what a worker tells the others (failed log-ins, images stored and spooled) is passed on here;
 * - SIGTERM or SIGINT here stops every worker as SIGTERM stops a single receiver (in-flight uploads
 *   finish), and this process exits once they have; a worker that stops unexpectedly is started
 *   again, and one that cannot start stops them all.
 *
 * Workers run with V8's `--no-incremental-marking` (see {@link V8_FLAG}), so `serve` is started
 * this way even for one worker when Node was started without the flag.
 *
 * @module
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { AggregatorRegistry, Registry } from 'prom-client';
import { WORKER_INDEX_ENV, WORKER_RESTARTED_ENV, isWorkerMessage } from './worker-bus.js';
import type { WorkerMessage } from './worker-bus.js';

/**
 * Under a steady stream of uploads, V8's incremental marking could fall into back-to-back
 * mark-compacts that cost a third of the receiver's CPU (README, "Performance"). V8 takes the flag
 * only when Node starts (Node refuses it in NODE_OPTIONS), so workers are started with it.
 */
export const V8_FLAG = '--no-incremental-marking';

/** The default of --workers: one per core this process may use. */
export function defaultWorkers(): number {
  return os.availableParallelism();
}

/**
 * What Node's command line says about incremental marking: `false` for `--no-incremental-marking`
 * (in any of V8's spellings), `true` for `--incremental-marking`, the last one counting, and
 * `undefined` when it says nothing.
 */
export function incrementalMarkingFlag(execArgv: readonly string[]): boolean | undefined {
  let setting: boolean | undefined;
  for (const arg of execArgv) {
    const name = arg.replaceAll('_', '-');
    if (name === '--incremental-marking') setting = true;
    else if (name === '--no-incremental-marking' || name === '--noincremental-marking') setting = false;
  }
  return setting;
}

/**
 * Whether `serve` runs in this process: in a worker, or for one worker when Node's command line
 * says either way about incremental marking (the systemd unit's, the tests that kill or measure
 * the serving process, a debugger's).
 */
export function servesInProcess(workers: number): boolean {
  return cluster.isWorker || (workers === 1 && incrementalMarkingFlag(process.execArgv) !== undefined);
}

/** Workers that stop unexpectedly this often within {@link CRASH_WINDOW_MS} stop the receiver (a fault a restart does not cure). */
const MAX_CRASHES = 5;
const CRASH_WINDOW_MS = 60_000;
/** After the workers' own shutdown deadline, how long they get to close the store and the outbox. */
const STOP_GRACE_MS = 15_000;

export interface PrimaryOptions {
  workers: number;
  /** Seconds each worker lets in-flight uploads finish on SIGTERM (--shutdown-timeout). */
  shutdownTimeout: number;
}

/** Runs the workers until SIGTERM or SIGINT (or one fails to start); resolves with the exit code. */
export function runWorkers(options: PrimaryOptions): Promise<number> {
  const execArgv = incrementalMarkingFlag(process.execArgv) === undefined ? [...process.execArgv, V8_FLAG] : process.execArgv;
  cluster.setupPrimary({ execArgv, silent: true });
  const workers = new Map<number, Worker>();
  /** Workers that listen for messages: a stop before that is a kill (they serve nothing yet). */
  const listening = new Set<Worker>();
  const ready = new Set<number>();
  const crashes: number[] = [];
  let stopping = false;
  let exitCode = 0;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const stopAll = (): void => {
    if (stopping) return;
    stopping = true;
    for (const worker of workers.values()) {
      if (listening.has(worker)) send(worker, { i2s3: 'stop' });
      else worker.process.kill('SIGKILL');
    }
    setTimeout(() => {
      for (const worker of workers.values()) worker.process.kill('SIGKILL');
    }, options.shutdownTimeout * 1000 + STOP_GRACE_MS).unref();
    if (workers.size === 0) finish(exitCode);
  };

  const start = (index: number, restarted: boolean): void => {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index), ...(restarted && { [WORKER_RESTARTED_ENV]: '1' }) });
    workers.set(index, worker);
    passLines(worker.process.stdout!, process.stdout);
    passLines(worker.process.stderr!, process.stderr);
    worker.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.i2s3 === 'hello') {
        listening.add(worker);
        if (stopping) send(worker, { i2s3: 'stop' });
      } else if (message.i2s3 === 'ready') {
        ready.add(index);
        if (index === 1 && !restarted) for (let next = 2; next <= options.workers; next++) start(next, false);
        // Once all serve (a restarted one: at once), each is ready: what every spool holds is told.
        if (ready.size === options.workers) for (const peer of restarted ? [worker] : workers.values()) send(peer, { i2s3: 'all-ready' });
      } else if (message.i2s3 === 'news') {
        for (const [other, peer] of workers) if (other !== index) send(peer, message);
      } else if (message.i2s3 === 'metrics') {
        summedMetrics([...ready].map((other) => workers.get(other)).filter((peer) => peer !== undefined)).then(
          (text) => send(worker, { i2s3: 'metrics', id: message.id, text, contentType: Registry.PROMETHEUS_CONTENT_TYPE }),
          (error: unknown) => send(worker, { i2s3: 'metrics', id: message.id, error: (error as Error).message }),
        );
      }
    });
    worker.on('exit', (code, signal) => {
      listening.delete(worker);
      if (workers.get(index) === worker) workers.delete(index);
      if (stopping) {
        if (code !== 0 && code !== null) exitCode = code;
        if (workers.size === 0) finish(exitCode);
        return;
      }
      if (!restarted && !ready.has(index)) {
        // It could not start (its error is in the log): no restart would cure that.
        exitCode = code || 1;
        stopAll();
        return;
      }
      ready.delete(index);
      const now = Date.now();
      crashes.push(now);
      while (crashes[0]! < now - CRASH_WINDOW_MS) crashes.shift();
      if (crashes.length >= MAX_CRASHES) {
        log(50, `worker ${index} stopped (${signal ?? `exit code ${code}`}); ${crashes.length} workers stopped within a minute, so the receiver stops`, { worker: index });
        exitCode = 1;
        stopAll();
        return;
      }
      log(50, `worker ${index} stopped unexpectedly (${signal ?? `exit code ${code}`}); starting it again`, { worker: index });
      start(index, true);
    });
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, stopAll);
  start(1, false);
  return finished.finally(() => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.off(signal, stopAll);
  });
}

/** A worker that does not answer within this long is left out of a /metrics answer (it is stuck, or stopping). */
const METRICS_WAIT_MS = 3_000;
let metricsRequests = 0;

/**
 * The metrics of `workers` (those that serve: one still starting has none yet), summed as each
 * series says (see src/server/metrics.ts); a worker that does not answer in time is left out.
 */
async function summedMetrics(workers: Worker[]): Promise<string> {
  const id = ++metricsRequests;
  const answers = await Promise.all(
    workers.map(
      (worker) =>
        new Promise<object[] | undefined>((resolve) => {
          const timer = setTimeout(() => done(undefined), METRICS_WAIT_MS);
          const listener = (message: unknown): void => {
            if (isWorkerMessage(message) && message.i2s3 === 'own-metrics' && message.id === id) done(message.metrics);
          };
          const done = (metrics: object[] | undefined): void => {
            clearTimeout(timer);
            worker.off('message', listener);
            worker.off('exit', gone);
            resolve(metrics);
          };
          const gone = (): void => done(undefined);
          worker.on('message', listener);
          worker.once('exit', gone);
          send(worker, { i2s3: 'own-metrics', id });
        }),
    ),
  );
  return AggregatorRegistry.aggregate(answers.filter((answer) => answer !== undefined)).metrics();
}

function send(worker: Worker, message: WorkerMessage): void {
  if (worker.isConnected()) worker.send(message);
}

/** Copies `from` to `to` in whole lines only, so that lines from several workers never mix. */
function passLines(from: Readable, to: Writable): void {
  let partial = '';
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    const end = chunk.lastIndexOf('\n');
    if (end < 0) {
      partial += chunk;
      return;
    }
    to.write(partial + chunk.slice(0, end + 1));
    partial = chunk.slice(end + 1);
  });
  from.on('end', () => {
    if (partial !== '') to.write(`${partial}\n`);
  });
}

/** A line in the workers' log format (pino's JSON). */
function log(level: number, message: string, facts: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: os.hostname(), ...facts, msg: message })}\n`);
}
