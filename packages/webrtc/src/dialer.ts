/**
 * Dialling: one slot per remote peer (its only peer connection and its shared dial), the callers waiting for the
 * slot's connection to open, retries of attempts that failed while connecting, and the dial timeout. A slot lives
 * while it holds something (a peer connection, a dial, waiting callers): {@link Dialer.release} forgets an idle
 * one, so remotes that signalled once and went away leave nothing behind.
 *
 * @module
 */
import { ConnectionFailedError, type Identifier, PeerNotFoundError, raceSignal } from '@skipmesh/core'
import type { WebRtcConnection } from './connection.js'
import { PeerAuthenticationError, SignalingRejectedError, SignalingUnavailableError } from './errors.js'
import { sleep } from '@skipmesh/core/internal'

/** Fresh attempts after an attempt failed while connecting (within `connectTimeoutMs`). */
const DIAL_RETRIES = 3
/** Pause before the n-th retry: n × this many milliseconds. */
const DIAL_RETRY_DELAY_MS = 50

interface Waiter {
  resolve(connection: WebRtcConnection): void
  reject(err: unknown): void
}

/** Everything about one remote peer. */
export interface DialSlot {
  readonly remoteId: Identifier
  readonly hex: string
  /** The only peer connection of the pair: an attempt or the open connection. */
  connection: WebRtcConnection | undefined
  /** The shared dial of concurrent `connect` calls. */
  dial: Promise<WebRtcConnection> | undefined
  /** The session of this side's latest dial request (the remote's offer under it was asked for). */
  solicited: string | undefined
  readonly waiters: Set<Waiter>
}

/** What a {@link Dialer} needs from its manager. */
export interface DialerInit {
  readonly connectTimeoutMs: number
  /** Whether the manager is ready (a stopping manager does not retry). */
  isReady(): boolean
  /** Makes this side's first move for a slot without a connection: a peer connection, or a dial request. */
  begin(slot: DialSlot): Promise<void>
  /** A dial failed (counted). */
  onDialFailed(): void
}

/** The slots of a manager and the dials on them. */
export class Dialer {
  readonly #init: DialerInit
  readonly #slots = new Map<string, DialSlot>()

  constructor(init: DialerInit) {
    this.#init = init
  }

  /** The slot of `id` (made on first use). */
  slot(id: Identifier): DialSlot {
    const hex = id.toHex()
    let slot = this.#slots.get(hex)
    if (slot === undefined) {
      slot = {
        remoteId: id,
        hex,
        connection: undefined,
        dial: undefined,
        solicited: undefined,
        waiters: new Set(),
      }
      this.#slots.set(hex, slot)
    }
    return slot
  }

  /** Every slot. */
  slots(): IterableIterator<DialSlot> {
    return this.#slots.values()
  }

  /** Remotes holding a slot now. */
  get size(): number {
    return this.#slots.size
  }

  /**
   * Forgets `slot` if it holds nothing (no peer connection, dial or waiting caller), once the current synchronous
   * work is done (a handler that emptied the slot may still be filling it again). A dial request of this side that
   * the remote never answered goes with it: a late offer under it is then an offer like any other.
   */
  release(slot: DialSlot): void {
    queueMicrotask(() => {
      if (this.#slots.get(slot.hex) !== slot) return
      if (slot.connection === undefined && slot.dial === undefined && slot.waiters.size === 0) {
        this.#slots.delete(slot.hex)
      }
    })
  }

  /** The open connection of `slot`, dialling when needed; concurrent calls share one dial. */
  connect(slot: DialSlot, signal: AbortSignal | undefined): Promise<WebRtcConnection> {
    if (slot.connection?.phase === 'open') return Promise.resolve(slot.connection)
    if (slot.dial === undefined) {
      const dial = this.#dial(slot)
      slot.dial = dial
      dial.then(
        () => {
          if (slot.dial === dial) slot.dial = undefined
          // the connection may already have closed again
          this.release(slot)
        },
        () => {
          if (slot.dial === dial) slot.dial = undefined
          this.#init.onDialFailed()
          this.release(slot)
        },
      )
    }
    return raceSignal(slot.dial, signal)
  }

  /** The slot's connection opened: every waiter gets it. */
  opened(slot: DialSlot, connection: WebRtcConnection): void {
    for (const w of slot.waiters) w.resolve(connection)
    slot.waiters.clear()
  }

  /** The slot's attempt failed: every waiter fails with `err` (its dial retries while time is left). */
  failed(slot: DialSlot, err: Error): void {
    for (const w of slot.waiters) w.reject(err)
    slot.waiters.clear()
  }

  /** Fails every waiter with `err` and returns the connections they held. */
  failAll(err: Error): WebRtcConnection[] {
    const connections: WebRtcConnection[] = []
    for (const slot of this.#slots.values()) {
      this.failed(slot, err)
      if (slot.connection !== undefined) connections.push(slot.connection)
    }
    return connections
  }

  /** Forgets every slot. */
  forget(): void {
    this.#slots.clear()
  }

  async #dial(slot: DialSlot): Promise<WebRtcConnection> {
    const timeoutMs = this.#init.connectTimeoutMs
    let waiter: Waiter | undefined
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      if (waiter !== undefined) {
        slot.waiters.delete(waiter)
        waiter.reject(new ConnectionFailedError(`no connection to ${slot.hex} within ${timeoutMs} ms`))
      }
      const attempt = slot.connection
      if (attempt?.phase === 'connecting') attempt.destroy(new ConnectionFailedError('connect timeout'))
    }, timeoutMs)
    try {
      for (let retry = 0; ; retry++) {
        const opened = new Promise<WebRtcConnection>((resolve, reject) => {
          waiter = { resolve, reject }
        })
        // the timer or a failed attempt can reject it while this dial still waits for the old connection to go
        // or for `begin`: handled here, so that it is never an unhandled rejection (the await below still sees it)
        opened.catch(() => {})
        slot.waiters.add(waiter!)
        try {
          const current = slot.connection
          if (current !== undefined && current.phase !== 'connecting') {
            // closing (or an open one the caller raced with): wait for it to go, then dial afresh
            if (current.phase === 'open') return current
            await current.whenClosed()
          }
          if (timedOut) throw new ConnectionFailedError(`no connection to ${slot.hex} within ${timeoutMs} ms`)
          if (slot.connection === undefined) await this.#init.begin(slot)
          return await opened
        } catch (err) {
          slot.waiters.delete(waiter!)
          waiter = undefined
          // an attempt that failed while connecting (ICE, DTLS or a WebRTC stack error) is retried with a fresh
          // peer connection while time is left; a missing peer, a remote refused for its identity, a timeout or a
          // stopping manager is final
          const final =
            timedOut ||
            retry >= DIAL_RETRIES ||
            !(err instanceof ConnectionFailedError) ||
            err instanceof PeerNotFoundError ||
            err instanceof PeerAuthenticationError ||
            err instanceof SignalingRejectedError ||
            err instanceof SignalingUnavailableError ||
            !this.#init.isReady()
          if (final) throw err
          // a short, growing pause lets a stack that just failed settle (libdatachannel tears down on a thread)
          await sleep(DIAL_RETRY_DELAY_MS * (retry + 1))
          if (timedOut) throw err
        }
      }
    } finally {
      clearTimeout(timer)
    }
  }
}
