/**
 * What one node knows about itself: its identity, lookup table, height and status. Every table write goes
 * through {@link NodeState.setEntry}, which bumps the table version and emits `'neighbor:change'`.
 *
 * @module
 */
import type { Emitter, Identifier } from '@skipmesh/core'
import type { NodeStatus, SkipGraphNodeEvents } from './contract.js'
import {
  type Identity,
  LookupTable,
  type LookupTableSnapshot,
  type NeighborEntry,
  type Side,
} from './lookup-table.js'
import type { WireLevelState } from './wire.js'

/** Whether two entries name the same node (or are both null). */
export function sameId(a: { id: Identifier } | null, b: { id: Identifier } | null): boolean {
  if (a === null || b === null) return a === b
  return a.id.equals(b.id)
}

/** The neighbours of a node grouped by neighbour: the levels (and sides) where each one is our neighbour. */
export interface NeighborGroup {
  readonly id: Identifier
  readonly levels: number[]
  readonly sides: Side[]
}

export class NodeState {
  readonly identity: Identity
  readonly selfHex: string
  readonly table = new LookupTable()
  status: NodeStatus = 'new'
  /** Levels 0..height are linked; MAX_LEVEL once joined (a joined node is, alone, in every level above). */
  height = -1
  readonly #events: Emitter<SkipGraphNodeEvents>
  /** Bumped by every table write (a leave checks nothing linked in between its read and its own lock). */
  #version = 0

  constructor(identity: Identity, events: Emitter<SkipGraphNodeEvents>) {
    this.identity = identity
    this.selfHex = identity.id.toHex()
    this.#events = events
  }

  get version(): number {
    return this.#version
  }

  /** Whether the node is linked at level 0 at least. */
  get linked(): boolean {
    return this.height >= 0
  }

  isSelf(id: Identifier): boolean {
    return id.equals(this.identity.id)
  }

  setEntry(level: number, side: Side, entry: NeighborEntry | null): void {
    this.#version++
    const previous = this.table.set(level, side, entry)
    if (
      previous === entry ||
      (previous !== null && entry !== null && previous.id.equals(entry.id) && previous.alive === entry.alive)
    )
      return
    this.#events.emit('neighbor:change', { level, side, previous, current: entry })
  }

  /** Marks every entry for `id` dead; returns whether any changed. */
  markDead(id: Identifier): boolean {
    const changes = this.table.markDead(id)
    for (const c of changes) this.#events.emit('neighbor:change', c)
    return changes.length > 0
  }

  /** Marks every dead entry for `id` alive again (it answered after all). */
  markAlive(id: Identifier): void {
    for (const c of this.table.markAlive(id)) this.#events.emit('neighbor:change', c)
  }

  hasDeadEntry(): boolean {
    for (let level = 0; level <= this.table.topLevel; level++) if (this.table.hasDead(level)) return true
    return false
  }

  /** Our neighbours up to `top`, one group per node (dead ones only when `withDead`). */
  neighborGroups(top: number, withDead: boolean): NeighborGroup[] {
    const byNode = new Map<string, NeighborGroup>()
    for (let level = 0; level <= top; level++) {
      for (const side of ['left', 'right'] as const) {
        const e = this.table.get(level, side)
        if (e === null || (!withDead && !e.alive)) continue
        const key = e.id.toHex()
        let g = byNode.get(key)
        if (g === undefined) {
          g = { id: e.id, levels: [], sides: [] }
          byNode.set(key, g)
        }
        g.levels.push(level)
        g.sides.push(side)
      }
    }
    return [...byNode.values()]
  }

  /** The state of `levels` as a lock or read reply reports it. */
  levelStates(levels: readonly number[]): WireLevelState[] {
    return levels.map((level) => {
      const l = this.table.get(level, 'left')
      const r = this.table.get(level, 'right')
      return {
        level,
        linked: level <= this.height,
        left: l === null ? null : { id: l.id, mv: l.mv },
        right: r === null ? null : { id: r.id, mv: r.mv },
      }
    })
  }

  /** Forgets the table (after a leave). */
  clear(top: number): void {
    this.height = -1
    for (let level = top; level >= 0; level--) {
      this.setEntry(level, 'left', null)
      this.setEntry(level, 'right', null)
    }
    this.table.clear()
  }

  snapshot(): LookupTableSnapshot {
    return this.table.snapshot(this.identity, this.height)
  }
}
