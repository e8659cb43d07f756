import type { AbortOptions } from '../abort.js'
import type { ConnectionManager } from '../connection.js'
import type { Identifier } from '../identifier.js'
import type { Component } from '../lifecycle.js'

/**
 * Which host each node id is bound to. The multiplexer asks it before dialling a node on another host, and to
 * verify that an incoming virtual link really comes from a node of the host it arrives from (a frame's header
 * alone is never trusted). With WebRTC the signaling server is the directory (it binds each node id to its
 * Ed25519 key and to the socket of its host); in tests {@link createStaticDirectory} is.
 */
export interface HostDirectory {
  /**
   * The host `node` is bound to. May answer from a cache; called once per virtual link, not per frame.
   * @throws {PeerNotFoundError} when `node` is bound to no host.
   * @throws {AbortError} when `options.signal` aborts.
   */
  resolve(node: Identifier, options?: AbortOptions): Promise<Identifier>
}

/** Options of {@link createMultiplexer}. */
export interface MultiplexerOptions {
  /**
   * The host-level manager: its `localId` is this host's id and it keeps at most one connection per remote
   * host. The multiplexer starts and stops it, and uses only its channel {@link MUX_CHANNEL}.
   */
  host: ConnectionManager
  /** Node id to host id, for dialling and for verifying incoming links. */
  directory: HostDirectory
  /**
   * How long a dial to a node on another host may take (directory, host connection, open/accept exchange)
   * before it fails with `ConnectionFailedError`; also the bound of the directory check of an incoming open
   * (unanswered: refused) and of a close handshake (unfinished: the link closes with `ConnectionFailedError`).
   * An integer >= 1.
   * @default 30000
   */
  openTimeoutMs?: number
  /**
   * How many frames of one host connection may wait behind a link whose source is being verified; a host
   * that sends more has its connection closed ({@link MuxBacklogOverflowError}). An integer >= 1.
   * @default 8192
   */
  maxBacklog?: number
}

/** What {@link Multiplexer.metrics} reports. */
export interface MultiplexerMetrics {
  /** Started node-level managers on this host. */
  nodes: number
  /** Open host-level connections. */
  hostLinks: number
  virtualLinks: {
    /** Open virtual connections (each side counted once per local node). */
    open: number
    /** Of those, the ones between two nodes of this host (in memory). */
    local: number
    /** Virtual connections ever opened. */
    opened: number
    /** Virtual connections ever closed. */
    closed: number
  }
  /** Frames handed to host connections. */
  framesOut: number
  /** Frames received from host connections. */
  framesIn: number
  /**
   * Frames refused: malformed, from a source node the directory does not bind to the sending host, for a
   * destination not hosted here, claiming a link that rides another host connection, an answer to no open of
   * ours, or on another host channel than the mux's. Counted and dropped.
   */
  rejectedFrames: number
  /** Well-formed frames for a virtual link already closed here (sent before the remote saw the close). */
  droppedFrames: number
}

/**
 * Many node-level {@link ConnectionManager}s over one host-level one: the nodes of a host share one host
 * connection to each other host, and nodes of the same host talk in memory. Each node-level manager is an
 * ordinary `ConnectionManager` (`createNetwork`, `createConnectionBudget` take it unchanged) whose connections'
 * `remoteId` is the remote NODE id.
 */
export interface Multiplexer extends Component {
  /** This host's id (the host manager's `localId`). */
  readonly hostId: Identifier
  /** The host-level manager. */
  readonly host: ConnectionManager
  /**
   * A new, unstarted node-level manager for `id`. Starting it (after or before the multiplexer) makes the node
   * reachable; stopping it closes its virtual connections gracefully. The directory must bind `id` to this
   * host for nodes of other hosts to reach it.
   * @throws {DuplicatePeerError} when a node-level manager for `id` exists here and is not stopped.
   */
  node(id: Identifier): ConnectionManager
  /** The ids of the started node-level managers. */
  nodes(): Identifier[]
  /** A snapshot of the counters. */
  metrics(): MultiplexerMetrics
}
