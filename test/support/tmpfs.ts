import { execFileSync } from 'node:child_process';

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
