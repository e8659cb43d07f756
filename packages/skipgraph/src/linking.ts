/**
 * Linking: the join algorithm (level 0 through an introducer, then level by level) and the leave algorithm,
 * each a transaction under the lock discipline of the README ("Join protocol", "Leave protocol").
 *
 * @module
 */
import type { Identifier, MembershipVector } from '@skipmesh/core'
import { DuplicateIdentifierError, LeaveFailedError, NotJoinedError, SearchTimeoutError } from './errors.js'
import { MAX_LEVEL, type Side, sharesPrefix } from './lookup-table.js'
import { sameId, type NodeState } from './state.js'
import { Conflict, type Transactions, type Txn, WalkGuard } from './transactions.js'
import type { ApplyWrite, WireNeighbor } from './wire.js'

/**
 * Steps per level of this node's table added to a walk's base budget (`maxWalkSteps`). A list at level i is
 * expected to be crossed in about 2 steps between members of level i+1, and the longest such run among n nodes is
 * about log2 n, the number of levels. But a walk that finds no member of level i+1 goes to the head of its list
 * and back, which is legitimate while many nodes join at once (most are not linked above level 0 yet): so the
 * base is large, a backstop against a hostile endless chain rather than the expected length.
 */
const WALK_STEPS_PER_LEVEL = 16

/** Where a walk along the level below ended. */
export interface WalkEnd {
  /** The nearest node sharing the level's prefix and linked at the level, if any. */
  readonly found: Identifier | null
  /** The last node visited (the end of the list when nothing was found), or this node. */
  readonly end: Identifier
}

/** A node locked at one level, with its pointer across the gap being linked. */
export interface Located {
  readonly id: Identifier
  readonly mv: MembershipVector
  /** The located node's neighbour on the far side at the level being linked (its current link across us). */
  readonly across: WireNeighbor | null
  /** Its neighbour on the other side: away from us. */
  readonly beyond: WireNeighbor | null
}

export interface LinkerInit {
  readonly state: NodeState
  readonly txns: Transactions
  /** The base step budget of one walk (the `maxWalkSteps` option). */
  readonly maxWalkSteps: number
  /** Searches for `target` starting at `via` (the join's search through its introducer). */
  readonly searchVia: (
    target: Identifier,
    via: Identifier,
    signal: AbortSignal | undefined,
  ) => Promise<{ result: Identifier }>
  /**
   * A commit could not confirm a write at `level` (refused, lost, or its acknowledgement lost): relink this node
   * there, so that the lists converge without waiting for a probe.
   */
  readonly relink: (level: number) => void
}

export class Linker {
  readonly #init: LinkerInit
  readonly #state: NodeState
  readonly #txns: Transactions
  /** Levels this node linked at without an acknowledgement from each neighbour (see {@link Linker.#confirm}). */
  readonly #unconfirmed = new Set<number>()

  constructor(init: LinkerInit) {
    this.#init = init
    this.#state = init.state
    this.#txns = init.txns
  }

  /**
   * A guard for one walk: a small multiple of the expected path in a graph of the size this node sees (its
   * levels), and no node twice.
   */
  walkGuard(): WalkGuard {
    const levels = Math.max(0, Math.min(this.#state.table.topLevel, MAX_LEVEL))
    return new WalkGuard(this.#init.maxWalkSteps + WALK_STEPS_PER_LEVEL * levels)
  }

  /**
   * Links this node into the graph through `introducer`, level by level, resuming above the levels it is
   * linked at already; `onLinkedAtZero` runs once level 0 is linked. Returns once the node is alone at a level
   * (and so joined at every level).
   * @throws {NotJoinedError} when the node is not linked yet and has no introducer other than itself.
   */
  async join(
    introducer: Identifier | undefined,
    signal: AbortSignal | undefined,
    onLinkedAtZero: () => void,
  ): Promise<void> {
    const state = this.#state
    if (state.height < 0) {
      this.#unconfirmed.clear()
      if (introducer === undefined || state.isSelf(introducer)) {
        throw new NotJoinedError('an introducer other than this node is needed to join a graph')
      }
      const hint: { near: Identifier | undefined } = { near: undefined }
      await this.#txns.run('join', (txn) => this.#linkLevel0(txn, introducer, hint, signal), signal)
      onLinkedAtZero()
    }
    for (let level = state.height + 1; level <= MAX_LEVEL; level++) {
      const alone = await this.#txns.run('join', (txn) => this.#linkLevel(txn, level), signal)
      if (alone) break
    }
    state.height = MAX_LEVEL
  }

  /**
   * Unlinks this node at every level in one transaction (its neighbours are relinked around it); its status is
   * then `'left'` and its table empty.
   * @throws {LeaveFailedError} after `maxAttempts` failed attempts.
   */
  leave(signal: AbortSignal | undefined): Promise<void> {
    return this.#txns.run('leave', (txn) => this.#unlinkAll(txn), signal)
  }

  /** Level 0: find the gap by searching for our own id through the introducer, then link into it. */
  async #linkLevel0(
    txn: Txn,
    introducer: Identifier,
    hint: { near: Identifier | undefined },
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const me = this.#state.identity.id
    this.#txns.lockOwn(txn, [0])
    // a retry walks on from where the last attempt got to; the first attempt searches through the introducer
    const near = hint.near
    hint.near = undefined
    let cur: Identifier
    if (near !== undefined) cur = near
    else {
      const found = await this.#searchForGap(me, introducer, signal)
      if (found.result.equals(me))
        throw new DuplicateIdentifierError('a node with this identifier is in the graph')
      cur = found.result
    }
    const goRight = cur.compare(me) < 0
    const guard = this.walkGuard()
    for (;;) {
      guard.step(cur)
      const s = (await this.#txns.read(txn, cur, [0])).levels[0]!
      if (!s.linked) throw new Conflict('walked onto an unlinked node')
      hint.near = cur
      const next = goRight ? s.right : s.left
      if (next?.id.equals(me))
        throw new DuplicateIdentifierError('a node with this identifier is in the graph')
      if (next === null || (goRight ? next.id.compare(me) > 0 : next.id.compare(me) < 0)) {
        const other = next === null ? null : next.id
        if (goRight) await this.#insertBetween(txn, 0, cur, other)
        else await this.#insertBetween(txn, 0, other, cur)
        return false
      }
      cur = next.id
    }
  }

  /** The join's search through the introducer, sent once more when its answer (or a hop) was lost. */
  async #searchForGap(
    me: Identifier,
    introducer: Identifier,
    signal: AbortSignal | undefined,
  ): Promise<{ result: Identifier }> {
    try {
      return await this.#init.searchVia(me, introducer, signal)
    } catch (err) {
      if (!(err instanceof SearchTimeoutError)) throw err
      return this.#init.searchVia(me, introducer, signal)
    }
  }

  /**
   * Links us at `level` into the gap the walk found between `leftId` and `rightId` (either may be null): locks
   * the left node, moves right under lock (lock-coupling) while a node that linked meanwhile sits between it
   * and us, then locks its right neighbour and checks that one points back. Locks at one level are always
   * taken in ascending identifier order, so waiting for them cannot deadlock.
   */
  async #insertBetween(
    txn: Txn,
    level: number,
    leftId: Identifier | null,
    rightId: Identifier | null,
  ): Promise<void> {
    const me = this.#state.identity
    let left: Located | null = null
    if (leftId !== null) {
      let cur = leftId
      const guard = this.walkGuard()
      for (;;) {
        guard.step(cur)
        const here = await this.locate(txn, cur, level, 'right')
        if (!sharesPrefix(here.mv, me.mv, level) || here.id.compare(me.id) >= 0)
          throw new Conflict('bad left neighbour')
        const next = here.across
        // a pointer at us is stale (we left this list without unlinking, as a stranded node moving graphs does):
        // the gap is here, not one step right (where we would lock ourselves, unlinked, on every attempt)
        if (next === null || next.id.compare(me.id) >= 0) {
          left = here
          break
        }
        // someone linked between: step right, keeping our order of locks
        this.#txns.releaseAt(txn, cur)
        cur = next.id
      }
    }
    let rightNow = left === null ? rightId : (left.across?.id ?? null)
    if (rightNow?.equals(me.id) === true) {
      // the left node still points at us: the node right of us is found along the level below
      if (level === 0) throw new Conflict('level 0: the left node points at us already')
      rightNow = (await this.walk(txn, level, 'right')).found
    }
    const right = rightNow === null ? null : await this.locate(txn, rightNow, level, 'left')
    if (right !== null) {
      if (!sharesPrefix(right.mv, me.mv, level) || right.id.compare(me.id) <= 0)
        throw new Conflict('bad right neighbour')
      if (left === null && right.across !== null && !right.across.id.equals(me.id)) {
        // a node linked left of the head we aimed at: retry from it (locking it now would break the order)
        throw new Conflict(`level ${level}: the head changed`, true)
      }
    }
    if (!this.#adjacent(left, right)) throw new Conflict(`level ${level} neighbours not adjacent`, true)
    await this.#commitLink(txn, level, left, right)
  }

  /**
   * Whether the located nodes point at each other across the gap we link into, or at us (a stale pointer left by
   * our own earlier link: nothing lies between it and us either).
   */
  #adjacent(left: Located | null, right: Located | null): boolean {
    const me = this.#state.identity.id
    const across = (x: Located, other: Located | null): boolean =>
      sameId(x.across, other) || x.across?.id.equals(me) === true
    return (left === null || across(left, right)) && (right === null || across(right, left))
  }

  /** Locks `level` of `node` and reports it with its `pointer` neighbour there. */
  async locate(txn: Txn, node: Identifier, level: number, pointer: Side): Promise<Located> {
    const st = await this.#txns.lock(txn, node, [level])
    const s = st.levels[0]!
    if (!s.linked) throw new Conflict('neighbour not linked')
    return {
      id: node,
      mv: st.mv,
      across: pointer === 'left' ? s.left : s.right,
      beyond: pointer === 'left' ? s.right : s.left,
    }
  }

  /**
   * Level i ≥ 1: walk the level i-1 list both ways (unlocked: a hint) to the nearest nodes that share i bits with
   * us and are linked at level i, then lock and link between them. When there are none, the level-i list of our
   * prefix is empty and we would create it: that is serialised by locking the head of our level i-1 list and
   * walking again. Returns true when we are alone at level i (and so joined).
   */
  async #linkLevel(txn: Txn, level: number): Promise<boolean> {
    if (this.#unconfirmed.has(level - 1)) await this.#confirm(txn, level - 1)
    this.#txns.lockOwn(txn, [level])
    let gap = await this.#findGap(txn, level)
    if (gap.left === null && gap.right === null) {
      const head = gap.head
      await this.#lockHead(txn, head, level - 1)
      gap = await this.#findGap(txn, level)
      if (gap.left === null && gap.right === null) {
        // while we hold the head, the walk to the left must end there (else the list we walked is not one list)
        if (!gap.head.equals(head)) throw new Conflict(`level ${level - 1}: the walk ended off the head`)
        // Creating writes nothing at the head, so no refused write would tell us that our lease there lapsed
        // meanwhile (its renewals lost) and let another creator in: ask for the lock once more, which renews
        // a lease still held and is refused for a lapsed one.
        if (!this.#state.isSelf(head)) await this.#lockHead(txn, head, level - 1)
        this.#state.height = MAX_LEVEL
        return true
      }
    }
    await this.#insertBetween(txn, level, gap.left, gap.right)
    return false
  }

  /** Locks `head` at `level` (the level below the one being created) and checks that it heads its list. */
  async #lockHead(txn: Txn, head: Identifier, level: number): Promise<void> {
    const s = (await this.#txns.lock(txn, head, [level])).levels[0]!
    if (!s.linked || s.left !== null) throw new Conflict('not the head of the list')
  }

  /**
   * Our link at `level` was committed without an acknowledgement from each neighbour (the repair relinks the
   * level): before we link above it, both neighbours must point back at us. Creating level i+1 relies on every
   * node linked at i+1 being reachable at level i along the pointers from both ends of the list; a node whose
   * write at its left neighbour was lost is reachable from the right only, and a creator on its left, missing
   * it, would start a second level-(i+1) list of the same prefix that nothing mends. The neighbour's pointer is
   * written under its lock, which a creator that took it as the head holds, so the two are serialised.
   * @throws {Conflict} while a neighbour does not point back (the repair is asked to relink the level again).
   */
  async #confirm(txn: Txn, level: number): Promise<void> {
    const me = this.#state.identity.id
    for (const side of ['left', 'right'] as const) {
      const n = this.#state.table.get(level, side)
      if (n === null) continue
      const s = (await this.#txns.read(txn, n.id, [level])).levels[0]!
      const back = side === 'left' ? s.right : s.left
      if (!s.linked || back === null || !back.id.equals(me)) {
        this.#init.relink(level)
        throw new Conflict(`level ${level}: a neighbour does not point back yet`)
      }
    }
    this.#unconfirmed.delete(level)
  }

  /**
   * The walks of level `level`: left first; only when nothing is found there, right (a found left node's right
   * pointer is read again under its lock, so the right walk would be wasted). `head` is where the left walk
   * ended: the head of our level-1 list when nothing was found.
   */
  async #findGap(
    txn: Txn,
    level: number,
  ): Promise<{ left: Identifier | null; right: Identifier | null; head: Identifier }> {
    const l = await this.walk(txn, level, 'left')
    if (l.found !== null) return { left: l.found, right: null, head: l.end }
    const r = await this.walk(txn, level, 'right')
    return { left: null, right: r.found, head: l.end }
  }

  /** Follows the level-1 pointers on `side` to the first node sharing `level` bits with us and linked at `level`. */
  async walk(txn: Txn, level: number, side: Side): Promise<WalkEnd> {
    let end = this.#state.identity.id
    let cur: Identifier | null = this.#state.table.get(level - 1, side)?.id ?? null
    const guard = this.walkGuard()
    while (cur !== null) {
      guard.step(cur)
      const st = await this.#txns.read(txn, cur, [level - 1, level])
      const below = st.levels[0]!
      const at = st.levels[1]!
      if (!below.linked) throw new Conflict('walked onto an unlinked node')
      if (at.linked && sharesPrefix(st.mv, this.#state.identity.mv, level)) return { found: cur, end: cur }
      end = cur
      cur = (side === 'left' ? below.left : below.right)?.id ?? null
    }
    return { found: null, end }
  }

  async #commitLink(txn: Txn, level: number, left: Located | null, right: Located | null): Promise<void> {
    const me: WireNeighbor = { id: this.#state.identity.id, mv: this.#state.identity.mv }
    // Our own side first: a search the neighbours forward to us once they took the write must find us linked.
    this.#state.setEntry(level, 'left', left === null ? null : { id: left.id, mv: left.mv, alive: true })
    this.#state.setEntry(level, 'right', right === null ? null : { id: right.id, mv: right.mv, alive: true })
    this.#state.height = level
    const applies: Promise<void>[] = []
    if (left !== null) applies.push(this.#txns.apply(txn, left.id, [{ level, side: 'right', entry: me }]))
    if (right !== null) applies.push(this.#txns.apply(txn, right.id, [{ level, side: 'left', entry: me }]))
    const results = await Promise.allSettled(applies)
    // A write we cannot confirm (refused because our lease there lapsed, lost, or its acknowledgement lost):
    // we are linked at this level on our side; the repair checks the level under its locks and completes (or
    // corrects) the neighbours' side, and the join links above it only once they point back (#confirm).
    if (results.some((x) => x.status === 'rejected')) {
      this.#unconfirmed.add(level)
      this.#init.relink(level)
    }
  }

  /**
   * Leave: lock every neighbour at the levels where it is our neighbour and ourselves at all levels, in ascending
   * identifier order (as joins do, so leaves and joins never wait on each other in a cycle), check that each
   * neighbour points back at us, then relink them around us.
   */
  async #unlinkAll(txn: Txn): Promise<void> {
    const me = this.#state.identity.id
    const version = this.#state.version
    const top = Math.min(this.#state.table.topLevel, this.#state.height)
    const groups = this.#state.neighborGroups(top, true).sort((a, b) => a.id.compare(b.id))
    let selfLocked = false
    const lockSelf = (): void => {
      this.#txns.lockOwn(txn, 'all')
      // a neighbour that linked in before we held our own lock would be missing from what we locked
      if (this.#state.version !== version) throw new Conflict('table changed', true)
      selfLocked = true
    }
    for (const g of groups) {
      if (!selfLocked && g.id.compare(me) > 0) lockSelf()
      const reply = await this.#txns.lock(txn, g.id, g.levels)
      for (let k = 0; k < g.levels.length; k++) {
        const st = reply.levels[k]!
        // g is our neighbour on side g.sides[k], so its pointer on the other side must be us
        const back = g.sides[k] === 'left' ? st.right : st.left
        if (back === null || !back.id.equals(me)) throw new Conflict('neighbour does not point back', true)
      }
    }
    if (!selfLocked) lockSelf()
    if (this.#state.version !== version) throw new Conflict('table changed', true)
    const writes = new Map<string, { id: Identifier; writes: ApplyWrite[] }>()
    for (let level = 0; level <= top; level++) {
      const l = this.#state.table.get(level, 'left')
      const r = this.#state.table.get(level, 'right')
      if (l !== null) {
        const w = writes.get(l.id.toHex()) ?? { id: l.id, writes: [] }
        w.writes.push({ level, side: 'right', entry: r === null ? null : { id: r.id, mv: r.mv } })
        writes.set(l.id.toHex(), w)
      }
      if (r !== null) {
        const w = writes.get(r.id.toHex()) ?? { id: r.id, writes: [] }
        w.writes.push({ level, side: 'left', entry: l === null ? null : { id: l.id, mv: l.mv } })
        writes.set(r.id.toHex(), w)
      }
    }
    const results = await Promise.allSettled(
      [...writes.values()].map((w) => this.#txns.apply(txn, w.id, w.writes)),
    )
    const failed = results.find((x) => x.status === 'rejected')
    if (failed !== undefined) {
      // some neighbours may have relinked around us: we stay in the graph, so every level is relinked
      for (let level = 0; level <= top; level++) this.#init.relink(level)
      throw new LeaveFailedError('commit of the leave failed', {
        cause: (failed as PromiseRejectedResult).reason,
      })
    }
    this.#state.status = 'left'
    this.#state.clear(top)
  }
}
