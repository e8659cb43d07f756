import {
  AbstractComponent,
  type AbortOptions,
  type Connection,
  type ConnectionManager,
  type ConnectionManagerEvents,
  type Identifier,
  type KeyPair,
  raceSignal,
  type ThrowableContext,
  type Unsubscribe,
} from '@skipmesh/core'
import type { HostIdentities } from './host-identities.js'

/**
 * A node of a WebRTC host: the multiplexer's node-level manager, reachable once its id is bound to its key on
 * the signaling server (carried by the host's socket), or, without the server, by the hosts it opens virtual links
 * to (they learn its host from the host link). Starting it starts the node, then binds the id (at once when the
 * host's socket is joined; while the server is unreachable the node starts unbound and is bound when the socket
 * joins again); stopping it stops the node (closing its connections gracefully), then releases the id.
 */
export class WebRtcHostNode extends AbstractComponent implements ConnectionManager {
  readonly #inner: ConnectionManager
  readonly #keyPair: KeyPair
  readonly #identities: HostIdentities
  readonly #hostReady: () => Promise<void>

  /** @internal use `WebRtcHost.node`. */
  constructor(
    inner: ConnectionManager,
    keyPair: KeyPair,
    identities: HostIdentities,
    hostReady: () => Promise<void>,
  ) {
    super()
    this.#inner = inner
    this.#keyPair = keyPair
    this.#identities = identities
    this.#hostReady = hostReady
  }

  get localId(): Identifier {
    return this.#inner.localId
  }

  get maxMessageSize(): number {
    return this.#inner.maxMessageSize
  }

  on<E extends keyof ConnectionManagerEvents>(event: E, handler: ConnectionManagerEvents[E]): Unsubscribe {
    return this.#inner.on(event, handler)
  }

  /** @see ConnectionManager.connect */
  connect(id: Identifier, options?: AbortOptions): Promise<Connection> {
    return this.#inner.connect(id, options)
  }

  connections(): Connection[] {
    return this.#inner.connections()
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    await raceSignal(this.#hostReady(), ctx.signal)
    // started first so that nothing dialled in as soon as the id is bound finds the node missing
    this.#inner.start(ctx.child())
    await this.#inner.ready()
    await this.#identities.add(this.localId, this.#keyPair, { signal: ctx.signal })
  }

  protected async onStop(): Promise<void> {
    await this.#inner.stop()
    await this.#identities.remove(this.localId)
  }
}
