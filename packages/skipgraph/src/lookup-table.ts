import type { Identifier, MembershipVector } from '@skipmesh/core'

/** Highest level index a lookup table has: levels are 0–255 (a membership vector has 256 bits). */
export const MAX_LEVEL = 255

/** A skip-graph node's identity: the key the graph is ordered by and its membership vector. */
export interface Identity {
  /** The identifier: the node's key in the graph and its network address (`network.localId`). */
  readonly id: Identifier
  /** Random bits; nodes sharing an i-bit prefix are linked in one list at level i. */
  readonly mv: MembershipVector
}

/** One neighbour in a lookup table. */
export interface NeighborEntry {
  /** The neighbour's identifier. */
  readonly id: Identifier
  /** The neighbour's membership vector. */
  readonly mv: MembershipVector
  /** False once a send to it failed (it crashed without leaving); searches route around it. */
  readonly alive: boolean
}

/** Which neighbour of a level. */
export type Side = 'left' | 'right'

/** One level of a {@link LookupTableSnapshot}. */
export interface LookupTableLevel {
  /** The level, 0–255. */
  readonly level: number
  /** The nearest smaller identifier sharing `level` membership-vector bits with the owner, if any. */
  readonly left: NeighborEntry | null
  /** The nearest larger identifier sharing `level` membership-vector bits with the owner, if any. */
  readonly right: NeighborEntry | null
}

/** An immutable copy of a node's lookup table. */
export interface LookupTableSnapshot {
  /** The node the table belongs to. */
  readonly owner: Identity
  /**
   * Levels 0 up to the highest level with a neighbour (one more level, both sides `null`, shows where the node
   * is alone). Empty before the node joined and after it left. Above the last level the node is alone.
   */
  readonly levels: readonly LookupTableLevel[]
}

/**
 * The mutable lookup table a node keeps: a left and a right neighbour per level (0–255). Levels above
 * {@link LookupTable.topLevel} have no neighbours.
 */
export class LookupTable {
  readonly #left: Array<NeighborEntry | null> = []
  readonly #right: Array<NeighborEntry | null> = []
  #top = -1

  /** Highest level with a neighbour on either side, or -1 when there is none. */
  get topLevel(): number {
    return this.#top
  }

  /** The neighbour at `level` on `side`, or null. */
  get(level: number, side: Side): NeighborEntry | null {
    return (side === 'left' ? this.#left[level] : this.#right[level]) ?? null
  }

  /** Sets the neighbour at `level` on `side`; returns the previous one. @throws {RangeError} outside 0–255. */
  set(level: number, side: Side, entry: NeighborEntry | null): NeighborEntry | null {
    if (!Number.isInteger(level) || level < 0 || level > MAX_LEVEL)
      throw new RangeError(`level ${level} out of range`)
    const arr = side === 'left' ? this.#left : this.#right
    const previous = arr[level] ?? null
    while (arr.length <= level) arr.push(null)
    arr[level] = entry
    if (entry !== null && level > this.#top) this.#top = level
    else if (entry === null && level === this.#top) this.#recomputeTop()
    return previous
  }

  /** Marks every entry for `id` dead; returns the (level, side) pairs that changed. */
  markDead(
    id: Identifier,
  ): Array<{ level: number; side: Side; previous: NeighborEntry; current: NeighborEntry }> {
    const changed: Array<{ level: number; side: Side; previous: NeighborEntry; current: NeighborEntry }> = []
    for (const side of ['left', 'right'] as const) {
      const arr = side === 'left' ? this.#left : this.#right
      for (let level = 0; level < arr.length; level++) {
        const e = arr[level]
        if (e?.alive && e.id.equals(id)) {
          const current: NeighborEntry = { id: e.id, mv: e.mv, alive: false }
          arr[level] = current
          changed.push({ level, side, previous: e, current })
        }
      }
    }
    return changed
  }

  /** Whether any entry at `level` is marked dead. */
  hasDead(level: number): boolean {
    return this.#left[level]?.alive === false || this.#right[level]?.alive === false
  }

  /** Marks every dead entry for `id` alive again (it answered after all); returns the changed pairs. */
  markAlive(
    id: Identifier,
  ): Array<{ level: number; side: Side; previous: NeighborEntry; current: NeighborEntry }> {
    const changed: Array<{ level: number; side: Side; previous: NeighborEntry; current: NeighborEntry }> = []
    for (const side of ['left', 'right'] as const) {
      const arr = side === 'left' ? this.#left : this.#right
      for (let level = 0; level < arr.length; level++) {
        const e = arr[level]
        if (e !== null && e !== undefined && !e.alive && e.id.equals(id)) {
          const current: NeighborEntry = { id: e.id, mv: e.mv, alive: true }
          arr[level] = current
          changed.push({ level, side, previous: e, current })
        }
      }
    }
    return changed
  }

  /** Removes every entry. */
  clear(): void {
    this.#left.length = 0
    this.#right.length = 0
    this.#top = -1
  }

  /** An immutable copy (levels 0 to `topLevel + 1`, or none when `linkedUpTo` is -1). */
  snapshot(owner: Identity, linkedUpTo: number): LookupTableSnapshot {
    const last = Math.min(MAX_LEVEL, Math.min(linkedUpTo, this.#top + 1))
    const levels: LookupTableLevel[] = []
    for (let level = 0; level <= last; level++) {
      levels.push({ level, left: this.get(level, 'left'), right: this.get(level, 'right') })
    }
    return { owner, levels }
  }

  #recomputeTop(): void {
    let top = Math.max(this.#left.length, this.#right.length) - 1
    while (top >= 0 && (this.#left[top] ?? null) === null && (this.#right[top] ?? null) === null) top--
    this.#top = top
  }
}

/** Whether `a` and `b` share at least `bits` leading membership-vector bits. */
export function sharesPrefix(a: MembershipVector, b: MembershipVector, bits: number): boolean {
  if (bits <= 0) return true
  const full = bits >> 3
  for (let i = 0; i < full; i++) if (a.bytes[i] !== b.bytes[i]) return false
  const rest = bits & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return ((a.bytes[full]! ^ b.bytes[full]!) & mask) === 0
}
