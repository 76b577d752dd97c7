import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { before, describe, it } from 'node:test';

import {
  CameraAuthenticationError,
  CameraConnectionError,
  CameraHttpError,
  InvalidCameraAddressError,
  SoapFaultError,
  UnsupportedAuthenticationError,
  VapixResponseError,
} from '../../src/camera/vapix/errors.js';
import { cameraBaseUrl, CameraHttpClient } from '../../src/camera/vapix/http.js';
import { VapixClient } from '../../src/camera/vapix/services.js';
import { VapixSimulator } from '../support/vapix-simulator.js';
import type { VapixSimulatorOptions } from '../support/vapix-simulator.js';
import { OPENSSL_MISSING, selfSignedCertificate } from '../support/tls.js';

const PASSWORD = 'pass-w0rd!"<&>';

async function withCamera(options: VapixSimulatorOptions, work: (simulator: VapixSimulator, vapix: VapixClient) => Promise<void>, password = PASSWORD): Promise<void> {
  const simulator = await VapixSimulator.start({ password: PASSWORD, ...options });
  const client = new CameraHttpClient({ address: simulator.url, user: 'root', password, verifyCertificate: false, timeoutMs: 5000 });
  try {
    await work(simulator, new VapixClient(client));
  } finally {
    client.close();
    await simulator.close();
  }
}

function algorithmOf(authorization: string | undefined): string | undefined {
  return /algorithm=([\w-]+)/.exec(authorization ?? '')?.[1];
}

describe('cameraBaseUrl', () => {
  it('takes URLs and bare hosts, and refuses credentials, queries and other schemes', () => {
    assert.equal(cameraBaseUrl('192.168.0.90').href, 'http://192.168.0.90/');
    assert.equal(cameraBaseUrl('cam.local:8080').href, 'http://cam.local:8080/');
    assert.equal(cameraBaseUrl('https://[fe80::1]:8443').href, 'https://[fe80::1]:8443/');
    assert.equal(cameraBaseUrl('https://proxy.example/cams/7').href, 'https://proxy.example/cams/7/');
    assert.throws(() => cameraBaseUrl('http://root:secret@cam'), (error: Error) => error instanceof InvalidCameraAddressError && !error.message.includes('secret'));
    assert.throws(() => cameraBaseUrl('ftp://cam'), InvalidCameraAddressError);
    assert.throws(() => cameraBaseUrl('http://cam/?x=1'), InvalidCameraAddressError);
    assert.throws(() => cameraBaseUrl('  '), InvalidCameraAddressError);
  });
});

describe('CameraHttpClient against a simulated camera', () => {
  it('answers one Digest challenge, prefers SHA-256 over MD5, then reuses the nonce with increasing counts', async () => {
    await withCamera({ algorithms: ['MD5', 'SHA-256'] }, async (simulator, vapix) => {
      for (let i = 0; i < 5; i += 1) assert.deepEqual(await vapix.getActionRules(), []);
      assert.equal(simulator.challenges, 1);
      assert.equal(simulator.authorizations.length, 6);
      assert.equal(simulator.authorizations[0], undefined);
      assert.deepEqual(simulator.authorizations.slice(1).map((header) => /nc=(\w+)/.exec(header ?? '')?.[1]), ['00000001', '00000002', '00000003', '00000004', '00000005']);
      assert.ok(simulator.authorizations.slice(1).every((header) => algorithmOf(header) === 'SHA-256'));
      assert.equal(vapix.http.authentication, 'Digest SHA-256');
    });
  });

  it('works with MD5-only firmware, and with userhash', async () => {
    await withCamera({ algorithms: ['MD5'] }, async (simulator, vapix) => {
      await vapix.getScheduledEvents();
      assert.equal(algorithmOf(simulator.authorizations.at(-1)), 'MD5');
    });
    await withCamera({ userhash: true }, async (simulator, vapix) => {
      await vapix.getScheduledEvents();
      assert.match(simulator.authorizations.at(-1) ?? '', /userhash=true/);
      assert.doesNotMatch(simulator.authorizations.at(-1) ?? '', /username="root"/);
    });
  });

  it('renews an expired nonce without asking again, whether the camera says stale=true or not', async () => {
    for (const staleFlag of [true, false]) {
      await withCamera({ staleFlag }, async (simulator, vapix) => {
        await vapix.getActionRules();
        simulator.expireNonces();
        await vapix.getActionRules();
        assert.equal(simulator.challenges, 2);
        assert.equal(simulator.calls.length, 2);
      });
    }
    await withCamera({ nonceMaxUses: 2 }, async (simulator, vapix) => {
      for (let i = 0; i < 7; i += 1) await vapix.getActionRules();
      assert.equal(simulator.calls.length, 7);
    });
  });

  it('reports wrong credentials as a 401 after exactly one challenge, without the password in the message', async () => {
    await withCamera(
      {},
      async (simulator, vapix) => {
        const error = await vapix.getActionRules().then(
          () => assert.fail('expected a failure'),
          (failure: unknown) => failure,
        );
        assert.ok(error instanceof CameraAuthenticationError);
        assert.equal(error.status, 401);
        assert.match(error.message, /refused the credentials of user "root" \(HTTP 401\)/);
        assert.equal(simulator.authorizations.length, 2);
        assert.deepEqual(simulator.calls, []);
      },
      'wrong-password',
    );
  });

  it('never sends a password with Basic over plain HTTP', async () => {
    await withCamera({ basic: true }, async (simulator, vapix) => {
      await assert.rejects(vapix.getActionRules(), (error: Error) => error instanceof UnsupportedAuthenticationError && /Basic authentication over plain HTTP/.test(error.message));
      assert.deepEqual(simulator.authorizations, [undefined]);
    });
  });

  it('maps faults, HTTP errors, garbage and unreachable cameras to errors saying what happened', async () => {
    await withCamera({}, async (simulator, vapix) => {
      simulator.failNext('GetActionRules', { kind: 'fault', subcode: 'aa:InvalidConditionFilterFault', reason: 'the filter matches nothing' });
      await assert.rejects(vapix.getActionRules(), (error: Error) => {
        assert.ok(error instanceof SoapFaultError);
        assert.equal(error.status, 400);
        assert.deepEqual(error.fault.subcodes, ['InvalidConditionFilterFault']);
        assert.equal(error.message, 'GetActionRules: SOAP fault InvalidConditionFilterFault: the filter matches nothing (HTTP 400)');
        return true;
      });
      simulator.failNext('GetActionRules', { kind: 'http', status: 503, body: '<html><body><h1>Service Unavailable</h1></body></html>' });
      await assert.rejects(vapix.getActionRules(), (error: Error) => error instanceof CameraHttpError && error.status === 503 && /Service Unavailable/.test(error.message));
      simulator.failNext('GetActionRules', { kind: 'http', status: 200, body: 'OK' });
      await assert.rejects(vapix.getActionRules(), VapixResponseError);
      simulator.failNext('GetActionRules', { kind: 'disconnect' });
      await assert.rejects(vapix.getActionRules(), CameraConnectionError);
      // And the connection is usable again afterwards.
      assert.deepEqual(await vapix.getActionRules(), []);
    });

    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const client = new CameraHttpClient({ address: `127.0.0.1:${port}`, user: 'root', password: 'x' });
    await assert.rejects(new VapixClient(client).getActionRules(), (error: Error) => error instanceof CameraConnectionError && error.code === 'ECONNREFUSED' && /nothing listens/.test(error.message));
    client.close();
  });

  it('gives up on a silent camera at the deadline', async () => {
    const silent = http.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const client = new CameraHttpClient({ address: `127.0.0.1:${(silent.address() as AddressInfo).port}`, user: 'root', password: 'x', timeoutMs: 200 });
    const started = Date.now();
    await assert.rejects(new VapixClient(client).getActionRules(), (error: Error) => error instanceof CameraConnectionError && error.code === 'ETIMEDOUT');
    assert.ok(Date.now() - started < 3000);
    client.close();
    silent.closeAllConnections();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('says "no VAPIX web services" when the path is not there', async () => {
    const other = http.createServer((_, response) => response.writeHead(404).end('<html>Not Found</html>'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const client = new CameraHttpClient({ address: `127.0.0.1:${(other.address() as AddressInfo).port}`, user: 'root', password: 'x' });
    await assert.rejects(new VapixClient(client).getActionRules(), /HTTP 404: no VAPIX web services at \/vapix\/services/);
    client.close();
    await new Promise<void>((resolve) => other.close(() => resolve()));
  });
});

describe('CameraHttpClient over HTTPS', { skip: OPENSSL_MISSING }, () => {
  let tls: { key: Buffer; cert: Buffer };

  before(() => {
    tls = selfSignedCertificate('axis-camera');
  });

  it('refuses a self-signed certificate unless told not to verify it', async () => {
    const simulator = await VapixSimulator.start({ tls });
    try {
      const strict = new CameraHttpClient({ address: simulator.url, user: 'root', password: 'pass' });
      await assert.rejects(new VapixClient(strict).getActionRules(), (error: Error) => error instanceof CameraConnectionError && /--no-verify-cert/.test(error.message));
      strict.close();
      const lenient = new CameraHttpClient({ address: simulator.url, user: 'root', password: 'pass', verifyCertificate: false });
      assert.deepEqual(await new VapixClient(lenient).getActionRules(), []);
      lenient.close();
    } finally {
      await simulator.close();
    }
  });

  it('uses Basic over HTTPS when that is all the camera offers', async () => {
    const simulator = await VapixSimulator.start({ tls, basic: true });
    const client = new CameraHttpClient({ address: simulator.url, user: 'root', password: 'pass', verifyCertificate: false });
    try {
      assert.deepEqual(await new VapixClient(client).getScheduledEvents(), []);
      assert.equal(client.authentication, 'Basic');
      assert.match(simulator.authorizations.at(-1) ?? '', /^Basic /);
    } finally {
      client.close();
      await simulator.close();
    }
  });
});
