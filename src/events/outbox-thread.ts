/**
 * The outbox in a thread of its own: the journal's writes and fsyncs, the sinks' connections,
 * signatures and retries run there, so a sink costs the thread that takes uploads one message per
 * event, and a slow or failing sink cannot hold it up. `serve` uses it; the thread runs an
 * {@link Outbox} (./outbox.ts) with the sinks its settings describe (./sinks.ts).
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ReceiverEvent } from './cloud-event.js';
import type { OutboxLog, SinkReport } from './outbox.js';
import type { ImageReader, SinkSettings } from './sinks.js';

/** What the outbox's thread is given to start. */
export interface OutboxThreadSettings {
  folder: string;
  fsync: boolean;
  maxAgeMs: number;
  sinks: SinkSettings[];
}

/** Messages to the outbox's thread. */
export type ToOutboxThread =
  | { type: 'open'; settings: OutboxThreadSettings }
  | { type: 'append'; id: number; event: ReceiverEvent }
  | { type: 'image'; id: number; bytes?: Uint8Array; error?: string }
  | { type: 'close' };

/** Messages from it. */
export type FromOutboxThread =
  | { type: 'opened' }
  | { type: 'failed'; message: string }
  | { type: 'appended'; ids: number[] }
  | { type: 'not-appended'; ids: number[]; message: string }
  | { type: 'report'; reports: SinkReport[] }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; facts: object; message: string }
  | { type: 'read-image'; id: number; key: string }
  | { type: 'closed' };

/** The thread, from the built file next to this one (./outbox-worker.js), or from its source when run from sources. */
function startWorker(): Worker {
  if (!fileURLToPath(import.meta.url).endsWith('.ts')) return new Worker(new URL('./outbox-worker.js', import.meta.url));
  // From the sources (`node --import tsx`: tests, the CLI in development): Node 20's threads do
  // not inherit tsx's loader, so the thread registers it before it loads its entry.
  const loader = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./outbox-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(loader)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
}

const CLOSE_TIMEOUT_MS = 15_000;

export class OutboxThread {
  readonly folder: string;
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly appending = new Map<number, { resolve(): void; reject(error: Error): void }>();
  private reports: SinkReport[];
  private closed: (() => void) | undefined;

  constructor(
    private readonly settings: OutboxThreadSettings,
    /** The sinks' names, in the order of `settings.sinks`. */
    readonly sinkNames: string[],
    private readonly log: OutboxLog,
    private readonly images: ImageReader | undefined,
  ) {
    this.folder = settings.folder;
    this.reports = sinkNames.map((sink) => ({ sink, delivered: 0, failed: 0, dropped: 0, pending: 0, oldestPendingMs: 0 }));
  }

  /** Starts the thread; resolves once its outbox is open (its journal read, the sinks connecting). */
  open(): Promise<void> {
    const worker = startWorker();
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (message: FromOutboxThread) => {
        switch (message.type) {
          case 'opened':
            // From now on it does not keep the process alive by itself: close() ends it.
            worker.unref();
            resolve();
            break;
          case 'failed':
            reject(new Error(message.message));
            break;
          default:
            this.receive(message);
        }
      });
      worker.on('error', (error) => {
        this.log.error({ err: error }, 'events: the outbox\'s thread failed; events are not kept until the receiver is restarted');
        this.failAll(error);
        reject(error);
      });
      worker.on('exit', () => {
        this.worker = undefined;
        this.failAll(new Error('the outbox\'s thread has ended'));
        this.closed?.();
      });
      this.post({ type: 'open', settings: this.settings });
    });
  }

  /** Writes an event to the outbox; resolves once it is kept durably (see Outbox.append). */
  append(event: ReceiverEvent): Promise<void> {
    if (!this.worker) return Promise.reject(new Error('the event outbox is not open'));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.appending.set(id, { resolve, reject });
      this.post({ type: 'append', id, event });
    });
  }

  /** Per sink, as the thread last told (it tells every quarter of a second). */
  report(): SinkReport[] {
    return this.reports;
  }

  /** Closes the outbox (its places saved, the sinks closed) and ends the thread. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    worker.ref();
    const ended = new Promise<void>((resolve) => (this.closed = resolve));
    this.post({ type: 'close' });
    const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
    await ended;
    clearTimeout(timer);
  }

  private receive(message: FromOutboxThread): void {
    switch (message.type) {
      case 'appended':
        for (const id of message.ids) this.settle(id)?.resolve();
        break;
      case 'not-appended':
        for (const id of message.ids) this.settle(id)?.reject(new Error(message.message));
        break;
      case 'report':
        this.reports = message.reports;
        break;
      case 'log':
        this.log[message.level](message.facts, message.message);
        break;
      case 'read-image':
        void this.readImage(message.id, message.key);
        break;
      case 'closed':
        void this.worker?.terminate();
        break;
    }
  }

  private settle(id: number): { resolve(): void; reject(error: Error): void } | undefined {
    const waiting = this.appending.get(id);
    this.appending.delete(id);
    return waiting;
  }

  private failAll(error: Error): void {
    for (const waiting of this.appending.values()) waiting.reject(error);
    this.appending.clear();
  }

  private async readImage(id: number, key: string): Promise<void> {
    try {
      const bytes = await this.images?.read(key);
      this.post({ type: 'image', id, ...(bytes && { bytes }) });
    } catch (error) {
      this.post({ type: 'image', id, error: error instanceof Error ? error.message : String(error) });
    }
  }

  private post(message: ToOutboxThread): void {
    this.worker?.postMessage(message);
  }
}
