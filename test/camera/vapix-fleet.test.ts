import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';

import { FleetFileError, forEachCamera, parseCameraFleet } from '../../src/camera/fleet.js';

describe('parseCameraFleet', () => {
  it('reads the columns by name, with quotes, a BOM, comments and blank lines', () => {
    const text = '\ufeffName,Address,User,Password\n# lobby cameras\n\nlobby-1,192.168.0.90,root,"pa,ss""word"\n,https://cam2.local:8443,admin,secret\n';
    assert.deepEqual(parseCameraFleet(text), [
      { address: '192.168.0.90', user: 'root', password: 'pa,ss"word', name: 'lobby-1', line: 4 },
      { address: 'https://cam2.local:8443', user: 'admin', password: 'secret', line: 5 },
    ]);
  });

  it('takes user, password and name from the defaults for rows without them', () => {
    assert.deepEqual(parseCameraFleet('address,password\n10.0.0.1,\n10.0.0.2,own\n', { user: 'root', password: 'from-env', name: 'site' }), [
      { address: '10.0.0.1', user: 'root', password: 'from-env', name: 'site', line: 2 },
      { address: '10.0.0.2', user: 'root', password: 'own', name: 'site', line: 3 },
    ]);
  });

  it('says which line lacks what, never quoting a password', () => {
    assert.throws(() => parseCameraFleet('address,user\n10.0.0.1,root\n'), /line 2 \(10\.0\.0\.1\): no password; add a "password" column, or give --password or IMAGES_TO_S3_CAMERA_PASSWORD/);
    assert.throws(() => parseCameraFleet('address,password\n10.0.0.1,topsecret\n'), (error: Error) => error instanceof FleetFileError && /no user/.test(error.message) && !error.message.includes('topsecret'));
    assert.throws(() => parseCameraFleet('address,user,pasword\n10.0.0.1,root,x\n'), /unknown column "pasword"; the header must name the columns: address, user, password, name \(or camera, host, url, username, login\)/);
    // The other names the README documents are taken.
    assert.deepEqual(parseCameraFleet('Host,Login,Password\n10.0.0.1,root,x\n'), [{ address: '10.0.0.1', user: 'root', password: 'x', line: 2 }]);
    assert.throws(() => parseCameraFleet('address,user,password\n10.0.0.1,root,x\nhttp://10.0.0.1/,root,y\n'), /line 3: http:\/\/10\.0\.0\.1\/ is listed twice/);
    assert.throws(() => parseCameraFleet('address,user,password\n10.0.0.1,root\n'), /not a valid CSV file/);
  });
});

describe('forEachCamera', () => {
  it('keeps at most N cameras in flight, goes on after failures and returns outcomes in order', async () => {
    const targets = Array.from({ length: 9 }, (_, index) => ({ address: `10.0.0.${index}`, user: 'u', password: 'p' }));
    let inFlight = 0;
    let peak = 0;
    const done: number[] = [];
    const outcomes = await forEachCamera(
      targets,
      3,
      async (target, index) => {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await sleep(5 + ((index * 7) % 4));
        inFlight -= 1;
        if (index === 4) throw new Error(`camera ${target.address} failed`);
        return index * 10;
      },
      (_, index) => done.push(index),
    );
    assert.equal(peak, 3);
    assert.equal(done.length, 9);
    assert.deepEqual(
      outcomes.map((outcome) => (outcome.ok ? outcome.value : outcome.error.message)),
      [0, 10, 20, 30, 'camera 10.0.0.4 failed', 50, 60, 70, 80],
    );
  });
});
