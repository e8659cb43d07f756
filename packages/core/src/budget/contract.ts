import type { Connection, ConnectionManager, ConnectionManagerEvents } from '../connection.js'
import type { TypedEvents, Unsubscribe } from '../events.js'
import type { Identifier } from '../identifier.js'

/** Options of {@link createConnectionBudget}. */
export interface ConnectionBudgetOptions {
  /**
   * The most open connections (outgoing and incoming alike) this node keeps. When a new connection takes the
   * count above it, the least valuable idle connections are closed until it is met again; protected
   * connections and connections with a send in flight are never closed for it. An integer >= 1.
   * @default 64
   */
  maxConnections?: number
  /**
   * A connection without a message sent or received for this long is closed, unless it is protected or its
   * peer's tag value reaches {@link ConnectionBudgetOptions.idleValueThreshold}. `0` disables idle closing.
   * @default 30000
   */
  idleTimeoutMs?: number
  /**
   * Idle connections whose peer's tag value (the sum of its tags' values) is below this are closed after
   * {@link ConnectionBudgetOptions.idleTimeoutMs}. With the default, exactly the connections whose peers
   * carry no positive tag value are closed when idle.
   * @default 1
   */
  idleValueThreshold?: number
}

/** Options of {@link BudgetedConnectionManager.tag}. */
export interface TagOptions {
  /** How much the tag adds to its peer's value; an integer from 0 to 100 (as in js-libp2p). @default 0 */
  value?: number
  /** The tag expires this many milliseconds from now (an integer >= 1). @default no expiry */
  ttlMs?: number
  /** A protected peer's connection is never closed by the budget (not when over budget, not when idle). @default false */
  protect?: boolean
}

/** One tag on a peer, as {@link BudgetedConnectionManager.tags} reports it. */
export interface Tag {
  /** The tag's name. */
  readonly name: string
  /** What it adds to its peer's value (0–100). */
  readonly value: number
  /** Whether it protects its peer's connection. */
  readonly protect: boolean
  /** When it expires (`Date.now()` milliseconds), if it has a time to live. */
  readonly expiresAt?: number
}

/** Why the budget closed a connection. */
export type PruneReason = 'over-budget' | 'idle'

/** Events of a {@link BudgetedConnectionManager}: the wrapped manager's, and the budget's own. */
export interface ConnectionBudgetEvents extends ConnectionManagerEvents {
  /** The budget started closing `connection` (gracefully: what was sent before is delivered). */
  prune: (connection: Connection, reason: PruneReason) => void
  /**
   * A new connection took the open connections over `maxConnections` and not enough of them may be closed
   * (protected, busy or just opened): they are kept, and {@link ConnectionBudgetMetrics.overBudget} counts it.
   */
  'over-budget': (active: number, maxConnections: number) => void
}

/** What {@link BudgetedConnectionManager.metrics} reports. */
export interface ConnectionBudgetMetrics {
  /** Open connections not being closed by the budget. */
  active: number
  /** Of those, the ones whose peer is protected. */
  protected: number
  /** Connections the budget closed, for either reason. */
  pruned: number
  /** Connections closed because the budget was exceeded. */
  prunedOverBudget: number
  /** Connections closed because they were idle. */
  prunedIdle: number
  /** New connections that left the budget exceeded because not enough others could be closed. */
  overBudget: number
  /** Active connections per tag name of their peer (names without an active connection are absent). */
  byTag: Record<string, number>
}

/**
 * A {@link ConnectionManager} that keeps the connections of the manager it wraps within a budget (after
 * js-libp2p's connection manager): at most `maxConnections` open, idle ones closed after `idleTimeoutMs`,
 * and tags on peers that rank connections by value and protect them. A drop-in manager: `createNetwork`
 * takes it unchanged. Closing is always the connection's own graceful `close()`, so the remote sees an
 * ordinary close and may dial again.
 */
export interface BudgetedConnectionManager extends ConnectionManager, TypedEvents<ConnectionBudgetEvents> {
  /** Subscribes `handler` to `event`; returns the function that unsubscribes it. */
  on<E extends keyof ConnectionBudgetEvents>(event: E, handler: ConnectionBudgetEvents[E]): Unsubscribe
  /** The wrapped manager (started and stopped with this one). */
  readonly manager: ConnectionManager
  /** The resolved {@link ConnectionBudgetOptions.maxConnections}. */
  readonly maxConnections: number
  /** The resolved {@link ConnectionBudgetOptions.idleTimeoutMs}. */
  readonly idleTimeoutMs: number
  /**
   * Tags `peer` with `name` (replacing a tag of that name): its value counts toward the peer's value, and a
   * protecting tag keeps the peer's connection open. Tags belong to the peer, not to one connection: they
   * apply to connections made later too, until removed or expired.
   * @throws {InvalidOptionsError} when `name` is not 1–64 characters (or a reserved key) or an option is out of range.
   */
  tag(peer: Identifier, name: string, options?: TagOptions): void
  /** Removes the tag `name` from `peer`; true when it was there. The peer's connection may be closed after. */
  untag(peer: Identifier, name: string): boolean
  /** The live (unexpired) tags of `peer`. */
  tags(peer: Identifier): Tag[]
  /** A snapshot of the budget's counters. */
  metrics(): ConnectionBudgetMetrics
}
