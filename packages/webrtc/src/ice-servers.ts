/**
 * The TURN servers a signaling service issued this client: time-limited credentials (the TURN REST API scheme),
 * asked for once joined and again before they expire.
 *
 * @module
 */

/** An issued entry: an `RTCIceServer` plus when its credential expires (ms since the epoch). */
export interface ExpiringIceServer {
  readonly urls: string[]
  readonly username: string
  readonly credential: string
  readonly expiresAt: number
}

/** What {@link IssuedIceServers} needs from its client. */
export interface IssuedIceServersInit {
  /** Asks the service; `undefined` when it could not answer now (try again later). */
  fetch(): Promise<readonly ExpiringIceServer[] | undefined>
  /** @default Date.now */
  now?: () => number
}

/** The share of a credential's remaining lifetime after which it is renewed. */
const RENEW_AT = 0.8
/** Never ask more often than this (ms), whatever the lifetime. */
const MIN_DELAY_MS = 1_000
/** After a failed fetch, ask again this much later (ms), or at expiry if that is sooner. */
const RETRY_MS = 10_000

/** Holds the issued servers and renews them before they expire; `stop()` cancels the renewal. */
export class IssuedIceServers {
  readonly #init: IssuedIceServersInit
  readonly #now: () => number
  #servers: readonly ExpiringIceServer[] = []
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = false

  constructor(init: IssuedIceServersInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
  }

  /** The servers whose credentials are still valid, as `RTCIceServer`s. */
  current(): RTCIceServer[] {
    const now = this.#now()
    return this.#servers
      .filter((s) => s.expiresAt > now)
      .map((s) => ({ urls: [...s.urls], username: s.username, credential: s.credential }))
  }

  /** Fetches now (replacing what it holds when the service answers) and schedules the next renewal. */
  async refresh(): Promise<void> {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    const got = await this.#init.fetch().catch(() => undefined)
    if (this.#stopped) return
    if (got !== undefined) this.#servers = got
    const now = this.#now()
    const expiry = Math.min(...this.#servers.map((s) => s.expiresAt))
    if (!Number.isFinite(expiry)) {
      // nothing issued: a service without TURN answers an empty list and is not asked again
      if (got === undefined) this.#schedule(RETRY_MS)
      return
    }
    const renew = RENEW_AT * (expiry - now)
    this.#schedule(got === undefined ? Math.min(RETRY_MS, renew) : renew)
  }

  /** Cancels the renewal. Idempotent. */
  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => void this.refresh(), Math.max(MIN_DELAY_MS, delayMs))
    // a renewal alone must not keep a Node process alive
    ;(this.#timer as { unref?: () => void }).unref?.()
  }
}
