/** The candidate nearest to `name` (case-insensitive edit distance), if any is near enough to be a typo. */
export function closest<T extends string>(name: string, candidates: readonly T[]): T | undefined {
  const wanted = name.toLowerCase();
  let best: { candidate: T; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, candidate.toLowerCase());
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  // Further than half the name: a different word, not a typo of this one.
  return best && best.distance <= Math.max(2, Math.floor(wanted.length / 2)) ? best.candidate : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
