// Shared by the skip-graph benchmarks: a seedable PRNG and the summary statistics they report.

/** mulberry32: a seedable PRNG in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length
export const p99 = (xs) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(0.99 * xs.length) - 1)]
export const round = (x) => Math.round(x * 100) / 100
