/**
 * Where events go: a webhook, an MQTT broker. The outbox (./outbox.ts) owns delivery: it keeps
 * every event on disk until a sink took it, retries with backoff and counts; a sink only knows how
 * to hand one event to its destination.
 *
 * @module
 */
import type { ReceiverEvent } from './cloud-event.js';

export interface EventSink {
  /**
   * Names the sink in metrics, logs and the banner, and keys its place in the outbox (change it
   * and the sink starts afresh): its kind and destination, never a password or secret, e.g.
   * `webhook https://vms.example/hook`, `mqtt mqtt://broker:1883`.
   */
  readonly name: string;
  /** Events the outbox hands this sink at once (not yet acknowledged); default 8. */
  readonly concurrency?: number;
  /**
   * Starts connecting. It must not fail because the destination is down (the outbox retries
   * deliveries); it fails only for a setting that can never work.
   */
  open?(): Promise<void>;
  /**
   * Hands one event to the destination: resolves once the destination acknowledged it (a webhook's
   * 2xx, an MQTT PUBACK), rejects (with a message fit for the log, no secret in it) to have it
   * retried later. It gives up by itself within its own timeout.
   */
  deliver(event: ReceiverEvent): Promise<void>;
  /** Stops: waits at most briefly for what is under way; what was not acknowledged is delivered after the next start. */
  close(): Promise<void>;
}
