/**
 * Video clips for the tests and the bench: real small clips made with ffmpeg (Debian's, installed
 * by .ci/run), large bodies that start as a real clip does, and a sender that streams a body at a
 * chosen pace.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

/** Why clips cannot be made here (ffmpeg missing), or undefined when they can. */
export function ffmpegMissing(): string | undefined {
  const run = spawnSync('ffmpeg', ['-hide_banner', '-version'], { stdio: 'ignore' });
  return run.status === 0 ? undefined : 'ffmpeg is not installed (apt-get install ffmpeg; .ci/run installs it)';
}

/** The video encoders this ffmpeg has (`libx264`, `libvpx`, …). */
function encoders(): Set<string> {
  const text = execFileSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return new Set([...text.matchAll(/^ V\S* (\S+)/gm)].map((match) => match[1]!));
}

/** A clip made by ffmpeg: its container, media type, extension and bytes. */
export interface MadeClip {
  container: 'mp4' | 'mkv' | 'webm';
  mediaType: string;
  extension: string;
  bytes: Buffer;
}

/**
 * Two seconds of ffmpeg's test pattern at 320×240 in each container this ffmpeg can write: MP4
 * and Matroska with H.264 (what Axis cameras record), WebM with VP8 when libvpx is there.
 */
export async function makeClips(folder: string): Promise<MadeClip[]> {
  const have = encoders();
  const plans: Array<{ container: MadeClip['container']; mediaType: string; codec: string[] }> = [];
  if (have.has('libx264')) {
    plans.push({ container: 'mp4', mediaType: 'video/mp4', codec: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'] });
    plans.push({ container: 'mkv', mediaType: 'video/x-matroska', codec: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'] });
  }
  if (have.has('libvpx')) plans.push({ container: 'webm', mediaType: 'video/webm', codec: ['-c:v', 'libvpx', '-deadline', 'realtime'] });
  const clips: MadeClip[] = [];
  for (const plan of plans) {
    const file = path.join(folder, `test-pattern.${plan.container}`);
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-t', '2', ...plan.codec, file]);
    clips.push({ container: plan.container, mediaType: plan.mediaType, extension: `.${plan.container}`, bytes: await readFile(file) });
  }
  return clips;
}

/**
 * The start of a Matroska file as a muxer writing a live recording makes it: the EBML header
 * (DocType `matroska`), then a Segment of unknown size. What the receiver recognises a clip by.
 */
export const MATROSKA_HEAD = Buffer.from(
  [
    '1a45dfa3a3', // EBML header, 35 bytes:
    '4286810142f78101', // EBMLVersion 1, EBMLReadVersion 1
    '42f2810442f38108', // EBMLMaxIDLength 4, EBMLMaxSizeLength 8
    `428288${Buffer.from('matroska').toString('hex')}`, // DocType "matroska"
    '4287810442858102', // DocTypeVersion 4, DocTypeReadVersion 2
    '1853806701ffffffffffffff', // Segment, its size unknown (still being recorded)
  ].join(''),
  'hex',
);

/**
 * A body of `totalBytes` that starts with `head` (a real clip's first bytes) and goes on with
 * filler, in chunks of `chunkBytes`: only the head is looked at, so this stands for a clip of any
 * size without holding one in memory.
 */
export function* clipBody(head: Buffer, totalBytes: number, chunkBytes = 1024 * 1024): Generator<Buffer> {
  yield head;
  const filler = Buffer.alloc(chunkBytes, 0x5a);
  for (let sent = head.byteLength; sent < totalBytes; sent += chunkBytes) {
    yield sent + chunkBytes <= totalBytes ? filler : filler.subarray(0, totalBytes - sent);
  }
}

/** `bytes` in `count` pieces of about equal size (for a slow sender). */
export function pieces(bytes: Buffer, count: number): Buffer[] {
  const size = Math.ceil(bytes.byteLength / count);
  const parts: Buffer[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += size) parts.push(bytes.subarray(offset, offset + size));
  return parts;
}

export interface StreamedAnswer {
  status: number;
  json: Record<string, unknown>;
  body: string;
  /** The connection was closed before an answer arrived. */
  cut: boolean;
  elapsedMs: number;
}

/**
 * POSTs `chunks` to `url` as one body, waiting `pauseMs` between chunks and for the socket to take
 * each one (so the sender holds one chunk at a time); resolves with the answer, or `cut` when the
 * connection closed without one. Without `content-length` in `headers` the body is chunked.
 */
export function streamUpload(url: string, headers: Record<string, string>, chunks: Iterable<Buffer>, pauseMs = 0): Promise<StreamedAnswer> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (answer: Omit<StreamedAnswer, 'elapsedMs'>): void => {
      if (settled) return;
      settled = true;
      resolve({ ...answer, elapsedMs: performance.now() - started });
    };
    const outgoing = http.request(url, { method: 'POST', headers, agent: false }, (incoming) => {
      const parts: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => parts.push(chunk));
      incoming.on('error', () => finish({ status: 0, json: {}, body: '', cut: true }));
      incoming.on('end', () => {
        const body = Buffer.concat(parts).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          // not JSON
        }
        finish({ status: incoming.statusCode ?? 0, json, body, cut: false });
      });
    });
    outgoing.on('error', () => finish({ status: 0, json: {}, body: '', cut: true }));
    void (async () => {
      for (const chunk of chunks) {
        if (settled || outgoing.destroyed) return;
        if (!outgoing.write(chunk)) {
          await new Promise<void>((drained) => {
            const done = (): void => {
              outgoing.off('drain', done);
              outgoing.off('close', done);
              drained();
            };
            outgoing.on('drain', done);
            outgoing.on('close', done);
          });
        }
        if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
      if (!outgoing.destroyed) outgoing.end();
    })();
  });
}
