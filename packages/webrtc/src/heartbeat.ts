/**
 * Liveness of one connection: a ping every interval, and the verdict "silent" once nothing arrived for the timeout.
 *
 * A tick that comes much later than its interval means this side stalled, not the remote: a frozen page
 * (Page Lifecycle `freeze`, a discarded or sleeping tab, a laptop lid), throttled timers, or a long task. What
 * the remote sent meanwhile may still be queued behind the tick, so that tick gives no verdict: it pings, and
 * the next tick judges, by when a live remote has answered. Only one tick in a row is excused, so timers that
 * keep firing late (background throttling) still reach a verdict, one tick later.
 *
 * @module
 */

/** What a {@link Heartbeat} does. */
export interface HeartbeatInit {
  readonly intervalMs: number
  readonly timeoutMs: number
  /** Sends one ping. */
  ping(): void
  /** Nothing arrived for `timeoutMs` (the heartbeat has stopped). */
  onSilent(): void
}

/** A tick later than this many intervals after the previous one means this side stalled. */
const STALL_INTERVALS = 2

/** Pings every `intervalMs`; reports the remote silent when nothing was {@link Heartbeat.touch}ed for `timeoutMs`. */
export class Heartbeat {
  readonly #init: HeartbeatInit
  #lastReceived = Date.now()
  #lastTick = Date.now()
  /** Whether the previous tick was excused as a local stall. */
  #excused = false
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(init: HeartbeatInit) {
    this.#init = init
  }

  /** Starts the pings (counting silence from now). */
  start(): void {
    this.#lastReceived = Date.now()
    this.#lastTick = this.#lastReceived
    this.#excused = false
    this.#timer = setInterval(() => this.#tick(), this.#init.intervalMs)
  }

  /** Milliseconds since something last arrived from the remote. */
  get silentMs(): number {
    return Date.now() - this.#lastReceived
  }

  /** Something arrived from the remote. */
  touch(): void {
    this.#lastReceived = Date.now()
  }

  /** Stops the pings. Idempotent. */
  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  #tick(): void {
    const now = Date.now()
    const stalled = now - this.#lastTick > STALL_INTERVALS * this.#init.intervalMs
    this.#lastTick = now
    if (stalled && !this.#excused) {
      this.#excused = true
      this.#init.ping()
      return
    }
    this.#excused = false
    if (now - this.#lastReceived > this.#init.timeoutMs) {
      this.stop()
      this.#init.onSilent()
      return
    }
    this.#init.ping()
  }
}
