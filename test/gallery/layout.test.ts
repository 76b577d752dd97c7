import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KeyTemplate } from '../../src/core/object-key.js';
import { GalleryLayout, addDays, isDay } from '../../src/gallery/layout.js';

describe('GalleryLayout', () => {
  it('reads camera and day from keys of the default layout, which is indexed', () => {
    const layout = new GalleryLayout('{camera}/{yyyy}/{MM}/{dd}/{filename}');
    assert.equal(layout.indexed, true);
    assert.deepEqual(layout.parse('front-door/2026/11/23/image1.jpg'), { camera: 'front-door', day: '2026-11-23' });
    assert.equal(layout.dayPrefix('front-door', '2026-11-23'), 'front-door/2026/11/23/');
    assert.equal(layout.camerasPrefix, '');
    assert.equal(layout.dateDepth, 3);
    // Not of the layout: too few segments, a hidden segment, a date that does not exist.
    assert.equal(layout.parse('front-door/image1.jpg'), undefined);
    assert.equal(layout.parse('.images-to-s3/2026/11/23/tokens.json'), undefined);
    assert.equal(layout.parse('front-door/2026/02/30/image1.jpg'), undefined);
  });

  it('walks other indexed layouts: literal folders, one date folder, hour folders below the day', () => {
    const layout = new GalleryLayout('site-a/cam-{camera}/{yyyy}-{MM}-{dd}/{HH}/{filename}');
    assert.equal(layout.indexed, true);
    assert.equal(layout.camerasPrefix, 'site-a/');
    assert.equal(layout.cameraOfFolder('cam-garage'), 'garage');
    assert.equal(layout.cameraOfFolder('garage'), undefined);
    assert.equal(layout.dayPrefix('garage', '2026-01-02'), 'site-a/cam-garage/2026-01-02/');
    assert.equal(layout.datePartOfFolder(0, '', '2026-01-02'), '2026-01-02');
    assert.deepEqual(layout.parse('site-a/cam-garage/2026-01-02/07/x.jpg'), { camera: 'garage', day: '2026-01-02' });
  });

  it('gives the date part each folder level stands for', () => {
    const layout = new GalleryLayout('{camera}/{yyyy}/{MM}/{dd}/{filename}');
    assert.equal(layout.datePartOfFolder(0, '', '2026'), '2026');
    assert.equal(layout.datePartOfFolder(1, '2026', '11'), '2026-11');
    assert.equal(layout.datePartOfFolder(2, '2026-11', '23'), '2026-11-23');
    assert.equal(layout.datePartOfFolder(0, '', 'misc'), undefined);
  });

  it('scans layouts it cannot list by prefix: the flat one, the date before the camera, no date', () => {
    const flat = new GalleryLayout('{filename}');
    assert.equal(flat.indexed, false);
    assert.equal(flat.hasCamera, false);
    assert.deepEqual(flat.parse('image1.jpg'), {});
    assert.equal(flat.parse('front-door/2026/11/23/image1.jpg'), undefined);

    const dateFirst = new GalleryLayout('{yyyy}/{MM}/{dd}/{camera}/{filename}');
    assert.equal(dateFirst.indexed, false);
    assert.deepEqual(dateFirst.parse('2026/11/23/front-door/a.jpg'), { camera: 'front-door', day: '2026-11-23' });

    const noDate = new GalleryLayout('{camera}/{filename}');
    assert.equal(noDate.indexed, false);
    assert.deepEqual(noDate.parse('front-door/a.jpg'), { camera: 'front-door' });
  });

  it('parses back every key the key template makes (property)', () => {
    const templates = ['{camera}/{yyyy}/{MM}/{dd}/{filename}', '{camera}/{yyyy}-{MM}-{dd}/{HH}/{filename}', 'x/{camera}/{yyyy}{MM}{dd}/{filename}', '{yyyy}/{MM}/{camera}_{dd}/{filename}'];
    fc.assert(
      fc.property(
        fc.constantFrom(...templates),
        fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }),
        fc.string({ minLength: 1, maxLength: 30 }),
        (template, camera, receivedAt, filename) => {
          const key = new KeyTemplate(template).keyFor({ camera, receivedAt, filename });
          const facts = new GalleryLayout(template).parse(key);
          assert.deepEqual(facts, { camera, day: receivedAt.toISOString().slice(0, 10) });
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('days', () => {
  it('knows real days and counts across months and years', () => {
    assert.equal(isDay('2024-02-29'), true);
    assert.equal(isDay('2023-02-29'), false);
    assert.equal(isDay('2026-1-02'), false);
    assert.equal(addDays('2026-12-31', 1), '2027-01-01');
    assert.equal(addDays('2026-03-01', -1), '2026-02-28');
  });
});
