// finite.ts — the one scan for NaN/±Inf in a buffer (merge outputs, checkpoint weights and moments).

/** How many values of `data` are NaN or ±Inf, and the index of the first one (−1 when all are finite). */
export function nonFinite(data: ArrayLike<number>): { count: number; first: number } {
  let count = 0;
  let first = -1;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i] as number)) {
      if (first < 0) first = i;
      count++;
    }
  }
  return { count, first };
}
