import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function opensslMissing(): string | false {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'openssl is not installed';
  }
}

/** A skip reason for TLS tests where openssl is missing, else false. */
export const OPENSSL_MISSING = opensslMissing();

/** A throwaway self-signed certificate and key (PEM), made with openssl. */
export function selfSignedCertificate(commonName = '127.0.0.1', keyType: 'rsa' | 'ecdsa' = 'rsa'): { key: Buffer; cert: Buffer } {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'images-to-s3-tls-'));
  try {
    const key = path.join(folder, 'key.pem');
    const cert = path.join(folder, 'cert.pem');
    // The name also as a subjectAltName: a client that checks the name (Node does) reads only that.
    const altName = /^[\d.]+$|:/.test(commonName) ? `IP:${commonName}` : `DNS:${commonName}`;
    const newKey = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    execFileSync('openssl', ['req', '-x509', ...newKey, '-nodes', '-days', '1', '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=${altName}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
    return { key: readFileSync(key), cert: readFileSync(cert) };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
