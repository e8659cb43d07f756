/**
 * List check: finds a level's list split in two whose members interleave. Each part is consistent (every
 * neighbour points back), so no probe notices it; it is left behind by repairs that ran while the level below
 * was still being relinked (a walk along that level missed a live node). The check uses the skip-graph invariant
 * that the join relies on: at level i ≥ 1, a node's left neighbour is the nearest node on its left in its level
 * i−1 list that shares its level-i prefix and is linked at level i. A node checks one level a round (one unlocked
 * walk, about two reads); a nearer node found is handed to the repair, which relinks the level toward it under
 * locks. Every node's left neighbour being right, plus the probes' back-pointer check, makes every list one list.
 * Before the walk, a round reads the node's own table from above (no message): a neighbour at level i nearer than
 * the one at level i−1 on that side (or with none there) shows the level-(i−1) list split, at level 0 too, where
 * there is no level below to walk.
 *
 * @module
 */
import type { Identifier } from '@skipmesh/core'
import type { SkipGraphMetrics } from './contract.js'
import { type Side, sharesPrefix } from './lookup-table.js'
import type { Messenger } from './messaging.js'
import type { NodeState } from './state.js'
import { Kind } from './wire.js'

/** Nodes one walk may read before it gives up (a correct list is crossed in about two). */
const CHECK_WALK_STEPS = 32

/** What the check tells the repair. */
export interface ListRepairHooks {
  /** Whether a repair round is running or scheduled (the lists are in flux: no check then). */
  readonly busy: boolean
  /** Relinks `level` with `toward` as the neighbour to aim at on `side` (the left by default). */
  relinkToward(level: number, toward: Identifier, side?: Side): void
}

export interface ListCheckInit {
  readonly state: NodeState
  readonly messenger: Messenger
  readonly repair: ListRepairHooks
  readonly metrics: SkipGraphMetrics
  readonly isReady: () => boolean
  /** How often a level is checked (the probe interval); 0 turns the check off. */
  readonly intervalMs: number
}

export class ListCheck {
  readonly #init: ListCheckInit
  readonly #state: NodeState
  #timer: ReturnType<typeof setTimeout> | undefined
  /**
   * The level the next round checks (round robin from 1 over the levels where this node has a neighbour, and the
   * one above, where it is alone).
   */
  #next = 1
  #stopped = false
  /** Where in [0, 1) the next delay falls between half and one and a half intervals. */
  #phase: number

  constructor(init: ListCheckInit) {
    this.#init = init
    this.#state = init.state
    this.#phase = init.state.identity.id.bytes[0]! / 256
  }

  /** Checks a level every `intervalMs` (±50% jitter), from now on until {@link ListCheck.stop}. */
  schedule(): void {
    const { intervalMs } = this.#init
    if (intervalMs <= 0 || this.#timer !== undefined || this.#stopped) return
    // the jitter comes from the identifier, not the node's PRNG: turning the check on leaves every draw of a
    // seeded node (and so a seeded test's identifiers) as it was
    this.#phase = (this.#phase + 0.618034) % 1
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        if (!this.#init.isReady()) return
        void this.#round().finally(() => this.schedule())
      },
      intervalMs * (0.5 + this.#phase),
    )
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  async #round(): Promise<void> {
    const state = this.#state
    if (state.status !== 'joined' || this.#init.repair.busy) return
    // up to the first level where this node is alone: a node linked there with our prefix, missed by a repair or
    // a join, is a split no other check sees (its right pointer null, ours left null; each side consistent)
    const top = Math.min(state.table.topLevel + 1, state.height)
    if (top < 1) return
    const split = this.#splitBelow()
    if (split !== undefined) {
      this.#init.metrics.splitLists++
      this.#init.repair.relinkToward(split.level, split.toward, split.side)
      return
    }
    if (this.#next > top) this.#next = 1
    const level = this.#next++
    const nearer = await this.#nearerLeft(level)
    if (nearer === undefined || state.status !== 'joined') return
    this.#init.metrics.splitLists++
    this.#init.repair.relinkToward(level, nearer)
  }

  /**
   * The lowest level our own table shows split, read from the level above it (no message): a live neighbour at
   * level i is in our level-(i−1) list too, so our level-(i−1) neighbour on that side must be it or nearer. One
   * that is farther, or none at all, means that list is split in two consistent parts, which no probe notices
   * and, at level 0, no walk below can show (a merge between graphs left one so in the frozen-tab e2e case).
   */
  #splitBelow(): { level: number; side: Side; toward: Identifier } | undefined {
    const table = this.#state.table
    for (let level = 1; level <= table.topLevel; level++) {
      for (const side of ['left', 'right'] as const) {
        const up = table.get(level, side)
        const below = table.get(level - 1, side)
        if (up === null || !up.alive || (below !== null && !below.alive)) continue
        const farther =
          below === null || (side === 'left' ? below.id.compare(up.id) < 0 : below.id.compare(up.id) > 0)
        if (farther) return { level: level - 1, side, toward: up.id }
      }
    }
    return undefined
  }

  /**
   * Walks left along level `level − 1` to the nearest node sharing our level-`level` prefix and linked at
   * `level`; returns it when it lies between our left neighbour at `level` and us, else undefined (also when the
   * walk could not tell: a read failed, a node on the way is unlinked, the walk ran long).
   */
  async #nearerLeft(level: number): Promise<Identifier | undefined> {
    const state = this.#state
    const me = state.identity
    const left = state.table.get(level, 'left')
    if (left !== null && !left.alive) return undefined
    let cur: Identifier | null = state.table.get(level - 1, 'left')?.id ?? null
    for (let steps = 0; cur !== null && steps < CHECK_WALK_STEPS; steps++) {
      if (left !== null && cur.compare(left.id) <= 0) return undefined
      let reply: Awaited<ReturnType<Messenger['request']>>
      try {
        reply = await this.#init.messenger.request(
          cur,
          { kind: Kind.Read, levels: [level - 1, level] },
          undefined,
        )
      } catch {
        return undefined
      }
      if (reply === undefined || !reply.granted || reply.levels.length !== 2) return undefined
      const below = reply.levels[0]!
      const at = reply.levels[1]!
      if (!below.linked) return undefined
      if (at.linked && sharesPrefix(reply.mv, me.mv, level)) {
        // the nearest such node: nearer than our left neighbour (checked above), so the list is split
        return cur.compare(me.id) < 0 ? cur : undefined
      }
      cur = below.left?.id ?? null
    }
    return undefined
  }
}
