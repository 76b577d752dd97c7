import assert from 'node:assert/strict';
import { appendFile, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { cameraSilentEvent, imageStoredEvent } from '../../src/events/cloud-event.js';
import type { ReceiverEvent } from '../../src/events/cloud-event.js';
import { Outbox } from '../../src/events/outbox.js';
import type { OutboxLog, OutboxOptions } from '../../src/events/outbox.js';
import type { EventSink } from '../../src/events/sink.js';

/*
 * The outbox with real files in a temporary folder, and sinks of our own that record what they
 * get and fail or succeed on command. Waits are on conditions (polled), never fixed sleeps; a
 * fake clock is used only where the age of events matters.
 */

const SOURCE = 'file:///srv/images';
const BACKOFF = { initialMs: 20, maxMs: 100 };

/** An EventSink that records what it took, and fails (all, or some ids) when told to. */
class RecordingSink implements EventSink {
  /** Events it acknowledged, in the order it took them. */
  readonly delivered: ReceiverEvent[] = [];
  /** Delivery attempts it refused. */
  refused = 0;
  up = true;
  /** Ids it refuses even when up. */
  readonly refuses = new Set<string>();

  constructor(
    readonly name: string,
    readonly concurrency?: number,
  ) {}

  deliver(event: ReceiverEvent): Promise<void> {
    if (!this.up || this.refuses.has(event.id)) {
      this.refused++;
      return Promise.reject(new Error(`${this.name} is down`));
    }
    this.delivered.push(event);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

let counter = 0;

/** A distinct `image.stored` event (its id comes from its key); `extra` lengthens the key. */
function stored(time = new Date(), camera = 'camera-1', extra = ''): ReceiverEvent {
  const key = `2024/05/01/${camera}/${String(++counter).padStart(6, '0')}${extra}.jpg`;
  return imageStoredEvent(SOURCE, { camera, key, bytes: 12_345, contentType: 'image/jpeg', kind: 'image', receivedAt: time.toISOString(), store: SOURCE }, time);
}

function silent(time = new Date()): ReceiverEvent {
  return cameraSilentEvent(SOURCE, { camera: 'camera-2', lastKey: `2024/05/01/camera-2/${++counter}.jpg`, lastReceivedAt: time.toISOString(), usualIntervalSeconds: 60, silentSeconds: 600 }, time);
}

const ids = (events: readonly ReceiverEvent[]): string[] => events.map((event) => event.id);

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Appends one after another, each as soon as the one before resolved (nothing awaited in between,
 * as `for (…) await outbox.append(event)` does), all within 5 s.
 */
async function appendAll(outbox: Outbox, events: readonly ReceiverEvent[]): Promise<void> {
  let appended = 0;
  const appending = (async () => {
    for (const event of events) {
      await outbox.append(event);
      appended++;
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`append ${appended + 1} of ${events.length} did not resolve within 5 s`)), 5_000);
  });
  try {
    await Promise.race([appending, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface Line {
  seq: number;
  event: ReceiverEvent;
}

/** The journal's segment files, oldest first. */
async function segments(folder: string): Promise<string[]> {
  return (await readdir(path.join(folder, 'journal'))).filter((name) => name.endsWith('.ndjson')).sort();
}

/** Every line of every segment, parsed (a line that does not parse fails the test). */
async function journal(folder: string): Promise<Line[]> {
  const lines: Line[] = [];
  for (const name of await segments(folder)) {
    const text = await readFile(path.join(folder, 'journal', name), 'utf8');
    assert.ok(text === '' || text.endsWith('\n'), `${name} ends with a whole line`);
    for (const line of text.split('\n').filter((part) => part !== '')) lines.push(JSON.parse(line) as Line);
  }
  return lines;
}

async function places(folder: string): Promise<Record<string, number>> {
  try {
    return JSON.parse(await readFile(path.join(folder, 'places.json'), 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

const report = (outbox: Outbox, sink: string) => outbox.report().find((entry) => entry.sink === sink)!;

describe('the event outbox', () => {
  let folder: string;
  let opened: Outbox[];

  beforeEach(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'images-to-s3-outbox-'));
    opened = [];
  });

  afterEach(async () => {
    // Newest first: an outbox left open to stand for a crashed process is closed last.
    for (const outbox of opened.reverse()) await outbox.close();
    await rm(folder, { recursive: true, force: true });
  });

  async function start(sinks: EventSink[], options: Partial<OutboxOptions> = {}): Promise<Outbox> {
    const outbox = new Outbox({ folder, sinks, backoff: BACKOFF, ...options });
    opened.push(outbox);
    await outbox.open();
    return outbox;
  }

  it('resolves an append once the event is a line of the journal, and a sink gets every event once, in order', async () => {
    const sink = new RecordingSink('webhook test');
    const outbox = await start([sink]);
    const events = [stored(), silent(), stored(), stored(), silent()];
    for (const [index, event] of events.entries()) {
      await outbox.append(event);
      const lines = await journal(folder);
      assert.deepEqual(lines.at(-1), { seq: index + 1, event }, 'the event is in the file when append resolves');
    }
    await waitFor(() => sink.delivered.length >= events.length, 'the deliveries');
    await outbox.close();
    assert.deepEqual(sink.delivered, events);
    assert.deepEqual(outbox.report(), [{ sink: 'webhook test', delivered: 5, failed: 0, dropped: 0, pending: 0, oldestPendingMs: 0 }]);
  });

  it('resolves an append made as soon as the one before it resolved (nothing in between)', async () => {
    // As the silence checker does for two cameras in one look: `await append(a); await append(b)`.
    const sink = new RecordingSink('webhook test');
    const outbox = await start([sink]);
    const events = [silent(), silent(), stored(), stored()];
    await appendAll(outbox, events);
    assert.deepEqual((await journal(folder)).map((line) => line.event), events);
    await waitFor(() => sink.delivered.length >= events.length, 'the deliveries');
  });

  it('writes many events appended at once in a few batches (group commit), and delivers them all', async () => {
    // Count the journal's writes: FileHandle.prototype.write, for buffers of journal lines.
    const probe = await open(path.join(folder, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as { write: (this: unknown, ...args: unknown[]) => Promise<unknown> };
    await probe.close();
    const write = prototype.write;
    let batches = 0;
    prototype.write = function (this: unknown, ...args: unknown[]) {
      if (Buffer.isBuffer(args[0]) && args[0].subarray(0, 7).toString() === '{"seq":') batches++;
      return write.apply(this, args);
    };
    try {
      const sink = new RecordingSink('mqtt test');
      const outbox = await start([sink], { fsync: true });
      const events = Array.from({ length: 200 }, () => stored());
      await Promise.all(events.map((event) => outbox.append(event)));
      assert.ok(batches >= 1 && batches <= 3, `200 events in ${batches} writes`);
      assert.deepEqual(await journal(folder), events.map((event, index) => ({ seq: index + 1, event })));
      await waitFor(() => sink.delivered.length >= events.length, 'the deliveries');
      await outbox.close();
      assert.deepEqual(ids(sink.delivered), ids(events));
    } finally {
      prototype.write = write;
    }
  });

  it('resolves appends while a sink fails, reports it, and delivers everything once it is back', async () => {
    const sink = new RecordingSink('webhook down');
    sink.up = false;
    const outbox = await start([sink]);
    const events = Array.from({ length: 20 }, () => stored());
    const began = Date.now();
    await appendAll(outbox, events);
    assert.ok(Date.now() - began < 5_000, 'appends do not wait for the sink');
    await waitFor(() => sink.refused > 0 && report(outbox, sink.name).oldestPendingMs > 0, 'failed attempts');
    const down = report(outbox, sink.name);
    assert.equal(down.delivered, 0);
    assert.ok(down.failed > 0);
    assert.equal(down.pending, 20);
    assert.ok(down.oldestPendingMs > 0);
    assert.equal(sink.delivered.length, 0);

    sink.up = true;
    await waitFor(() => report(outbox, sink.name).pending === 0, 'the backlog delivered');
    const up = report(outbox, sink.name);
    assert.equal(up.delivered, 20);
    assert.equal(up.oldestPendingMs, 0);
    assert.equal(up.dropped, 0);
    await outbox.close();
    // Each once (the order of the first retried window may differ).
    assert.deepEqual(ids(sink.delivered).sort(), ids(events).sort());
  });

  it('delivers to a working sink at once while another is down, and keeps the segments the slow one still needs', async () => {
    const fast = new RecordingSink('fast');
    const slow = new RecordingSink('slow');
    slow.up = false;
    const outbox = await start([fast, slow], { segmentBytes: 2048 });
    const events = Array.from({ length: 30 }, () => stored());
    await appendAll(outbox, events);
    await waitFor(() => fast.delivered.length === events.length, 'the fast sink\'s deliveries');
    assert.deepEqual(fast.delivered, events);
    // Once the places were saved with the fast sink past everything, the old segments are still there.
    await waitFor(async () => (await places(folder)).fast === 31, 'the fast sink\'s place saved');
    assert.equal((await places(folder)).slow, 1);
    const kept = await segments(folder);
    assert.ok(kept.length > 2, `several segments (${kept.length})`);
    assert.equal(kept[0], '0000000000000001.ndjson');
    assert.equal(slow.delivered.length, 0);

    slow.up = true;
    await waitFor(() => slow.delivered.length === events.length, 'the slow sink\'s deliveries');
    await waitFor(async () => (await segments(folder)).length === 1, 'the old segments removed');
    assert.deepEqual(await places(folder), { fast: 31, slow: 31 });
    await outbox.close();
    assert.deepEqual(ids(slow.delivered).sort(), ids(events).sort());
    assert.equal(fast.delivered.length, events.length);
  });

  it('after a close and an open, delivers what was not delivered, not what was; a new sink starts at the end', async () => {
    const first = new RecordingSink('a');
    const before = await start([first]);
    const events = Array.from({ length: 8 }, () => stored());
    await appendAll(before, events.slice(0, 5));
    await waitFor(() => first.delivered.length === 5, 'the first deliveries');
    first.up = false;
    await appendAll(before, events.slice(5));
    await waitFor(() => first.refused > 0, 'a failed attempt');
    await before.close();
    const saved = (await places(folder)).a!;
    assert.equal(saved, 6, 'the place saved is the first undelivered event');

    const again = new RecordingSink('a');
    const fresh = new RecordingSink('b');
    const after = await start([again, fresh]);
    await waitFor(() => again.delivered.length >= 3, 'the undelivered events');
    const late = stored();
    await after.append(late);
    await waitFor(() => again.delivered.length >= 4 && fresh.delivered.length >= 1, 'the new event');
    await after.close();
    // Nothing before the saved place again; everything after it (repeats of those would be allowed).
    assert.deepEqual(ids(again.delivered), ids([...events.slice(saved - 1), late]));
    assert.deepEqual(fresh.delivered, [late], 'a new sink gets only what comes after it was added');
    assert.deepEqual(first.delivered, events.slice(0, 5));
  });

  it('after a crash before a sink\'s place was saved again, delivers its events from the journal', async () => {
    const crashed = new RecordingSink('a');
    crashed.up = false;
    const before = await start([crashed]);
    const events = [stored(), silent(), stored()];
    await appendAll(before, events);
    await waitFor(() => crashed.refused > 0, 'a failed attempt');
    // The process "crashes": `before` is not closed; a new outbox opens the same folder.
    const revived = new RecordingSink('a');
    const after = await start([revived]);
    await waitFor(() => revived.delivered.length >= events.length, 'the deliveries after the crash');
    await after.close();
    assert.deepEqual(revived.delivered, events);
    assert.equal(crashed.delivered.length, 0);
  });

  it('repairs a journal whose last line was cut off by a crash, and delivers every complete event', async () => {
    const down = new RecordingSink('a');
    down.up = false;
    const before = await start([down]);
    const events = [stored(), stored(), stored()];
    await appendAll(before, events);
    await before.close();
    const [last] = (await segments(folder)).slice(-1);
    const file = path.join(folder, 'journal', last!);
    const whole = await readFile(file, 'utf8');
    await appendFile(file, '{"seq":4,"event":{"specversion":"1.0","id":"cut-off');

    const warnings: string[] = [];
    const log: OutboxLog = { info: () => undefined, warn: (_facts, message) => warnings.push(message), error: () => undefined };
    const sink = new RecordingSink('a');
    const after = await start([sink], { log });
    assert.equal(await readFile(file, 'utf8'), whole, 'the cut line is gone');
    assert.ok(warnings.some((message) => message.includes('cut off')));
    const later = [stored(), silent()];
    await appendAll(after, later);
    assert.deepEqual(await journal(folder), [...events, ...later].map((event, index) => ({ seq: index + 1, event })));
    await waitFor(() => sink.delivered.length >= 5, 'the deliveries');
    await after.close();
    assert.deepEqual(sink.delivered, [...events, ...later]);
  });

  it('delivers new events to a sink whose saved place is past a journal that lost its tail (no fsync, power cut)', async () => {
    const first = new RecordingSink('a');
    const before = await start([first], { fsync: false });
    const events = Array.from({ length: 5 }, () => stored());
    await appendAll(before, events);
    await waitFor(() => first.delivered.length === 5, 'the deliveries');
    await before.close();
    assert.equal((await places(folder)).a, 6);
    // places.json is always fsynced, the journal not: after a power cut it may hold only the first two.
    const [name] = await segments(folder);
    const file = path.join(folder, 'journal', name!);
    const lines = (await readFile(file, 'utf8')).split('\n');
    await writeFile(file, `${lines.slice(0, 2).join('\n')}\n`);

    const again = new RecordingSink('a');
    const after = await start([again], { fsync: false });
    const late = [stored(), stored()];
    await appendAll(after, late);
    await waitFor(() => again.delivered.length >= 2, 'the new events delivered', 5_000);
    assert.deepEqual(again.delivered, late);
    assert.equal(report(after, 'a').pending, 0);
  });

  it('starts new segments as the journal grows, removes those every sink is past, and numbers on after a reopen', async () => {
    const sink = new RecordingSink('a');
    sink.up = false;
    const before = await start([sink], { segmentBytes: 2048 });
    const events = Array.from({ length: 40 }, () => stored());
    await appendAll(before, events);
    const many = await segments(folder);
    assert.ok(many.length >= 5, `several segments (${many.length})`);
    // Each segment is named by its first sequence number, and each but the last is full.
    for (const [index, name] of many.entries()) {
      const text = await readFile(path.join(folder, 'journal', name), 'utf8');
      if (index < many.length - 1) assert.ok(Buffer.byteLength(text) >= 2048);
      if (text !== '') assert.equal((JSON.parse(text.split('\n')[0]!) as Line).seq, Number(name.slice(0, 16)));
    }
    assert.deepEqual((await journal(folder)).map((line) => line.seq), events.map((_, index) => index + 1));

    sink.up = true;
    await waitFor(() => report(before, 'a').pending === 0, 'the deliveries');
    await waitFor(async () => (await segments(folder)).length === 1, 'the old segments removed');
    const [remaining] = await segments(folder);
    assert.equal(remaining, many.at(-1), 'the last segment stays');
    await before.close();
    assert.deepEqual(ids(sink.delivered).sort(), ids(events).sort());

    const again = new RecordingSink('a');
    const after = await start([again], { segmentBytes: 2048 });
    const later = [stored(), stored()];
    await appendAll(after, later);
    const seqs = (await journal(folder)).map((line) => line.seq);
    assert.deepEqual(seqs.slice(-2), [41, 42], 'the numbering goes on');
    await waitFor(() => again.delivered.length >= 2, 'the new deliveries');
    await after.close();
    assert.deepEqual(again.delivered, later, 'nothing delivered before is delivered again');
    assert.ok((await segments(folder)).every((name) => name >= remaining!));
  });

  it('lets a sink far behind read the journal from disk, across segments, each event once and in order', async () => {
    // In order with one event at a time; each once with the default window. Non-ASCII keys so
    // that lines of several bytes per character straddle the reader's chunks.
    const ordered = new RecordingSink('ordered', 1);
    const wide = new RecordingSink('wide');
    ordered.up = false;
    wide.up = false;
    const outbox = await start([ordered, wide], { fsync: false, segmentBytes: 600 * 1024 });
    const events: ReceiverEvent[] = [];
    for (let round = 0; round < 20; round++) {
      const batch = Array.from({ length: 250 }, () => stored(new Date(), 'Kamera Süd 東口', `-監視カメラの画像-${'写真'.repeat(100)}`));
      events.push(...batch);
      await Promise.all(batch.map((event) => outbox.append(event)));
    }
    assert.equal(events.length, 5_000);
    const files = await segments(folder);
    assert.ok(files.length >= 3, `several segments (${files.length})`);
    await waitFor(() => ordered.refused > 0 && wide.refused > 0, 'failed attempts');
    assert.equal(report(outbox, 'wide').pending, 5_000);

    ordered.up = true;
    wide.up = true;
    await waitFor(() => report(outbox, 'ordered').pending === 0 && report(outbox, 'wide').pending === 0, 'the backlog delivered', 60_000);
    await outbox.close();
    assert.equal(ordered.delivered.length, 5_000);
    assert.deepEqual(ordered.delivered, events, 'every event once, in order, intact');
    const byId = new Map(events.map((event) => [event.id, event]));
    assert.equal(new Set(ids(wide.delivered)).size, 5_000);
    for (const event of wide.delivered) assert.deepEqual(event, byId.get(event.id), 'intact');
  });

  it('does not let one event that always fails hold up the others, and drops it after maxAgeMs', async () => {
    let offset = 0;
    const clock = () => Date.now() + offset;
    const sink = new RecordingSink('picky');
    const outbox = await start([sink], { clock, maxAgeMs: 60_000 });
    const events = Array.from({ length: 6 }, () => stored(new Date(clock())));
    const poison = events[2]!;
    sink.refuses.add(poison.id);
    await appendAll(outbox, events);
    const others = events.filter((event) => event !== poison);
    await waitFor(() => sink.delivered.length === others.length && report(outbox, 'picky').failed > 0, 'the other events');
    assert.deepEqual(sink.delivered, others);
    const held = report(outbox, 'picky');
    assert.equal(held.pending, 1, 'the failing event is pending');
    assert.equal(held.dropped, 0);
    // The others go on flowing past it.
    const next = stored(new Date(clock()));
    await outbox.append(next);
    await waitFor(() => sink.delivered.includes(next), 'a later event');

    offset += 61_000;
    await waitFor(() => report(outbox, 'picky').dropped === 1, 'the old event dropped');
    const after = report(outbox, 'picky');
    assert.equal(after.pending, 0);
    assert.equal(after.oldestPendingMs, 0);
    assert.equal(after.delivered, 6);
    await outbox.close();
    assert.ok(!sink.delivered.includes(poison));
    assert.equal((await places(folder)).picky, 8, 'the place moved past the dropped event');
  });

  it('split in a writer and a deliverer (as serve runs it over two threads): the deliverer reads what the writer wrote, across segments and a restart', async () => {
    const sink = new RecordingSink('webhook split');
    let deliverer: Outbox | undefined;
    const startPair = async (): Promise<{ writer: Outbox; deliverer: Outbox }> => {
      const writer = new Outbox({ folder, sinks: [], role: 'writer', segmentBytes: 2048, written: (upTo, segments) => deliverer?.written(upTo, segments) });
      opened.push(writer);
      await writer.open();
      deliverer = new Outbox({ folder, sinks: [sink], role: 'deliverer', journal: writer.journalState, backoff: BACKOFF });
      opened.push(deliverer);
      await deliverer.open();
      return { writer, deliverer };
    };
    const first = await startPair();
    await assert.rejects(first.deliverer.append(stored()), /only delivers/);
    const before = Array.from({ length: 30 }, () => stored());
    await appendAll(first.writer, before);
    await waitFor(() => sink.delivered.length >= before.length, 'the first events');
    await first.deliverer.close();
    await first.writer.close();
    assert.deepEqual(ids(sink.delivered), ids(before));
    assert.ok((await readdir(path.join(folder, 'journal'))).length < 5, 'the segments delivered are removed by the deliverer');

    const second = await startPair();
    const after = Array.from({ length: 10 }, () => stored());
    await appendAll(second.writer, after);
    await waitFor(() => sink.delivered.length >= before.length + after.length, 'the events after the restart');
    assert.deepEqual(ids(sink.delivered), ids([...before, ...after]), 'each once, in order');
    assert.equal(report(second.deliverer, sink.name).pending, 0);
  });

  it('refuses two sinks with the same name', () => {
    assert.throws(() => new Outbox({ folder, sinks: [new RecordingSink('webhook x'), new RecordingSink('webhook x')] }), /same \(webhook x\)/);
  });
});
