/**
 * The routing decision of one search step (skipgraph-go's `SearchByID`, with the detours around dead
 * neighbours of README "Failure handling"): given this node's table and an arriving search, answer here or
 * name the neighbour to forward to. Pure: sends nothing, waits for nothing.
 *
 * @module
 */
import { MAX_LEVEL, type NeighborEntry, type Side } from './lookup-table.js'
import type { NodeState } from './state.js'
import { FailReason, hopCount, MAX_HOPS, type SearchMsg, type WireHops } from './wire.js'

/** How a search ends at some node: the path and whether it ends on the target, or why it could not. */
export type SearchOutcome =
  | { readonly ok: true; readonly found: boolean; readonly hops: WireHops }
  | { readonly ok: false; readonly reason: (typeof FailReason)[keyof typeof FailReason] }

/** A search as it travels, without the fields each hop sets (`hop`, `budget`). */
export type SearchStep = Omit<SearchMsg, 'hop' | 'budget'>

/** What a node does with a search. */
export type RouteDecision =
  | { readonly kind: 'answer'; readonly outcome: SearchOutcome }
  /** Forward to `to`, as `level`, `reverse` and `dir` say; the hop is recorded with `linkLevel`. */
  | {
      readonly kind: 'forward'
      readonly to: NeighborEntry
      readonly level: number
      readonly reverse: 0 | 1
      readonly dir: 0 | 1
      readonly linkLevel: number
    }
  /** A dead (or unresponsive) neighbour blocks every exact route from here. */
  | { readonly kind: 'blocked' }

export const UNREACHABLE: SearchOutcome = { ok: false, reason: FailReason.Unreachable }
export const STOPPED: SearchOutcome = { ok: false, reason: FailReason.Stopped }

/**
 * The best live neighbour at levels ≤ msg.level in the search direction that does not overshoot the target;
 * else this node is the answer. Neighbours in `avoid` (hex) are treated like dead ones.
 */
export function decide(
  state: NodeState,
  msg: SearchStep,
  avoid: ReadonlySet<string> | undefined,
): RouteDecision {
  if (state.height < 0) return { kind: 'answer', outcome: STOPPED }
  const cmp = msg.target.compare(state.identity.id)
  if (cmp === 0) return { kind: 'answer', outcome: { ok: true, found: true, hops: msg.hops } }
  const right = msg.dir === 1
  const side: Side = right ? 'right' : 'left'
  // past the target: only a corrupted table or a forged message gets here
  if ((right && cmp < 0) || (!right && cmp > 0) || hopCount(msg.hops) >= MAX_HOPS) {
    return { kind: 'answer', outcome: UNREACHABLE }
  }
  let blocked = false
  const top = state.table.topLevel
  // first the levels up to the one we arrived on (the skip-graph search); when a dead neighbour blocks
  // those, any live neighbour between us and the target, at any level, is progress too
  for (let pass = 0; pass < 2; pass++) {
    const from = pass === 0 ? Math.min(msg.level, top) : top
    const to = pass === 0 ? 0 : msg.level + 1
    for (let level = from; level >= to; level--) {
      const e = state.table.get(level, side)
      if (e === null) continue
      const c = e.id.compare(msg.target)
      if (right ? c > 0 : c < 0) continue
      if (!usable(e, avoid)) {
        blocked = true
        continue
      }
      return { kind: 'forward', to: e, level, reverse: msg.reverse, dir: msg.dir, linkLevel: level }
    }
    if (!blocked) break
  }
  if (!blocked) {
    return {
      kind: 'answer',
      outcome: msg.reverse === 1 ? UNREACHABLE : { ok: true, found: false, hops: msg.hops },
    }
  }
  // A dead neighbour stands between us and the target. Approach the target from the far side instead: the
  // nearest live neighbour beyond the target searches back; that leg must end exactly on the target.
  if (msg.reverse === 0) {
    for (let level = 0; level <= top; level++) {
      const e = state.table.get(level, side)
      if (e === null || !usable(e, avoid)) continue
      const c = e.id.compare(msg.target)
      if (right ? c > 0 : c < 0) {
        return { kind: 'forward', to: e, level: MAX_LEVEL, reverse: 1, dir: right ? 0 : 1, linkLevel: level }
      }
    }
  }
  return { kind: 'blocked' }
}

function usable(e: NeighborEntry, avoid: ReadonlySet<string> | undefined): boolean {
  return e.alive && (avoid === undefined || !avoid.has(e.id.toHex()))
}
