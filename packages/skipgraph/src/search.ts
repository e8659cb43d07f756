/**
 * Search: the local step of skipgraph-go's `SearchByID` on every node a search passes (routing around dead
 * neighbours, README "Failure handling"), and the searches this node started, waiting for their answer from
 * whichever node the search ends at.
 *
 * @module
 */
import { ConduitClosedError, type Emitter, Identifier } from '@skipmesh/core'
import { PendingRequests, randomNonce } from '@skipmesh/core/internal'
import type { SkipGraphMetrics, SkipGraphNodeEvents } from './contract.js'
import { SearchFailedError, SearchTimeoutError } from './errors.js'
import type { Liveness } from './liveness.js'
import { MAX_LEVEL, type NeighborEntry, type Side } from './lookup-table.js'
import type { Messenger } from './messaging.js'
import type { Repair } from './repair.js'
import type { NodeState } from './state.js'
import {
  appendHop,
  FailReason,
  hopAt,
  hopCount,
  Kind,
  MAX_HOPS,
  type SearchFailMsg,
  type SearchMsg,
  type SearchResultMsg,
  type WireHops,
  type WireMessage,
} from './wire.js'

/** What a search started here resolves with. */
export interface SearchOutcome {
  readonly result: Identifier
  readonly found: boolean
  readonly hops: WireHops
}

/** Searches one node may have waiting for their answer at once. */
const MAX_PENDING_SEARCHES = 4096

export interface SearchInit {
  readonly state: NodeState
  readonly messenger: Messenger
  readonly liveness: Liveness
  /** Searches blocked by a dead neighbour wait for the repair round under way. */
  readonly repair: Pick<Repair, 'busy' | 'round'>
  readonly events: Emitter<SkipGraphNodeEvents>
  readonly metrics: SkipGraphMetrics
  readonly isReady: () => boolean
}

export class Search {
  readonly #init: SearchInit
  readonly #state: NodeState
  /** The searches started here, by nonce, each with its target. */
  readonly #pending = new PendingRequests<SearchOutcome, Identifier>({ max: MAX_PENDING_SEARCHES })

  constructor(init: SearchInit) {
    this.#init = init
    this.#state = init.state
  }

  /** The answer to a search started here, from the node it ended at (`origin`). */
  onResult(origin: Identifier, msg: SearchResultMsg): void {
    const target = this.#pending.context(msg.nonce)
    const n = hopCount(msg.hops)
    if (
      target === undefined ||
      (n > 0 && !Identifier.fromBytes(hopAt(msg.hops, n - 1).node).equals(origin))
    ) {
      this.#init.metrics.unexpectedDropped++
      return
    }
    if (msg.found !== origin.equals(target)) {
      this.#init.metrics.malformedDropped++
      return
    }
    this.#pending.settle(msg.nonce, { result: origin, found: msg.found, hops: msg.hops })
  }

  /** A search started here could not be completed. */
  onFail(msg: SearchFailMsg): void {
    const err = new SearchFailedError(
      msg.reason === FailReason.Stopped
        ? 'the search reached a departed node'
        : 'an unreachable neighbour blocked the search',
    )
    if (this.#pending.fail(msg.nonce, err)) this.#init.metrics.searchesFailed++
    else this.#init.metrics.unexpectedDropped++
  }

  /** Fails every search started here (the node stops). */
  failAll(err: Error): void {
    this.#pending.failAll(err)
  }

  /** Starts a search here (`via` undefined) or at `via` (the join's search through the introducer). */
  /**
   * Starts a search for `target` here (`via` undefined) or at `via` (the join's search through its
   * introducer); resolves with the answer of the node it ends at.
   * @throws {SearchTimeoutError} when no answer came within `timeoutMs`.
   * @throws {SearchFailedError} when a dead neighbour blocked every exact route.
   * @throws {AbortError} when `signal` aborts.
   */
  async start(
    target: Identifier,
    via: Identifier | undefined,
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): Promise<SearchOutcome> {
    const { metrics, liveness, messenger } = this.#init
    const nonce = randomNonce()
    metrics.searchesStarted++
    const answer = this.#pending.open(
      nonce,
      {
        timeoutMs,
        signal,
        onTimeout: () =>
          new SearchTimeoutError(`search for ${target.toHex()} got no answer within ${timeoutMs} ms`),
        onTimedOut: () => {
          metrics.searchesTimedOut++
        },
      },
      target,
    )
    const me = this.#state.identity.id
    const msg: SearchMsg = {
      kind: Kind.Search,
      nonce,
      origin: me,
      target,
      level: MAX_LEVEL,
      dir: target.compare(via ?? me) >= 0 ? 1 : 0,
      reverse: 0,
      hops: new Uint8Array(0),
    }
    if (via === undefined) this.step(msg, true)
    else messenger.send(via, msg).catch((err: unknown) => this.#pending.fail(nonce, err))
    const out = await answer
    metrics.searchesAnswered++
    // the nodes on the path are places a later repair can start from
    for (let i = 0; i < hopCount(out.hops); i++)
      liveness.remember(Identifier.fromBytes(hopAt(out.hops, i).node))
    return out
  }

  /**
   * The local SearchByID step (skipgraph-go): the best live neighbour at levels ≤ msg.level in the search
   * direction that does not overshoot the target; else this node is the answer. Forwards, or answers the origin.
   */
  step(msg: SearchMsg, emit: boolean, mayWait = true): void {
    const me = this.#state.identity.id
    if (this.#state.height < 0) {
      this.#answer(msg, { kind: Kind.SearchFail, nonce: msg.nonce, reason: FailReason.Stopped })
      return
    }
    if (emit && this.#init.events.listenerCount('search:hop') > 0) {
      this.#init.events.emit('search:hop', {
        nonce: msg.nonce,
        origin: msg.origin,
        target: msg.target,
        node: me,
        level: Math.min(msg.level, Math.max(0, this.#state.table.topLevel)),
        hop: hopCount(msg.hops),
      })
    }
    const cmp = msg.target.compare(me)
    if (cmp === 0) {
      this.#answer(msg, { kind: Kind.SearchResult, nonce: msg.nonce, found: true, hops: msg.hops })
      return
    }
    const right = msg.dir === 1
    const side: Side = right ? 'right' : 'left'
    if ((right && cmp < 0) || (!right && cmp > 0) || hopCount(msg.hops) >= MAX_HOPS) {
      // we are past the target: only a corrupted table or a forged message gets here
      this.#answer(msg, { kind: Kind.SearchFail, nonce: msg.nonce, reason: FailReason.Unreachable })
      return
    }
    let blocked = false
    const top = this.#state.table.topLevel
    // first the levels up to the one we arrived on (the skip-graph search); when a dead neighbour blocks
    // those, any live neighbour between us and the target, at any level, is progress too
    for (let pass = 0; pass < 2; pass++) {
      const from = pass === 0 ? Math.min(msg.level, top) : top
      const to = pass === 0 ? 0 : msg.level + 1
      for (let level = from; level >= to; level--) {
        const e = this.#state.table.get(level, side)
        if (e === null) continue
        const c = e.id.compare(msg.target)
        if (right ? c > 0 : c < 0) continue
        if (!e.alive) {
          blocked = true
          continue
        }
        this.#forward(msg, e, level, msg.reverse, msg.dir)
        return
      }
      if (!blocked) break
    }
    if (!blocked) {
      if (msg.reverse === 1) {
        this.#answer(msg, { kind: Kind.SearchFail, nonce: msg.nonce, reason: FailReason.Unreachable })
      } else {
        this.#answer(msg, { kind: Kind.SearchResult, nonce: msg.nonce, found: false, hops: msg.hops })
      }
      return
    }
    // A dead neighbour stands between us and the target. Approach the target from the far side instead: the
    // nearest live neighbour beyond the target searches back; that leg must end exactly on the target.
    if (msg.reverse === 0) {
      for (let level = 0; level <= this.#state.table.topLevel; level++) {
        const e = this.#state.table.get(level, side)
        if (e === null || !e.alive) continue
        const c = e.id.compare(msg.target)
        if (right ? c > 0 : c < 0) {
          this.#forward(msg, e, MAX_LEVEL, 1, right ? 0 : 1, level)
          return
        }
      }
    }
    if (mayWait && this.#init.repair.busy) {
      // the lists around the dead neighbour are being repaired: route again once that round is over
      void this.#init.repair.round().then(() => {
        if (this.#init.isReady()) this.step(msg, false, false)
      })
      return
    }
    this.#answer(msg, { kind: Kind.SearchFail, nonce: msg.nonce, reason: FailReason.Unreachable })
  }

  #forward(
    msg: SearchMsg,
    to: NeighborEntry,
    level: number,
    reverse: 0 | 1,
    dir: 0 | 1,
    linkLevel = level,
  ): void {
    const next: SearchMsg = { ...msg, level, reverse, dir, hops: appendHop(msg.hops, to.id.bytes, linkLevel) }
    this.#init.metrics.searchesForwarded++
    this.#init.messenger.send(to.id, next).catch((err: unknown) => {
      if (err instanceof ConduitClosedError || !this.#init.isReady()) return
      this.#init.liveness.markDead(to.id)
      this.step(msg, false)
    })
  }

  #answer(msg: SearchMsg, reply: WireMessage): void {
    if (msg.origin.equals(this.#state.identity.id)) {
      if (reply.kind === Kind.SearchResult) {
        this.#pending.settle(msg.nonce, { result: msg.origin, found: reply.found, hops: reply.hops })
      } else if (
        this.#pending.fail(msg.nonce, new SearchFailedError('an unreachable neighbour blocked the search'))
      ) {
        this.#init.metrics.searchesFailed++
      }
      return
    }
    this.#init.messenger.send(msg.origin, reply).catch(() => {})
  }
}
