/** Small summary statistics. */

/** Nearest-rank percentile (p in 0…100) of unsorted values; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function max(values: readonly number[]): number {
  return values.reduce((a, b) => Math.max(a, b), 0);
}
