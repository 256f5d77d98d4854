/**
 * How many types of a set can hold a batch at the same moment: each batch needs its type's
 * budget on one device, and a type runs one batch at a time. The k smallest budgets fit
 * whenever any k of them do (swap any chosen budget for a smaller one and it still fits), so
 * the most that fit at once is the largest k for which the k smallest pack onto the devices.
 */

/** The most of `needsMiB` (one per type) that fit on `devicesMiB` at once. */
export function mostAtOnce(needsMiB: readonly number[], devicesMiB: readonly number[]): number {
  const sorted = [...needsMiB].sort((a, b) => a - b);
  let k = 0;
  while (k < sorted.length && packs(sorted.slice(0, k + 1), devicesMiB)) k++;
  return k;
}

/** Whether every item fits onto the devices, each item whole on one device (exact search; sets here are small). */
export function packs(itemsMiB: readonly number[], devicesMiB: readonly number[]): boolean {
  const items = [...itemsMiB].sort((a, b) => b - a); // largest first: dead ends show early
  const free = [...devicesMiB];
  const place = (i: number): boolean => {
    if (i === items.length) return true;
    const tried = new Set<number>();
    for (let d = 0; d < free.length; d++) {
      // Devices with the same free VRAM are interchangeable: try one of them.
      if (free[d]! < items[i]! || tried.has(free[d]!)) continue;
      tried.add(free[d]!);
      free[d]! -= items[i]!;
      const placed = place(i + 1);
      free[d]! += items[i]!;
      if (placed) return true;
    }
    return false;
  };
  return place(0);
}
