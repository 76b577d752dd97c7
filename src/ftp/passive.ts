/**
 * Passive data connections: the receiver listens on a port (from `--ftp-passive-ports`), tells the
 * client where, and takes the first connection that comes from the client's own address. There is
 * no active mode: the receiver never connects anywhere (no `PORT`/`EPRT`, so no bouncing).
 *
 * @module
 */
import net from 'node:net';

/** A range of ports, both ends included. */
export interface PortRange {
  from: number;
  to: number;
}

/** `50000-50100` → `{ from: 50000, to: 50100 }`; throws with the rule for anything else. */
export function parsePortRange(text: string): PortRange {
  const match = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(text);
  const from = Number(match?.[1]);
  const to = Number(match?.[2]);
  if (!match || from < 1024 || to > 65535 || from > to) {
    throw new Error(`"${text}" is not a port range: give two ports from 1024 to 65535, the lower first, e.g. 50000-50100.`);
  }
  return { from, to };
}

/** An address as the two ends of a connection compare it: IPv4 addresses seen through IPv6 (`::ffff:10.0.0.5`) as plain IPv4. */
export function plainAddress(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

/** Hands out the ports of a range in turn, so that sessions do not all try the same port first. */
export class PassivePorts {
  private next: number;

  constructor(readonly range: PortRange | undefined) {
    this.next = range?.from ?? 0;
  }

  /** Makes `server` listen at `host` on a free port of the range (any free port without a range); its number. */
  async listen(server: net.Server, host: string): Promise<number> {
    const { range } = this;
    if (range === undefined) return listenOn(server, host, 0);
    const count = range.to - range.from + 1;
    for (let tried = 0; tried < count; tried++) {
      const port = this.next;
      this.next = port >= range.to ? range.from : port + 1;
      try {
        return await listenOn(server, host, port);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      }
    }
    throw new Error(`no free port in --ftp-passive-ports ${range.from}-${range.to}`);
  }
}

function listenOn(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error): void => reject(error);
    server.once('error', failed);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', failed);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/**
 * Bytes a data connection reads ahead of the transfer before it stops reading (see
 * {@link DataBytes}): two of the socket's 64 KB reads, so that it reads on while the file's writes
 * keep up, and memory stays bounded per connection.
 */
const DATA_READ_AHEAD_BYTES = 128 * 1024;

/**
 * The bytes of a data connection, as they arrive, for one transfer: its clean end (the client's
 * FIN) ends them; anything else that closes it (an error, an abort, the idle timeout) fails them,
 * so that nothing of the file is stored. What `for await` over the socket gives, with less work per
 * chunk: chunks come from `data` events into a queue (no stream read machinery, no async
 * generator), and the socket is paused while {@link DATA_READ_AHEAD_BYTES} wait.
 */
export class DataBytes implements AsyncIterableIterator<Uint8Array> {
  private readonly chunks: Buffer[] = [];
  private queuedBytes = 0;
  private ended = false;
  private failure: Error | undefined;
  private waiting: { resolve(result: IteratorResult<Uint8Array>): void; reject(error: Error): void } | undefined;
  /** The reader stopped: what still comes is dropped (see {@link return}). */
  private dropping: { left: number; over(): void } | undefined;
  private readonly onData = (chunk: Buffer): void => this.arrived(chunk);
  private readonly onEnd = (): void => this.finish(undefined);
  private readonly onError = (error: Error): void => this.finish(error);
  private readonly onClose = (): void => this.finish(new Error('the data connection closed before the file ended'));

  constructor(
    private readonly socket: net.Socket,
    /** Hears of each chunk as it arrives. */
    private readonly counted: (bytes: number) => void = () => undefined,
  ) {
    if (socket.destroyed) {
      // Gone before the transfer began to read it (an abort, a reset): nothing of it can be read.
      this.failure = socket.errored ?? new Error('the data connection closed before the file ended');
      return;
    }
    socket.on('data', this.onData);
    socket.once('end', this.onEnd);
    socket.on('error', this.onError);
    socket.once('close', this.onClose);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    const chunk = this.chunks.shift();
    if (chunk !== undefined) {
      this.queuedBytes -= chunk.byteLength;
      if (this.socket.isPaused() && this.queuedBytes < DATA_READ_AHEAD_BYTES && !this.ended) this.socket.resume();
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /**
   * The reader stopped early (the file was refused): what is still coming is read and dropped
   * until the client closes the connection, so that a client still sending the rest of a small
   * file can finish and read the refusal; past {@link DATA_READ_AHEAD_BYTES} more, the connection
   * is closed. Resolves once it ended either way.
   */
  return(): Promise<IteratorResult<Uint8Array>> {
    this.chunks.length = 0;
    this.queuedBytes = 0;
    const done: IteratorResult<Uint8Array> = { value: undefined, done: true };
    if (this.ended || this.failure !== undefined) return Promise.resolve(done);
    return new Promise((resolve) => {
      this.dropping = { left: DATA_READ_AHEAD_BYTES, over: () => resolve(done) };
      if (this.socket.isPaused()) this.socket.resume();
    });
  }

  private arrived(chunk: Buffer): void {
    this.counted(chunk.byteLength);
    if (this.dropping !== undefined) {
      this.dropping.left -= chunk.byteLength;
      if (this.dropping.left < 0) this.socket.destroy();
      return;
    }
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      waiting.resolve({ value: chunk, done: false });
      return;
    }
    this.chunks.push(chunk);
    this.queuedBytes += chunk.byteLength;
    if (this.queuedBytes >= DATA_READ_AHEAD_BYTES) this.socket.pause();
  }

  /** The connection ended (`error` undefined: cleanly, at the end of the file) or failed. */
  private finish(error: Error | undefined): void {
    if (this.ended || this.failure !== undefined) return;
    this.detach();
    if (error === undefined) this.ended = true;
    else this.failure = error;
    this.dropping?.over();
    const waiting = this.waiting;
    if (waiting === undefined) return;
    this.waiting = undefined;
    if (error === undefined) waiting.resolve({ value: undefined, done: true });
    else waiting.reject(error);
  }

  private detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
  }
}

/**
 * A port listening for one data connection. Only a connection from the client's own address is
 * taken (anyone else's is closed at once, so no other host can inject or steal a file); once it
 * has one, it stops listening.
 */
export class DataListener {
  private connection: net.Socket | undefined;
  /** The connection was handed to a transfer, which closes it. */
  private claimed = false;
  private closed = false;
  private waiting: { resolve(socket: net.Socket): void; reject(error: Error): void } | undefined;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /**
   * Listens at `host` (the address the client reached the control connection on) for a connection
   * from `clientAddress`. `refused` hears of connections from anywhere else.
   */
  static async open(ports: PassivePorts, host: string, clientAddress: string, refused: (address: string) => void): Promise<DataListener> {
    const server = net.createServer();
    const port = await ports.listen(server, plainAddress(host));
    const listener = new DataListener(server, port);
    server.on('error', () => listener.close());
    server.on('connection', (socket) => {
      socket.on('error', () => socket.destroy());
      if (plainAddress(socket.remoteAddress) !== plainAddress(clientAddress) || listener.connection !== undefined || listener.closed) {
        refused(plainAddress(socket.remoteAddress));
        socket.destroy();
        return;
      }
      listener.connection = socket;
      server.close();
      if (listener.waiting !== undefined) {
        listener.claimed = true;
        listener.waiting.resolve(socket);
        listener.waiting = undefined;
      }
    });
    return listener;
  }

  /** The data connection, once the client made it; fails after `timeoutMs` or when the listener is closed. */
  accept(timeoutMs: number): Promise<net.Socket> {
    if (this.connection !== undefined) {
      this.claimed = true;
      return Promise.resolve(this.connection);
    }
    if (this.closed) return Promise.reject(new Error('The data port was closed.'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`No data connection came within ${Math.round(timeoutMs / 1000)} s.`));
      }, timeoutMs);
      this.waiting = {
        resolve: (socket) => {
          clearTimeout(timer);
          resolve(socket);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  /** Stops listening; a connection that was never used for a transfer is closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    if (!this.claimed) this.connection?.destroy();
    this.waiting?.reject(new Error('The data port was closed.'));
    this.waiting = undefined;
  }
}
