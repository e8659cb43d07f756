import type { AbortOptions } from './abort.js'
import type { Channel } from './channel.js'
import type { TypedEvents } from './events.js'
import type { Identifier } from './identifier.js'
import type { Component } from './lifecycle.js'

/**
 * What a failure close (a `'close'` with a reason) reports about the sends of the closing side. See
 * {@link Connection.send} for the delivery contract it completes.
 */
export interface CloseInfo {
  /**
   * Sends on this side that had resolved and that the transport knows were not delivered (they never left this
   * side). Sends that were in flight on the link may be lost too: after a failure close, delivery of the other
   * resolved sends is unknown.
   */
  readonly undeliveredSends: number
}

/** Events of one {@link Connection}. */
export interface ConnectionEvents {
  /**
   * Bytes arrived on `channel`; per channel, in the order the remote sent them. The bytes belong to the
   * listeners from then on: the transport never modifies or reuses their buffer (a WebRTC data channel gives a
   * fresh `ArrayBuffer` per message; the memory hub copies on send), because the network decodes the payload
   * as a view of them and hands it to a processor that may keep it.
   */
  message: (channel: Channel, bytes: Uint8Array) => void
  /**
   * The connection closed. Fires exactly once. Without a `reason` it closed gracefully (`close()` on either side):
   * every send that resolved on either side before was delivered. With a `reason` it failed: `info` says how many
   * resolved sends of this side are known to be lost (see {@link CloseInfo}).
   */
  close: (reason?: Error, info?: CloseInfo) => void
}

/** An authenticated, reliable link to one remote peer carrying bytes on named channels. */
export interface Connection extends TypedEvents<ConnectionEvents> {
  /** The remote peer's identifier, as authenticated by the transport. */
  readonly remoteId: Identifier
  /** `'open'` until `close()` is called or the link fails. */
  readonly status: 'open' | 'closing' | 'closed'
  /**
   * Sends bytes on `channel`. Ordered and reliable per channel. Resolves once the transport accepted the
   * bytes (not when the remote processed them); the caller may reuse its buffer then.
   *
   * Delivery contract (no silent loss): a resolved send is delivered to the remote's `'message'` listeners, in
   * order, unless the connection then fails. A graceful close (a `'close'` without a reason, on both sides) comes
   * only after everything either side's resolved sends carried was delivered. A failure (a `'close'` with a
   * reason) is the only way a resolved send can be lost, and its {@link CloseInfo} counts the resolved sends of
   * this side known to be lost. A rejected send was not delivered. (`MemoryHub`'s `dropRate` simulates a lossy
   * link and is the one deliberate exception.)
   * @throws {ConnectionClosedError} when the connection is closing or closed.
   * @throws {MessageTooLargeError} when `bytes` exceeds the manager's `maxMessageSize`.
   * @throws {SendFailedError} when the transport failed.
   * @throws {AbortError} when `options.signal` aborts.
   */
  send(channel: Channel, bytes: Uint8Array, options?: AbortOptions): Promise<void>
  /** Closes gracefully (what was already sent is delivered); resolves when closed. Idempotent. */
  close(options?: AbortOptions): Promise<void>
}

/** Events of a {@link ConnectionManager}. */
export interface ConnectionManagerEvents {
  /**
   * A new connection, outgoing or incoming. Emitted synchronously before its first `'message'`, so a
   * subscriber that attaches its handlers here misses nothing.
   */
  connection: (connection: Connection) => void
}

/**
 * Establishes and caches connections to remote peers (skipgraph-go `net/internal/connection.go`).
 * At most one open connection per remote peer.
 */
export interface ConnectionManager extends Component, TypedEvents<ConnectionManagerEvents> {
  /** This peer's identifier. */
  readonly localId: Identifier
  /** The largest byte array one `Connection.send` accepts. */
  readonly maxMessageSize: number
  /**
   * Returns the open connection to `id`, establishing it if needed. Concurrent calls for one id share one
   * dial; a cached open connection is returned as is; a closed one is replaced by a fresh dial.
   * @throws {PeerNotFoundError} when the peer is unknown to the transport.
   * @throws {ConnectionFailedError} when the connection could not be established.
   * @throws {AbortError} when `options.signal` aborts.
   * @throws {ComponentNotStartedError} when the manager is not started or already stopped.
   */
  connect(id: Identifier, options?: AbortOptions): Promise<Connection>
  /** The currently open connections. */
  connections(): Connection[]
}
