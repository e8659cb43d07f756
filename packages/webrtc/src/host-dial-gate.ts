/**
 * A host's first host link, dialled alone. While a host has no host connection open, a host-level dial made while
 * another is in flight waits until that one settled and one of the host's nodes has a link to a node of another host
 * (at most {@link FIRST_LINK_WAIT_MS}): its signals can then travel over that link (the overlay) instead of the
 * signaling server. A new tab's node asks several tabs at once; without the wait, every one of those dials was
 * signalled through the server (no route to the new tab existed yet), and so was every answer.
 *
 * @module
 */
import {
  type AbortOptions,
  type Connection,
  type ConnectionManager,
  type ConnectionManagerEvents,
  type Identifier,
  raceSignal,
  type ThrowableContext,
  type Unsubscribe,
} from '@skipmesh/core'

/** How long the dials queued behind a host's first one wait, at most, for a node's first link to another host. */
export const FIRST_LINK_WAIT_MS = 3_000

/** The host-level manager as the multiplexer uses it, with the first-link wait (see the module). */
export class FirstLinkGate implements ConnectionManager {
  readonly #inner: ConnectionManager
  readonly #linked: (signal: AbortSignal) => Promise<void>
  /** Settles once the first dial settled and a node linked (or the wait ran out). */
  #first: Promise<void> | undefined

  /**
   * `linked(signal)` resolves once a node of the host has a link to a node of another host (rejects when `signal`
   * aborts).
   */
  constructor(inner: ConnectionManager, linked: (signal: AbortSignal) => Promise<void>) {
    this.#inner = inner
    this.#linked = linked
  }

  get localId(): Identifier {
    return this.#inner.localId
  }

  get maxMessageSize(): number {
    return this.#inner.maxMessageSize
  }

  start(ctx?: ThrowableContext): void {
    this.#inner.start(ctx)
  }

  ready(): Promise<void> {
    return this.#inner.ready()
  }

  done(): Promise<void> {
    return this.#inner.done()
  }

  stop(): Promise<void> {
    return this.#inner.stop()
  }

  on<E extends keyof ConnectionManagerEvents>(event: E, handler: ConnectionManagerEvents[E]): Unsubscribe {
    return this.#inner.on(event, handler)
  }

  connections(): Connection[] {
    return this.#inner.connections()
  }

  /** @see ConnectionManager.connect */
  async connect(id: Identifier, options: AbortOptions = {}): Promise<Connection> {
    if (this.#inner.connections().length === 0) {
      const first = this.#first
      if (first === undefined) {
        const dial = this.#inner.connect(id, options)
        const settled = dial
          .then(
            () => this.#linked(AbortSignal.timeout(FIRST_LINK_WAIT_MS)),
            () => {},
          )
          .catch(() => {})
        this.#first = settled
        void settled.then(() => {
          if (this.#first === settled) this.#first = undefined
        })
        return dial
      }
      await raceSignal(first, options.signal)
    }
    return this.#inner.connect(id, options)
  }
}
