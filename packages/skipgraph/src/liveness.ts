/**
 * Liveness: which nodes are dead to us (a send failed with a sign that the peer is gone), which we heard from
 * lately, probes of our neighbours (liveness and back-pointers), and the check of a lock holder that a waiting
 * lock request depends on. What it finds goes to the repair (README, "Failure handling").
 *
 * @module
 */
import { Identifier } from '@skipmesh/core'
import type { SkipGraphMetrics } from './contract.js'
import type { LockTable } from './locks.js'
import type { Side } from './lookup-table.js'
import { isDeadSignal, type Messenger } from './messaging.js'
import { type NodeState, sameId } from './state.js'
import { Kind, type LockReplyMsg, type ReadMsg } from './wire.js'

/** Identifiers remembered as dead (found unreachable by a failed send). */
const DEAD_REMEMBERED = 4096
/** Nodes remembered as heard from (the places a repair's discovery starts from besides the table). */
const HEARD_REMEMBERED = 64
/** Neighbours whose last probe of us is remembered (more than any table has distinct neighbours). */
const PROBED_BY_REMEMBERED = 1024

/** Sets `key` in the insertion-ordered `map`, dropping the oldest entry beyond `max`. */
export function addBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.set(key, value)
  if (map.size > max) {
    const oldest = map.keys().next().value
    if (oldest !== undefined) map.delete(oldest)
  }
}

/** What liveness tells the repair. */
export interface RepairHooks {
  /** Starts a repair round after `delayMs` (a dead entry or an inconsistent level waits for it). */
  schedule(delayMs: number): void
  /** Marks `level` for relinking: a neighbour there does not point back at us. */
  relinkLevel(level: number): void
}

export interface LivenessInit {
  readonly state: NodeState
  readonly messenger: Messenger
  readonly locks: LockTable
  readonly metrics: SkipGraphMetrics
  readonly repair: RepairHooks
  readonly isReady: () => boolean
  readonly random: () => number
  /** How often neighbours are probed; 0 turns probing off. */
  readonly probeIntervalMs: number
}

export class Liveness {
  readonly #init: LivenessInit
  /** Identifiers a send found unreachable (oldest first); a message from one of them removes it. */
  readonly #dead = new Map<string, true>()
  /** Nodes we heard from lately (bounded, oldest first): where a repair looks when our pointers do not help. */
  readonly #heard = new Map<string, Identifier>()
  /** Lock holders whose liveness is being checked (a lock request is waiting for them). */
  readonly #holderChecks = new Set<string>()
  /**
   * Neighbours whose probe of us (carrying their view) we checked, by hex, with when (oldest first): such a
   * neighbour is not probed by us within one probe interval of it.
   */
  readonly #probedBy = new Map<string, number>()
  /** Neighbours that answered a probe carrying a view with nonsense (a build before views): read plainly. */
  readonly #plainReaders = new Map<string, true>()
  #probeTimer: ReturnType<typeof setTimeout> | undefined

  constructor(init: LivenessInit) {
    this.#init = init
  }

  /** Whether a send found the node `hex` unreachable (and it has not been heard from since). */
  isDead(hex: string): boolean {
    return this.#dead.has(hex)
  }

  /** The nodes heard from lately, oldest first. */
  heard(): IterableIterator<Identifier> {
    return this.#heard.values()
  }

  /** Remembers a node we heard from or of (bounded, oldest dropped first). */
  remember(id: Identifier): void {
    const hex = id.toHex()
    if (this.#heard.has(hex) || hex === this.#init.state.selfHex) return
    addBounded(this.#heard, hex, id, HEARD_REMEMBERED)
  }

  /** A message came from `origin`: it is alive (its entries count as alive again if a send had failed). */
  heardFrom(origin: Identifier): void {
    this.remember(origin)
    if (this.#dead.size > 0 && this.#dead.delete(origin.toHex())) this.#init.state.markAlive(origin)
  }

  /** A send to `id` failed with a sign that it is gone: mark it dead everywhere and break its locks. */
  noteDead(id: Identifier): void {
    const { state, locks, metrics, messenger } = this.#init
    if (!this.#init.isReady() || state.isSelf(id)) return
    const hex = id.toHex()
    if (!this.#dead.has(hex)) addBounded(this.#dead, hex, true, DEAD_REMEMBERED)
    this.markDead(id)
    metrics.locksBroken += locks.breakLocksOf(hex)
    // requests still waiting for it will not be answered
    messenger.failPeer(hex)
  }

  /** Marks the table entries for `id` dead (searches route around them) and starts their repair. */
  markDead(id: Identifier): void {
    if (!this.#init.state.markDead(id)) return
    this.#init.metrics.deadNeighbors++
    this.#init.repair.schedule(0)
  }

  /**
   * A lock request waits for `key`'s holder: check that the holder is alive (once at a time); a holder that
   * cannot be reached loses its locks, so a crash in the middle of a join or leave does not block its neighbours.
   */
  checkHolder(key: string): void {
    const hex = key.slice(0, key.indexOf(':'))
    if (hex === this.#init.state.selfHex || this.#holderChecks.has(hex)) return
    if (this.#dead.has(hex)) {
      this.#init.metrics.locksBroken += this.#init.locks.breakLocksOf(hex)
      return
    }
    this.#holderChecks.add(hex)
    void this.probe(Identifier.fromHex(hex)).finally(() => this.#holderChecks.delete(hex))
  }

  /**
   * Reads level 0 of `id`: 'alive' when it answers, 'dead' when the send fails, 'unknown' on a timeout, an
   * invalid reply or a remote error.
   */
  async probe(id: Identifier): Promise<'alive' | 'dead' | 'unknown'> {
    try {
      const reply = await this.#init.messenger.request(id, { kind: Kind.Read, levels: [0] }, undefined)
      return reply === undefined ? 'unknown' : 'alive'
    } catch (err) {
      return isDeadSignal(err) ? 'dead' : 'unknown'
    }
  }

  /**
   * Probes every live neighbour every `probeIntervalMs` (±50% jitter), from now on while the node is linked;
   * a neighbour whose own probe of us came within the last interval is not probed (one probe per neighbour pair:
   * see {@link Liveness.probedBy}).
   */
  scheduleProbe(): void {
    const { probeIntervalMs, state, random } = this.#init
    if (probeIntervalMs <= 0 || this.#probeTimer !== undefined || !this.#init.isReady()) return
    const delay = probeIntervalMs * (0.5 + random())
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = undefined
      if (!this.#probing()) return
      const since = performance.now() - probeIntervalMs
      for (const g of state.neighborGroups(state.table.topLevel, false)) {
        if ((this.#probedBy.get(g.id.toHex()) ?? -Infinity) >= since) continue
        void this.#probeLinks(g.id, g.levels, g.sides, !this.#plainReaders.has(g.id.toHex()))
      }
      this.scheduleProbe()
    }, delay)
  }

  /**
   * A neighbour's probe of us arrived, with its `view`: the levels it is linked at where we are its neighbour.
   * When it names every level where we point at it, our pointers are confirmed as our own probe of it would have
   * confirmed them (and it is alive: it sent), so we do not probe it for one interval. When it does not, the view
   * may be older than our pointer (a commit crossed the probe): nothing is decided on it, and our next round
   * probes that neighbour as it always did. Only while our own probes run (the same condition), so a node with
   * probing off acts as before.
   */
  probedBy(origin: Identifier, view: readonly number[]): void {
    if (this.#init.probeIntervalMs <= 0 || !this.#probing()) return
    const { state } = this.#init
    let pointed = false
    let confirmed = true
    for (let level = 0; level <= state.table.topLevel; level++) {
      for (const side of ['left', 'right'] as const) {
        const e = state.table.get(level, side)
        if (e === null || !e.alive || !e.id.equals(origin)) continue
        pointed = true
        if (!view.includes(level)) confirmed = false
      }
    }
    const hex = origin.toHex()
    this.#probedBy.delete(hex)
    // not confirmed: our next round probes it as before (reading it at once would land in the very window a
    // commit of its opens, before it confirms that level, and relink a level its join is linking)
    if (!pointed || !confirmed) return
    // re-inserted last: the map stays oldest first
    addBounded(this.#probedBy, hex, performance.now(), PROBED_BY_REMEMBERED)
  }

  stop(): void {
    clearTimeout(this.#probeTimer)
    this.#probeTimer = undefined
  }

  /** Whether probes run now: the node is ready, linked and not leaving. */
  #probing(): boolean {
    const { state } = this.#init
    return this.#init.isReady() && state.height >= 0 && state.status !== 'leaving'
  }

  /**
   * Reads the levels where `id` is our neighbour: a failed send marks it dead; a level where it does not point
   * back at us (a repair elsewhere missed us) is relinked. With `withView` the read carries our view of `id` (the
   * levels among these we are linked at), so that `id` checks its pointers at us without probing us.
   */
  async #probeLinks(id: Identifier, levels: number[], sides: Side[], withView: boolean): Promise<void> {
    const { state, repair } = this.#init
    const read: ReadMsg = withView
      ? { kind: Kind.Read, levels, view: levels.filter((level) => level <= state.height) }
      : { kind: Kind.Read, levels }
    let reply: LockReplyMsg | undefined
    try {
      reply = await this.#init.messenger.request(id, read, undefined)
    } catch {
      return
    }
    // a build that reads no view answers a probe with one as malformed: it gets plain reads from now on
    if (reply === undefined && read.view !== undefined) {
      addBounded(this.#plainReaders, id.toHex(), true, PROBED_BY_REMEMBERED)
    }
    if (reply === undefined || !reply.granted || reply.levels.length !== levels.length) return
    let inconsistent = false
    for (let k = 0; k < levels.length; k++) {
      const st = reply.levels[k]!
      const side = sides[k]!
      const level = levels[k]!
      if (st.level !== level || !sameId(state.table.get(level, side), { id })) continue
      const back = side === 'right' ? st.left : st.right
      if (st.linked && back?.id.equals(state.identity.id) === true) continue
      repair.relinkLevel(level)
      inconsistent = true
    }
    if (inconsistent) repair.schedule(0)
  }
}
