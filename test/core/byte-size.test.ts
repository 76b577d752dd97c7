import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { formatBytes } from '../../src/core/byte-size.js';

describe('formatBytes', () => {
  it('uses binary units with at most one decimal', () => {
    const cases: [number, string][] = [
      [0, '0 B'],
      [1023, '1023 B'],
      [1024, '1 KB'],
      [12_595, '12.3 KB'],
      [256 * 1024, '256 KB'],
      [1024 ** 2 - 1, '1 MB'],
      [4.5 * 1024 ** 2, '4.5 MB'],
      [32 * 1024 ** 2, '32 MB'],
      [512 * 1024 ** 2, '512 MB'],
      [12.3 * 1024 ** 3, '12.3 GB'],
      [2 * 1024 ** 4, '2 TB'],
    ];
    for (const [bytes, text] of cases) assert.equal(formatBytes(bytes), text, String(bytes));
  });
});
