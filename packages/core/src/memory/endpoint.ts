import { type AbortOptions, raceSignal, throwIfAborted } from '../abort.js'
import type { Channel } from '../channel.js'
import type {
  CloseInfo,
  Connection,
  ConnectionEvents,
  ConnectionManager,
  ConnectionManagerEvents,
} from '../connection.js'
import { ComponentNotStartedError, ConnectionFailedError } from '../errors.js'
import { checkSend } from '../internal/send-checks.js'
import { Emitter, type Unsubscribe } from '../events.js'
import type { Identifier } from '../identifier.js'
import { AbstractComponent } from '../lifecycle.js'

import type { MemoryHub } from './hub.js'
import type { Queue } from './queue.js'

/** What an endpoint asks of its hub. @internal */
export interface HubPort {
  attach(manager: MemoryConnectionManager): void
  detach(manager: MemoryConnectionManager): void
  dial(from: MemoryConnectionManager, to: Identifier, options: AbortOptions): Promise<MemoryConnection>
  send(conn: MemoryConnection, channel: Channel, bytes: Uint8Array): void
  flush(conn: MemoryConnection): void
  /** Drops what `conn` sent that was not delivered yet; returns how many messages that was. */
  abandon(conn: MemoryConnection): number
}

/** One side of an in-memory link; its twin lives in the remote manager. */
export class MemoryConnection implements Connection {
  readonly remoteId: Identifier
  /** @internal */
  readonly manager: MemoryConnectionManager
  /** @internal serial number of the link (shared by both sides). */
  readonly link: number
  /** @internal the other side. */
  peer: MemoryConnection | undefined
  /** @internal what this side sent and the peer has not received yet, per channel. */
  readonly queues = new Map<Channel, Queue>()
  readonly #maxMessageSize: number
  readonly #events = new Emitter<ConnectionEvents>()
  #status: 'open' | 'closing' | 'closed' = 'open'

  /** @internal made by the hub only. */
  constructor(manager: MemoryConnectionManager, remoteId: Identifier, link: number, maxMessageSize: number) {
    this.manager = manager
    this.remoteId = remoteId
    this.link = link
    this.#maxMessageSize = maxMessageSize
  }

  get status(): 'open' | 'closing' | 'closed' {
    return this.#status
  }

  on<E extends keyof ConnectionEvents>(event: E, handler: ConnectionEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  send(channel: Channel, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    try {
      checkSend(this, channel, bytes, this.#maxMessageSize, options)
      // copy: the caller may reuse its buffer as soon as this resolves
      this.manager.port.send(this, channel, bytes.slice())
      return Promise.resolve()
    } catch (err) {
      return Promise.reject(err)
    }
  }

  close(options: AbortOptions = {}): Promise<void> {
    if (this.#status === 'closed') return Promise.resolve()
    try {
      throwIfAborted(options.signal)
    } catch (err) {
      return Promise.reject(err)
    }
    // both sides stop accepting sends first: a listener that answers a flushed message gets a rejected send,
    // never a resolved one that the close then loses
    this.#status = 'closing'
    this.peer?.closing()
    this.manager.port.flush(this)
    this.peer?.closed(undefined)
    this.closed(undefined)
    return Promise.resolve()
  }

  /**
   * @internal abrupt failure of the link (partition): both sides close, pending messages are lost, and each
   * side's `'close'` counts its own lost sends.
   */
  fail(reason: Error): void {
    const peer = this.peer
    const port = this.manager.port
    const lostHere = port.abandon(this)
    if (peer !== undefined) peer.closed(reason, { undeliveredSends: port.abandon(peer) })
    this.closed(reason, { undeliveredSends: lostHere })
  }

  /** @internal the remote side began a graceful close: sends reject from now on. */
  closing(): void {
    if (this.#status === 'open') this.#status = 'closing'
  }

  /** @internal bytes from the peer; false when this side is already closed (the bytes are lost). */
  receive(channel: Channel, bytes: Uint8Array): boolean {
    if (this.#status === 'closed') return false
    this.#events.emit('message', channel, bytes)
    return true
  }

  /** @internal marks this side closed and emits `'close'` once (a failure with what it lost). */
  closed(reason: Error | undefined, info: CloseInfo = { undeliveredSends: 0 }): void {
    if (this.#status === 'closed') return
    this.#status = 'closed'
    this.manager.remove(this)
    if (reason === undefined) this.#events.emit('close')
    else this.#events.emit('close', reason, info)
    this.#events.clear()
  }
}

/** A {@link ConnectionManager} on a {@link MemoryHub}; made by {@link MemoryHub.connectionManager}. */
export class MemoryConnectionManager extends AbstractComponent implements ConnectionManager {
  readonly localId: Identifier
  readonly maxMessageSize: number
  /** The hub this manager lives on. */
  readonly hub: MemoryHub
  /** @internal */
  readonly port: HubPort
  readonly #events = new Emitter<ConnectionManagerEvents>()
  readonly #connections = new Map<string, MemoryConnection>()

  /** @internal use {@link MemoryHub.connectionManager}. */
  constructor(hub: MemoryHub, localId: Identifier, port: HubPort) {
    super()
    this.hub = hub
    this.localId = localId
    this.port = port
    this.maxMessageSize = hub.maxMessageSize
  }

  on<E extends keyof ConnectionManagerEvents>(event: E, handler: ConnectionManagerEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  protected async onStart(): Promise<void> {
    this.port.attach(this)
  }

  protected async onStop(): Promise<void> {
    this.port.detach(this)
    await Promise.all([...this.#connections.values()].map((c) => c.close()))
  }

  /**
   * @throws {PeerNotFoundError} when no started manager has `id` on this hub.
   * @throws {ConnectionFailedError} when `id` is this manager's own, or partitioned away.
   * @throws {AbortError} when `options.signal` aborts.
   * @throws {ComponentNotStartedError} when this manager is not started or already stopped.
   */
  async connect(id: Identifier, options: AbortOptions = {}): Promise<Connection> {
    throwIfAborted(options.signal)
    if (this.state === 'starting') await raceSignal(this.ready(), options.signal)
    if (this.state !== 'ready') throw new ComponentNotStartedError('memory connection manager is not started')
    if (id.equals(this.localId)) throw new ConnectionFailedError('cannot connect to self')
    const existing = this.openConnection(id)
    if (existing !== undefined) return existing
    return this.port.dial(this, id, options)
  }

  connections(): Connection[] {
    return [...this.#connections.values()].filter((c) => c.status === 'open')
  }

  /** @internal */
  openConnections(): MemoryConnection[] {
    return [...this.#connections.values()].filter((c) => c.status === 'open')
  }

  /** @internal the open connection to `id`, if any. */
  openConnection(id: Identifier): MemoryConnection | undefined {
    const c = this.#connections.get(id.toHex())
    return c !== undefined && c.status === 'open' ? c : undefined
  }

  /** @internal */
  add(conn: MemoryConnection): void {
    this.#connections.set(conn.remoteId.toHex(), conn)
    this.#events.emit('connection', conn)
  }

  /** @internal */
  remove(conn: MemoryConnection): void {
    if (this.#connections.get(conn.remoteId.toHex()) === conn) this.#connections.delete(conn.remoteId.toHex())
  }
}
