/**
 * One hop of a search, over the link the two nodes already have: the search goes to the next node as a core
 * request (`Conduit.request`), whose reply is the search's answer from there on, so the answer comes back
 * along the path the search came and is accepted only from the node the hop went to, matched by core's
 * unpredictable request nonce. A hop unanswered after its first wait is sent again (then after twice and four
 * times as long, until the deadline); the receiver recognises a hop sent again ({@link ServedHops}) and answers
 * every copy from the one search it runs, so a lost message (the hop or its answer) costs latency, not the search.
 *
 * The first wait is `hopTimeoutMs`, or longer when the answers of this node's recent hops sent at the same level
 * took longer ({@link HopTimes}): a hop's answer comes back only once the whole path ahead answered, and that path
 * is longer the higher the level the hop is sent at. A fixed wait shorter than the path sent every hop of a long
 * search again while its downstream still worked (35 % of the Search messages of the demo's join storm at
 * 20–300 ms a message).
 *
 * @module
 */
import { type Identifier, RemoteRequestError } from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import type { SkipGraphMetrics } from './contract.js'
import { RequestTimeoutError, SearchTimeoutError } from './errors.js'
import { isDeadSignal, type Messenger } from './messaging.js'
import type { SearchOutcome, SearchStep } from './search-route.js'
import {
  hopAt,
  hopCount,
  Kind,
  type SearchFailMsg,
  type SearchMsg,
  type SearchResultMsg,
  type WireHops,
} from './wire.js'

/** How a forwarded hop ended. */
export type HopResult =
  | { readonly kind: 'answered'; readonly outcome: SearchOutcome }
  /** The send failed with a sign that the node is gone (`error` says how). */
  | { readonly kind: 'unreachable'; readonly error: unknown }
  /** The node is there but could not take the search, or answered nonsense: route around it. */
  | { readonly kind: 'refused' }

export interface SearchHopsInit {
  readonly messenger: Messenger
  readonly metrics: SkipGraphMetrics
  /**
   * How long the first attempt of a hop waits for its answer at least (longer when recent answers at its level
   * took longer, see {@link HopTimes}); each further attempt waits twice as long.
   */
  readonly hopTimeoutMs: number
  readonly now: () => number
}

/** Levels whose answer times are kept apart; hops sent higher share the last. */
const TIMED_LEVELS = 32
/** Weight of a new answer time in a level's running mean. */
const TIME_WEIGHT = 1 / 8
/** The first wait of a hop is this many times the mean answer time of its level (when above `hopTimeoutMs`). */
const WAIT_PER_MEAN = 2
/** ... but at most this many times `hopTimeoutMs`: a slow (or slowed) path cannot delay the recovery of a lost hop without bound. */
const MAX_WAIT_FACTOR = 8

/**
 * How long this node's hops took to be answered (from their first send), a running mean per level the hop was
 * sent at, and the first wait of a hop sent at a level from it: `hopTimeoutMs`, or {@link WAIT_PER_MEAN} times
 * the level's mean when that is longer, at most {@link MAX_WAIT_FACTOR} times `hopTimeoutMs` and half the time
 * left (so that a lost hop is sent again at least once before its deadline).
 */
export class HopTimes {
  readonly #meanMs: Array<number | undefined> = []
  readonly #hopTimeoutMs: number

  constructor(hopTimeoutMs: number) {
    this.#hopTimeoutMs = hopTimeoutMs
  }

  /** The first wait of a hop sent at `level` with `leftMs` until its deadline. */
  firstWait(level: number, leftMs: number): number {
    const base = this.#hopTimeoutMs
    const mean = this.#meanMs[bucket(level)]
    if (mean === undefined) return base
    return Math.max(base, Math.min(mean * WAIT_PER_MEAN, base * MAX_WAIT_FACTOR, leftMs / 2))
  }

  /** Notes that a hop sent at `level` was answered `ms` after its first send. */
  answered(level: number, ms: number): void {
    const b = bucket(level)
    const mean = this.#meanMs[b]
    this.#meanMs[b] = mean === undefined ? ms : mean + (ms - mean) * TIME_WEIGHT
  }
}

function bucket(level: number): number {
  return Math.max(0, Math.min(TIMED_LEVELS - 1, Math.floor(level)))
}

export class SearchHops {
  readonly #init: SearchHopsInit
  readonly #times: HopTimes

  constructor(init: SearchHopsInit) {
    this.#init = init
    this.#times = new HopTimes(init.hopTimeoutMs)
  }

  /**
   * Sends `step` to `to` and resolves with its answer, sending it again while unanswered, until `deadline` (a
   * `now()` time).
   * @throws {SearchTimeoutError} when no answer came by `deadline`.
   * @throws {AbortError} when `signal` aborts; the errors of `Messenger.request` when this node stops.
   */
  async forward(
    to: Identifier,
    step: SearchStep,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<HopResult> {
    const { messenger, metrics, now } = this.#init
    const hop = randomNonce()
    const sentAt = now()
    const firstWait = this.#times.firstWait(step.level, deadline - sentAt)
    for (let attempt = 0; ; attempt++) {
      const left = deadline - now()
      if (left <= 0) throw new SearchTimeoutError(`no answer from ${to.toHex()} in time`)
      if (attempt > 0) metrics.searchRetries++
      const msg: SearchMsg = { ...step, hop, budget: Math.ceil(left) }
      let reply: SearchResultMsg | SearchFailMsg | undefined
      try {
        reply = await messenger.request(
          to,
          msg,
          signal,
          Math.min(left, firstWait * 2 ** Math.min(attempt, 2)),
        )
        this.#times.answered(step.level, now() - sentAt)
      } catch (err) {
        if (err instanceof RequestTimeoutError) continue // the hop or its answer was lost, or it is slow
        if (isDeadSignal(err)) return { kind: 'unreachable', error: err }
        // the node is there but cannot take the search (its skip-graph channel is gone)
        if (err instanceof RemoteRequestError) return { kind: 'refused' }
        throw err // aborted, or this node stopped
      }
      const outcome = reply === undefined ? undefined : this.#check(msg, to, reply)
      if (outcome === undefined) return { kind: 'refused' } // counted where it was found wrong
      return { kind: 'answered', outcome }
    }
  }

  /** The reply to search `sent` (a hop from here to `to`) as an outcome; undefined (counted) when inconsistent. */
  #check(sent: SearchMsg, to: Identifier, reply: SearchResultMsg | SearchFailMsg): SearchOutcome | undefined {
    if (reply.nonce !== sent.hop) {
      this.#init.metrics.unexpectedDropped++
      return undefined
    }
    if (reply.kind === Kind.SearchFail) return { ok: false, reason: reply.reason as 1 | 2 }
    const n = hopCount(reply.hops)
    // where the search ended: the last hop, or the node the hop went to when it recorded none (a search
    // started at another node, as a join's is)
    const end = n === 0 ? to.bytes : hopAt(reply.hops, n - 1).node
    if (!startsWith(reply.hops, sent.hops) || reply.found !== sameBytes(end, sent.target.bytes)) {
      this.#init.metrics.malformedDropped++
      return undefined
    }
    return { ok: true, found: reply.found, hops: reply.hops }
  }
}

type Answer = SearchResultMsg | SearchFailMsg

/**
 * The answers of the hops served here, by hop nonce, each kept until its hop's deadline: a hop sent again (its
 * first copy or its answer lost, or its search slow) gets the answer of the search already run or running,
 * instead of starting it again (which under load would start every hop after it again too). Bounded; the
 * oldest expired entries go first.
 */
export class ServedHops {
  readonly #entries = new Map<string, { readonly answer: Promise<Answer>; readonly until: number }>()
  readonly #max: number
  readonly #now: () => number

  constructor(max: number, now: () => number) {
    this.#max = max
    this.#now = now
  }

  /** The answer of hop `hop`, if it is known and its deadline has not passed. */
  get(hop: string): Promise<Answer> | undefined {
    const entry = this.#entries.get(hop)
    if (entry === undefined || entry.until >= this.#now()) return entry?.answer
    this.#entries.delete(hop)
    return undefined
  }

  /** Remembers the answer of hop `hop` until `until` (a `now()` time), if there is room. */
  add(hop: string, answer: Promise<Answer>, until: number): void {
    const now = this.#now()
    for (const [key, entry] of this.#entries) {
      if (entry.until >= now) break
      this.#entries.delete(key)
    }
    if (this.#entries.size < this.#max) this.#entries.set(hop, { answer, until })
  }
}

/** The answer to hop `hop` as it travels back. */
export function answerOf(hop: string, outcome: SearchOutcome): Answer {
  return outcome.ok
    ? { kind: Kind.SearchResult, nonce: hop, found: outcome.found, hops: outcome.hops }
    : { kind: Kind.SearchFail, nonce: hop, reason: outcome.reason }
}

function startsWith(hops: WireHops, prefix: WireHops): boolean {
  if (hops.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (hops[i] !== prefix[i]) return false
  return true
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && startsWith(a, b)
}
