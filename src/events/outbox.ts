/**
 * The outbox: every event is written to a journal on local disk (durably, as the images are)
 * before anything is sent, and each sink delivers from it at its own pace. A sink that is down
 * does not slow uploads or other sinks; its events wait on disk and are delivered, oldest first,
 * once it is back. A restart (or a crash) loses nothing: each sink's place is kept, and what was
 * in flight is sent again (at least once; events have stable ids for consumers to drop repeats).
 *
 * Layout of the folder:
 * - `journal/<first sequence number>.ndjson`: segments of one JSON line per event,
 *   `{"seq":N,"event":{…}}`; a new segment starts at {@link OutboxOptions.segmentBytes}; a
 *   segment every sink is past is removed (the last one is always kept: it holds the numbering).
 * - `places.json`: per sink (by name), the sequence number of its oldest undelivered event.
 *
 * @module
 */
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { syncFolder, writeFileAtomically } from '../files/durable.js';
import type { ReceiverEvent } from './cloud-event.js';
import type { EventSink } from './sink.js';

export interface OutboxLog {
  info(facts: object, message: string): void;
  warn(facts: object, message: string): void;
  error(facts: object, message: string): void;
}

export interface OutboxOptions {
  folder: string;
  sinks: EventSink[];
  /** fsync each batch of events before {@link Outbox.append} resolves (as the stores do their images); default true. */
  fsync?: boolean;
  /** An event not delivered this long after its time is given up (counted as dropped, logged). Default 2 days. */
  maxAgeMs?: number;
  /** Segment size, in bytes, from which the journal starts a new segment. Default 8 MiB. */
  segmentBytes?: number;
  /** Pauses between attempts to deliver one event: doubling from `initialMs` up to `maxMs`. */
  backoff?: { initialMs: number; maxMs: number };
  log?: OutboxLog;
  clock?: () => number;
  /**
   * `both` (default): writes the journal and delivers from it. Split over two threads (see
   * ./outbox-thread.ts): `writer` only writes (appends resolve as fast as the disk allows, whatever
   * the sinks do) and says what it wrote through `written`; `deliverer` only delivers, from the
   * journal on disk, told of new events by {@link Outbox.written}.
   */
  role?: 'both' | 'writer' | 'deliverer';
  /** Writer: called after each batch is in the journal, with the next sequence number and the segments. */
  written?: (writtenUpTo: number, segments: readonly number[]) => void;
  /** Deliverer: the journal as the writer opened it. */
  journal?: { writtenUpTo: number; segments: readonly number[] };
}

/** Two days: a sink that is down over a night, or a whole day, loses nothing. */
export const DEFAULT_EVENT_MAX_AGE_MS = 2 * 24 * 60 * 60 * 1000;
/** From one second up to a minute: a sink that comes back gets its backlog within a minute. */
export const DEFAULT_EVENT_BACKOFF = { initialMs: 1_000, maxMs: 60_000 };

/** One sink's delivery, as /metrics shows it. */
export interface SinkReport {
  sink: string;
  /** Events the sink acknowledged, since start. */
  delivered: number;
  /** Delivery attempts that failed (each retried later), since start. */
  failed: number;
  /** Events given up after {@link OutboxOptions.maxAgeMs}, since start. */
  dropped: number;
  /** Events not delivered yet. */
  pending: number;
  /** Age of the oldest of them, in ms (0 when none). */
  oldestPendingMs: number;
}

interface JournalEntry {
  seq: number;
  event: ReceiverEvent;
}

const JOURNAL = 'journal';
const PLACES = 'places.json';
const SEGMENT_PATTERN = /^(\d{16})\.ndjson$/;
/** Events kept in memory after they were written, so sinks that keep up never read the journal. */
const RECENT = 4_096;
/** Bytes read from a segment at a time by a sink that is behind. */
const READ_CHUNK = 256 * 1024;
/** How often sinks' places are saved (and segments all sinks are past removed). */
const SAVE_PLACES_MS = 1_000;

const segmentName = (firstSeq: number): string => `${String(firstSeq).padStart(16, '0')}.ndjson`;

export class Outbox {
  readonly folder: string;
  private readonly journal: string;
  private readonly fsync: boolean;
  private readonly segmentBytes: number;
  private readonly maxAgeMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly clock: () => number;
  private readonly log: OutboxLog | undefined;
  private readonly deliveries: SinkDelivery[];
  /** First sequence numbers of the journal's segments, in order; the last is being written. */
  private segments: number[] = [];
  private handle: FileHandle | undefined;
  private segmentSize = 0;
  /** The next sequence number to write. */
  private nextSeq = 1;
  private readonly recent: JournalEntry[] = [];
  private queued: Array<{ event: ReceiverEvent; resolve(): void; reject(error: unknown): void }> = [];
  private writing: Promise<void> | undefined;
  private saveTimer: NodeJS.Timeout | undefined;
  private savedPlaces = '';
  private closed = false;
  private readonly role: 'both' | 'writer' | 'deliverer';
  private readonly onWritten: ((writtenUpTo: number, segments: readonly number[]) => void) | undefined;
  private readonly opened: { writtenUpTo: number; segments: readonly number[] } | undefined;

  constructor(options: OutboxOptions) {
    this.role = options.role ?? 'both';
    this.onWritten = options.written;
    this.opened = options.journal;
    this.folder = options.folder;
    this.journal = path.join(options.folder, JOURNAL);
    this.fsync = options.fsync ?? true;
    this.segmentBytes = options.segmentBytes ?? 8 * 1024 * 1024;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_EVENT_MAX_AGE_MS;
    this.backoff = options.backoff ?? DEFAULT_EVENT_BACKOFF;
    this.clock = options.clock ?? Date.now;
    this.log = options.log;
    const names = new Set<string>();
    for (const sink of options.sinks) {
      if (names.has(sink.name)) throw new Error(`Two event sinks are the same (${sink.name}): give each once.`);
      names.add(sink.name);
    }
    this.deliveries = options.sinks.map((sink) => new SinkDelivery(sink, this));
  }

  get sinks(): readonly EventSink[] {
    return this.deliveries.map((delivery) => delivery.sink);
  }

  /** Reads the journal (repairing a last line cut off by a crash), finds each sink's place, and starts delivering. */
  async open(): Promise<void> {
    if (this.role === 'deliverer') {
      this.segments = [...this.opened!.segments];
      this.nextSeq = this.opened!.writtenUpTo;
    } else {
      await this.openJournal();
      if (this.role === 'writer') return;
    }
    const places = await readPlaces(path.join(this.folder, PLACES));
    // A place past the journal's end (its tail lost in a power cut without fsync, places.json kept) is at its end: the next event is new.
    for (const delivery of this.deliveries) delivery.start(Math.min(Math.max(places[delivery.sink.name] ?? this.nextSeq, this.segments[0]!), this.nextSeq));
    // A new sink's place is kept before any event is written: after a crash it still starts there.
    await this.savePlaces();
    await Promise.all(this.deliveries.map((delivery) => delivery.sink.open?.() ?? Promise.resolve()));
    this.saveTimer = setInterval(() => void this.savePlaces().catch((error: unknown) => this.log?.error({ err: error }, 'events: cannot save the sinks\' places')), SAVE_PLACES_MS).unref();
    for (const delivery of this.deliveries) delivery.pump();
  }

  /** The journal as it is on disk: its segments, and what was written last (a line cut off by a crash removed). */
  get journalState(): { writtenUpTo: number; segments: readonly number[] } {
    return { writtenUpTo: this.nextSeq, segments: [...this.segments] };
  }

  /** Deliverer: the writer wrote events up to `writtenUpTo` (not included), in `segments`. */
  written(writtenUpTo: number, segments: readonly number[]): void {
    // Only segments newer than those known: the writer does not hear of those removed here.
    const last = this.segments.at(-1) ?? 0;
    for (const first of segments) if (first > last) this.segments.push(first);
    this.nextSeq = Math.max(this.nextSeq, writtenUpTo);
    // Before open() has placed the sinks, there is nothing to deliver from yet.
    if (this.saveTimer !== undefined) for (const delivery of this.deliveries) delivery.pump();
  }

  private async openJournal(): Promise<void> {
    await mkdir(this.journal, { recursive: true, mode: 0o700 });
    this.segments = (await readdir(this.journal))
      .map((name) => SEGMENT_PATTERN.exec(name)?.[1])
      .filter((first): first is string => first !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const fresh = this.segments.length === 0;
    if (fresh) this.segments.push(1);
    const last = this.segments.at(-1)!;
    const file = path.join(this.journal, segmentName(last));
    this.handle = await open(file, 'a+', 0o600);
    if (fresh && this.fsync) await syncFolder(this.journal);
    const { entries, completeBytes } = parseSegment(await this.handle.readFile());
    if ((await this.handle.stat()).size !== completeBytes) {
      // A line cut off by a crash was never acknowledged: it goes, so the next line starts clean.
      await this.handle.truncate(completeBytes);
      this.log?.warn({ file }, 'events: removed an event cut off by a crash from the journal (it had not been acknowledged)');
    }
    this.segmentSize = completeBytes;
    this.nextSeq = Math.max(last, (entries.at(-1)?.seq ?? 0) + 1);
    // Only an outbox that delivers too reads recent events back from memory.
    if (this.role === 'both') this.recent.push(...entries.slice(-RECENT));
  }

  /**
   * Writes an event to the journal: resolves once it is there durably (with fsync, as a batch with
   * the events appended at the same time), after which the sinks deliver it. Without sinks it does
   * nothing.
   */
  append(event: ReceiverEvent): Promise<void> {
    if (this.role === 'deliverer') return Promise.reject(new Error('this outbox only delivers'));
    if (this.role === 'both' && this.deliveries.length === 0) return Promise.resolve();
    if (this.closed || this.handle === undefined) return Promise.reject(new Error('the event outbox is not open'));
    return new Promise((resolve, reject) => {
      this.queued.push({ event, resolve, reject });
      this.writing ??= this.writeQueued();
    });
  }

  /** Per sink: delivered, failed, dropped, pending and the oldest pending event's age. */
  report(): SinkReport[] {
    return this.deliveries.map((delivery) => delivery.report());
  }

  /** Stops delivering, saves each sink's place, closes the sinks and the journal. What was not acknowledged is delivered after the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.saveTimer);
    await this.writing;
    for (const delivery of this.deliveries) delivery.stop();
    await Promise.all(this.deliveries.map((delivery) => delivery.sink.close()));
    await Promise.all(this.deliveries.map((delivery) => delivery.settled()));
    // Deliveries acknowledged while closing count: their places are saved.
    for (const delivery of this.deliveries) delivery.advance();
    // (The places are the deliverer's: a writer alone has none to save.)
    if (this.role !== 'writer') await this.savePlaces().catch((error: unknown) => this.log?.error({ err: error }, 'events: cannot save the sinks\' places'));
    await this.handle?.close();
    this.handle = undefined;
  }

  /** Writes what was queued, batch after batch, each with one write and one fsync. */
  private async writeQueued(): Promise<void> {
    try {
      // Again while events are queued: one appended as the last batch resolved (before this step)
      // found `writing` still set, so this writer must take it.
      while (this.queued.length > 0) await this.writeBatches();
    } finally {
      // In the same step as the loop's end: an event appended after it starts a new writer.
      this.writing = undefined;
    }
  }

  private async writeBatches(): Promise<void> {
    while (this.queued.length > 0) {
      const batch = this.queued;
      this.queued = [];
      const entries = batch.map(({ event }, index) => ({ seq: this.nextSeq + index, event }));
      try {
        const lines = entries.map((entry) => `${JSON.stringify(entry)}\n`).join('');
        await this.write(Buffer.from(lines));
      } catch (error) {
        for (const waiting of batch) waiting.reject(error);
        continue;
      }
      this.nextSeq += entries.length;
      if (this.role === 'both') {
        this.recent.push(...entries);
        if (this.recent.length > RECENT) this.recent.splice(0, this.recent.length - RECENT);
      }
      for (const waiting of batch) waiting.resolve();
      for (const delivery of this.deliveries) delivery.pump();
      if (this.segmentSize >= this.segmentBytes) await this.startSegment().catch((error: unknown) => this.log?.error({ err: error }, 'events: cannot start a new journal segment; going on with the last one'));
      this.onWritten?.(this.nextSeq, this.segments);
    }
  }

  private async write(data: Buffer): Promise<void> {
    const handle = this.handle!;
    try {
      await handle.write(data, 0, data.length, null);
      if (this.fsync) await handle.datasync();
    } catch (error) {
      // Nothing of a failed batch may stay: the next one must start on a line of its own.
      await handle.truncate(this.segmentSize).catch(() => undefined);
      throw error;
    }
    this.segmentSize += data.length;
  }

  /** Goes on in a new segment, named by the next sequence number (so the numbering survives removing the old ones). */
  private async startSegment(): Promise<void> {
    const handle = await open(path.join(this.journal, segmentName(this.nextSeq)), 'a+', 0o600);
    try {
      if (this.fsync) await syncFolder(this.journal);
    } catch (error) {
      await handle.close();
      throw error;
    }
    await this.handle!.close().catch(() => undefined);
    this.handle = handle;
    this.segmentSize = 0;
    this.segments.push(this.nextSeq);
  }

  /** Where a sink that is behind reads from: the journal's entries from `seq` on, up to `max` (in memory when recent). */
  async read(seq: number, max: number, reader: SegmentReader): Promise<JournalEntry[]> {
    const firstRecent = this.recent[0]?.seq;
    if (firstRecent !== undefined && seq >= firstRecent) {
      const from = seq - firstRecent;
      if (this.recent[from]?.seq === seq) return this.recent.slice(from, from + max);
      return this.recent.filter((entry) => entry.seq >= seq).slice(0, max);
    }
    if (seq >= this.nextSeq) return [];
    return reader.read(this.journal, this.segments, seq, max);
  }

  /** The sequence number the next event written will have. */
  get writtenUpTo(): number {
    return this.nextSeq;
  }

  now(): number {
    return this.clock();
  }

  get settings(): { maxAgeMs: number; backoff: { initialMs: number; maxMs: number }; log: OutboxLog | undefined } {
    return { maxAgeMs: this.maxAgeMs, backoff: this.backoff, log: this.log };
  }

  /** Saves each sink's place when it moved, and removes the segments every sink is past. */
  private saving: Promise<void> = Promise.resolve();

  /** Saves the places, one save after another (two at once could each remove a segment the other still lists). */
  private savePlaces(): Promise<void> {
    const save = this.saving.then(() => this.savePlacesNow());
    this.saving = save.catch(() => undefined);
    return save;
  }

  private async savePlacesNow(): Promise<void> {
    const places = Object.fromEntries(this.deliveries.map((delivery) => [delivery.sink.name, delivery.place]));
    const text = JSON.stringify(places);
    if (text !== this.savedPlaces) {
      await writeFileAtomically(path.join(this.folder, PLACES), text);
      this.savedPlaces = text;
    }
    const oldest = Math.min(...this.deliveries.map((delivery) => delivery.place));
    let removed = false;
    while (this.segments.length > 1 && this.segments[1]! <= oldest) {
      await unlink(path.join(this.journal, segmentName(this.segments[0]!))).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      });
      this.segments.shift();
      removed = true;
    }
    if (removed && this.fsync) await syncFolder(this.journal);
  }
}

/** The complete lines of a segment's bytes, and how many bytes they take (a last line without its newline is cut off). */
function parseSegment(bytes: Buffer): { entries: JournalEntry[]; completeBytes: number } {
  const completeBytes = bytes.lastIndexOf(0x0a) + 1;
  const entries: JournalEntry[] = [];
  for (const line of bytes.subarray(0, completeBytes).toString('utf8').split('\n')) {
    const entry = parseLine(line);
    if (entry) entries.push(entry);
  }
  return { entries, completeBytes };
}

function parseLine(line: string): JournalEntry | undefined {
  if (line === '') return undefined;
  try {
    const entry = JSON.parse(line) as JournalEntry;
    return Number.isSafeInteger(entry.seq) && typeof entry.event === 'object' && entry.event !== null ? entry : undefined;
  } catch {
    return undefined;
  }
}

async function readPlaces(file: string): Promise<Record<string, number>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  const places = JSON.parse(text) as unknown;
  if (typeof places !== 'object' || places === null) throw new Error(`${file} is not an outbox's places document`);
  return Object.fromEntries(Object.entries(places).filter((entry): entry is [string, number] => Number.isSafeInteger(entry[1])));
}

/**
 * A sink's reading of the journal on disk, for a sink that is further behind than the events kept
 * in memory: it goes on from where it stopped, a chunk at a time, segment after segment.
 */
export class SegmentReader {
  private segment: number | undefined;
  private offset = 0;
  private carry = '';
  /** Keeps a character whose bytes a chunk's end splits until the next chunk completes it. */
  private decoder = new StringDecoder('utf8');

  /** The sequence number a read that goes on from the last one asks for. */
  private expected: number | undefined;

  /** Entries from `seq` on: at least `max` when there are that many, or more (what the last chunk held). */
  async read(journal: string, segments: readonly number[], seq: number, max: number): Promise<JournalEntry[]> {
    if (this.segment === undefined || seq !== this.expected || !segments.includes(this.segment)) {
      // Start over in the segment that holds `seq`: the last one starting at or before it.
      this.segment = segments.findLast((first) => first <= seq) ?? segments[0]!;
      this.offset = 0;
      this.carry = '';
      this.decoder = new StringDecoder('utf8');
    }
    const entries: JournalEntry[] = [];
    while (entries.length < max) {
      const chunk = await readChunk(path.join(journal, segmentName(this.segment)), this.offset);
      if (chunk === undefined || chunk.length === 0) {
        // The end of this segment: on to the next one, if there is one.
        const next = segments.find((first) => first > this.segment!);
        if (next === undefined) break;
        this.segment = next;
        this.offset = 0;
        this.carry = '';
        this.decoder = new StringDecoder('utf8');
        continue;
      }
      this.offset += chunk.length;
      const lines = (this.carry + this.decoder.write(chunk)).split('\n');
      this.carry = lines.pop()!;
      for (const line of lines) {
        const entry = parseLine(line);
        if (entry && entry.seq >= seq) entries.push(entry);
      }
    }
    this.expected = (entries.at(-1)?.seq ?? seq - 1) + 1;
    return entries;
  }
}

async function readChunk(file: string, offset: number): Promise<Buffer | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const buffer = Buffer.alloc(READ_CHUNK);
    const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** An event a sink holds: waiting for its next attempt, being sent, or delivered (or dropped). */
interface Slot {
  entry: JournalEntry;
  attempts: number;
  nextAt: number;
  sending: boolean;
  done: boolean;
}

/** Slots held at most, delivered ones behind an undelivered one included (one event failing again and again must not hold up the rest for long). */
const MAX_HELD = 10_000;

/** One sink's delivery from the outbox. */
class SinkDelivery {
  private readonly concurrency: number;
  private readonly reader = new SegmentReader();
  /** Events loaded from the journal and not yet behind the sink's place, in order. */
  private slots: Slot[] = [];
  /** The next sequence number to load. */
  private loadFrom = 0;
  private loading = false;
  private readFailedAt: number | undefined;
  private sending = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private stopped = false;
  private failing: { since: number; loggedAt: number } | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly counts = { delivered: 0, failed: 0, dropped: 0 };
  /** The oldest undelivered event's sequence number (all before it are delivered or dropped). */
  place = 0;

  constructor(
    readonly sink: EventSink,
    private readonly outbox: Outbox,
  ) {
    this.concurrency = Math.max(1, sink.concurrency ?? 8);
  }

  start(place: number): void {
    this.place = place;
    this.loadFrom = place;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Resolves when nothing is being sent. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  report(): SinkReport {
    const undelivered = this.slots.filter((slot) => !slot.done);
    const held = this.slots.length - undelivered.length;
    const pending = Math.max(0, this.outbox.writtenUpTo - this.place - held);
    const oldest = undelivered[0];
    return {
      sink: this.sink.name,
      ...this.counts,
      pending,
      oldestPendingMs: oldest ? Math.max(0, this.outbox.now() - Date.parse(oldest.entry.event.time)) : 0,
    };
  }

  /** Loads what there is room for, sends what is due, and sets a timer for the next retry. */
  pump(): void {
    if (this.stopped) return;
    const undelivered = this.slots.reduce((count, slot) => count + (slot.done ? 0 : 1), 0);
    const readPaused = this.readFailedAt !== undefined && this.outbox.now() - this.readFailedAt < 1_000;
    if (readPaused) this.later(this.readFailedAt! + 1_000);
    if (!this.loading && !readPaused && undelivered < this.concurrency && this.slots.length < MAX_HELD && this.loadFrom < this.outbox.writtenUpTo) {
      this.loading = true;
      void this.outbox
        .read(this.loadFrom, this.concurrency - undelivered, this.reader)
        .then(
          (entries) => {
            for (const entry of entries) {
              this.slots.push({ entry, attempts: 0, nextAt: 0, sending: false, done: false });
              this.loadFrom = entry.seq + 1;
            }
            // A gap (entries of a batch that failed to be written do not exist): go on after it.
            if (entries.length === 0 && this.loadFrom < this.outbox.writtenUpTo) this.loadFrom = this.outbox.writtenUpTo;
          },
          (error: unknown) => {
            this.outbox.settings.log?.error({ err: error, sink: this.sink.name }, 'events: cannot read the outbox\'s journal; trying again in a second');
            this.readFailedAt = this.outbox.now();
          },
        )
        .finally(() => {
          this.loading = false;
          this.pump();
        });
    }
    const now = this.outbox.now();
    let nextAt = Infinity;
    for (const slot of this.slots) {
      if (slot.done || slot.sending) continue;
      if (now - Date.parse(slot.entry.event.time) > this.outbox.settings.maxAgeMs) {
        this.drop(slot);
        continue;
      }
      if (slot.nextAt > now) {
        nextAt = Math.min(nextAt, slot.nextAt);
        continue;
      }
      if (this.sending >= this.concurrency) break;
      this.send(slot);
    }
    this.advance();
    this.later(nextAt);
  }

  /** Pumps again at `at` (ms), unless a pump is due sooner already. */
  private later(at: number): void {
    if (at >= this.timerAt || at === Infinity) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(0, at - this.outbox.now())).unref();
  }

  private send(slot: Slot): void {
    slot.sending = true;
    this.sending++;
    const attempt = this.sink.deliver(slot.entry.event).then(
      () => {
        slot.done = true;
        this.counts.delivered++;
        if (this.failing) {
          this.outbox.settings.log?.info({ sink: this.sink.name, failingForSeconds: Math.round((this.outbox.now() - this.failing.since) / 1000) }, 'events: delivering again');
          this.failing = undefined;
        }
      },
      (error: unknown) => {
        this.counts.failed++;
        slot.attempts++;
        const { initialMs, maxMs } = this.outbox.settings.backoff;
        slot.nextAt = this.outbox.now() + Math.min(maxMs, initialMs * 2 ** Math.min(slot.attempts - 1, 30));
        this.noteFailure(error);
      },
    );
    const tracked = attempt.finally(() => {
      slot.sending = false;
      this.sending--;
      this.inFlight.delete(tracked);
      this.pump();
    });
    this.inFlight.add(tracked);
  }

  /** Logs a sink that fails when it starts failing, then every five minutes while it does. */
  private noteFailure(error: unknown): void {
    const now = this.outbox.now();
    const log = this.outbox.settings.log;
    const facts = () => ({ sink: this.sink.name, error: error instanceof Error ? error.message : String(error), pending: this.report().pending });
    if (this.failing === undefined) {
      this.failing = { since: now, loggedAt: now };
      log?.warn(facts(), 'events: cannot deliver; retrying with backoff (up to a minute apart), nothing is lost');
    } else if (now - this.failing.loggedAt >= 5 * 60_000) {
      this.failing.loggedAt = now;
      log?.warn({ ...facts(), failingForSeconds: Math.round((now - this.failing.since) / 1000) }, 'events: still cannot deliver; retrying');
    }
  }

  private drop(slot: Slot): void {
    slot.done = true;
    this.counts.dropped++;
    const { event } = slot.entry;
    this.outbox.settings.log?.error(
      { sink: this.sink.name, id: event.id, type: event.type, subject: event.subject, time: event.time },
      'events: given up on an event not delivered in time (see --event-max-age)',
    );
  }

  /** Moves the place past the delivered events at the front. */
  advance(): void {
    let delivered = 0;
    while (delivered < this.slots.length && this.slots[delivered]!.done) delivered++;
    if (delivered === 0) {
      if (this.slots.length === 0) this.place = this.loadFrom;
      return;
    }
    this.slots = this.slots.slice(delivered);
    this.place = this.slots[0]?.entry.seq ?? this.loadFrom;
  }
}
