/**
 * Search traces as the UI shows them, and which hops of a route went around a dead neighbour.
 *
 * @module
 */
import type { NodeTable } from './graph.js'

/** One hop of a search as the UI shows it. */
export interface TraceHop {
  /** The node visited, hex. */
  node: string
  /** The level it was at. */
  level: number
  /** The hop went around a dead or gone neighbour of the previous node. */
  detour: boolean
}

/** A finished (or failed) search. */
export interface SearchTrace {
  /** Sequence number in this tab. */
  seq: number
  from: string
  target: string
  /** The node answering, hex; `null` when the search failed. */
  result: string | null
  found: boolean
  /** The level the search started at on `from` (its top level). */
  startLevel: number
  /** The nodes the search was forwarded to, in order (`from` not included; empty when answered by `from`). */
  hops: TraceHop[]
  /** Wall-clock duration, milliseconds. */
  ms: number
  /** The error's `name` when the search failed. */
  error: string | null
  /** When it started (epoch ms). */
  at: number
}

/**
 * Marks hops that went around a dead neighbour: the previous node had, at a level it could use above the
 * hop's, a neighbour toward the target that is gone or that it marked dead; or the hop turned away from the
 * target (the reverse leg of a route around a dead neighbour).
 */
export function markDetours(
  route: { from: string; startLevel: number; target: string },
  hops: ReadonlyArray<{ node: string; level: number }>,
  tableOf: (id: string) => NodeTable | undefined,
  isGone: (id: string) => boolean,
): TraceHop[] {
  const { target } = route
  const points = [{ node: route.from, level: route.startLevel }, ...hops]
  return hops.map((hop, i) => {
    const prev = points[i]!
    const right = target > prev.node
    if (right ? hop.node < prev.node : hop.node > prev.node) return { ...hop, detour: true }
    const table = tableOf(prev.node)
    if (table === undefined) return { ...hop, detour: false }
    let detour = false
    for (let level = hop.level + 1; level <= Math.min(prev.level, table.levels.length - 1); level++) {
      const l = table.levels[level]!
      const n = right ? l.right : l.left
      const dead = right ? l.rightDead : l.leftDead
      if (n === null) continue
      const towardTarget = right ? n <= target : n >= target
      if (towardTarget && (dead || isGone(n))) detour = true
    }
    return { ...hop, detour }
  })
}
