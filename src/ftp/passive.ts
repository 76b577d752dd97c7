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
