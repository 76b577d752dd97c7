/**
 * The SFTP receiver against ssh2's client doing what no camera does: asking for a shell, a command,
 * forwarding; reading; writing out of order; dropping the connection mid-file; sending huge and
 * malformed packets; opening too many sessions, or one that says nothing. The receiver must refuse,
 * store nothing it should not, and keep serving everyone else.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import type { ImageStore, ImageWrite } from '../../src/core/store.js';
import { SAMPLE_JPEG } from '../support/contract-cases.js';
import { CAMERA, DAY, call, closed, connect, eventually, sftpOf, startSftpReceiver } from '../support/sftp.js';
import type { RunningSftp } from '../support/sftp.js';

const OK = 0;
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;
const FAILURE = 4;
const OP_UNSUPPORTED = 8;

/** The SFTP status code of a refused request (ssh2's client puts it in `code`). */
async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return OK;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

async function openFile(sftp: SFTPWrapper, name: string, flags: ssh2.OpenMode = 'w'): Promise<Buffer> {
  return call<Buffer>((done) => sftp.open(name, flags, done));
}

function write(sftp: SFTPWrapper, handle: Buffer, data: Buffer, position: number): Promise<void> {
  return call<void>((done) => sftp.write(handle, data, 0, data.length, position, done));
}

function closeFile(sftp: SFTPWrapper, handle: Buffer): Promise<void> {
  return call<void>((done) => sftp.close(handle, done));
}

/** Uploads `data` in chunks of `chunk` bytes, one write after the other. */
async function upload(sftp: SFTPWrapper, name: string, data: Buffer = SAMPLE_JPEG, chunk = 32 * 1024): Promise<void> {
  const handle = await openFile(sftp, name);
  for (let position = 0; position < data.length; position += chunk) await write(sftp, handle, data.subarray(position, position + chunk), position);
  await closeFile(sftp, handle);
}

describe('SFTP receiver against hostile clients', () => {
  let receiver: RunningSftp;
  before(async () => {
    receiver = await startSftpReceiver({ maxBytes: 200_000 });
  });
  after(() => receiver.close());

  const storedKeys = async (): Promise<string[]> => (await receiver.files()).filter((file) => !file.startsWith('.incoming/'));

  it('refuses a shell, a command, another subsystem, port forwarding in both directions', async () => {
    const client = await connect(receiver);
    try {
      await assert.rejects(call((done) => client.exec('id', done)));
      await assert.rejects(call((done) => client.shell(done)));
      await assert.rejects(call((done) => client.subsys('netconf', done)));
      await assert.rejects(call((done) => client.forwardOut('127.0.0.1', 0, '127.0.0.1', 22, done)));
      await assert.rejects(call((done) => client.forwardIn('127.0.0.1', 0, done)));
      // After all that the connection still serves SFTP.
      const sftp = await sftpOf(client);
      await upload(sftp, 'after-refusals.jpg');
    } finally {
      client.end();
    }
    assert.ok((await storedKeys()).includes(`${CAMERA}/${DAY}/after-refusals.jpg`));
  });

  it('answers the requests around writing, and refuses every read', async () => {
    const client = await connect(receiver);
    const sftp = await sftpOf(client);
    try {
      assert.equal(await call<string>((done) => sftp.realpath('.', done)), '/');
      assert.equal(await call<string>((done) => sftp.realpath('../../a/./b/../c', done)), '/a/c');
      assert.ok((await call<ssh2.Stats>((done) => sftp.stat('/', done))).isDirectory());
      assert.ok((await call<ssh2.Stats>((done) => sftp.stat('/uploads', done))).isDirectory());
      assert.equal(await statusOf(call((done) => sftp.stat('/nothing.jpg', done))), NO_SUCH_FILE);
      assert.equal(await statusOf(call((done) => sftp.mkdir('cam', done))), OK);
      const folder = await call<Buffer>((done) => sftp.opendir('/cam', done));
      assert.deepEqual(await statusOf(call((done) => sftp.readdir(folder, done))), 1, 'an empty listing ends at once (EOF)');
      await closeFile(sftp, folder);

      const handle = await openFile(sftp, '/cam/sized.jpg');
      await write(sftp, handle, SAMPLE_JPEG.subarray(0, 1000), 0);
      assert.equal((await call<ssh2.Stats>((done) => sftp.fstat(handle, done))).size, 1000);
      assert.equal((await call<ssh2.Stats>((done) => sftp.stat('/cam/sized.jpg', done))).size, 1000);
      await write(sftp, handle, SAMPLE_JPEG.subarray(1000), 1000);
      await closeFile(sftp, handle);
      assert.equal((await call<ssh2.Stats>((done) => sftp.stat('/cam/sized.jpg', done))).size, SAMPLE_JPEG.length, 'a client may check the size of what it sent');

      assert.equal(await statusOf(openFile(sftp, '/cam/sized.jpg', 'r')), PERMISSION_DENIED);
      assert.equal(await statusOf(openFile(sftp, '/cam/sized.jpg', 'r+')), PERMISSION_DENIED);
      assert.equal(await statusOf(openFile(sftp, '/cam/sized.jpg', 'a')), PERMISSION_DENIED);
      assert.equal(await statusOf(call((done) => sftp.unlink('/cam/sized.jpg', done))), PERMISSION_DENIED);
      assert.equal(await statusOf(call((done) => sftp.unlink('/cam/other.jpg', done))), NO_SUCH_FILE);
      assert.equal(await statusOf(call((done) => sftp.readlink('/cam/sized.jpg', done))), OP_UNSUPPORTED);
      assert.equal(await statusOf(call((done) => sftp.symlink('/etc/passwd', '/cam/link.jpg', done))), OP_UNSUPPORTED);
      assert.equal(await statusOf(call((done) => sftp.rmdir('/', done))), PERMISSION_DENIED);
      assert.equal(await statusOf(openFile(sftp, '/', 'w')), FAILURE);
    } finally {
      client.end();
    }
    assert.ok((await storedKeys()).includes(`${CAMERA}/${DAY}/cam_sized.jpg`));
  });

  it('refuses a file written out of order, or overlapping, and stores nothing of it', async () => {
    const before = await storedKeys();
    const client = await connect(receiver);
    const sftp = await sftpOf(client);
    try {
      const gap = await openFile(sftp, 'gap.jpg');
      await write(sftp, gap, SAMPLE_JPEG.subarray(0, 4096), 0);
      assert.equal(await statusOf(write(sftp, gap, SAMPLE_JPEG.subarray(8192, 12288), 8192)), FAILURE);
      assert.equal(await statusOf(closeFile(sftp, gap)), FAILURE);

      const overlap = await openFile(sftp, 'overlap.jpg.part');
      await write(sftp, overlap, SAMPLE_JPEG.subarray(0, 4096), 0);
      assert.equal(await statusOf(write(sftp, overlap, SAMPLE_JPEG.subarray(0, 4096), 2048)), FAILURE);
      assert.equal(await statusOf(closeFile(sftp, overlap)), FAILURE);
      assert.equal(await statusOf(call((done) => sftp.rename('overlap.jpg.part', 'overlap.jpg', done))), NO_SUCH_FILE);
    } finally {
      client.end();
    }
    assert.deepEqual(await storedKeys(), before);
    assert.deepEqual(await receiver.held(), []);
  });

  it('refuses a file larger than the receiver takes at the write that crosses the limit, and one that ends before its image does', async () => {
    const before = await storedKeys();
    const large = Buffer.concat([SAMPLE_JPEG, SAMPLE_JPEG, SAMPLE_JPEG, SAMPLE_JPEG, SAMPLE_JPEG]);
    const client = await connect(receiver);
    const sftp = await sftpOf(client);
    try {
      await assert.rejects(upload(sftp, 'large.jpg', large), /larger than this receiver accepts/);
      await assert.rejects(upload(sftp, 'large.jpg.tmp', large), /larger than this receiver accepts/);
      await assert.rejects(upload(sftp, 'cut.jpg', SAMPLE_JPEG.subarray(0, SAMPLE_JPEG.length - 100)), /ended before its JPEG/);
    } finally {
      client.end();
    }
    assert.deepEqual(await storedKeys(), before);
  });

  it('stores nothing of a file whose session drops before it is closed, under any name', async () => {
    const before = await storedKeys();
    const client = await connect(receiver);
    const sftp = await sftpOf(client);
    const streamed = await openFile(sftp, 'dropped.jpg');
    await write(sftp, streamed, SAMPLE_JPEG.subarray(0, 20_000), 0);
    const heldOpen = await openFile(sftp, 'dropped.jpg.part');
    await write(sftp, heldOpen, SAMPLE_JPEG.subarray(0, 20_000), 0);
    const gone = closed(client);
    client.end();
    await gone;
    await eventually(() => receiver.logs.filter((line) => line.message === 'upload rejected' && line.fields.status === 400 && /session ended/.test(String(line.fields.error))).length >= 2, 5_000, 'both refusals to be logged');
    await eventually(async () => (await receiver.files()).every((file) => !file.startsWith('.incoming/')), 5_000, 'the store to drop its temporary file');
    assert.deepEqual(await storedKeys(), before);
    assert.deepEqual(await receiver.held(), []);
  });

  it('stores a file closed under a temporary name and never renamed under that name when the session ends', async () => {
    const client = await connect(receiver);
    const sftp = await sftpOf(client);
    await upload(sftp, 'never-renamed.jpg.filepart');
    const gone = closed(client);
    client.end();
    await gone;
    await eventually(async () => (await storedKeys()).includes(`${CAMERA}/${DAY}/never-renamed.jpg.filepart.jpg`), 5_000, 'the held file to be stored');
    assert.deepEqual(await receiver.held(), []);
  });

  it('refuses a new file once the token it logged in with is revoked', async () => {
    const { token, id } = await receiver.tokens.create(CAMERA);
    const client = await connect(receiver, { password: token });
    const sftp = await sftpOf(client);
    try {
      await upload(sftp, 'while-valid.jpg');
      await receiver.tokens.revoke(id);
      assert.equal(await statusOf(openFile(sftp, 'after-revocation.jpg')), PERMISSION_DENIED);
    } finally {
      client.end();
    }
  });

  it('serves many sessions at once', async () => {
    const clients = await Promise.all(Array.from({ length: 24 }, () => connect(receiver)));
    try {
      await Promise.all(
        clients.map(async (client, index) => {
          const sftp = await sftpOf(client);
          for (let file = 0; file < 3; file++) await upload(sftp, `parallel-${index}-${file}.jpg`, SAMPLE_JPEG, 8 * 1024);
        }),
      );
    } finally {
      for (const client of clients) client.end();
    }
    const stored = (await storedKeys()).filter((key) => key.includes('/parallel-'));
    assert.equal(stored.length, 72);
  });

  it('survives huge and malformed packets, each ending only its own session', async () => {
    const attacks: Array<[string, Buffer]> = [
      ['a packet announcing 4 GB', Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3])],
      ['a zero-length packet', Buffer.from([0, 0, 0, 0])],
      ['a packet of an unknown type', Buffer.from([0, 0, 0, 5, 99, 0, 0, 0, 1])],
      ['requests before INIT', Buffer.from([0, 0, 0, 9, 3, 0, 0, 0, 1, 0, 0, 0, 0])],
      // INIT, then an OPEN whose file name claims 1 GB of a 20-byte packet.
      ['a truncated OPEN', Buffer.concat([Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3]), Buffer.from([0, 0, 0, 20, 3, 0, 0, 0, 7, 0x40, 0, 0, 0]), Buffer.alloc(11)])],
      ['a WRITE to a handle that was never given', Buffer.concat([Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3]), Buffer.from([0, 0, 0, 25, 6, 0, 0, 0, 2, 0, 0, 0, 4, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])])],
    ];
    for (const [what, bytes] of attacks) {
      const client = await connect(receiver);
      const channel = await call<ssh2.ClientChannel>((done) => client.subsys('sftp', done));
      channel.on('data', () => undefined);
      const gone = closed(client);
      channel.write(bytes);
      await new Promise((resolve) => setTimeout(resolve, 100));
      client.end();
      await gone;
      // Everyone else is still served.
      const other = await connect(receiver);
      try {
        await upload(await sftpOf(other), `after-${what.replaceAll(' ', '-')}.jpg`);
      } finally {
        other.end();
      }
    }
    assert.equal(receiver.server.sessions <= 1, true);
  });
});

describe('SFTP receiver limits', () => {
  it('closes a connection that does not log in in time, and an idle session', async () => {
    const receiver = await startSftpReceiver({ limits: { loginMs: 300, idleMs: 400 } });
    try {
      const socket = net.connect(receiver.port, '127.0.0.1');
      socket.on('error', () => undefined);
      // It reads the server's greeting and says nothing.
      socket.resume();
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      assert.ok(receiver.logs.some((line) => line.message === 'sftp: connection closed: no log-in in time'));

      const client = await connect(receiver);
      const sftp = await sftpOf(client);
      const gone = closed(client);
      await upload(sftp, 'then-idle.jpg');
      const started = Date.now();
      await gone;
      assert.ok(Date.now() - started >= 300, 'not closed before it was idle');
      assert.ok(receiver.logs.some((line) => line.message === 'sftp: idle session closed'));
    } finally {
      await receiver.close();
    }
  });

  it('refuses connections beyond --sftp-max-sessions, with a log line, and takes them again once one ends', async () => {
    const receiver = await startSftpReceiver({ limits: { maxSessions: 2 } });
    try {
      const first = await connect(receiver);
      const second = await connect(receiver);
      await assert.rejects(connect(receiver));
      assert.ok(receiver.logs.some((line) => line.message.includes('--sftp-max-sessions')));
      const gone = closed(first);
      first.end();
      await gone;
      await eventually(() => receiver.server.sessions < 2, 2_000, 'the first connection to be counted out');
      const third = await connect(receiver);
      third.end();
      second.end();
    } finally {
      await receiver.close();
    }
  });

  it('closes the connections of an address that fails to log in too often; a valid login from it still works', async () => {
    const receiver = await startSftpReceiver({ failedAuthPerMinute: 2 });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        await assert.rejects(connect(receiver, { password: `wrong-${attempt}-000000000000000000000000` }), /authentication methods failed/i);
      }
      await assert.rejects(connect(receiver, { password: 'wrong-again-0000000000000000000000' }));
      const limited = receiver.logs.find((line) => line.message.includes('too many failed log-ins'));
      assert.ok(limited, 'a clear log line');
      assert.equal(limited.fields.remoteAddress, '127.0.0.1');
      assert.ok(!JSON.stringify(receiver.logs).includes('wrong-again'), 'the password is never logged');
      const client = await connect(receiver);
      client.end();
    } finally {
      await receiver.close();
    }
  });

  it('ends a connection that sends far more writes than it waits for, without holding them in memory', async () => {
    // A store that takes the first bytes (for the type check) and then never reads on.
    const stalled: ImageStore = {
      location: 'stalled:',
      open: () => Promise.resolve(),
      close: () => Promise.resolve(),
      check: () => Promise.resolve(),
      write: (_image: ImageWrite) => new Promise(() => undefined),
      list: () => (async function* () {})(),
      read: () => Promise.resolve(undefined),
      head: () => Promise.resolve(undefined),
    } as unknown as ImageStore;
    const receiver = await startSftpReceiver({ store: stalled });
    try {
      const client = await connect(receiver);
      const sftp = await sftpOf(client);
      const gone = closed(client);
      const handle = await openFile(sftp, 'flood.jpg');
      const chunk = Buffer.alloc(30_000, 0xab);
      SAMPLE_JPEG.copy(chunk, 0, 0, 64);
      // 24 MB in flight at once, none answered: more than the 16 MB a session may hold.
      const writes = Array.from({ length: 800 }, (_, index) => write(sftp, handle, chunk, index * chunk.length).catch(() => undefined));
      await gone;
      await Promise.all(writes);
      assert.ok(receiver.logs.some((line) => /writes sent without waiting/.test(String(line.fields.reason))));
    } finally {
      await receiver.close();
    }
  });
});
