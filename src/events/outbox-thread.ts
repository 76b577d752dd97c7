/**
 * The outbox over two threads: the thread that takes uploads writes the journal (an append waits
 * only for the disk), and a thread of its own delivers from it, with the sinks its settings
 * describe (./sinks.ts): their connections, signatures, retries and bookkeeping cost the upload
 * thread nothing, and a slow or failing sink cannot hold it up. `serve` uses it; each side is an
 * {@link Outbox} (./outbox.ts), the `writer` here and the `deliverer` there.
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ReceiverEvent } from './cloud-event.js';
import { Outbox } from './outbox.js';
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
  | { type: 'open'; settings: OutboxThreadSettings; journal: JournalState }
  | { type: 'written'; journal: JournalState }
  | { type: 'image'; id: number; bytes?: Uint8Array; error?: string }
  | { type: 'close' };

/** The journal as its writer left it: the next sequence number, and the segments. */
export interface JournalState {
  writtenUpTo: number;
  segments: readonly number[];
}

/** Messages from it. */
export type FromOutboxThread =
  | { type: 'opened' }
  | { type: 'failed'; message: string }
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
  private readonly writer: Outbox;
  private worker: Worker | undefined;
  private reports: SinkReport[];
  private closed: (() => void) | undefined;
  private hasReported = false;

  constructor(
    private readonly settings: OutboxThreadSettings,
    /** The sinks' names, in the order of `settings.sinks`. */
    readonly sinkNames: string[],
    private readonly log: OutboxLog,
    private readonly images: ImageReader | undefined,
  ) {
    this.folder = settings.folder;
    this.reports = sinkNames.map((sink) => ({ sink, delivered: 0, failed: 0, dropped: 0, pending: 0, oldestPendingMs: 0 }));
    this.writer = new Outbox({
      folder: settings.folder,
      fsync: settings.fsync,
      sinks: [],
      role: 'writer',
      log,
      written: (writtenUpTo, segments) => this.post({ type: 'written', journal: { writtenUpTo, segments } }),
    });
  }

  /** Opens the journal here, then starts the delivering thread; resolves once it is open (the sinks connecting). */
  async open(): Promise<void> {
    await this.writer.open();
    const worker = startWorker();
    this.worker = worker;
    await new Promise<void>((resolve, reject) => {
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
        this.log.error({ err: error }, 'events: the delivering thread failed; events are kept, and delivered after a restart');
        reject(error);
      });
      worker.on('exit', () => {
        this.worker = undefined;
        this.closed?.();
      });
      this.post({ type: 'open', settings: this.settings, journal: this.writer.journalState });
    });
  }

  /** Writes an event to the journal; resolves once it is kept durably (see Outbox.append); the other thread delivers it. */
  append(event: ReceiverEvent): Promise<void> {
    return this.writer.append(event);
  }

  /** Per sink, as the delivering thread last told (it tells every quarter of a second). */
  report(): SinkReport[] {
    return this.reports;
  }

  /** Whether the delivering thread told its sinks' state yet (before, {@link report} says nothing is pending). */
  get reported(): boolean {
    return this.hasReported;
  }

  /** Stops delivering (the places saved, the sinks closed), ends the thread, and closes the journal. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker) {
      worker.ref();
      const ended = new Promise<void>((resolve) => (this.closed = resolve));
      this.post({ type: 'close' });
      const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
      await ended;
      clearTimeout(timer);
    }
    await this.writer.close();
  }

  private receive(message: FromOutboxThread): void {
    switch (message.type) {
      case 'report':
        this.reports = message.reports;
        this.hasReported = true;
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
