/**
 * The outbox's delivering thread (see ./outbox-thread.ts): an {@link Outbox} that delivers from
 * the journal the upload thread writes, with the sinks its settings describe.
 *
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { Outbox } from './outbox.js';
import type { OutboxLog } from './outbox.js';
import type { FromOutboxThread, ToOutboxThread } from './outbox-thread.js';
import { sinkFrom } from './sinks.js';
import type { ImageReader } from './sinks.js';

const port = parentPort!;
const post = (message: FromOutboxThread): void => port.postMessage(message);

/** Facts as they can cross to the other thread: an error as its name, message and code. */
function crossing(facts: object): object {
  return Object.fromEntries(
    Object.entries(facts).map(([name, value]) => [name, value instanceof Error ? { type: value.name, message: value.message, ...('code' in value && { code: value.code }) } : value]),
  );
}

const log: OutboxLog = {
  info: (facts, message) => post({ type: 'log', level: 'info', facts: crossing(facts), message }),
  warn: (facts, message) => post({ type: 'log', level: 'warn', facts: crossing(facts), message }),
  error: (facts, message) => post({ type: 'log', level: 'error', facts: crossing(facts), message }),
};

let nextRead = 0;
const reads = new Map<number, { resolve(bytes: Uint8Array | undefined): void; reject(error: Error): void }>();
const images: ImageReader = {
  read: (key) =>
    new Promise((resolve, reject) => {
      const id = ++nextRead;
      reads.set(id, { resolve, reject });
      post({ type: 'read-image', id, key });
    }),
};

let outbox: Outbox | undefined;

const reporting = setInterval(() => {
  if (outbox) post({ type: 'report', reports: outbox.report() });
}, 250);

port.on('message', (message: ToOutboxThread) => {
  switch (message.type) {
    case 'open': {
      const { settings, journal } = message;
      try {
        outbox = new Outbox({
          folder: settings.folder,
          fsync: settings.fsync,
          maxAgeMs: settings.maxAgeMs,
          sinks: settings.sinks.map((sink) => sinkFrom(sink, images, log)),
          role: 'deliverer',
          journal,
          log,
        });
      } catch (error) {
        post({ type: 'failed', message: (error as Error).message });
        return;
      }
      outbox.open().then(
        () => post({ type: 'opened' }),
        (error: unknown) => post({ type: 'failed', message: `Cannot open the event outbox in ${settings.folder}: ${(error as Error).message}` }),
      );
      break;
    }
    case 'written':
      outbox?.written(message.journal.writtenUpTo, message.journal.segments);
      break;
    case 'image': {
      const waiting = reads.get(message.id);
      reads.delete(message.id);
      if (message.error !== undefined) waiting?.reject(new Error(message.error));
      else waiting?.resolve(message.bytes);
      break;
    }
    case 'close':
      clearInterval(reporting);
      void (outbox?.close() ?? Promise.resolve()).finally(() => {
        post({ type: 'report', reports: outbox?.report() ?? [] });
        post({ type: 'closed' });
        port.close();
      });
      break;
  }
});
