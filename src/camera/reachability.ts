/**
 * Whether a host a receiver listens on, or a camera is told to send to, can be reached from a
 * camera on the network at all.
 *
 * @module
 */
import net from 'node:net';

/**
 * `loopback` (this machine only: `localhost`, 127.0.0.0/8, `::1`), `unspecified` (`0.0.0.0`,
 * `::`: an address to listen on, not to send to), or `routable`.
 */
export function hostReach(host: string): 'loopback' | 'unspecified' | 'routable' {
  const name = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return 'loopback';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(name)?.[1];
  const address = mapped ?? name;
  if (net.isIPv4(address)) {
    if (address.startsWith('127.')) return 'loopback';
    return address === '0.0.0.0' ? 'unspecified' : 'routable';
  }
  if (net.isIPv6(address)) {
    // The URL parser writes an IPv6 address in its shortest form: `0:0:0:0:0:0:0:1` is `[::1]`.
    const shortest = new URL(`http://[${address}]/`).hostname;
    if (shortest === '[::1]') return 'loopback';
    return shortest === '[::]' ? 'unspecified' : 'routable';
  }
  return 'routable';
}
