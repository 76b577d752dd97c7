import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { outcomeKind } from '../core/outcome.js';
import type { UploadOutcome } from '../core/outcome.js';
import type { SinkReport } from '../events/outbox.js';
import type { ForwarderReport } from '../spool/forwarder.js';
import type { SpoolContents } from '../spool/spool.js';

/**
 * How `serve --workers`' primary combines a series of several workers (prom-client's
 * AggregatorRegistry): counts add up; the oldest age is the largest; the store is reachable while
 * every worker reaches it.
 */
type Aggregator = 'sum' | 'max' | 'min';

/**
 * The receiver's Prometheus metrics, in a registry of its own (so tests and embedders can run
 * several receivers in one process). Camera labels come only from valid tokens, so an attacker
 * cannot grow the number of series.
 */
export class ReceiverMetrics {
  readonly registry = new Registry();

  readonly uploads = new Counter({
    name: 'images_to_s3_uploads_total',
    help: 'Upload requests (POST) by camera (empty before authentication) and HTTP status.',
    labelNames: ['camera', 'status'] as const,
    registers: [this.registry],
  });

  readonly storedBytes = new Counter({
    name: 'images_to_s3_stored_bytes_total',
    help: 'Bytes of images stored, by camera.',
    labelNames: ['camera'] as const,
    registers: [this.registry],
  });

  readonly duration = new Histogram({
    name: 'images_to_s3_upload_duration_seconds',
    help: 'Time from request to answer for uploads, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [this.registry],
  });

  readonly inFlight = new Gauge({
    name: 'images_to_s3_uploads_in_flight',
    help: 'Uploads being received or stored right now.',
    registers: [this.registry],
  });

  readonly storeErrors = new Counter({
    name: 'images_to_s3_store_errors_total',
    help: 'Uploads the store could not take: unavailable (503), full (507) or another error (500).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly authFailures = new Counter({
    name: 'images_to_s3_auth_failures_total',
    help: 'Uploads refused for their token: missing (401), invalid (403) or rate_limited (429).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'images_to_s3_' });
  }

  /** Adds the spool's gauges and the forwarder's counters, read from `report` at each scrape. */
  watchSpool(report: () => { spool: SpoolContents; forwarder: Readonly<ForwarderReport> }): void {
    const gauge = (name: string, help: string, value: (facts: ReturnType<typeof report>) => number, aggregator: Aggregator = 'sum'): void =>
      this.collected(Gauge, name, help, () => [[{}, value(report())]], [], aggregator);
    // Counted by the forwarder since start; exposed as counters (they only grow).
    const counter = (name: string, help: string, value: (facts: ReturnType<typeof report>) => number): void =>
      this.collected(Counter, name, help, () => [[{}, value(report())]]);
    gauge('images_to_s3_spool_images', 'Images waiting in the spool to be forwarded to the store.', (facts) => facts.spool.images);
    gauge('images_to_s3_spool_bytes', 'Bytes of images waiting in the spool.', (facts) => facts.spool.bytes);
    gauge('images_to_s3_spool_oldest_age_seconds', 'Age of the oldest image waiting in the spool (0 when empty).', (facts) =>
      facts.spool.oldest ? Math.max(0, (Date.now() - facts.spool.oldest.getTime()) / 1000) : 0,
      'max',
    );
    gauge('images_to_s3_store_reachable', '1 while the store answered the last forward attempt, 0 while it is unreachable.', (facts) => (facts.forwarder.storeReachable ? 1 : 0), 'min');
    counter('images_to_s3_forward_attempts_total', 'Attempts to forward a spooled image to the store (and to open it).', (facts) => facts.forwarder.attempts);
    counter('images_to_s3_forward_failures_total', 'Forward attempts that failed; the image stayed in the spool.', (facts) => facts.forwarder.failures);
    counter('images_to_s3_forwarded_total', 'Images forwarded to the store and removed from the spool.', (facts) => facts.forwarder.forwarded);
    counter('images_to_s3_forward_rekeyed_total', 'Forwarded images stored under another key than their receipt\'s, because a different object had it.', (facts) => facts.forwarder.rekeyed);
  }

  /** Adds each event sink's counters (since start) and gauges, read from `report` at each scrape. */
  watchEvents(report: () => SinkReport[]): void {
    const series = (kind: typeof Counter | typeof Gauge, name: string, help: string, value: (sink: SinkReport) => number, aggregator: Aggregator = 'sum'): void =>
      this.collected(kind, name, help, () => report().map((sink) => [{ sink: sink.sink }, value(sink)]), ['sink'], aggregator);
    series(Counter, 'images_to_s3_events_delivered_total', 'Events a sink (webhook, MQTT broker) acknowledged.', (sink) => sink.delivered);
    series(Counter, 'images_to_s3_events_failed_total', 'Attempts to deliver an event that failed (each is retried).', (sink) => sink.failed);
    series(Counter, 'images_to_s3_events_dropped_total', 'Events given up after --event-max-age without delivery.', (sink) => sink.dropped);
    series(Gauge, 'images_to_s3_events_pending', 'Events waiting in the outbox for a sink.', (sink) => sink.pending);
    series(Gauge, 'images_to_s3_events_oldest_pending_age_seconds', 'Age of the oldest event waiting for a sink (0 when none).', (sink) => sink.oldestPendingMs / 1000, 'max');
  }

  /**
   * A series whose values are read at each scrape: counters a part counts itself (they only grow;
   * set afresh each time) and gauges.
   */
  private collected(
    kind: typeof Counter | typeof Gauge,
    name: string,
    help: string,
    values: () => Array<[Record<string, string>, number]>,
    labelNames: string[] = [],
    aggregator: Aggregator = 'sum',
  ): void {
    new kind({
      name,
      help,
      labelNames,
      aggregator,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, value] of values()) {
          if (this instanceof Gauge) this.set(labels, value);
          else this.inc(labels, value);
        }
      },
    });
  }

  /** Counts one finished upload request. */
  record(outcome: UploadOutcome, seconds: number): void {
    const { status } = outcome;
    const camera = outcome.log.camera ?? '';
    this.uploads.inc({ camera, status: String(status) });
    if (status < 300 && outcome.log.bytes !== undefined) this.storedBytes.inc({ camera }, outcome.log.bytes);
    this.duration.observe({ outcome: outcomeKind(status) }, seconds);
    if (outcome.tokenRefusal) this.authFailures.inc({ reason: outcome.tokenRefusal });
    if (outcome.storeFailure) this.storeErrors.inc({ kind: outcome.storeFailure });
  }
}
