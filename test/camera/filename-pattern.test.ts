import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import {
  AXIS_DEFAULT_FILENAME_PATTERN,
  expandAxisFilename,
  type FilenameContext,
} from '../../src/camera/filename-pattern.js';

// Tuesday 5 March 2024, 07:08:09.123 UTC: every field is single-digit, so padding shows.
const time = new Date(Date.UTC(2024, 2, 5, 7, 8, 9, 123));
const camera: FilenameContext = {
  time,
  sequence: 42,
  hostName: 'axis-gate',
  macAddress: '00:40:8c:12:34:56',
  ipAddress: '192.168.0.90',
  videoSource: 2,
};

const expand = (pattern: string, context: Partial<FilenameContext> = {}) =>
  expandAxisFilename(pattern, { ...camera, ...context });

describe('expandAxisFilename', () => {
  const originalTimeZone = process.env.TZ;
  afterEach(() => {
    if (originalTimeZone === undefined) delete process.env.TZ;
    else process.env.TZ = originalTimeZone;
  });

  const cases: [modifier: string, expected: string][] = [
    ['%y', '24'],
    ['%Y', '2024'],
    ['%m', '03'],
    ['%d', '05'],
    ['%H', '07'],
    ['%M', '08'],
    ['%S', '09'],
    ['%f', '12'],
    ['%s', '1709622489'],
    ['%F', '2024-03-05'],
    ['%T', '07:08:09'],
    ['#s', '00042'],
    ['#n', 'axis-gate'],
    ['#M', '00:40:8C:12:34:56'],
    ['#m', '00408C123456'],
    ['#i', '192.168.0.90'],
    ['#v', '2'],
    ['%%', '%'],
    ['##', '#'],
  ];
  for (const [modifier, expected] of cases) {
    it(`expands ${modifier} to ${expected}`, () => {
      assert.equal(expand(`a${modifier}b`), `a${expected}b`);
    });
  }

  it('expands the Axis default pattern', () => {
    assert.equal(AXIS_DEFAULT_FILENAME_PATTERN, 'image%y-%m-%d_%H-%M-%S-%f_#s.jpg');
    assert.equal(expand(AXIS_DEFAULT_FILENAME_PATTERN), 'image24-03-05_07-08-09-12_00042.jpg');
  });

  it('expands every modifier in one pattern', () => {
    assert.equal(
      expand('%Y/%F %T_%s.%f #n #M #m #i #v #s %%y ##s'),
      '2024/2024-03-05 07:08:09_1709622489.12 axis-gate 00:40:8C:12:34:56 00408C123456 192.168.0.90 2 00042 %y #s',
    );
  });

  it('leaves unknown modifiers and lone markers as they are', () => {
    assert.equal(expand('%q #x %Z 100% #'), '%q #x %Z 100% #');
    assert.equal(expand('%#s'), '%00042');
  });

  it('leaves modifiers as written when the camera value is missing or unusable', () => {
    const bare: FilenameContext = { time, sequence: 1 };
    assert.equal(expandAxisFilename('#n_#M_#m_#i_#v', bare), '#n_#M_#m_#i_#v');
    assert.equal(expand('#M #m', { macAddress: 'not a mac' }), '#M #m');
  });

  it('accepts a MAC address in any usual notation', () => {
    for (const macAddress of ['00-40-8C-12-34-56', '00408c123456', '0040.8c12.3456']) {
      assert.equal(expand('#M #m', { macAddress }), '00:40:8C:12:34:56 00408C123456');
    }
  });

  it('pads the sequence number to 5 digits and keeps wider numbers whole', () => {
    assert.equal(expand('#s', { sequence: 0 }), '00000');
    assert.equal(expand('#s', { sequence: 99999 }), '99999');
    assert.equal(expand('#s', { sequence: 123456 }), '123456');
  });

  it('gives hundredths, not milliseconds, and rounds down', () => {
    assert.equal(expand('%S.%f', { time: new Date(Date.UTC(2024, 0, 1, 0, 0, 59, 999)) }), '59.99');
    assert.equal(expand('%S.%f', { time: new Date(Date.UTC(2024, 0, 1, 0, 0, 0, 9)) }), '00.00');
  });

  it('pads two-digit years of the first decade', () => {
    assert.equal(expand('%y %Y', { time: new Date(Date.UTC(2005, 0, 1)) }), '05 2005');
  });

  it('uses the local time zone when asked, and UTC otherwise', () => {
    // India is UTC+05:30 without daylight saving, so the result does not depend on the date.
    process.env.TZ = 'Asia/Kolkata';
    assert.equal(expand('%F %T', { timeZone: 'local' }), '2024-03-05 12:38:09');
    assert.equal(expand('%F %T'), '2024-03-05 07:08:09');
    assert.equal(expand('%F %T', { timeZone: 'utc' }), '2024-03-05 07:08:09');
    // The epoch does not depend on the clock.
    assert.equal(expand('%s', { timeZone: 'local' }), '1709622489');
  });

  it('rolls the local date over midnight', () => {
    process.env.TZ = 'Asia/Kolkata';
    const lateUtc = new Date(Date.UTC(2024, 11, 31, 20, 0, 0));
    assert.equal(expand('%Y-%m-%d %H', { time: lateUtc, timeZone: 'local' }), '2025-01-01 01');
  });

  it('expands an expanded value only once', () => {
    assert.equal(expand('#n', { hostName: '%Y#s' }), '%Y#s');
  });
});
