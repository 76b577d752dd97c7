/** File-transfer log-ins (src/file-transfer/camera-login.ts): the camera's name and one of its tokens. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { CameraLogin } from '../../src/file-transfer/camera-login.js';
import { FailedAuthLimiter } from '../../src/server/failed-auth-limiter.js';

const tokens = new Map([
  ['front-door-token-0123456789', 'front-door'],
  ['yard-token-0123456789', 'yard'],
]);
const verifier = { verify: (token: string) => Promise.resolve(tokens.get(token)) };

describe('CameraLogin', () => {
  it('accepts a camera\'s own token only: not another camera\'s, not an unknown or empty one', async () => {
    const login = new CameraLogin(verifier, new FailedAuthLimiter(100));
    assert.deepEqual(await login.check('front-door', 'front-door-token-0123456789', '10.0.0.5'), { outcome: 'accepted', camera: 'front-door' });
    for (const [user, password] of [
      ['front-door', 'yard-token-0123456789'],
      ['front-door', 'unknown-token-0123456789'],
      ['front-door', ''],
      ['nobody', 'front-door-token-0123456789'],
    ] as const) {
      const result = await login.check(user, password, '10.0.0.5');
      assert.equal(result.outcome, 'refused', `${user} / ${password}`);
      assert.ok(!('message' in result) || !result.message.includes(password) || password === '', 'the message repeats the password');
    }
  });

  it('limits failed log-ins per address, and never refuses a valid one for it', async () => {
    const login = new CameraLogin(verifier, new FailedAuthLimiter(2));
    assert.equal((await login.check('yard', 'wrong-token-0123456789', '10.0.0.6')).outcome, 'refused');
    assert.equal((await login.check('yard', 'wrong-token-0123456789', '10.0.0.6')).outcome, 'refused');
    const third = await login.check('yard', 'wrong-token-0123456789', '10.0.0.6');
    assert.equal(third.outcome, 'rate-limited');
    assert.match((third as { message: string }).message, /^Too many failed log-ins from 10\.0\.0\.6; wait \d+ s/);
    assert.equal((await login.check('yard', 'wrong-token-0123456789', '10.0.0.7')).outcome, 'refused');
    assert.equal((await login.check('yard', 'yard-token-0123456789', '10.0.0.6')).outcome, 'accepted');
  });

  it('says when the registry cannot be read, and counts no failure for it', async () => {
    const unreachable = { verify: () => Promise.reject(new StoreUnavailableError('down', { callerMessage: 'The receiver cannot reach its token registry right now.' })) };
    const login = new CameraLogin(unreachable, new FailedAuthLimiter(1));
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await login.check('yard', 'yard-token-0123456789', '10.0.0.8'), {
        outcome: 'unavailable',
        message: 'The receiver cannot reach its token registry right now. Try again later.',
      });
    }
  });

  it('tells a revoked token from a valid one at the next file', async () => {
    const login = new CameraLogin(verifier, new FailedAuthLimiter(1));
    assert.equal((await login.stillValid('yard', 'yard-token-0123456789')).outcome, 'accepted');
    assert.equal((await login.stillValid('yard', 'front-door-token-0123456789')).outcome, 'refused');
  });
});
