/**
 * The benches' test image: a 1280×960 JPEG of deterministic noise, at the quality that makes it
 * closest to 500 KB (a camera's snapshot), the same bytes in every run.
 *
 * @module
 */
import sharp from 'sharp';

export async function benchImage(): Promise<Buffer> {
  const width = 1280;
  const height = 960;
  const raw = Buffer.alloc(width * height * 3);
  let seed = 12345;
  for (let i = 0; i < raw.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    raw[i] = (((i / 3) | 0) % width ^ (seed >> 16)) & 0xff;
  }
  let best: Buffer | undefined;
  for (let quality = 40; quality <= 90; quality += 2) {
    const jpeg = await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
    if (best && Math.abs(jpeg.byteLength - 500 * 1024) > Math.abs(best.byteLength - 500 * 1024)) break;
    best = jpeg;
  }
  return best!;
}
