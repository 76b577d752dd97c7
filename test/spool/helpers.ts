import { SAMPLE_JPEG } from '../support/receiver.js';

/** A JPEG of its own for each `n`: the sample with a comment segment after its start marker. */
export function distinctJpeg(n: number): Buffer {
  const comment = Buffer.from(`image ${n}`);
  const segment = Buffer.alloc(4);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(comment.length + 2, 2);
  return Buffer.concat([SAMPLE_JPEG.subarray(0, 2), segment, comment, SAMPLE_JPEG.subarray(2)]);
}

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
export async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
