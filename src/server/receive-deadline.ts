import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { UploadError } from '../core/errors.js';

/** How long a request's body may take to arrive, and what the 408 says when it did not. */
export interface ReceiveBound {
  ms: number;
  message: string;
}

/**
 * The time a request may take to arrive, counted from when its headers were in. Every request
 * gets one bound (the image bound, `--request-timeout`); the upload route raises it to the clip
 * bound (`--clip-timeout`) once it knows the upload is a clip ({@link extend}).
 *
 * When the bound passes while the body is still arriving, a body read through {@link guard}
 * fails with 408, which the route answers (closing the connection); a request whose body nobody
 * guards is cut by closing its connection, as Node's own request timeout does. Node's
 * `requestTimeout` cannot do this itself: it is one bound for every request of a server.
 */
export class ReceiveDeadline {
  private readonly started = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private expired = false;
  private guarded = false;
  /** Fails the guarded body's pending read, while one is pending. */
  private failPendingRead: ((error: UploadError) => void) | undefined;

  constructor(
    private readonly request: IncomingMessage,
    private bound: ReceiveBound,
  ) {
    this.arm();
  }

  /** Gives the request `bound` instead, still counted from its start (it may have passed already). */
  extend(bound: ReceiveBound): void {
    if (this.expired || this.timer === undefined) return;
    this.bound = bound;
    this.arm();
  }

  /** The request is answered (or gone): no bound any more. */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * The request's body, read through the deadline: a read that is pending, or asked for, once the
   * bound passed fails with 408. Stopping early never waits for a read the client stalls.
   */
  guard(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    this.guarded = true;
    const iterator = source[Symbol.asyncIterator]();
    const next = (): Promise<IteratorResult<Uint8Array>> => {
      if (this.expired) return Promise.reject(this.error());
      return new Promise((resolve, reject) => {
        this.failPendingRead = reject;
        iterator.next().then(
          (result) => {
            this.failPendingRead = undefined;
            resolve(result);
          },
          (error: Error) => {
            this.failPendingRead = undefined;
            reject(error);
          },
        );
      });
    };
    const stop = (): Promise<IteratorResult<Uint8Array>> => {
      // Not awaited: with a read still pending (a stalled client), the source finishes it first.
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
      return Promise.resolve({ done: true, value: undefined });
    };
    return { [Symbol.asyncIterator]: () => ({ next, return: stop }) };
  }

  private arm(): void {
    clearTimeout(this.timer);
    const left = Math.max(0, this.bound.ms - (performance.now() - this.started));
    this.timer = setTimeout(() => this.expire(), left);
    this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    if (this.request.complete) return;
    this.expired = true;
    if (this.failPendingRead) this.failPendingRead(this.error());
    else if (!this.guarded) this.request.socket?.destroy();
  }

  private error(): UploadError {
    return new UploadError(408, this.bound.message);
  }
}
