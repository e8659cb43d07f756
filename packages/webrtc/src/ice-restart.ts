/**
 * When an established peer connection restarts ICE: the policy alone (timers and counts), no WebRTC. The peer
 * transport feeds it the ICE connection state and gives it the one action, `restart()`.
 *
 * - `disconnected` often recovers by itself: the first restart waits {@link ICE_RESTART_GRACE_MS};
 * - `failed` restarts at once;
 * - while ICE is not back (`connected` or `completed`), a new restart every {@link ICE_RESTART_RETRY_MS} (a restart
 *   made while the network, or the TURN server, is still down gathers nothing; the next one may), at most
 *   {@link ICE_RESTART_MAX_ATTEMPTS} per outage;
 * - an outage that lasts {@link ICE_RESTART_GIVE_UP_MS} is the end (`onGiveUp`), whatever the attempts.
 * - the connection may {@link IceRestartPolicy.suspect} the path before ICE notices (its heartbeat heard nothing
 *   for a while; the stack takes several seconds to report `disconnected`): a restart at once, at most one per
 *   retry time.
 *
 * Only the side that makes offers restarts (skipmesh's initiator); the other one (`restart` absent) waits for the
 * remote's restart offer, bounded by the same give-up time.
 *
 * @module
 */

/** How long `disconnected` may last before the first restart. */
export const ICE_RESTART_GRACE_MS = 1_000
/** How long one restart may take to bring ICE back before the next one. */
export const ICE_RESTART_RETRY_MS = 3_000
/** Restarts per outage. */
export const ICE_RESTART_MAX_ATTEMPTS = 10
/** How long an outage may last before the transport gives up (the connection's heartbeat is usually sooner). */
export const ICE_RESTART_GIVE_UP_MS = 30_000

/** What an {@link IceRestartPolicy} drives. */
export interface IceRestartInit {
  /**
   * Restarts ICE (the renegotiation goes through the signaling path); `false` when the stack cannot.
   * Absent on the side that never makes offers.
   */
  readonly restart?: () => boolean
  /** ICE stayed down for {@link ICE_RESTART_GIVE_UP_MS}, or it failed and cannot be restarted. */
  readonly onGiveUp: (why: string) => void
  /** Timings (tests); the defaults are the exported constants. */
  readonly graceMs?: number
  readonly retryMs?: number
  readonly maxAttempts?: number
  readonly giveUpMs?: number
}

/** Restarts ICE on an outage of an established connection; see the module comment. */
export class IceRestartPolicy {
  readonly #init: IceRestartInit
  #state: RTCIceConnectionState = 'connected'
  #attempts = 0
  /** The next restart (after the grace, or the retry time). */
  #next: ReturnType<typeof setTimeout> | undefined
  #giveUp: ReturnType<typeof setTimeout> | undefined
  #unsupported = false
  #stopped = false
  /** When the last restart was made (`-Infinity`: none). */
  #lastAttemptAt = Number.NEGATIVE_INFINITY

  constructor(init: IceRestartInit) {
    this.#init = init
  }

  /** The ICE connection state changed (only once the connection was established). */
  onIceState(state: RTCIceConnectionState): void {
    if (this.#stopped) return
    this.#state = state
    if (state === 'connected' || state === 'completed') {
      this.#attempts = 0
      this.#clear()
      return
    }
    if (state !== 'disconnected' && state !== 'failed') return
    this.#giveUp ??= setTimeout(
      () => this.#end(`ICE did not reconnect within ${this.#giveUpMs} ms`),
      this.#giveUpMs,
    )
    const restart = this.#init.restart
    if (restart === undefined) return
    if (this.#unsupported) {
      if (state === 'failed') this.#end('ICE failed and the stack cannot restart it')
      return
    }
    if (state === 'failed' && this.#attempts === 0) {
      // no restart yet for this outage (or only the grace timer): now
      clearTimeout(this.#next)
      this.#next = undefined
      this.#attempt()
    } else if (this.#next === undefined) {
      this.#next = setTimeout(() => this.#attempt(), this.#init.graceMs ?? ICE_RESTART_GRACE_MS)
    }
  }

  /**
   * The connection heard nothing from the remote lately: restarts ICE now, unless this side cannot, or made a restart
   * less than the retry time ago. The attempts count towards the outage's maximum.
   */
  suspect(): void {
    if (this.#stopped || this.#unsupported || this.#init.restart === undefined) return
    if (Date.now() - this.#lastAttemptAt < this.#retryMs) return
    clearTimeout(this.#next)
    this.#attempt(true)
  }

  /** Stops every timer; idempotent. */
  stop(): void {
    this.#stopped = true
    this.#clear()
  }

  get #retryMs(): number {
    return this.#init.retryMs ?? ICE_RESTART_RETRY_MS
  }

  get #giveUpMs(): number {
    return this.#init.giveUpMs ?? ICE_RESTART_GIVE_UP_MS
  }

  /** One restart; `suspected`: even though ICE still reports the path up. */
  #attempt(suspected = false): void {
    this.#next = undefined
    const up = this.#state === 'connected' || this.#state === 'completed'
    if (this.#stopped || (up && !suspected)) return
    if (this.#attempts >= (this.#init.maxAttempts ?? ICE_RESTART_MAX_ATTEMPTS)) return
    this.#attempts++
    this.#lastAttemptAt = Date.now()
    if (this.#init.restart?.() !== true) {
      this.#unsupported = true
      if (this.#state === 'failed') this.#end('ICE failed and the stack cannot restart it')
      return
    }
    this.#next = setTimeout(() => this.#attempt(), this.#retryMs)
  }

  #end(why: string): void {
    this.stop()
    this.#init.onGiveUp(why)
  }

  #clear(): void {
    clearTimeout(this.#next)
    clearTimeout(this.#giveUp)
    this.#next = undefined
    this.#giveUp = undefined
  }
}
