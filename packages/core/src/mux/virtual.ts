import { type AbortOptions, raceSignal, throwIfAborted } from '../abort.js'
import type { Channel } from '../channel.js'
import type { Connection, ConnectionEvents } from '../connection.js'
import { checkSend } from '../internal/send-checks.js'
import { Emitter, type Unsubscribe } from '../events.js'
import type { Identifier } from '../identifier.js'
import { deferred } from '../internal/async.js'

/** Where a virtual connection's bytes go: a host connection, or the twin of a connection in the same host. */
export interface VirtualWire {
  /** Hands one message (already checked) to the other side; ordered per connection. */
  send(channel: Channel, bytes: Uint8Array): Promise<void>
  /**
   * Begins a graceful close on this side. The wire calls the connection's `closed()` once everything either
   * side sent before was delivered (or with a reason when that cannot be known).
   */
  close(): void
}

/** What a virtual connection tells the node-level manager that owns it. */
export interface VirtualOwner {
  readonly maxMessageSize: number
  /** The connection closed: forget it. */
  removed(conn: VirtualConnection): void
}

/**
 * One node-to-node connection of a multiplexer, either riding a host connection or in memory within the host.
 * The full `Connection` contract; its `remoteId` is the remote node's id.
 */
export class VirtualConnection implements Connection {
  readonly remoteId: Identifier
  /** What carries the bytes (a host link, or a local twin). @internal */
  readonly wire: VirtualWire
  readonly #owner: VirtualOwner
  readonly #events = new Emitter<ConnectionEvents>()
  readonly #closed = deferred<void>()
  #status: 'open' | 'closing' | 'closed' = 'open'

  constructor(owner: VirtualOwner, remoteId: Identifier, wire: VirtualWire) {
    this.#owner = owner
    this.remoteId = remoteId
    this.wire = wire
  }

  get status(): 'open' | 'closing' | 'closed' {
    return this.#status
  }

  on<E extends keyof ConnectionEvents>(event: E, handler: ConnectionEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  /**
   * @throws {ConnectionClosedError} when closing or closed.
   * @throws {InvalidChannelError} when `channel` is not a valid channel name.
   * @throws {MessageTooLargeError} when `bytes` exceeds the node-level `maxMessageSize`.
   * @throws {SendFailedError} when the host connection refused the frame.
   * @throws {AbortError} when `options.signal` aborts.
   */
  send(channel: Channel, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    try {
      checkSend(this, channel, bytes, this.#owner.maxMessageSize, options)
      return this.wire.send(channel, bytes)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Graceful close: resolves once both sides delivered what they sent before (or the link failed). */
  close(options: AbortOptions = {}): Promise<void> {
    if (this.#status === 'closed') return Promise.resolve()
    try {
      throwIfAborted(options.signal)
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.#status === 'open') {
      this.#status = 'closing'
      this.wire.close()
    }
    return raceSignal(this.#closed.promise, options.signal)
  }

  /** Resolves once closed. @internal */
  whenClosed(): Promise<void> {
    return this.#closed.promise
  }

  /** Bytes from the remote node; dropped (false) once closed. @internal */
  receive(channel: Channel, bytes: Uint8Array): boolean {
    if (this.#status === 'closed') return false
    this.#events.emit('message', channel, bytes)
    return true
  }

  /** The remote began closing: no more sends from here. @internal */
  closing(): void {
    if (this.#status === 'open') this.#status = 'closing'
  }

  /** Marks the connection closed and emits `'close'` once. @internal */
  closed(reason: Error | undefined): void {
    if (this.#status === 'closed') return
    this.#status = 'closed'
    this.#owner.removed(this)
    if (reason === undefined) this.#events.emit('close')
    else this.#events.emit('close', reason)
    this.#events.clear()
    this.#closed.resolve()
  }
}

/**
 * The in-memory wire between two nodes of one host: copies on send, delivers in a later microtask in send
 * order, and delivers whatever either side already sent before a close takes effect.
 */
export class LocalWire implements VirtualWire {
  /** The other side's wire. */
  twin: LocalWire | undefined
  /** The connection this wire belongs to. */
  conn: VirtualConnection | undefined
  #outbox: Array<{ channel: Channel; bytes: Uint8Array }> = []
  #scheduled = false

  send(channel: Channel, bytes: Uint8Array): Promise<void> {
    this.#outbox.push({ channel, bytes: bytes.slice() })
    if (!this.#scheduled) {
      this.#scheduled = true
      queueMicrotask(() => this.flush())
    }
    return Promise.resolve()
  }

  /** Delivers everything queued to the twin's connection. */
  flush(): void {
    this.#scheduled = false
    const target = this.twin?.conn
    while (this.#outbox.length > 0) {
      const batch = this.#outbox
      this.#outbox = []
      for (const m of batch) target?.receive(m.channel, m.bytes)
    }
  }

  close(): void {
    this.flush()
    this.twin?.flush()
    this.twin?.conn?.closed(undefined)
    this.conn?.closed(undefined)
  }
}
