/**
 * Hostile FTP clients: overlong lines, garbage, floods, a broken TLS handshake and commands
 * injected before the switch to TLS. The receiver answers or closes the session, stores nothing,
 * and goes on serving everyone else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPENSSL_MISSING } from '../support/tls.js';
import { PYTHON_MISSING, python, startFtp, storedImages } from './helpers.js';
import type { RunningFtp } from './helpers.js';

/** Python helpers for raw control connections. */
const RAW = `
def raw():
    sock = socket.create_connection((HOST, PORT), timeout=10)
    sock.recv(4096)
    return sock
def read_all(sock):
    data = b''
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data.decode('utf-8', 'replace')
            data += chunk
    except (socket.timeout, ConnectionResetError):
        return data.decode('utf-8', 'replace')
`;

describe('FTP: hostile clients', { skip: PYTHON_MISSING || OPENSSL_MISSING }, () => {
  let ftp: RunningFtp;
  before(async () => {
    ftp = await startFtp({ tls: true });
  });
  after(() => ftp.close());

  it('closes a session that sends a line too long, or floods commands without reading the replies', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `${RAW}
long = raw()
long.sendall(b'USER ' + b'x' * 20000)
flood = raw()
flood.sendall(b'NOOP\\r\\n' * 200)
print(json.dumps({'long': read_all(long), 'flood': read_all(flood)[-200:]}))
`,
    );
    assert.match(answers.long!, /^421 Closing the session: it sent a command line that is too long/);
    assert.match(answers.flood!, /421 Too many commands waiting for replies; closing the session\.\r\n$/);
  });

  it('answers garbage with 5xx replies and stays up', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `${RAW}
sock = raw()
sock.sendall(bytes(range(256)) + b'\\r\\n\\x00\\x01\\x02 STOR \\xff\\xfe/../x\\r\\nQUIT\\r\\n')
print(json.dumps({'replies': read_all(sock)}))
`,
    );
    assert.match(answers.replies!, /^5\d\d /m);
    assert.match(answers.replies!, /221 Goodbye\.\r\n$/);
    const fine = await python<string>(ftp, `client = login()\nprint(json.dumps(store(client, 'after-garbage.jpg', JPEG)))`);
    assert.match(fine, /^226 Stored as/);
  });

  it('drops commands sent in the clear after AUTH TLS, and survives a handshake that is garbage', async () => {
    const answers = await python<Record<string, string>>(
      ftp,
      `${RAW}
sock = raw()
sock.sendall(('AUTH TLS\\r\\nUSER ' + USER + '\\r\\n').encode())
switched = sock.recv(4096).decode()
secure = ssl.create_default_context(cafile=os.environ['FTP_CA']).wrap_socket(sock, server_hostname=HOST)
secure.sendall(('PASS ' + TOKEN + '\\r\\n').encode())
injected = secure.recv(4096).decode()
broken = raw()
broken.sendall(b'AUTH TLS\\r\\n')
broken.recv(4096)
broken.sendall(b'this is no TLS handshake' * 100)
print(json.dumps({'switched': switched, 'injected': injected, 'broken': read_all(broken)}))
`,
    );
    assert.match(answers.switched!, /^234 /);
    assert.match(answers.injected!, /^503 Send USER first/);
    assert.equal(answers.broken, '');
    const fine = await python<string>(ftp, `client = login(secure=True)\nprint(json.dumps(store(client, 'after-tls-garbage.jpg', JPEG)))`);
    assert.match(fine, /^226 Stored as/);
    assert.deepEqual((await storedImages(ftp)).length, 2);
  });
});
