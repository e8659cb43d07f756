/**
 * Liveness of one connection: a ping every interval, and the verdict "silent" once nothing arrived for the timeout.
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

/** Pings every `intervalMs`; reports the remote silent when nothing was {@link Heartbeat.touch}ed for `timeoutMs`. */
export class Heartbeat {
  readonly #init: HeartbeatInit
  #lastReceived = Date.now()
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(init: HeartbeatInit) {
    this.#init = init
  }

  /** Starts the pings (counting silence from now). */
  start(): void {
    this.#lastReceived = Date.now()
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
    if (Date.now() - this.#lastReceived > this.#init.timeoutMs) {
      this.stop()
      this.#init.onSilent()
      return
    }
    this.#init.ping()
  }
}
