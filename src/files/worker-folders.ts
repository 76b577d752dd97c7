/**
 * `serve --workers`: what only one process may write (a spool, an event outbox) is kept per
 * worker. Worker 1 has the folder itself, as a single receiver has, so that nothing changes for it;
 * worker K has `folder/worker-K`. The one naming rule for both making and finding such folders.
 *
 * @module
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';

/** Worker `index`'s own folder inside `folder` (`folder` itself for worker 1, or without workers). */
export function workerFolder(folder: string, index: number | undefined): string {
  return index === undefined || index === 1 ? folder : path.join(folder, `worker-${index}`);
}

/** The folders inside `folder` of workers beyond `workers` (left by a start with more of them). */
export async function leftWorkerFolders(folder: string, workers: number): Promise<string[]> {
  const names = await readdir(folder).catch(() => [] as string[]);
  return names.filter((name) => Number(/^worker-(\d+)$/.exec(name)?.[1] ?? 0) > workers).map((name) => path.join(folder, name));
}
