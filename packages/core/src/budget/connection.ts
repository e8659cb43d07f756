import type { AbortOptions } from '../abort.js'
import type { Channel } from '../channel.js'
import type { Connection, ConnectionEvents } from '../connection.js'
import type { Unsubscribe } from '../events.js'
import type { Identifier } from '../identifier.js'

/**
 * A connection of the wrapped manager as the budget hands it out: the same link (events, status and close are
 * the inner connection's), with its activity and sends in flight recorded for the pruner.
 */
export class BudgetedConnection implements Connection {
  /** The wrapped manager's connection. */
  readonly inner: Connection
  /** When it was first seen open (ms). */
  readonly openedAt: number
  /** When a message was last sent or received, or it was last returned by `connect` (ms). */
  lastActive: number
  /** Sends handed to the inner connection that have not settled. */
  inFlight = 0
  /** Set once the budget decided to close it. */
  pruning = false
  /** Set once the budget emitted it as a `'connection'`. */
  announced = false
  readonly #now: () => number

  constructor(inner: Connection, now: () => number) {
    this.inner = inner
    this.#now = now
    this.openedAt = now()
    this.lastActive = this.openedAt
  }

  get remoteId(): Identifier {
    return this.inner.remoteId
  }

  get status(): 'open' | 'closing' | 'closed' {
    return this.inner.status
  }

  on<E extends keyof ConnectionEvents>(event: E, handler: ConnectionEvents[E]): Unsubscribe {
    return this.inner.on(event, handler)
  }

  /** Marks the connection active now. */
  touch(): void {
    this.lastActive = this.#now()
  }

  send(channel: Channel, bytes: Uint8Array, options?: AbortOptions): Promise<void> {
    this.inFlight++
    this.touch()
    let sent: Promise<void>
    try {
      sent = this.inner.send(channel, bytes, options)
    } catch (err) {
      this.#settled()
      return Promise.reject(err)
    }
    // a side branch, so the caller's promise settles exactly when the inner one does (no extra ticks)
    const settled = (): void => this.#settled()
    sent.then(settled, settled)
    return sent
  }

  close(options?: AbortOptions): Promise<void> {
    return this.inner.close(options)
  }

  #settled(): void {
    this.inFlight--
    this.touch()
  }
}
