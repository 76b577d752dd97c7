/**
 * A worker's side of `serve --workers N` (the primary's is ./workers.ts): what one worker tells the
 * others (through the primary, which passes each message on to every other worker), and what it
 * asks the primary (the receiver's metrics summed over all workers).
 *
 * @module
 */
import cluster from 'node:cluster';
import type { Registry } from 'prom-client';

/** Set by the primary in each worker's environment: its number, 1 to N; worker 1 leads (see {@link WorkerRole}). */
export const WORKER_INDEX_ENV = 'IMAGES_TO_S3_WORKER_INDEX';
/** Set by the primary for a worker started again after one of that number stopped unexpectedly. */
export const WORKER_RESTARTED_ENV = 'IMAGES_TO_S3_WORKER_RESTARTED';

/** What one worker tells all others. */
export type WorkerNews =
  /** A failed token check or log-in from `address`: every worker counts it towards the limit. */
  | { kind: 'auth-failure'; address: string }
  /** Images stored (or spooled) under `keys`: lists of them kept by the gallery are read again. */
  | { kind: 'stored'; keys: string[] }
  /** An image now waits in the spool folder of the worker that took it (the gallery shows and reads it from there). */
  | { kind: 'spooled'; image: SpooledImageFacts }
  /** That image was forwarded and its file removed. */
  | { kind: 'unspooled'; file: string };

/** A spooled image as a message carries it (see src/spool/spool.ts's SpooledImage). */
export interface SpooledImageFacts {
  file: string;
  key: string;
  size: number;
  sha256: string;
  contentType: string;
  metadata: Record<string, string>;
  camera: string;
  receivedAt: string;
}

/** Messages between the primary and a worker. */
export type WorkerMessage =
  /** The worker listens for messages (the primary sends none before). */
  | { i2s3: 'hello' }
  /** The worker serves. */
  | { i2s3: 'ready' }
  /** Every worker serves (each has told the others what its spool holds). */
  | { i2s3: 'all-ready' }
  | { i2s3: 'news'; news: WorkerNews }
  /** A worker asks the primary for all workers' metrics (`text` in the answer). */
  | { i2s3: 'metrics'; id: number; text?: string; contentType?: string; error?: string }
  /** The primary asks a worker for its own (`metrics` in the answer). */
  | { i2s3: 'own-metrics'; id: number; metrics?: object[] }
  | { i2s3: 'stop' };

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  return typeof message === 'object' && message !== null && typeof (message as { i2s3?: unknown }).i2s3 === 'string';
}

/** Which worker this process is, and how it talks to the others. */
export interface WorkerRole {
  /** 1 to {@link count}. */
  index: number;
  count: number;
  /** Started again after the worker of this number stopped unexpectedly (the receiver runs already). */
  restarted: boolean;
  bus: WorkerBus;
}

/** The worker's role when this process is a worker of `serve --workers`, else undefined. */
export function workerRole(count: number): WorkerRole | undefined {
  const index = Number(process.env[WORKER_INDEX_ENV]);
  if (!cluster.isWorker || !Number.isInteger(index) || index < 1) return undefined;
  const restarted = process.env[WORKER_RESTARTED_ENV] === '1';
  // Not for what this worker starts (file transfers' hooks, say).
  for (const name of [WORKER_INDEX_ENV, WORKER_RESTARTED_ENV]) delete process.env[name];
  return { index, count, restarted, bus: new WorkerBus() };
}

/** News to and from the other workers, and requests to the primary, over the cluster's IPC channel. */
export class WorkerBus {
  private readonly listeners: Array<(news: WorkerNews) => void> = [];
  private readonly stopListeners: Array<() => void> = [];
  private readonly pending = new Map<number, (reply: Extract<WorkerMessage, { i2s3: 'metrics' }>) => void>();
  private nextId = 1;
  private stopAsked = false;
  private allReady = false;
  private registry: Registry | undefined;

  constructor() {
    process.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.i2s3 === 'news') for (const listener of this.listeners) listener(message.news);
      else if (message.i2s3 === 'all-ready') this.allReady = true;
      else if (message.i2s3 === 'stop') {
        this.stopAsked = true;
        for (const listener of this.stopListeners) listener();
      }
      else if (message.i2s3 === 'metrics') {
        this.pending.get(message.id)?.(message);
        this.pending.delete(message.id);
      } else if (message.i2s3 === 'own-metrics' && this.registry) {
        void this.registry.getMetricsAsJSON().then((metrics) => this.send({ i2s3: 'own-metrics', id: message.id, metrics }));
      }
    });
    this.send({ i2s3: 'hello' });
  }

  /**
   * Tells every other worker, at once: news of an image goes out before its upload is answered,
   * so it is there before a viewer who saw the image on this worker can ask another.
   */
  tell(news: WorkerNews): void {
    this.send({ i2s3: 'news', news });
  }

  /** Calls `listener` with what the other workers tell. */
  listen(listener: (news: WorkerNews) => void): void {
    this.listeners.push(listener);
  }

  /** Calls `listener` when the primary asks this worker to stop (it does on SIGTERM and SIGINT), or at once when it has. */
  onStop(listener: () => void): void {
    this.stopListeners.push(listener);
    if (this.stopAsked) listener();
  }

  /**
   * Tells the primary that this worker serves (worker 1: the others can start). They listen on
   * the same --port, and node:cluster gives them the socket worker 1 listens on, --port 0's too.
   */
  ready(): void {
    this.send({ i2s3: 'ready' });
  }

  /** Whether every worker serves yet (until then, the receiver is starting: /readyz says so). */
  get everyWorkerReady(): boolean {
    return this.allReady;
  }

  /** Answers the primary's requests for this worker's metrics with those of `registry`. */
  serveMetrics(registry: Registry): void {
    this.registry = registry;
  }

  /** The receiver's metrics of all workers, summed, in Prometheus' text format. */
  metrics(): Promise<{ text: string; contentType: string }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (reply) => {
        if (reply.text !== undefined && reply.contentType !== undefined) resolve({ text: reply.text, contentType: reply.contentType });
        else reject(new Error(`the metrics of all workers could not be gathered: ${reply.error ?? 'no answer'}`));
      });
      this.send({ i2s3: 'metrics', id });
    });
  }

  private send(message: WorkerMessage): void {
    // The channel closes when the primary is gone; this worker then exits (node:cluster does that).
    if (process.connected) process.send!(message);
  }
}
