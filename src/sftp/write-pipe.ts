/**
 * The bytes of a file being written over SFTP, handed to the contract as they arrive: a bounded
 * pipe with backpressure between the session's `WRITE` requests and the contract's body.
 *
 * Each write is answered once the contract has moved past it (it asked for the next bytes), or
 * with a refusal once the contract stopped reading (a file that is not an image, too large, a
 * store that failed). A client keeps only so many writes in flight before it waits for their
 * answers, so memory stays flat whatever the file's size, and a slow store slows the client down
 * instead of filling memory.
 *
 * @module
 */

interface Chunk {
  data: Uint8Array;
  /** Answers the write: true once the contract moved past it, false if it stopped reading. */
  settle(taken: boolean): void;
}

export class WritePipe implements AsyncIterable<Uint8Array> {
  private readonly queue: Chunk[] = [];
  /** The chunk the contract took last, answered when it asks for the next one. */
  private taken: Chunk | undefined;
  private waiting: { resolve(result: IteratorResult<Uint8Array>): void; reject(error: Error): void } | undefined;
  private ended = false;
  private failure: { error: Error } | undefined;
  private stopped = false;

  /** Hands `data` to the contract; resolves true once it moved past it, false if it will not read it. */
  push(data: Uint8Array): Promise<boolean> {
    if (this.stopped || this.ended || this.failure) return Promise.resolve(false);
    return new Promise<boolean>((settle) => {
      const chunk = { data, settle };
      const waiting = this.waiting;
      if (waiting) {
        this.waiting = undefined;
        this.taken = chunk;
        waiting.resolve({ value: data, done: false });
      } else {
        this.queue.push(chunk);
      }
    });
  }

  /** The file is complete: the contract reads to its end. */
  end(): void {
    if (this.ended || this.failure) return;
    this.ended = true;
    if (this.waiting && this.queue.length === 0) {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting.resolve({ value: undefined, done: true });
    }
  }

  /** The file will not be complete: the contract's next read fails with `error`, so nothing is stored. */
  fail(error: Error): void {
    if (this.ended || this.failure || this.stopped) return;
    this.failure = { error };
    this.release();
    if (this.waiting) {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting.reject(error);
    }
  }

  /** The contract is done with the file (stored or refused): writes still waiting are refused. */
  stop(): void {
    this.stopped = true;
    this.release();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => {
        this.taken?.settle(true);
        this.taken = undefined;
        if (this.failure) return Promise.reject(this.failure.error);
        const chunk = this.queue.shift();
        if (chunk) {
          this.taken = chunk;
          return Promise.resolve({ value: chunk.data, done: false });
        }
        if (this.ended || this.stopped) return Promise.resolve({ value: undefined, done: true });
        return new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
          this.waiting = { resolve, reject };
        });
      },
      return: () => {
        this.stop();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Refuses every write not yet moved past. */
  private release(): void {
    this.taken?.settle(false);
    this.taken = undefined;
    for (const chunk of this.queue.splice(0)) chunk.settle(false);
  }
}
