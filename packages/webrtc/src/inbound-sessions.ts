/**
 * The admission of sessions a remote starts (issue 13, attack 9): an offer under a new session, or a dial request
 * that asks this side to make one. Each costs this side an `RTCPeerConnection`, so a remote that sends offer after
 * offer must not get one per offer. Two bounds: at most `maxPending` such attempts connecting at once over all
 * remotes, and a per-remote budget of `perRemote` attempts per `windowMs` that refills continuously; an attempt
 * that opens gives its token back, so a peer that connects and closes as often as it likes is never refused, while
 * attempts that never open (a flood of offers nobody completes, offer/bye loops) spend the budget.
 *
 * @module
 */
import type { WebRtcConnection } from './connection.js'

/** The bounds of an {@link InboundSessions}. */
export interface InboundSessionsInit {
  /** Attempts started by remotes that may be connecting at once, over all remotes. */
  readonly maxPending: number
  /** Attempts one remote may start per `windowMs` (a token bucket of this size). */
  readonly perRemote: number
  /** The bucket refills `perRemote` tokens per this many milliseconds. */
  readonly windowMs: number
  /** The clock (milliseconds). @default `performance.now` */
  readonly now?: () => number
}

interface Bucket {
  tokens: number
  at: number
}

/** Buckets kept before full ones (the remotes that spent nothing lately) are forgotten. */
const BUCKETS_BEFORE_SWEEP = 1024

/** The remote-initiated attempts of one manager: which may start, and which are pending. */
export class InboundSessions {
  readonly #init: InboundSessionsInit
  readonly #now: () => number
  readonly #buckets = new Map<string, Bucket>()
  /** Remote-initiated attempts still connecting, with the remote whose token they hold. */
  readonly #pending = new Map<WebRtcConnection, string>()

  constructor(init: InboundSessionsInit) {
    this.#init = init
    this.#now = init.now ?? (() => performance.now())
  }

  /** Remote-initiated attempts connecting now. */
  get pending(): number {
    return this.#pending.size
  }

  /**
   * Whether the remote `hex` may start one more attempt, `replacing` its pending one (which then goes and frees its
   * place). Takes one of the remote's tokens when it may.
   */
  admit(hex: string, replacing?: WebRtcConnection): boolean {
    const others = this.#pending.size - (replacing !== undefined && this.#pending.has(replacing) ? 1 : 0)
    if (others >= this.#init.maxPending) return false
    const bucket = this.#bucket(hex)
    if (bucket.tokens < 1) return false
    bucket.tokens--
    return true
  }

  /** `connection` is an admitted attempt of the remote `hex`: pending until it opens or closes. */
  track(connection: WebRtcConnection, hex: string): void {
    this.#pending.set(connection, hex)
  }

  /** `connection` opened: no longer pending, and its remote gets its token back. */
  opened(connection: WebRtcConnection): void {
    const hex = this.#pending.get(connection)
    if (hex === undefined) return
    this.#pending.delete(connection)
    const bucket = this.#bucket(hex)
    bucket.tokens = Math.min(this.#init.perRemote, bucket.tokens + 1)
  }

  /** `connection` closed: no longer pending (an attempt that never opened keeps its token spent). */
  closed(connection: WebRtcConnection): void {
    this.#pending.delete(connection)
  }

  /** Forgets every bucket and pending attempt. */
  clear(): void {
    this.#buckets.clear()
    this.#pending.clear()
  }

  /** The remote's bucket, refilled up to now. */
  #bucket(hex: string): Bucket {
    const { perRemote, windowMs } = this.#init
    const now = this.#now()
    let bucket = this.#buckets.get(hex)
    if (bucket === undefined) {
      if (this.#buckets.size >= BUCKETS_BEFORE_SWEEP) this.#sweep(now)
      bucket = { tokens: perRemote, at: now }
      this.#buckets.set(hex, bucket)
      return bucket
    }
    bucket.tokens = Math.min(perRemote, bucket.tokens + ((now - bucket.at) * perRemote) / windowMs)
    bucket.at = now
    return bucket
  }

  /** Drops the buckets that refilled completely: a new one starts full anyway. */
  #sweep(now: number): void {
    const { perRemote, windowMs } = this.#init
    for (const [hex, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) * perRemote) / windowMs >= perRemote) this.#buckets.delete(hex)
    }
  }
}
