/**
 * The FTP receiver as `serve` runs it: its options checked, its server started beside the HTTP one
 * on the same contract and token registry, and its lines of the start-up banner.
 *
 * @module
 */
import type { SecureContextOptions } from 'node:tls';
import type { OutcomeRecorder } from '../core/outcome.js';
import net from 'node:net';
import type { ImageReceiver } from '../core/receiver.js';
import type { CameraLogin } from '../file-transfer/camera-login.js';
import { DEFAULT_FTP_IDLE_TIMEOUT_MS, DEFAULT_FTP_MAX_SESSIONS, FtpServer } from './server.js';
import type { PortRange } from './passive.js';
import type { FtpLog } from './session.js';

/** `serve`'s FTP options; without `ftpPort`, there is no FTP receiver. */
export interface FtpOptions {
  ftpPort?: number | undefined;
  ftpPassivePorts?: PortRange | undefined;
  ftpPublicAddress?: string | undefined;
  ftpRequireTls?: boolean | undefined;
  ftpMaxSessions?: number | undefined;
  /** Seconds. */
  ftpIdleTimeout?: number | undefined;
}

/** Fails, naming the options, when the FTP options cannot work together (checked before anything starts). */
export function checkFtpOptions(options: FtpOptions, tls: boolean): void {
  const given = Object.entries(options).filter(([name, value]) => name !== 'ftpPort' && value !== undefined && value !== false);
  if (options.ftpPort === undefined) {
    if (given.some(([name]) => ['ftpPassivePorts', 'ftpPublicAddress', 'ftpRequireTls'].includes(name))) {
      throw new Error('--ftp-passive-ports, --ftp-public-address and --ftp-require-tls apply to the FTP receiver: give --ftp-port too.');
    }
    return;
  }
  if (options.ftpRequireTls && !tls) throw new Error('--ftp-require-tls needs --tls-cert and --tls-key: FTPS uses the same certificate as HTTPS.');
  if (options.ftpPublicAddress !== undefined && !net.isIPv4(options.ftpPublicAddress)) {
    throw new Error(`--ftp-public-address ${options.ftpPublicAddress}: give an IPv4 address (FTP's PASV reply carries an address, not a host name).`);
  }
}

/** What the FTP receiver is started with, beside its options. */
export interface FtpParts {
  host: string;
  receiver: ImageReceiver;
  login: CameraLogin;
  tls: Required<Pick<SecureContextOptions, 'cert' | 'key'>> | undefined;
  holdFolder: string;
  log: FtpLog;
  metrics: OutcomeRecorder;
}

/** Starts the FTP receiver, or nothing without `ftpPort`. */
export async function startFtp(options: FtpOptions, parts: FtpParts): Promise<FtpServer | undefined> {
  if (options.ftpPort === undefined) return undefined;
  return FtpServer.start({
    receiver: parts.receiver,
    login: parts.login,
    host: parts.host,
    port: options.ftpPort,
    passivePorts: options.ftpPassivePorts,
    publicAddress: options.ftpPublicAddress,
    tls: parts.tls,
    requireTls: options.ftpRequireTls ?? false,
    maxSessions: options.ftpMaxSessions ?? DEFAULT_FTP_MAX_SESSIONS,
    idleTimeoutMs: options.ftpIdleTimeout === undefined ? DEFAULT_FTP_IDLE_TIMEOUT_MS : options.ftpIdleTimeout * 1000,
    holdFolder: parts.holdFolder,
    log: parts.log,
    metrics: parts.metrics,
  });
}

/** The banner's lines for the FTP receiver: where cameras reach it, and how to set them up. */
export function ftpBanner(server: FtpServer, options: FtpOptions, urls: readonly string[]): string[] {
  const security = options.ftpRequireTls ? 'explicit FTPS (AUTH TLS) required' : server.tls ? 'plain FTP, or explicit FTPS (AUTH TLS)' : 'plain FTP only (FTPS needs --tls-cert/--tls-key)';
  const range = options.ftpPassivePorts;
  const ports = range ? `ports ${range.from}-${range.to}` : 'any free port (--ftp-passive-ports sets a range for a firewall)';
  const announced = options.ftpPublicAddress ? `, announced as ${options.ftpPublicAddress}` : '';
  return [
    "  FTP recipient (user: the camera's name, password: one of its access tokens):",
    ...urls.map((url) => `    ${url}`),
    `    ${security}; passive mode only: ${ports}${announced}`,
  ];
}
