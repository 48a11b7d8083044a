const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** "10 MiB", "1.5 GiB", "512 bytes": sizes as messages show them. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ] as const) {
    if (n >= size) return `${Number((n / size).toFixed(n % size === 0 ? 0 : 1))} ${unit}`;
  }
  return `${n} bytes`;
}
