/**
 * Repair: relinks this node around dead neighbours (and at levels where a neighbour does not point back), one
 * transaction per level under the join's lock discipline, in rounds that repeat with backoff until no dead
 * entry is left (README, "Failure handling").
 *
 * @module
 */
import type { Identifier } from '@skipmesh/core'
import type { SkipGraphMetrics } from './contract.js'
import type { Linker, Located } from './linking.js'
import { addBounded, type Liveness } from './liveness.js'
import { type RepairWalkInit, walkBelow } from './repair-walk.js'
import { MAX_LEVEL, type Side, sharesPrefix } from './lookup-table.js'
import { isDeadSignal, type Messenger } from './messaging.js'
import { type NodeState, sameId } from './state.js'
import { Conflict, type Transactions, type Txn } from './transactions.js'
import { type ApplyWrite, Kind, type LockReplyMsg, type WireNeighbor } from './wire.js'

/** Levels read per step of a repair walk (enough for 2^32 nodes). */
const REPAIR_READ_LEVELS = 32
/** Failed rounds after which a level asked for by a probe or a failed commit is no longer retried. */
const RELINK_RETRIES = 10
/** Nodes a repair may ask for their tables when it knows nobody beyond a dead neighbour. */
const REPAIR_DISCOVERY_READS = 256
/** Nodes remembered as absent from a list they are still named in (see `Repair.#absent`). */
const ABSENT_REMEMBERED = 256

/**
 * A repair at level i found its level i−1 neighbour dead (marked after the round passed that level): the round
 * stops and starts again from the lowest level, instead of retrying a walk along a level not yet relinked.
 */
class BelowBroken extends Error {
  override readonly name = 'BelowBroken'
}

export interface RepairInit {
  readonly state: NodeState
  readonly txns: Transactions
  readonly linker: Linker
  readonly liveness: Liveness
  readonly messenger: Messenger
  readonly metrics: SkipGraphMetrics
  readonly isReady: () => boolean
  readonly random: () => number
}

export class Repair {
  readonly #init: RepairInit
  readonly #state: NodeState
  readonly #txns: Transactions
  #timer: ReturnType<typeof setTimeout> | undefined
  #running = false
  #again = false
  #failures = 0
  /** Levels a probe found inconsistent (a neighbour does not point back): relinked like a dead entry. */
  readonly #relinkLevels = new Set<number>()
  /** A live node a relink found between us and the neighbour it aimed at: tried first next time. */
  readonly #relinkHints = new Map<string, Identifier>()
  /**
   * Live nodes found not linked at a level although a neighbour of ours there (a node that left its lists without
   * unlinking, as a stranded node moving to another graph does), with the lowest such level: the walks go past
   * them there and above.
   */
  readonly #absent = new Map<string, number>()
  /** Resolved when a repair round ends (searches blocked by a dead neighbour wait for it). */
  #waiters: Array<() => void> = []

  readonly #walkInit: RepairWalkInit

  constructor(init: RepairInit) {
    this.#init = init
    this.#state = init.state
    this.#txns = init.txns
    this.#walkInit = {
      state: init.state,
      txns: init.txns,
      isDead: (hex) => init.liveness.isDead(hex),
      walkGuard: () => init.linker.walkGuard(),
    }
  }

  /** Whether a repair round is running or scheduled. */
  get busy(): boolean {
    return this.#running || this.#timer !== undefined
  }

  /** Marks `level` for relinking at the next round. */
  relinkLevel(level: number): void {
    this.#relinkLevels.add(level)
  }

  /**
   * Relinks `level` now, aiming at `toward` on `side`: a live node nearer than our neighbour there, which the list
   * check found (our list is split in two).
   */
  relinkToward(level: number, toward: Identifier, side: Side = 'left'): void {
    this.#relinkHints.set(`${level}:${side}`, toward)
    this.#relinkLevels.add(level)
    this.schedule(0)
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#wakeWaiters()
  }

  /**
   * Repairs run while the node is linked and not leaving: also during a join (it repairs the levels it is
   * linked at, and the join's own transaction works one level above).
   */
  #mayRepair(): boolean {
    return (
      this.#init.isReady() &&
      this.#state.height >= 0 &&
      (this.#state.status === 'joined' ||
        this.#state.status === 'joining' ||
        this.#state.status === 'incomplete')
    )
  }

  #wakeWaiters(): void {
    for (const w of this.#waiters.splice(0)) w()
  }

  /** Resolves when the current (or next) repair round ends, or at once when nothing is to repair. */
  round(): Promise<void> {
    if (!this.#running && this.#timer === undefined) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  schedule(delayMs: number): void {
    if (!this.#init.isReady()) return
    if (this.#running) {
      this.#again = true
      return
    }
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#run()
    }, delayMs)
  }

  /**
   * One repair round: every level with a dead entry, lowest first (a level's walk uses the level below), is
   * relinked by a transaction. Rounds repeat, with backoff after a failure, until no dead entry is left.
   */
  async #run(): Promise<void> {
    if (!this.#mayRepair()) {
      this.#wakeWaiters()
      return
    }
    this.#running = true
    this.#again = false
    let failed = false
    try {
      // levels a relink was asked for may lie one above the top (the list check found a split where we are alone)
      const top = Math.max(this.#state.table.topLevel, ...this.#relinkLevels)
      for (let level = 0; level <= Math.min(top, this.#state.height); level++) {
        if (!this.#needsRelink(level)) continue
        try {
          await this.#txns.run('repair', (txn) => this.#relink(txn, level), undefined)
          this.#init.metrics.repairs++
          this.#relinkLevels.delete(level)
        } catch (err) {
          if (err instanceof BelowBroken) {
            // a neighbour below was found dead meanwhile: start again from the lowest level, at once
            this.#again = true
            break
          }
          // a level a probe or a failed commit asked for is tried again in the next rounds (a few times:
          // a probe asks again while the level stays wrong)
          if (this.#failures >= RELINK_RETRIES) this.#relinkLevels.delete(level)
          failed = true
          break
        }
      }
    } finally {
      this.#running = false
      // levels this node is not linked at (any more) have nothing to relink
      for (const level of this.#relinkLevels) if (level > this.#state.height) this.#relinkLevels.delete(level)
    }
    this.#failures = failed ? this.#failures + 1 : 0
    if (this.#mayRepair() && (this.#again || this.#relinkLevels.size > 0 || this.#state.hasDeadEntry())) {
      const cap = Math.min(2000, 20 * 2 ** Math.min(this.#failures, 10))
      this.schedule(failed ? this.#init.random() * cap : 0)
      if (!failed) return // the waiters get the next round's outcome
    }
    this.#wakeWaiters()
  }

  /**
   * Relinks this node at `level` between the nearest live nodes on both sides (found by unlocked walks, a hint),
   * under the join's lock discipline: the left one, ourselves, the right one, in ascending identifier order.
   * Validated under the locks: each of them points at us, at the other, or at a node between that is dead (a
   * fresh probe fails). Then we point at them and they at us. A live node that the walks missed (its pointers
   * lead only to dead nodes) relinks itself the same way: between the two nodes that now point at each other.
   */
  async #relink(txn: Txn, level: number): Promise<void> {
    const me = this.#state.identity
    if (!this.#needsRelink(level)) return
    const leftId = await this.#nearestLive(txn, level, 'left')
    const rightId = await this.#nearestLive(txn, level, 'right')
    // locks in ascending identifier order: a displaced left neighbour first, then the left we aim at
    const oldLeft = this.#displaced(level, 'left', leftId)
    const movedLeft = oldLeft === null ? null : await this.#lockDisplaced(txn, oldLeft, level, 'left')
    let left: Located | null = null
    if (leftId !== null) {
      left = await this.#locate(txn, leftId, level, 'right')
      if (!sharesPrefix(left.mv, me.mv, level) || left.id.compare(me.id) >= 0)
        throw new Conflict('bad left neighbour')
    }
    this.#txns.lockOwn(txn, [level])
    if (oldLeft !== null && !sameId(this.#state.table.get(level, 'left'), { id: oldLeft }))
      throw new Conflict('table changed')
    let right: Located | null = null
    if (rightId !== null) {
      right = await this.#locate(txn, rightId, level, 'left')
      if (!sharesPrefix(right.mv, me.mv, level) || right.id.compare(me.id) <= 0)
        throw new Conflict('bad right neighbour')
    }
    const oldRight = this.#displaced(level, 'right', rightId)
    const movedRight = oldRight === null ? null : await this.#lockDisplaced(txn, oldRight, level, 'right')
    // What the three point at across the gap: us, the other one, a node beyond the gap (a pointer that skips
    // us: we are a member it missed, so pointing it at us is a correction), or a node in the gap, which must be
    // dead (the walks found no live one there).
    const lo = left?.id ?? null
    const hi = right?.id ?? null
    const checks: Array<Identifier | null> = [
      left?.across?.id ?? null,
      right?.across?.id ?? null,
      this.#state.table.get(level, 'left')?.id ?? null,
      this.#state.table.get(level, 'right')?.id ?? null,
    ]
    const probed = new Set<string>()
    for (const x of checks) {
      if (x === null || x.equals(me.id) || (lo !== null && x.equals(lo)) || (hi !== null && x.equals(hi)))
        continue
      if ((lo !== null && x.compare(lo) < 0) || (hi !== null && x.compare(hi) > 0)) continue
      const hex = x.toHex()
      if (probed.has(hex)) continue
      probed.add(hex)
      const state = await this.#member(x, level)
      if (state === 'absent') continue // alive but not in the list: pointing past it is a correction
      if (state === 'alive') {
        // a live node we missed lies between: aim at it next time (the lock validates it), and on the other side
        // at the node we aimed at now, so that the gap narrows from both ends (two nearer nodes, one a side, are
        // found one attempt each)
        const side = x.compare(me.id) > 0 ? 'right' : 'left'
        const other = side === 'right' ? 'left' : 'right'
        const kept = side === 'right' ? lo : hi
        this.#relinkHints.set(`${level}:${side}`, x)
        if (kept !== null) this.#relinkHints.set(`${level}:${other}`, kept)
      }
      if (state !== 'dead') throw new Conflict(`a node between is ${state}`)
    }
    if (txn.aborted) throw new Conflict('transaction already finished')
    this.#state.setEntry(level, 'left', left === null ? null : { id: left.id, mv: left.mv, alive: true })
    this.#state.setEntry(level, 'right', right === null ? null : { id: right.id, mv: right.mv, alive: true })
    const self: WireNeighbor = { id: me.id, mv: me.mv }
    const applies: Promise<void>[] = []
    for (const [near, side, moved] of [
      [left, 'left', movedLeft],
      [right, 'right', movedRight],
    ] as const) {
      if (near === null) continue
      const towardUs: Side = side === 'left' ? 'right' : 'left'
      const writes: ApplyWrite[] = sameId(near.across, self) ? [] : [{ level, side: towardUs, entry: self }]
      // the neighbour we had on this side lies beyond the nearer node we link to now, and still points at us:
      // it gets that node instead (when nothing lies between them), or its pointer at us would be left stale
      // with nobody to look at it but a probe
      if (moved !== null && (near.beyond === null || sameId(near.beyond, moved))) {
        if (near.beyond === null) writes.push({ level, side, entry: moved })
        applies.push(
          this.#txns.apply(txn, moved.id, [{ level, side: towardUs, entry: { id: near.id, mv: near.mv } }]),
        )
      }
      if (writes.length > 0) applies.push(this.#txns.apply(txn, near.id, writes))
    }
    const results = await Promise.allSettled(applies)
    if (results.some((x) => x.status === 'rejected')) throw new Conflict('a repair write failed')
    // nodes locked as members here are in the lists again (they rejoined)
    for (const x of [left, right]) if (x !== null) this.#absent.delete(x.id.toHex())
  }

  /**
   * Our `side` neighbour at `level` when a relink aims past it at a nearer node (`aimed`) and it is neither dead
   * nor absent: it may still point at us, and then has to be handed on (see {@link Repair.#lockDisplaced}).
   */
  #displaced(level: number, side: Side, aimed: Identifier | null): Identifier | null {
    const e = this.#state.table.get(level, side)
    if (e === null || aimed === null || e.id.equals(aimed)) return null
    if ((side === 'right' ? e.id.compare(aimed) : aimed.compare(e.id)) < 0) return null
    if (this.#deadAt(level, side) || this.#isAbsent(e.id, level)) return null
    return e.id
  }

  /**
   * Locks a displaced neighbour `node` at `level` (our old `side` neighbour, beyond the node a relink links us to
   * there): returned when it is a member of the list that still points back at us, else null (a node that is
   * dead, absent, silent or points elsewhere is left as it is).
   * @throws {Conflict} when it answered but cannot be locked now.
   */
  async #lockDisplaced(txn: Txn, node: Identifier, level: number, side: Side): Promise<WireNeighbor | null> {
    // best effort: a neighbour that does not answer (frozen, or the read lost) must not hold up the relink itself
    if ((await this.#member(node, level)) !== 'alive') return null
    const st = await this.#txns.lock(txn, node, [level])
    const s = st.levels[0]!
    const back = side === 'left' ? s.right : s.left
    const pointsBack = s.linked && back?.id.equals(this.#state.identity.id) === true
    return pointsBack && sharesPrefix(st.mv, this.#state.identity.mv, level) ? { id: node, mv: st.mv } : null
  }

  /**
   * Locks `node` at `level` (the linker's locate); when that fails, asks whether `node` is in the level's list at
   * all, and remembers it as absent when it is not, so that the next attempt looks past it.
   */
  async #locate(txn: Txn, node: Identifier, level: number, pointer: Side): Promise<Located> {
    try {
      return await this.#init.linker.locate(txn, node, level, pointer)
    } catch (err) {
      if (err instanceof Conflict && !txn.aborted && (await this.#member(node, level)) === 'absent') {
        this.#rememberAbsent(node, level)
      }
      throw err
    }
  }

  /** Remembers `node` as not in our list at `level` (and above): the walks and the discovery look past it. */
  #rememberAbsent(node: Identifier, level: number): void {
    const hex = node.toHex()
    addBounded(this.#absent, hex, Math.min(level, this.#absent.get(hex) ?? level), ABSENT_REMEMBERED)
  }

  /**
   * Whether `x` is a member of our level-`level` list: 'alive' when it answers linked there with our prefix,
   * 'absent' when it answers otherwise (or that it left, or is linked nowhere), 'dead' when the send fails,
   * 'unknown' on a timeout or an invalid reply.
   */
  async #member(x: Identifier, level: number): Promise<'alive' | 'absent' | 'dead' | 'unknown'> {
    try {
      const st = await this.#init.messenger.request(x, { kind: Kind.Read, levels: [level] }, undefined)
      if (st === undefined) return 'unknown'
      const at = st.levels[0]
      if (!st.granted || at === undefined) return 'absent'
      return at.linked && sharesPrefix(st.mv, this.#state.identity.mv, level) ? 'alive' : 'absent'
    } catch (err) {
      return isDeadSignal(err) ? 'dead' : 'unknown'
    }
  }

  /** Whether our `side` entry at `level` is dead (marked in the table, or its node found unreachable since). */
  #deadAt(level: number, side: Side): boolean {
    const e = this.#state.table.get(level, side)
    return e !== null && (!e.alive || this.#init.liveness.isDead(e.id.toHex()))
  }

  /** Whether `id` was found not linked at `level` or below (and so is not in our list at `level`). */
  #isAbsent(id: Identifier, level: number): boolean {
    const from = this.#absent.get(id.toHex())
    return from !== undefined && from <= level
  }

  /** Whether `level` has to be relinked: a dead entry, or a probe or the list check asked for it. */
  #needsRelink(level: number): boolean {
    return this.#deadAt(level, 'left') || this.#deadAt(level, 'right') || this.#relinkLevels.has(level)
  }

  /**
   * The nearest live node on `side` of us in our level-`level` list (null when there is none), found without
   * locks (a hint). A live entry is taken as it is. Past a dead one: start from a live node beyond it (our own
   * entries at higher levels; at level ≥ 1 else the walk of the level below, as a join does; at level 0 else the
   * tables of nodes we know) and search back toward us on levels ≥ `level`, stepping over dead nodes.
   */
  async #nearestLive(txn: Txn, level: number, side: Side): Promise<Identifier | null> {
    const me = this.#state.identity.id
    const beyondMe = (id: Identifier): boolean => (side === 'right' ? id.compare(me) > 0 : id.compare(me) < 0)
    const hint = this.#relinkHints.get(`${level}:${side}`)
    this.#relinkHints.delete(`${level}:${side}`)
    const e = this.#state.table.get(level, side)
    if (hint !== undefined && beyondMe(hint) && !this.#init.liveness.isDead(hint.toHex())) return hint
    if (e === null) return null
    if (e.alive && !this.#init.liveness.isDead(e.id.toHex()) && !this.#isAbsent(e.id, level)) return e.id
    // past a dead neighbour: search back toward us from the farthest live node we know beyond it, so that the
    // search crosses every level's lists (and finds live nodes that only those reach)
    let start: Identifier | null = null
    for (let l = this.#state.table.topLevel; l > level && start === null; l--) {
      const x = this.#state.table.get(l, side)
      if (x?.alive && !this.#init.liveness.isDead(x.id.toHex()) && !this.#isAbsent(x.id, l)) start = x.id
    }
    if (start === null && level > 0) {
      if (this.#deadAt(level - 1, side)) throw new BelowBroken()
      start = await walkBelow(this.#walkInit, txn, level, side)
      if (start === null) return null
    }
    if (start === null) start = await this.#discoverBeyond(txn, e.id, side, level)
    if (start === null) return null
    const levels: number[] = []
    for (let l = level; l < Math.min(MAX_LEVEL + 1, level + REPAIR_READ_LEVELS); l++) levels.push(l)
    let cur = start
    const guard = this.#init.linker.walkGuard()
    guard.step(cur)
    let st = await this.#txns.read(txn, cur, levels)
    if (!st.levels[0]!.linked) {
      // not in the list (it left, or cleared its table to rejoin): the next attempt looks past it
      this.#rememberAbsent(cur, level)
      throw new Conflict('the node found beyond a dead one is not in the list')
    }
    for (;;) {
      let moved = false
      for (let k = st.levels.length - 1; k >= 0 && !moved; k--) {
        const s = st.levels[k]!
        if (!s.linked) continue
        const back = side === 'right' ? s.left : s.right
        if (back === null || !beyondMe(back.id)) continue
        if (side === 'right' ? back.id.compare(cur) >= 0 : back.id.compare(cur) <= 0) continue
        if (this.#init.liveness.isDead(back.id.toHex())) continue
        guard.step(back.id)
        let next: LockReplyMsg
        try {
          next = await this.#txns.read(txn, back.id, levels)
        } catch (err) {
          if (isDeadSignal(err)) continue
          throw err
        }
        // a node not in our list at `level` (left it without unlinking) is stepped over
        if (!next.levels[0]!.linked) continue
        st = next
        cur = back.id
        moved = true
      }
      if (!moved) return cur
    }
  }

  /**
   * When none of our own entries leads past the dead node `dead` on `side`: read the tables of the nodes we
   * know (and of those they know, a bounded breadth-first search) for a live node beyond it.
   */
  async #discoverBeyond(txn: Txn, dead: Identifier, side: Side, level: number): Promise<Identifier | null> {
    const beyond = (id: Identifier): boolean =>
      side === 'right' ? id.compare(dead) > 0 : id.compare(dead) < 0
    const seen = new Set<string>([this.#state.selfHex, dead.toHex()])
    const queue: Identifier[] = []
    const offer = (id: Identifier): Identifier | null => {
      const hex = id.toHex()
      if (seen.has(hex) || this.#init.liveness.isDead(hex)) return null
      seen.add(hex)
      // a node found not in the list is no place to start from (its table may still lead on: it is read)
      if (beyond(id) && !this.#isAbsent(id, level)) return id
      queue.push(id)
      return null
    }
    for (let level = 0; level <= this.#state.table.topLevel; level++) {
      for (const s of ['left', 'right'] as const) {
        const x = this.#state.table.get(level, s)
        if (x === null || !x.alive) continue
        const hit = offer(x.id)
        if (hit !== null) return hit
      }
    }
    for (const id of this.#init.liveness.heard()) {
      const hit = offer(id)
      if (hit !== null) return hit
    }
    const levels = Array.from({ length: REPAIR_READ_LEVELS }, (_, i) => i)
    for (let reads = 0; queue.length > 0; reads++) {
      // nobody known so far lies beyond: "there is none" only once every known node was asked
      if (reads >= REPAIR_DISCOVERY_READS) throw new Conflict('no live node found beyond a dead one yet')
      const id = queue.shift()!
      let st: LockReplyMsg
      try {
        st = await this.#txns.read(txn, id, levels)
      } catch (err) {
        if (isDeadSignal(err) || err instanceof Conflict) continue
        throw err
      }
      for (const s of st.levels) {
        for (const x of [s.left, s.right]) {
          if (x === null) continue
          const hit = offer(x.id)
          if (hit !== null) return hit
        }
      }
    }
    return null
  }
}
