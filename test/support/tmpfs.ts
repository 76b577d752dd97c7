import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import type { TestContext } from 'node:test';

/**
 * Mounts a small tmpfs on `folder` for a test (a real filesystem that fills up or turns
 * read-only); returns undefined, or why it cannot (mounting needs root and CAP_SYS_ADMIN, which
 * many containers do not grant) so the test can skip with that reason.
 */
export function mountTmpfs(folder: string, size: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', folder], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    const detail = (error as { stderr?: Buffer }).stderr?.toString().trim() || String(error);
    return `cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): ${detail}`;
  }
}

/**
 * Runs `test` on a small tmpfs mounted on `folder` (made here), unmounted afterwards; skips the
 * test with the reason when no tmpfs can be mounted.
 */
export async function onTmpfs(t: TestContext, folder: string, size: string, test: (mountPoint: string) => Promise<void>): Promise<void> {
  await mkdir(folder, { recursive: true });
  const cannot = mountTmpfs(folder, size);
  if (cannot !== undefined) {
    t.skip(cannot);
    return;
  }
  try {
    await test(folder);
  } finally {
    execFileSync('umount', [folder]);
  }
}
