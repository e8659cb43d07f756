/**
 * Freshness of signed signals: a signal's timestamp must lie within a window around this side's clock, and its
 * nonce must not have been seen. Bounded: when the table is full the oldest nonce goes, and every timestamp up to
 * its one is refused from then on, so an evicted nonce can never be replayed.
 *
 * @module
 */

/** Why a signal is not fresh. */
export type FreshnessFailure = 'stale' | 'replay'

/** What a {@link ReplayGuard} takes. */
export interface ReplayGuardOptions {
  /** Oldest accepted timestamp, in milliseconds before now. */
  readonly maxAgeMs: number
  /** Latest accepted timestamp, in milliseconds after now (clock skew). */
  readonly maxSkewMs: number
  /** Nonces remembered at most. */
  readonly maxEntries: number
  /** The clock. @default Date.now */
  readonly now?: () => number
}

/** Remembers the nonces of accepted signals until they are too old to be accepted anyway. */
export class ReplayGuard {
  readonly #options: ReplayGuardOptions
  readonly #now: () => number
  /** nonce → timestamp, in insertion order (timestamps roughly ascending). */
  readonly #seen = new Map<string, number>()
  /** Timestamps at or below this are refused: a nonce this old may have been evicted. */
  #floor = Number.NEGATIVE_INFINITY

  constructor(options: ReplayGuardOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  /** Nonces remembered now. */
  get size(): number {
    return this.#seen.size
  }

  /**
   * Whether a signal stamped `ts` lies within the window now (and above the floor of evicted nonces). Changes
   * nothing: the stateless check to run before any costly one; {@link ReplayGuard.check} still decides.
   */
  fresh(ts: number): boolean {
    const now = this.#now()
    return ts >= now - this.#options.maxAgeMs && ts <= now + this.#options.maxSkewMs && ts > this.#floor
  }

  /** Accepts (and remembers) the signal `(ts, nonce)`, or says why not. */
  check(ts: number, nonce: string): FreshnessFailure | undefined {
    if (!this.fresh(ts)) return 'stale'
    if (this.#seen.has(nonce)) return 'replay'
    this.#forgetOlderThan(this.#now() - this.#options.maxAgeMs)
    this.#seen.set(nonce, ts)
    while (this.#seen.size > this.#options.maxEntries) {
      const [first, firstTs] = this.#seen.entries().next().value as [string, number]
      this.#seen.delete(first)
      this.#floor = Math.max(this.#floor, firstTs)
    }
    return undefined
  }

  /** Clears the table (the floor stays: what was evicted stays refused). */
  clear(): void {
    this.#seen.clear()
  }

  #forgetOlderThan(oldest: number): void {
    for (const [nonce, ts] of this.#seen) {
      if (ts >= oldest) return
      this.#seen.delete(nonce)
    }
  }
}
