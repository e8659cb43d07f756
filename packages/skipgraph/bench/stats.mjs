// Shared by the skip-graph benchmarks: a seedable PRNG and the summary statistics they report.

import { mulberry32 } from '@skipmesh/core/internal'

/** A seedable PRNG in [0, 1): core's mulberry32. */
export const rng = mulberry32

export const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length
export const p99 = (xs) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(0.99 * xs.length) - 1)]
export const round = (x) => Math.round(x * 100) / 100

/** The skip-graph message kinds the storm benchmarks count (`sentByKind`). */
export const KINDS = [
  'Read',
  'Lock',
  'LockReply',
  'Apply',
  'ApplyAck',
  'Release',
  'Search',
  'SearchResult',
  'SearchFail',
]
