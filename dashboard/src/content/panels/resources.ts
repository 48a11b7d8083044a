// The execution panel's resource fields: what a publisher types and what the API stores
// (cores as numbers, memory in bytes). Pure so it can be tested without a browser.

const BINARY: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** "512MiB", "1.5 GiB", "2G", "1000000" → bytes; '' → null (the server default); anything else is an error to show. */
export function parseMemory(text: string): { bytes: number | null } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { bytes: null };
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(trimmed);
  const factor = m ? BINARY[m[2]!.toLowerCase()] : undefined;
  if (!m || factor === undefined) return { error: `"${trimmed}" is not an amount of memory: write a number with a unit, e.g. 512 MiB or 2 GiB.` };
  return { bytes: Math.round(Number(m[1]) * factor) };
}

/** Bytes in a short exact form the parser reads back: binary units first ("512 MiB", "1.5 GiB"), then decimal ("1 GB"), else bytes. */
export function memoryText(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '';
  for (const [unit, factor] of [
    ['TiB', 1024 ** 4],
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    const value = bytes / factor;
    if (value >= 1 && value < 10_000 && Number.isInteger(value * 100)) return `${value} ${unit}`;
  }
  for (const [unit, factor] of [
    ['TB', 1000 ** 4],
    ['GB', 1000 ** 3],
    ['MB', 1000 ** 2],
    ['KB', 1000],
  ] as const) {
    if (bytes >= factor && Number.isInteger(bytes / factor)) return `${bytes / factor} ${unit}`;
  }
  return `${bytes} B`;
}

/** A server maximum as a reader sees it: 0 means no cap for CPU and memory, but none at all for GPUs. */
export function maximumText(maximum: number, kind: 'cpu' | 'memory' | 'gpu'): string {
  if (maximum === 0) return kind === 'gpu' ? 'none allowed on this server' : 'no maximum';
  if (kind === 'memory') return `at most ${memoryText(maximum)}`;
  return `at most ${maximum}${kind === 'cpu' ? (maximum === 1 ? ' core' : ' cores') : ''}`;
}
