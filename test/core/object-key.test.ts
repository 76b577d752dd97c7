/**
 * Object keys built from what a camera sends: its `Content-Disposition` filename (untrusted, may
 * hold `..`, `/`, `\`, control and bidi characters, anything) and its camera name, through a key
 * template. Property tests throw thousands of hostile names at the sanitiser; example tests pin
 * the behaviour users see.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { isValidCameraName } from '../../src/core/camera-name.js';
import { cameraFilename, generatedFilename, safeFilename, storedFilename } from '../../src/core/filename.js';
import {
  ACCEPTED_MEDIA_TYPES,
  IMAGE_TYPES,
  SIGNATURE_BYTES,
  mediaTypeForBytes,
  mediaTypeForContentType,
  type MediaType,
} from '../../src/core/media-types.js';
import { MAX_SEGMENT_LENGTH, sanitiseSegment } from '../../src/core/key-segment.js';
import {
  DEFAULT_KEY_TEMPLATE,
  FLAT_KEY_TEMPLATE,
  KeyTemplate,
  KeyTemplateError,
  alternateKey,
} from '../../src/core/object-key.js';

const RUNS = 5000;
/** S3's limit on a key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;
const SAMPLE_JPEG = await readFile(new URL('../../assets/sample.jpg', import.meta.url));

const typeNamed = (mediaType: string): MediaType => {
  const type = IMAGE_TYPES.find((candidate) => candidate.mediaType === mediaType);
  assert.ok(type, `no image type ${mediaType}`);
  return type;
};
const JPEG = typeNamed('image/jpeg');
const PNG = typeNamed('image/png');
const AT = new Date('2024-05-06T07:08:09.010Z');

/** The key the receiver builds for an upload: the same composition as `ImageReceiver.receive`. */
function keyForUpload(template: KeyTemplate, camera: string, header: string | undefined, type: MediaType, receivedAt: Date): string {
  return template.keyFor({ camera, receivedAt, filename: storedFilename(cameraFilename(header), type, receivedAt) });
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Pieces hostile filenames are made of: traversal, separators, encodings, invisible characters. */
const hostilePiece = fc.constantFrom(
  '..', '.', '/', '\\', '//', '\\\\', '../', '..\\', '%2e%2e', '%2f', '%5c', '%00', '.%2e',
  '\0', '\u0001', '\t', '\n', '\r\n', '\u001b[31m', '\u007f', '\u0085', '\u009b',
  '\u202e', '\u202d', '\u200b', '\u200d', '\u200e', '\u2066', '\u061c', '\ufeff', '\u00ad',
  ' ', ':', '"', "'", '*', '?', '<', '>', '|', '~', 'C:', '$', '%', '#', '{filename}', '{camera}',
  '\u2215', '\u2044', '\uff0f', '\uff3c', '\u2024', '\uff0e', '\u3002',
  'e\u0301', '\u0301', '\u1100\u1161', '\u1161', '\ufb01', 'K', '\u212a',
  'a', 'Z', '0', '_', '-', '.jpg', '.JPG', '.jpeg', '.png', '.php', '.exe', 'x.jpg', 'image',
  'é', 'ß', 'ø', '日本', '\u{1d4b3}', '\u{20000}', '\u{1f4f7}', '\ud800', '\udfff',
);

/** Filenames as names built from hostile pieces, arbitrary full-range strings, or very long ones. */
const hostileName: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.array(hostilePiece, { maxLength: 40 }).map((pieces) => pieces.join('')), weight: 4 },
  { arbitrary: fc.array(fc.oneof(hostilePiece, fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 30 }).map((pieces) => pieces.join('')), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 300 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 120 }), weight: 1 },
  {
    // Longer than any segment may be, in 1- to 4-byte letters, with or without an extension.
    arbitrary: fc
      .tuple(fc.constantFrom('a', 'é', '日', '\u{20000}', '\u{1d4b3}', '_', '.'), fc.integer({ min: 90, max: 3000 }), fc.constantFrom('', '.jpg', '.JPEG', '.png', '.php'))
      .map(([letter, count, extension]) => letter.repeat(count) + extension),
    weight: 1,
  },
);

/** Camera names as the token registry allows them. */
const registryCameraName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
const cameraName = fc.oneof(registryCameraName, hostileName);
const imageType = fc.constantFrom(...IMAGE_TYPES);
const receivedAt = fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });

// ---------------------------------------------------------------------------------------------
// What a safe key is

interface Layout {
  template: KeyTemplate;
  segments: number;
  /** Index of the segment holding the camera name, when the layout has one. */
  cameraAt?: number;
  /** Literal segments the key starts with. */
  prefix: readonly string[];
  /** Literal text before the filename in the last segment. */
  filenamePrefix: string;
}

const LAYOUTS: readonly Layout[] = [
  { template: new KeyTemplate(DEFAULT_KEY_TEMPLATE), segments: 5, cameraAt: 0, prefix: [], filenamePrefix: '' },
  { template: new KeyTemplate(FLAT_KEY_TEMPLATE), segments: 1, prefix: [], filenamePrefix: '' },
  {
    template: new KeyTemplate('archive/{camera}/{yyyy}-{MM}-{dd}/{HH}/img-{filename}'),
    segments: 5,
    cameraAt: 1,
    prefix: ['archive'],
    filenamePrefix: 'img-',
  },
];

/** The folder a camera's images go to: a valid camera name as it is, anything else sanitised. */
function expectedCameraFolder(camera: string): string {
  if (isValidCameraName(camera)) return camera;
  return sanitiseSegment(camera) || 'unknown-camera';
}

const extensionOf = (name: string): string => {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot) : '';
};

/** Every rule a key must keep, whatever the camera sent. */
function assertSafeKey(key: string, segments: number, type: MediaType): void {
  const shown = JSON.stringify(key);
  assert.ok(!key.startsWith('/'), `key starts with "/": ${shown}`);
  assert.ok(!key.includes('\\'), `key holds a backslash: ${shown}`);
  assert.ok(!/[\p{Cc}\p{Cf}]/u.test(key), `key holds a control or format character: ${shown}`);
  assert.ok(!/\p{Cs}/u.test(key), `key holds a lone surrogate (not valid UTF-8): ${shown}`);
  assert.equal(key, key.normalize('NFC'), `key is not NFC: ${shown}`);
  assert.ok(Buffer.byteLength(key, 'utf8') <= MAX_KEY_BYTES, `key is ${Buffer.byteLength(key, 'utf8')} bytes: ${shown}`);
  const parts = key.split('/');
  assert.equal(parts.length, segments, `key has ${parts.length} segments, not ${segments}: ${shown}`);
  for (const part of parts) {
    assert.ok(part !== '' && part !== '.' && part !== '..', `key has an empty, "." or ".." segment: ${shown}`);
    assert.ok(!part.startsWith('.'), `key has a segment starting with ".": ${shown}`);
    assert.match(part, /^[\p{L}\p{N}._-]+$/u, `key segment ${JSON.stringify(part)} holds other characters than letters, digits, ".", "_", "-"`);
  }
  const name = parts.at(-1)!;
  assert.ok(type.extensions.includes(extensionOf(name)), `key ${shown} does not end with a ${type.mediaType} extension (${type.extensions.join(' ')})`);
}

// ---------------------------------------------------------------------------------------------

describe('object keys for hostile camera filenames and camera names (property tests)', () => {
  for (const layout of LAYOUTS) {
    it(`"${layout.template.template}": keys are safe, stay in the camera's folder, and bounded`, () => {
      fc.assert(
        fc.property(cameraName, hostileName, imageType, receivedAt, (camera, name, type, at) => {
          const filename = safeFilename(name, type) ?? generatedFilename(at, type);
          const key = layout.template.keyFor({ camera, receivedAt: at, filename });
          assertSafeKey(key, layout.segments, type);
          const parts = key.split('/');
          assert.deepEqual(parts.slice(0, layout.prefix.length), layout.prefix);
          if (layout.cameraAt !== undefined) {
            assert.equal(parts[layout.cameraAt], expectedCameraFolder(camera), `camera ${JSON.stringify(camera)} escaped its folder: ${key}`);
          }
          // The stored name is the safe filename, not mangled a second time by the template.
          assert.equal(parts.at(-1), layout.filenamePrefix + filename);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('any Content-Disposition header at all gives a safe filename with the type\'s extension, never an exception', () => {
    const header = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      hostileName.map((name) => `attachment; filename="${name}"`),
      hostileName.map((name) => `attachment; filename=${name}`),
      hostileName.map((name) => `attachment; filename*=UTF-8''${name}`),
      fc.array(fc.constantFrom('attachment', ';', '=', '"', '\\', ' ', 'filename', 'filename*', "UTF-8''", '%2e', '%2F', '%E2%80%AE', '..', '/'), { maxLength: 20 }).map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(header, imageType, receivedAt, (value, type, at) => {
        const filename = storedFilename(cameraFilename(value), type, at);
        assertSafeKey(filename, 1, type);
        assert.ok([...filename].length <= MAX_SEGMENT_LENGTH, `filename longer than ${MAX_SEGMENT_LENGTH} characters: ${filename}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('a camera\'s folder depends on the camera alone, and two registered cameras never share one', () => {
    const template = new KeyTemplate(DEFAULT_KEY_TEMPLATE);
    fc.assert(
      fc.property(registryCameraName, registryCameraName, hostileName, hostileName, receivedAt, (first, second, name1, name2, at) => {
        const key = (camera: string, name: string): string => template.keyFor({ camera, receivedAt: at, filename: safeFilename(name, JPEG) ?? generatedFilename(at, JPEG) });
        const folderOf = (k: string): string => k.split('/')[0]!;
        assert.equal(folderOf(key(first, name1)), folderOf(key(first, name2)));
        if (first !== second) {
          assert.notEqual(folderOf(key(first, name1)), folderOf(key(second, name1)), `cameras ${first} and ${second} share a folder`);
        }
      }),
      { numRuns: RUNS },
    );
    // The cases that used to collide: sanitising folded "a__b" into "a_b" and "front_" into "front".
    assert.equal(template.keyFor({ camera: 'front__door', receivedAt: AT, filename: 'x.jpg' }), 'front__door/2024/05/06/x.jpg');
    assert.equal(template.keyFor({ camera: 'front_', receivedAt: AT, filename: 'x.jpg' }), 'front_/2024/05/06/x.jpg');
  });

  it('the filename*=UTF-8\'\' form round-trips any Unicode name', () => {
    // RFC 5987 attr-chars only: encodeURIComponent leaves ' ( ) * ! unescaped.
    const encode = (name: string): string => encodeURIComponent(name).replace(/['()*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }), hostileName.filter((name) => name !== '' && !/\p{Cs}/u.test(name))), (name) => {
        assert.equal(cameraFilename(`attachment; filename*=UTF-8''${encode(name)}`), name);
      }),
      { numRuns: RUNS },
    );
  });

  it('the quoted filename="…" form round-trips any printable ASCII name without quotes or backslashes', () => {
    const printable = fc.string({ unit: fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter((c) => c !== '"' && c !== '\\')), minLength: 1, maxLength: 120 });
    fc.assert(
      fc.property(printable, (name) => {
        assert.equal(cameraFilename(`attachment; filename="${name}"`), name);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('alternateKey', () => {
  it('keeps the folder and the extension, changes the name, and stays safe (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...LAYOUTS), cameraName, hostileName, imageType, receivedAt, (layout, camera, name, type, at) => {
        const key = layout.template.keyFor({ camera, receivedAt: at, filename: safeFilename(name, type) ?? generatedFilename(at, type) });
        const other = alternateKey(key, at);
        const folder = (k: string): string => k.slice(0, k.lastIndexOf('/') + 1);
        const name_ = (k: string): string => k.slice(k.lastIndexOf('/') + 1);
        assert.equal(folder(other), folder(key));
        assert.equal(extensionOf(name_(other)), extensionOf(name_(key)));
        assert.notEqual(name_(other), name_(key));
        assertSafeKey(other, layout.segments, type);
      }),
      { numRuns: RUNS },
    );
  });

  it('gives 10,000 distinct keys for one key and one receive time (concurrent uploads of one filename)', () => {
    const key = 'camera-1/2024/05/06/image.jpg';
    const keys = new Set<string>();
    for (let i = 0; i < 10_000; i++) keys.add(alternateKey(key, AT));
    assert.equal(keys.size, 10_000, `${10_000 - keys.size} clashes among 10,000 alternate keys`);
    for (const other of keys) {
      assert.match(other, /^camera-1\/2024\/05\/06\/image-070809010[0-9a-z]+\.jpg$/);
    }
  });
});

describe('stored filenames (examples)', () => {
  const template = new KeyTemplate();
  const key = (header: string | undefined, type: MediaType = JPEG): string => keyForUpload(template, 'camera', header, type, AT);

  it('folds path traversal into the name, inside camera/yyyy/MM/dd/', () => {
    assert.equal(key('attachment; filename="../../x.jpg"'), 'camera/2024/05/06/x.jpg');
    assert.equal(key('attachment; filename="..\\\\..\\\\x.jpg"'), 'camera/2024/05/06/x.jpg');
    assert.equal(key("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd"), 'camera/2024/05/06/etc_passwd.jpg');
    assert.equal(safeFilename('/etc/passwd', JPEG), 'etc_passwd.jpg');
  });

  it('keeps the folders a name has as part of the name', () => {
    assert.equal(safeFilename('a/b.jpg', JPEG), 'a_b.jpg');
    assert.equal(safeFilename('a\\b.jpg', JPEG), 'a_b.jpg');
    assert.equal(key('attachment; filename="2024/05/06 12:00:00.jpg"'), 'camera/2024/05/06/2024_05_06_12_00_00.jpg');
  });

  it('appends the type\'s extension to a name with another one, and keeps a matching one (lower case)', () => {
    assert.equal(safeFilename('x.php', JPEG), 'x.php.jpg');
    assert.equal(safeFilename('x.php', PNG), 'x.php.png');
    assert.equal(safeFilename('x.png', JPEG), 'x.png.jpg');
    assert.equal(safeFilename('image', JPEG), 'image.jpg');
    assert.equal(safeFilename('image.JPG', JPEG), 'image.jpg');
    assert.equal(safeFilename('image.Jpeg', JPEG), 'image.jpeg');
    assert.equal(safeFilename('image.jfif', JPEG), 'image.jfif');
    assert.equal(safeFilename('image.PNG', PNG), 'image.png');
  });

  it('drops invisible and control characters such as the right-to-left override', () => {
    // "photo\u202Egpj.exe" displays as "photoexe.jpg".
    assert.equal(safeFilename('photo\u202egpj.exe', JPEG), 'photo_gpj.exe.jpg');
    assert.equal(safeFilename('a\u0000b\u0007c.jpg', JPEG), 'a_b_c.jpg');
    assert.equal(safeFilename('\u200bhidden.jpg', JPEG), 'hidden.jpg');
  });

  it('bounds the length of a long name and keeps its extension', () => {
    const name = safeFilename(`${'x'.repeat(5000)}.jpg`, JPEG)!;
    assert.equal(name, `${'x'.repeat(MAX_SEGMENT_LENGTH - 4)}.jpg`);
  });

  it('generates image-<ISO time>.<ext> for a name with nothing usable, or none', () => {
    const expected = 'camera/2024/05/06/image-2024-05-06T07-08-09-010Z.jpg';
    assert.equal(generatedFilename(AT, JPEG), `image-${AT.toISOString().replace(/[:.]/g, '-')}.jpg`);
    for (const unusable of ['\u202e', '../..', '...', '///', '__', '\u0000\u0001', ' ', '.', '%']) {
      assert.equal(key(`attachment; filename="${unusable}"`), expected, `for ${JSON.stringify(unusable)}`);
    }
    assert.equal(key(undefined), expected);
    assert.equal(key('attachment'), expected);
    assert.equal(keyForUpload(template, 'camera', undefined, PNG, AT), 'camera/2024/05/06/image-2024-05-06T07-08-09-010Z.png');
  });

  it('an unusable camera name gets a folder of its own kind, never the bucket root', () => {
    assert.equal(template.keyFor({ camera: '..', receivedAt: AT, filename: 'x.jpg' }), 'unknown-camera/2024/05/06/x.jpg');
    assert.equal(template.keyFor({ camera: '../other-camera', receivedAt: AT, filename: 'x.jpg' }), 'other-camera/2024/05/06/x.jpg');
    assert.equal(template.keyFor({ camera: 'cam/../../x', receivedAt: AT, filename: 'x.jpg' }), 'cam_.._.._x/2024/05/06/x.jpg');
  });
});

describe('cameraFilename (Content-Disposition)', () => {
  it('reads the quoted, unquoted and RFC 5987 forms', () => {
    assert.equal(cameraFilename('attachment; filename="image24-05-06_07-08-09-01_00001.jpg"'), 'image24-05-06_07-08-09-01_00001.jpg');
    assert.equal(cameraFilename('attachment; filename="with space.jpg"'), 'with space.jpg');
    assert.equal(cameraFilename('attachment; filename=plain.jpg'), 'plain.jpg');
    assert.equal(cameraFilename('Attachment; FileName="case.jpg"'), 'case.jpg');
    assert.equal(cameraFilename("attachment; filename*=UTF-8''%E2%82%AC%20rates.jpg"), '€ rates.jpg');
    assert.equal(cameraFilename("attachment; filename*=utf-8'de'K%C3%BCche.jpg"), 'Küche.jpg');
    assert.equal(cameraFilename("attachment; filename=\"fallback.jpg\"; filename*=UTF-8''%C3%A9t%C3%A9.jpg"), 'été.jpg');
  });

  it('reads a name the camera sent as raw UTF-8 bytes (which Node hands over as Latin-1)', () => {
    const asNodeReadsIt = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
    assert.equal(cameraFilename(asNodeReadsIt('attachment; filename="Küche-é_日本_\u{1f4f7}.jpg"')), 'Küche-é_日本_\u{1f4f7}.jpg');
    assert.equal(storedFilename(cameraFilename(asNodeReadsIt('attachment; filename="Küche.jpg"')), JPEG, AT), 'Küche.jpg');
    // Real Latin-1 bytes (not valid UTF-8) stay as they are.
    assert.equal(cameraFilename('attachment; filename="K\u00fcche.jpg"'), 'Küche.jpg');
    const headerText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).filter((name) => !/["\\\p{Cc}]/u.test(name));
    fc.assert(
      fc.property(headerText, (name) => {
        assert.equal(cameraFilename(asNodeReadsIt(`attachment; filename="${name}"`)), name);
      }),
      { numRuns: RUNS },
    );
  });

  it('gives undefined for a missing or malformed header', () => {
    for (const header of [
      undefined,
      '',
      'attachment',
      'attachment; filename=',
      'attachment; filename=""',
      'attachment; filename="unterminated.jpg',
      'attachment; name="x.jpg"',
      "attachment; filename*=UTF-8''%E2%82",
      "attachment; filename*=UTF-8''%ZZ.jpg",
      'attachment; filename*=no-quotes.jpg',
      ';;;',
      '"',
      '=',
    ]) {
      assert.equal(cameraFilename(header), undefined, `for ${JSON.stringify(header)}`);
    }
  });

  it('a malformed header still stores the image, under a generated name', () => {
    assert.equal(storedFilename(cameraFilename('attachment; filename="unterminated.jpg'), JPEG, AT), 'image-2024-05-06T07-08-09-010Z.jpg');
  });
});

describe('KeyTemplate', () => {
  it('rejects templates that could produce unsafe or clashing keys', () => {
    for (const template of [
      '',
      '../{filename}',
      '{camera}/../{filename}',
      './{filename}',
      '{camera}/./{filename}',
      '.hidden/{filename}',
      '{camera}/.incoming/{filename}',
      '.../{filename}',
      '/{filename}',
      '/{camera}/{filename}',
      '{camera}//{filename}',
      '{camera}/{filename}/',
      '{camera}/{nope}/{filename}',
      '{Camera}/{filename}',
      '{}/{filename}',
      '{camera}',
      '{camera}/{yyyy}',
      '{filename}/{filename}',
      '{filename}-{filename}',
      '{filename}/{camera}',
      '{camera}/{filename}/x',
      'a b/{filename}',
      'a:b/{filename}',
      'a\\b/{filename}',
      '%2e%2e/{filename}',
      'ü/{filename}',
      'a\u202e/{filename}',
      '{camera/{filename}',
      'camera}/{filename}',
      '~/{filename}',
    ]) {
      assert.throws(() => new KeyTemplate(template), KeyTemplateError, `accepted ${JSON.stringify(template)}`);
    }
  });

  it('names the template and the problem in its error', () => {
    assert.throws(() => new KeyTemplate('{camera}/{nope}/{filename}'), /"\{camera\}\/\{nope\}\/\{filename\}".*\{nope\}/);
    assert.throws(() => new KeyTemplate('{camera}'), /\{filename\} must appear exactly once, in the last segment/);
  });

  it('accepts the flat Axis layout, the default, and date/hour folders, in UTC', () => {
    const at = new Date('2024-12-31T23:59:58.000Z');
    assert.equal(new KeyTemplate('{filename}').keyFor({ camera: 'cam', receivedAt: at, filename: 'x.jpg' }), 'x.jpg');
    assert.equal(new KeyTemplate().keyFor({ camera: 'cam', receivedAt: at, filename: 'x.jpg' }), 'cam/2024/12/31/x.jpg');
    assert.equal(new KeyTemplate('{camera}/{yyyy}-{MM}-{dd}/{HH}/{filename}').keyFor({ camera: 'cam', receivedAt: at, filename: 'x.jpg' }), 'cam/2024-12-31/23/x.jpg');
    assert.equal(new KeyTemplate('{camera}/{HH}{mm}{ss}-{filename}').keyFor({ camera: 'cam', receivedAt: at, filename: 'x.jpg' }), 'cam/235958-x.jpg');
    assert.equal(new KeyTemplate('archive_v1/{camera}/{filename}').keyFor({ camera: 'cam', receivedAt: at, filename: 'x.jpg' }), 'archive_v1/cam/x.jpg');
  });
});

describe('image types', () => {
  const pad = (bytes: readonly number[]): Uint8Array => Uint8Array.from([...bytes, ...Array<number>(Math.max(0, SIGNATURE_BYTES - bytes.length)).fill(0x41)]);
  const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));
  const SIGNATURES: ReadonlyArray<[string, Uint8Array]> = [
    ['image/jpeg', pad([0xff, 0xd8, 0xff, 0xe0])],
    ['image/jpeg', pad([0xff, 0xd8, 0xff, 0xe1])],
    ['image/png', pad([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])],
    ['image/gif', pad(ascii('GIF87a'))],
    ['image/gif', pad(ascii('GIF89a'))],
    ['image/webp', pad([...ascii('RIFF'), 0x24, 0, 0, 0, ...ascii('WEBP')])],
    ['image/bmp', pad([...ascii('BM'), 0x36, 0x10, 0, 0, 0, 0, 0, 0])],
  ];

  it('recognises every accepted type by its magic bytes, and only that type', () => {
    for (const [mediaType, head] of SIGNATURES) {
      assert.equal(mediaTypeForBytes(head)?.mediaType, mediaType);
      for (const type of IMAGE_TYPES) assert.equal(type.matches(head), type.mediaType === mediaType, `${type.mediaType} vs ${mediaType}`);
    }
    assert.deepEqual(new Set(SIGNATURES.map(([mediaType]) => mediaType)), new Set(IMAGE_TYPES.map((type) => type.mediaType)), 'a type without a signature test');
    assert.equal(mediaTypeForBytes(SAMPLE_JPEG.subarray(0, SIGNATURE_BYTES)), JPEG);
  });

  it('recognises no type in bytes that only look close', () => {
    for (const head of [
      new Uint8Array(),
      Uint8Array.from([0xff, 0xd8]),
      pad([0xff, 0xd9, 0xff]),
      pad([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x00]),
      pad(ascii('GIF88a')),
      pad([...ascii('RIFF'), 0x24, 0, 0, 0, ...ascii('WAVE')]),
      Uint8Array.from(ascii('RIFF')),
      pad([...ascii('BM'), 0x36, 0x10, 0, 0, 1, 0, 0, 0]),
      pad(ascii('<svg xmlns=')),
      pad(ascii('%PDF-1.7')),
    ]) {
      assert.equal(mediaTypeForBytes(head), undefined, `recognised ${Buffer.from(head).toString('hex')}`);
    }
  });

  it('accepts every media type and alias, in any case and with parameters', () => {
    for (const type of IMAGE_TYPES) {
      for (const name of [type.mediaType, ...type.aliases]) {
        for (const value of [name, name.toUpperCase(), `${name}; charset=x`, ` ${name} ;q=1`, `${name};name="a;b"`]) {
          assert.equal(mediaTypeForContentType(value), type, `for ${JSON.stringify(value)}`);
        }
      }
    }
    assert.equal(mediaTypeForContentType('image/jpg'), JPEG);
    assert.equal(mediaTypeForContentType('image/jpeg; charset=x'), JPEG);
    assert.match(ACCEPTED_MEDIA_TYPES, /image\/jpeg/);
  });

  it('refuses other and malformed media types', () => {
    for (const value of [undefined, '', 'image', 'image/', 'jpeg', 'image/jpegx', 'image/jpeg2000', 'image/svg+xml', 'image/tiff', 'image/heic', 'text/html', 'application/octet-stream', 'image/png/jpeg', 'x-image/jpeg', ';image/jpeg']) {
      assert.equal(mediaTypeForContentType(value), undefined, `accepted ${JSON.stringify(value)}`);
    }
  });
});
