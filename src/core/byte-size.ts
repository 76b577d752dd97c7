/** Units of {@link formatBytes}, each 1024 times the one before, as `--max-bytes` reads them. */
const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;

/**
 * A byte count for people to read, in binary units (1 KB = 1024 bytes, 1 MB = 1024 KB, …: the
 * units of `--max-bytes` and the README) with at most one decimal: `512 B`, `12.3 KB`, `4.5 MB`,
 * `32 MB`, `12.3 GB`.
 */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  // Compared after rounding, so that 1,048,575 bytes read `1 MB`, not `1024 KB`.
  while (unit < UNITS.length - 1 && Math.round(value * 10) / 10 >= 1024) {
    value /= 1024;
    unit += 1;
  }
  return `${Number(value.toFixed(1))} ${UNITS[unit]}`;
}
