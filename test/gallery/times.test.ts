/** Times in the viewer's zone, and labels that tell neighbouring images apart. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Times, knownTimeZone } from '../../src/gallery/times.js';

const at = (iso: string, key = iso): { key: string; storedAt: Date } => ({ key, storedAt: new Date(iso) });

describe('gallery times', () => {
  it('formats in the zone given, and names it with its offset at that moment', () => {
    const stockholm = new Times('Europe/Stockholm');
    assert.equal(stockholm.time(new Date('2026-12-06T10:15:03Z')), '11:15:03');
    assert.equal(stockholm.zoneName(new Date('2026-12-06T10:15:03Z')), 'Europe/Stockholm (UTC+01:00)');
    assert.equal(stockholm.zoneName(new Date('2026-07-06T10:15:03Z')), 'Europe/Stockholm (UTC+02:00)', 'daylight saving');
    assert.equal(new Times('America/New_York').dayAndTime(new Date('2026-12-06T03:00:00Z')), '5 Dec 2026 22:00:00');
    assert.equal(new Times().zoneName(new Date()), 'UTC');
    assert.equal(new Times('Asia/Kolkata').zoneName(new Date('2026-12-06T00:00:00Z')), 'Asia/Kolkata (UTC+05:30)');
  });

  it('falls back to UTC for a zone it does not know, or that is not a zone name', () => {
    for (const bad of [undefined, '', 'Mars/Olympus', '../../etc', 'Europe/Stockholm; path=/', 'x'.repeat(80)]) assert.equal(knownTimeZone(bad), 'UTC', String(bad));
    assert.equal(new Times('Not/AZone').time(new Date('2026-12-06T10:15:03Z')), '10:15:03');
  });

  it('says the date beside a time that falls on another day in the zone than the UTC day shown', () => {
    const newYork = new Times('America/New_York');
    assert.equal(newYork.timeOn(new Date('2026-12-06T03:00:00Z'), '2026-12-06'), '5 Dec 22:00:00');
    assert.equal(newYork.timeOn(new Date('2026-12-06T15:00:00Z'), '2026-12-06'), '10:00:00');
  });

  it('labels neighbours that share a second by their milliseconds, or by their place when the store keeps none', () => {
    const utc = new Times();
    const labels = utc.distinctLabels(
      [at('2026-12-06T10:15:02.000Z', 'a'), at('2026-12-06T10:15:03.120Z', 'b'), at('2026-12-06T10:15:03.480Z', 'c'), at('2026-12-06T10:15:04.000Z', 'd'), at('2026-12-06T10:15:04.000Z', 'e'), at('2026-12-06T10:15:04.000Z', 'f'), at('2026-12-06T10:15:05.999Z', 'g')],
      '2026-12-06',
    );
    assert.deepEqual(Object.fromEntries(labels), {
      a: '10:15:02',
      b: '10:15:03.120',
      c: '10:15:03.480',
      d: '10:15:04 (1)',
      e: '10:15:04 (2)',
      f: '10:15:04 (3)',
      g: '10:15:05',
    });
  });
});
