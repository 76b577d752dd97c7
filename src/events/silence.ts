/**
 * Notices cameras going silent and coming back: `camera.silent` when a camera is overdue by the
 * gallery's rule (src/core/camera-silence.ts), `camera.back` when a camera that was silent sends
 * again. It looks at the store (as the gallery does), so every receiver of a fleet sees the same
 * cameras; each of them notices the same silence with the same event id.
 *
 * After a start it knows no earlier state: a camera silent already is told of again (same id as
 * before), and a camera that came back while the receiver was down is not.
 *
 * @module
 */
import { cameraBackEvent, cameraSilentEvent } from './cloud-event.js';
import type { ReceiverEvent } from './cloud-event.js';
import type { OutboxLog } from './outbox.js';

/** A camera as the store shows it (the gallery catalog's summary has these). */
export interface CameraActivity {
  camera: string;
  /** `overdue`: silent for longer than its usual interval allows. */
  state: 'live' | 'overdue' | 'unknown' | 'never';
  lastReceived?: { key: string; storedAt: Date };
  usualIntervalMs?: number;
  silentMs?: number;
}

export interface SilenceWatcherOptions {
  cameras(): Promise<CameraActivity[]>;
  outbox: { append(event: ReceiverEvent): Promise<void> };
  /** The events' `source` (the store's, see eventSource). */
  source: string;
  /** How often the cameras are looked at. */
  everyMs: number;
  log?: OutboxLog;
  clock?: () => Date;
}

export class SilenceWatcher {
  private readonly silent = new Map<string, { lastKey: string; lastAt: Date }>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private failingSince: number | undefined;

  constructor(private readonly options: SilenceWatcherOptions) {}

  start(): void {
    const tick = (): void => {
      this.checking ??= this.check()
        .catch((error: unknown) => {
          if (this.failingSince === undefined) this.options.log?.warn({ err: error }, 'events: cannot look at the cameras for silence; trying again');
          this.failingSince ??= Date.now();
        })
        .finally(() => (this.checking = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.options.everyMs).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.checking;
  }

  /** Looks at every camera once; tells of each one that went silent or came back since the last look. */
  async check(): Promise<void> {
    const { source, outbox } = this.options;
    const now = this.options.clock?.() ?? new Date();
    for (const camera of await this.options.cameras()) {
      const last = camera.lastReceived;
      if (last === undefined) continue;
      const was = this.silent.get(camera.camera);
      if (camera.state === 'overdue' && was === undefined) {
        await outbox.append(
          cameraSilentEvent(
            source,
            {
              camera: camera.camera,
              lastKey: last.key,
              lastReceivedAt: last.storedAt.toISOString(),
              usualIntervalSeconds: Math.round((camera.usualIntervalMs ?? 0) / 1000),
              silentSeconds: Math.round((camera.silentMs ?? 0) / 1000),
            },
            now,
          ),
        );
        this.silent.set(camera.camera, { lastKey: last.key, lastAt: last.storedAt });
      } else if (camera.state !== 'overdue' && was !== undefined && last.key !== was.lastKey) {
        await outbox.append(
          cameraBackEvent(source, { camera: camera.camera, key: last.key, receivedAt: last.storedAt.toISOString(), silentSeconds: Math.round((last.storedAt.getTime() - was.lastAt.getTime()) / 1000) }, now),
        );
        this.silent.delete(camera.camera);
      }
    }
    if (this.failingSince !== undefined) {
      this.options.log?.info({}, 'events: looking at the cameras for silence again');
      this.failingSince = undefined;
    }
  }
}
