/**
 * Search: the searches started here, and the part of every search that passes this node. Each node on the path
 * decides where the search goes next ({@link decide}), forwards it over its link to that neighbour as a core
 * request and answers its own requester with the reply ({@link SearchHops}): the answer comes back along the
 * path the search came, no node opens a connection to answer a search, and every answer is accepted only from
 * the neighbour it was expected from. A hop sent again (its first copy or its answer lost) is answered from the
 * search already under way here.
 *
 * @module
 */
import { type Emitter, Identifier, raceSignal } from '@skipmesh/core'
import { PendingRequests, randomNonce } from '@skipmesh/core/internal'
import type { SkipGraphMetrics, SkipGraphNodeEvents } from './contract.js'
import { SearchFailedError, SearchTimeoutError } from './errors.js'
import type { Liveness } from './liveness.js'
import { MAX_LEVEL } from './lookup-table.js'
import type { Messenger } from './messaging.js'
import type { Repair } from './repair.js'
import { answerOf, type HopResult, SearchHops, ServedHops } from './search-hops.js'
import { decide, type SearchOutcome, type SearchStep, STOPPED, UNREACHABLE } from './search-route.js'
import type { NodeState } from './state.js'
import {
  appendHop,
  FailReason,
  hopAt,
  hopCount,
  Kind,
  MAX_SEARCH_BUDGET_MS,
  type SearchFailMsg,
  type SearchMsg,
  type SearchResultMsg,
  type WireHops,
} from './wire.js'

/** What a search started here resolves with. */
export interface SearchAnswer {
  readonly result: Identifier
  readonly found: boolean
  readonly hops: WireHops
}

/** Searches one node may have waiting for their answer at once. */
const MAX_PENDING_SEARCHES = 4096
/** Hops one node remembers the answers of (until their deadlines), to answer a copy sent again. */
const MAX_SERVED_HOPS = 65_536

export interface SearchInit {
  readonly state: NodeState
  readonly messenger: Messenger
  readonly liveness: Liveness
  /** Searches blocked by a dead neighbour wait for the repair round under way. */
  readonly repair: Pick<Repair, 'busy' | 'round'>
  readonly events: Emitter<SkipGraphNodeEvents>
  readonly metrics: SkipGraphMetrics
  readonly isReady: () => boolean
  /** How long one hop waits for its answer before it is sent again (then twice as long, and so on). */
  readonly hopTimeoutMs: number
}

export class Search {
  readonly #init: SearchInit
  readonly #state: NodeState
  readonly #hops: SearchHops
  /** The searches started here, by their nonce, each with its target. */
  readonly #pending = new PendingRequests<SearchAnswer, Identifier>({ max: MAX_PENDING_SEARCHES })
  /** The answers of the hops served here: a hop sent again is not routed twice. */
  readonly #served = new ServedHops(MAX_SERVED_HOPS, () => performance.now())

  constructor(init: SearchInit) {
    this.#init = init
    this.#state = init.state
    this.#hops = new SearchHops({
      messenger: init.messenger,
      metrics: init.metrics,
      hopTimeoutMs: init.hopTimeoutMs,
      now: () => performance.now(),
    })
  }

  /**
   * Starts a search for `target` here (`via` undefined) or at `via` (the join's search through its
   * introducer); resolves with where it ended.
   * @throws {SearchTimeoutError} when no answer came within `timeoutMs`.
   * @throws {SearchFailedError} when a dead neighbour blocked every exact route.
   * @throws {AbortError} when `signal` aborts.
   */
  async start(
    target: Identifier,
    via: Identifier | undefined,
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): Promise<SearchAnswer> {
    const { metrics, liveness } = this.#init
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
    const step: SearchStep = {
      kind: Kind.Search,
      nonce,
      origin: me,
      target,
      level: MAX_LEVEL,
      dir: target.compare(via ?? me) >= 0 ? 1 : 0,
      reverse: 0,
      hops: new Uint8Array(0),
    }
    const deadline = performance.now() + timeoutMs
    const run =
      via === undefined
        ? this.#route(step, deadline, signal, true).then((o) => ({ outcome: o, start: me }))
        : this.#hops
            .forward(via, step, deadline, signal)
            .then((r) => ({ outcome: viaOutcome(r), start: via }))
    run.then(
      ({ outcome, start }) => {
        if (outcome.ok) {
          this.#pending.settle(nonce, {
            result: endOf(outcome.hops, start),
            found: outcome.found,
            hops: outcome.hops,
          })
        } else if (this.#pending.fail(nonce, failure(outcome.reason))) {
          metrics.searchesFailed++
        }
      },
      (err: unknown) => {
        // out of time: the entry's own timer fails it (and counts it) at the same deadline
        if (!(err instanceof SearchTimeoutError)) this.#pending.fail(nonce, err)
      },
    )
    const out = await answer
    metrics.searchesAnswered++
    // the nodes on the path are places a later repair can start from
    for (let i = 0; i < hopCount(out.hops); i++)
      liveness.remember(Identifier.fromBytes(hopAt(out.hops, i).node))
    return out
  }

  /**
   * A search arrived (a core request): the search goes on from here, and its answer from here on is
   * the reply. A hop sent again while its search is under way gets the same answer.
   */
  onRequest(msg: SearchMsg): Promise<SearchResultMsg | SearchFailMsg> {
    // the hop nonce is the sender's unpredictable draw: only the sender can send the same hop again
    const known = this.#served.get(msg.hop)
    if (known !== undefined) return known
    const deadline = performance.now() + Math.min(msg.budget, MAX_SEARCH_BUDGET_MS)
    const answer = this.#route(msg, deadline, undefined, true).then(
      (outcome) => answerOf(msg.hop, outcome),
      // out of time, or this node stopped: the requester has given up, or learns why
      () => answerOf(msg.hop, this.#init.isReady() ? UNREACHABLE : STOPPED),
    )
    this.#served.add(msg.hop, answer, deadline)
    return answer
  }

  /** Fails every search started here (the node stops; the messenger fails the hops in flight). */
  failAll(err: Error): void {
    this.#pending.failAll(err)
  }

  /**
   * Routes `msg` from this node until it ends: forwards it to the next node and waits for its answer, trying
   * another neighbour when one is found dead or refuses the search, and waits for a repair under way when dead neighbours block every
   * exact route.
   */
  async #route(
    msg: SearchStep,
    deadline: number,
    signal: AbortSignal | undefined,
    emit: boolean,
  ): Promise<SearchOutcome> {
    const { metrics, liveness, repair, isReady } = this.#init
    if (this.#state.height < 0) return STOPPED
    if (emit) this.#emitHop(msg)
    let avoid: Set<string> | undefined // neighbours that refused the search
    let mayWait = true
    for (;;) {
      const d = decide(this.#state, msg, avoid)
      if (d.kind === 'answer') return d.outcome
      if (d.kind === 'blocked') {
        if (!mayWait || !repair.busy) return UNREACHABLE
        // the lists around the dead neighbour are being repaired: route again once that round is over
        mayWait = false
        await raceSignal(repair.round(), signal)
        if (!isReady()) return STOPPED
        continue
      }
      const next: SearchStep = {
        ...msg,
        level: d.level,
        reverse: d.reverse,
        dir: d.dir,
        hops: appendHop(msg.hops, d.to.id.bytes, d.linkLevel),
      }
      metrics.searchesForwarded++
      const r: HopResult = await this.#hops.forward(d.to.id, next, deadline, signal)
      if (r.kind === 'answered') return r.outcome
      if (r.kind === 'unreachable') {
        if (!isReady()) return STOPPED
        liveness.markDead(d.to.id)
      } else {
        avoid ??= new Set()
        avoid.add(d.to.id.toHex())
      }
    }
  }

  #emitHop(msg: SearchStep): void {
    const { events } = this.#init
    if (events.listenerCount('search:hop') === 0) return
    events.emit('search:hop', {
      nonce: msg.nonce,
      origin: msg.origin,
      target: msg.target,
      node: this.#state.identity.id,
      level: Math.min(msg.level, Math.max(0, this.#state.table.topLevel)),
      hop: hopCount(msg.hops),
    })
  }
}

/** Where a search that started at `start` and took path `hops` ended. */
function endOf(hops: WireHops, start: Identifier): Identifier {
  const n = hopCount(hops)
  return n === 0 ? start : Identifier.fromBytes(hopAt(hops, n - 1).node)
}

function failure(reason: number): SearchFailedError {
  return new SearchFailedError(
    reason === FailReason.Stopped
      ? 'the search reached a departed node'
      : 'an unreachable neighbour blocked the search',
  )
}

/** The outcome of a search started at another node (`via`). */
function viaOutcome(r: HopResult): SearchOutcome {
  if (r.kind === 'answered') return r.outcome
  if (r.kind === 'unreachable') throw r.error
  return UNREACHABLE // the introducer refused the search
}
