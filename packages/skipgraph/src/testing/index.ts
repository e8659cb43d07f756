/**
 * @packageDocumentation
 * `@skipmesh/skipgraph/testing`: test utilities. {@link checkSkipGraph} is the global consistency checker of a
 * set of nodes' lookup tables; {@link searchOracle} is the sorted-array oracle of `searchById`'s documented
 * result semantics.
 *
 * @example
 * ```ts
 * import { checkSkipGraph, searchOracle } from '@skipmesh/skipgraph/testing'
 *
 * expect(checkSkipGraph(nodes)).toEqual([])
 * const ids = nodes.map((n) => n.identity.id).sort((a, b) => a.compare(b))
 * const { result, found } = searchOracle(ids, start, target)
 * ```
 */
import type { Identifier } from '@skipmesh/core'
import {
  type Identity,
  type LookupTableSnapshot,
  MAX_LEVEL,
  type NeighborEntry,
  type Side,
} from '../lookup-table.js'

/** Anything with a lookup table: a `SkipGraphNode`, or a plain snapshot holder. */
export interface CheckableNode {
  readonly identity: Identity
  lookupTable(): LookupTableSnapshot
}

/** One inconsistency found by {@link checkSkipGraph}. */
export interface Violation {
  /** The level of the inconsistent pointer. */
  readonly level: number
  /** The node whose pointer is wrong. */
  readonly node: Identifier
  /** Which pointer. */
  readonly side: Side
  /** What the pointer should be (the adjacent node of the same level-prefix group), or null. */
  readonly expected: Identifier | null
  /** What the pointer is, or null. */
  readonly actual: Identifier | null
  /** A human-readable summary. */
  readonly message: string
}

function bitString(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(2).padStart(8, '0')
  return s
}

function short(id: Identifier | null): string {
  return id === null ? 'null' : id.toHex().slice(0, 12)
}

/**
 * Checks a skip graph globally: at every level i, for every group of nodes sharing an i-bit membership-vector
 * prefix, the lists formed by the nodes' right and left pointers are sorted by identifier, doubly linked, and
 * contain exactly the group (so each pointer is the adjacent group member, or null at the ends). Entries must
 * also carry the neighbour's true membership vector. Levels are checked up to the one where every group is a
 * single node and no table has an entry.
 *
 * @param nodes every node that should be in the graph (the departed and crashed ones excluded).
 * @param options.maxViolations stop after this many. @default 1000
 * @returns the violations; empty when the graph is correct.
 */
export function checkSkipGraph(
  nodes: readonly (CheckableNode | LookupTableSnapshot)[],
  options: { maxViolations?: number } = {},
): Violation[] {
  const max = options.maxViolations ?? 1000
  const snapshots = nodes.map((n) => ('lookupTable' in n ? n.lookupTable() : n))
  const entries = snapshots
    .map((snap) => ({
      snap,
      id: snap.owner.id,
      bits: bitString(snap.owner.mv.bytes),
      hex: snap.owner.id.toHex(),
    }))
    .sort((a, b) => a.id.compare(b.id))
  const byHex = new Map(entries.map((e) => [e.hex, e]))
  const violations: Violation[] = []
  const add = (v: Violation): boolean => {
    violations.push(v)
    return violations.length >= max
  }
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.id.equals(entries[i - 1]!.id)) {
      const id = entries[i]!.id
      if (
        add({
          level: 0,
          node: id,
          side: 'left',
          expected: null,
          actual: id,
          message: `duplicate node ${short(id)}`,
        })
      ) {
        return violations
      }
    }
  }
  const maxTableLevel = Math.max(-1, ...snapshots.map((s) => s.levels.length - 1))
  for (let level = 0; level <= MAX_LEVEL; level++) {
    const groups = new Map<string, typeof entries>()
    for (const e of entries) {
      const key = e.bits.slice(0, level)
      let g = groups.get(key)
      if (g === undefined) {
        g = []
        groups.set(key, g)
      }
      g.push(e)
    }
    let allSingletons = true
    for (const g of groups.values()) {
      if (g.length > 1) allSingletons = false
      for (let k = 0; k < g.length; k++) {
        const e = g[k]!
        const lv = e.snap.levels[level]
        for (const side of ['left', 'right'] as const) {
          const expected = (side === 'left' ? g[k - 1] : g[k + 1]) ?? null
          const actual: NeighborEntry | null = lv === undefined ? null : side === 'left' ? lv.left : lv.right
          const ok =
            expected === null
              ? actual === null
              : actual?.id.equals(expected.id) && actual.mv.equals(expected.snap.owner.mv)
          if (!ok) {
            const expectedId = expected === null ? null : expected.id
            const actualId = actual === null ? null : actual.id
            const known = actual === null || byHex.has(actual.id.toHex()) ? '' : ' (not a member)'
            const message = `level ${level}: ${short(e.id)}.${side} is ${short(actualId)}${known}, expected ${short(expectedId)}`
            if (add({ level, node: e.id, side, expected: expectedId, actual: actualId, message }))
              return violations
          }
        }
      }
    }
    if (allSingletons && level >= maxTableLevel) break
  }
  return violations
}

/**
 * The documented result of `searchById(target)` started at `start`, over the identifiers of the graph:
 * the node holding `target` if present; else, when `target > start` (searching right), the greatest identifier
 * ≤ target, and when `target < start` (searching left), the smallest identifier ≥ target; `start` itself when
 * no identifier lies between them.
 *
 * @param sortedIds every identifier of the graph, sorted ascending (`a.compare(b)`); must contain `start`.
 */
export function searchOracle(
  sortedIds: readonly Identifier[],
  start: Identifier,
  target: Identifier,
): { result: Identifier; found: boolean } {
  // index of the first id > target
  let lo = 0
  let hi = sortedIds.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sortedIds[mid]!.compare(target) <= 0) lo = mid + 1
    else hi = mid
  }
  const floor = lo > 0 ? sortedIds[lo - 1]! : undefined
  if (floor?.equals(target)) return { result: floor, found: true }
  if (target.compare(start) >= 0) {
    const result = floor !== undefined && floor.compare(start) >= 0 ? floor : start
    return { result, found: result.equals(target) }
  }
  const ceil = sortedIds[lo]
  const result = ceil !== undefined && ceil.compare(start) <= 0 ? ceil : start
  return { result, found: result.equals(target) }
}

export { hasDeadEntry, oneGraph, repaired, settle } from './settle.js'
