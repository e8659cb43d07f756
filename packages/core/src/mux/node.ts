import { type AbortOptions, raceSignal, throwIfAborted } from '../abort.js'
import type { Connection, ConnectionManager, ConnectionManagerEvents } from '../connection.js'
import { ComponentNotStartedError, ConnectionFailedError } from '../errors.js'
import { Emitter, type Unsubscribe } from '../events.js'
import type { Identifier } from '../identifier.js'
import { AbstractComponent, type ThrowableContext } from '../lifecycle.js'
import type { LinkNode } from './host-link.js'
import type { VirtualConnection } from './virtual.js'

/** What a node-level manager asks of its multiplexer. @internal */
export interface MuxPort {
  readonly maxMessageSize: number
  /** Resolves when the multiplexer is ready. */
  ready(): Promise<void>
  /** The node is started: reachable from now on. */
  attach(node: MuxNodeManager): void
  /** The node is stopping: unreachable from now on. */
  detach(node: MuxNodeManager): void
  /** Establishes a virtual connection from `node` to `remote` (in memory, or over a host connection). */
  dial(node: MuxNodeManager, remote: Identifier): Promise<VirtualConnection>
  /** Counts virtual connections opened and closed. */
  counted(event: 'opened' | 'closed'): void
}

/**
 * A node-level {@link ConnectionManager} of a multiplexer: one local node identity, its virtual connections,
 * one dial per remote node at a time.
 */
export class MuxNodeManager extends AbstractComponent implements ConnectionManager, LinkNode {
  readonly localId: Identifier
  readonly #port: MuxPort
  readonly #events = new Emitter<ConnectionManagerEvents>()
  readonly #connections = new Map<string, VirtualConnection>()
  readonly #dials = new Map<string, Promise<VirtualConnection>>()

  /** @internal use `Multiplexer.node`. */
  constructor(port: MuxPort, localId: Identifier) {
    super()
    this.#port = port
    this.localId = localId
  }

  /** The host's largest message less the largest frame header. */
  get maxMessageSize(): number {
    return this.#port.maxMessageSize
  }

  on<E extends keyof ConnectionManagerEvents>(event: E, handler: ConnectionManagerEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    await raceSignal(this.#port.ready(), ctx.signal)
    this.#port.attach(this)
  }

  protected async onStop(): Promise<void> {
    // still attached while the close handshakes run, so their frames reach this node
    await Promise.all([...this.#connections.values()].map((c) => c.close()))
    this.#port.detach(this)
  }

  /** @internal whether it takes new connections. */
  get accepting(): boolean {
    return this.state === 'ready'
  }

  /**
   * @throws {PeerNotFoundError} when the directory (or the remote host) knows no node `id`.
   * @throws {ConnectionFailedError} when `id` is this node's own, or the link could not be established in time.
   * @throws {AbortError} when `options.signal` aborts.
   * @throws {ComponentNotStartedError} when this manager is not started or already stopped.
   */
  async connect(id: Identifier, options: AbortOptions = {}): Promise<Connection> {
    throwIfAborted(options.signal)
    if (this.state === 'starting') await raceSignal(this.ready(), options.signal)
    if (this.state !== 'ready') throw new ComponentNotStartedError('node connection manager is not started')
    if (id.equals(this.localId)) throw new ConnectionFailedError('cannot connect to self')
    const hex = id.toHex()
    // one link per pair at a time: a link still closing finishes its handshake before a new one opens
    const closing = this.#connections.get(hex)
    if (closing !== undefined && closing.status === 'closing')
      await raceSignal(closing.whenClosed(), options.signal)
    const existing = this.openConnection(id)
    if (existing !== undefined) return existing
    let dial = this.#dials.get(hex)
    if (dial === undefined) {
      const started = this.#port.dial(this, id)
      dial = started
      this.#dials.set(hex, started)
      const clear = (): void => {
        if (this.#dials.get(hex) === started) this.#dials.delete(hex)
      }
      started.then(clear, clear)
    }
    const conn = await raceSignal(dial, options.signal)
    if (conn.status !== 'open')
      throw new ConnectionFailedError(`connection to ${hex} closed while connecting`)
    return conn
  }

  connections(): Connection[] {
    return [...this.#connections.values()].filter((c) => c.status === 'open')
  }

  /** @internal the open connection to `remote`, if any. */
  openConnection(remote: Identifier): VirtualConnection | undefined {
    const c = this.#connections.get(remote.toHex())
    return c !== undefined && c.status === 'open' ? c : undefined
  }

  /** @internal the connection to `remote` that is open or still closing, if any. */
  linked(remote: Identifier): VirtualConnection | undefined {
    return this.#connections.get(remote.toHex())
  }

  /** @internal lists a new connection and announces it; a stopping node closes it at once. */
  adopt(conn: VirtualConnection): void {
    this.#connections.set(conn.remoteId.toHex(), conn)
    this.#port.counted('opened')
    if (this.state !== 'ready') {
      void conn.close()
      return
    }
    this.#events.emit('connection', conn)
  }

  /** @internal */
  removed(conn: VirtualConnection): void {
    const hex = conn.remoteId.toHex()
    if (this.#connections.get(hex) === conn) this.#connections.delete(hex)
    this.#port.counted('closed')
  }
}
