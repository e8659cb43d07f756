import { type AbortOptions, raceSignal, throwIfAborted } from '../abort.js'
import type { Connection, ConnectionManager } from '../connection.js'
import { ComponentAlreadyStartedError, ComponentNotStartedError } from '../errors.js'
import { Emitter, type Unsubscribe } from '../events.js'
import type { Identifier } from '../identifier.js'
import { numberOption } from '../internal/options.js'
import { AbstractComponent, type ThrowableContext } from '../lifecycle.js'
import { Alarm } from './alarm.js'
import { BudgetedConnection } from './connection.js'
import type {
  BudgetedConnectionManager,
  ConnectionBudgetEvents,
  ConnectionBudgetMetrics,
  ConnectionBudgetOptions,
  PruneReason,
  Tag,
  TagOptions,
} from './contract.js'
import {
  type IdlePolicy,
  nextIdleDeadline,
  type PruneCandidate,
  selectIdle,
  selectOverBudget,
} from './pruner.js'
import { TagStore } from './tags.js'

/** Defaults of {@link ConnectionBudgetOptions}. */
export const DEFAULT_CONNECTION_BUDGET: Required<ConnectionBudgetOptions> = {
  maxConnections: 64,
  idleTimeoutMs: 30_000,
  idleValueThreshold: 1,
}

interface Candidate extends PruneCandidate {
  readonly connection: BudgetedConnection
}

/** The budget's counters. */
interface Counters {
  prunedOverBudget: number
  prunedIdle: number
  overBudget: number
}

class DefaultBudgetedConnectionManager extends AbstractComponent implements BudgetedConnectionManager {
  readonly manager: ConnectionManager
  readonly maxConnections: number
  readonly idleTimeoutMs: number
  readonly #policy: IdlePolicy
  readonly #tags = new TagStore(Date.now)
  readonly #events = new Emitter<ConnectionBudgetEvents>()
  /** Open connections of the wrapped manager, by inner connection. */
  readonly #tracked = new Map<Connection, BudgetedConnection>()
  /** Connections whose arrival has not been checked against the budget yet. */
  readonly #fresh = new Set<BudgetedConnection>()
  readonly #counters: Counters = { prunedOverBudget: 0, prunedIdle: 0, overBudget: 0 }
  readonly #alarm = new Alarm()
  #checkQueued = false
  #offConnection: Unsubscribe | undefined

  constructor(manager: ConnectionManager, options: ConnectionBudgetOptions) {
    super()
    const d = DEFAULT_CONNECTION_BUDGET
    this.manager = manager
    this.maxConnections = numberOption('maxConnections', options.maxConnections, d.maxConnections, {
      min: 1,
      integer: true,
    })
    this.idleTimeoutMs = numberOption('idleTimeoutMs', options.idleTimeoutMs, d.idleTimeoutMs, {
      min: 0,
      max: 2 ** 31 - 1,
    })
    this.#policy = {
      idleTimeoutMs: this.idleTimeoutMs,
      idleValueThreshold: numberOption(
        'idleValueThreshold',
        options.idleValueThreshold,
        d.idleValueThreshold,
        { min: 0 },
      ),
    }
  }

  get localId(): Identifier {
    return this.manager.localId
  }

  get maxMessageSize(): number {
    return this.manager.maxMessageSize
  }

  on<E extends keyof ConnectionBudgetEvents>(event: E, handler: ConnectionBudgetEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    // subscribe first: no connection of the wrapped manager escapes the budget
    this.#offConnection = this.manager.on('connection', (inner) => this.#arrived(inner))
    try {
      this.manager.start(ctx.child())
    } catch (err) {
      // a manager started before it was wrapped is adopted with its open connections
      if (!(err instanceof ComponentAlreadyStartedError)) throw err
    }
    await this.manager.ready()
    for (const inner of this.manager.connections()) this.#track(inner)
    this.#queueCheck()
  }

  protected async onStop(): Promise<void> {
    this.#alarm.cancel()
    this.#offConnection?.()
    this.#fresh.clear()
    this.#tracked.clear()
    await this.manager.stop()
  }

  /**
   * @throws {PeerNotFoundError} when the wrapped manager does not know the peer.
   * @throws {ConnectionFailedError} when the connection could not be established.
   * @throws {AbortError} when `options.signal` aborts.
   * @throws {ComponentNotStartedError} when the budget is not started or already stopped.
   */
  async connect(id: Identifier, options: AbortOptions = {}): Promise<Connection> {
    throwIfAborted(options.signal)
    if (this.state === 'starting') await raceSignal(this.ready(), options.signal)
    if (this.state !== 'ready') throw new ComponentNotStartedError('the connection budget is not started')
    const conn = this.#track(await this.manager.connect(id, options))
    // whoever asked for it is about to use it: it is not the idle one
    conn.touch()
    return conn
  }

  connections(): Connection[] {
    return this.manager.connections().map((inner) => this.#track(inner))
  }

  tag(peer: Identifier, name: string, options: TagOptions = {}): void {
    this.#tags.set(peer.toHex(), name, options)
    this.#queueCheck()
  }

  untag(peer: Identifier, name: string): boolean {
    const removed = this.#tags.delete(peer.toHex(), name)
    if (removed) this.#queueCheck()
    return removed
  }

  tags(peer: Identifier): Tag[] {
    return this.#tags.get(peer.toHex())
  }

  metrics(): ConnectionBudgetMetrics {
    const byTag: Record<string, number> = Object.create(null) as Record<string, number>
    let active = 0
    let protectedCount = 0
    for (const c of this.#tracked.values()) {
      if (c.pruning || c.status !== 'open') continue
      active++
      const peer = c.remoteId.toHex()
      if (this.#tags.isProtected(peer)) protectedCount++
      for (const name of this.#tags.names(peer)) byTag[name] = (byTag[name] ?? 0) + 1
    }
    const { prunedOverBudget, prunedIdle, overBudget } = this.#counters
    return {
      active,
      protected: protectedCount,
      pruned: prunedOverBudget + prunedIdle,
      prunedOverBudget,
      prunedIdle,
      overBudget,
      byTag,
    }
  }

  #arrived(inner: Connection): void {
    const conn = this.#track(inner)
    if (conn.announced || conn.status !== 'open') return
    conn.announced = true
    this.#events.emit('connection', conn)
    this.#fresh.add(conn)
    this.#queueCheck()
  }

  /** The budget's wrapper of `inner`, made (and watched while open) on first sight. */
  #track(inner: Connection): BudgetedConnection {
    const known = this.#tracked.get(inner)
    if (known !== undefined) return known
    const conn = new BudgetedConnection(inner, Date.now)
    if (inner.status === 'closed') return conn
    this.#tracked.set(inner, conn)
    const offMessage = inner.on('message', () => conn.touch())
    const offClose = inner.on('close', () => {
      offMessage()
      offClose()
      if (this.#tracked.get(inner) === conn) this.#tracked.delete(inner)
      this.#fresh.delete(conn)
    })
    return conn
  }

  /**
   * Checks the budget after the current synchronous work: never from inside the wrapped manager's own event
   * dispatch, and once for a burst of arrivals or tag changes.
   */
  #queueCheck(): void {
    if (this.#checkQueued) return
    this.#checkQueued = true
    queueMicrotask(() => {
      this.#checkQueued = false
      this.#check()
    })
  }

  /** Closes idle and excess connections, then sets the alarm for the next deadline. */
  #check(): void {
    if (this.state === 'starting') {
      this.ready().then(
        () => this.#queueCheck(),
        () => {},
      )
      return
    }
    if (this.state !== 'ready') return
    const now = Date.now()
    for (const c of selectIdle(this.#candidates(), now, this.#policy)) this.#prune(c.connection, 'idle')
    const candidates = this.#candidates()
    const { prune, shortfall } = selectOverBudget(candidates, this.maxConnections)
    for (const c of prune) this.#prune(c.connection, 'over-budget')
    // counted per arrival that leaves the budget exceeded, not per later wake-up while it stays so
    const arrivals = this.#fresh.size > 0
    this.#fresh.clear()
    if (shortfall > 0 && arrivals) {
      this.#counters.overBudget++
      this.#events.emit('over-budget', candidates.length - prune.length, this.maxConnections)
    }
    this.#setAlarm(now)
  }

  #setAlarm(now: number): void {
    const candidates = this.#candidates()
    let at = nextIdleDeadline(candidates, now, this.#policy)
    for (const c of candidates) {
      const expiry = this.#tags.nextExpiry(c.connection.remoteId.toHex())
      if (expiry !== undefined && (at === undefined || expiry < at)) at = expiry
    }
    this.#alarm.set(at, now, () => this.#check())
  }

  /** Snapshots of the open connections not already being closed. */
  #candidates(): Candidate[] {
    const out: Candidate[] = []
    for (const c of this.#tracked.values()) {
      if (c.pruning || c.status !== 'open') continue
      const peer = c.remoteId.toHex()
      out.push({
        connection: c,
        value: this.#tags.value(peer),
        protected: this.#tags.isProtected(peer),
        inFlight: c.inFlight,
        lastActive: c.lastActive,
        openedAt: c.openedAt,
        fresh: this.#fresh.has(c),
      })
    }
    return out
  }

  #prune(conn: BudgetedConnection, reason: PruneReason): void {
    conn.pruning = true
    if (reason === 'idle') this.#counters.prunedIdle++
    else this.#counters.prunedOverBudget++
    // the connection's own graceful close: what was sent is delivered, the remote sees a plain close
    conn.close().catch(() => {})
    this.#events.emit('prune', conn, reason)
  }
}

/**
 * Wraps `manager` in a connection budget: at most `maxConnections` open connections (the least valuable idle
 * ones are closed when a new one exceeds it), idle connections of low value closed after `idleTimeoutMs`,
 * and tags that rank and protect peers. The result is itself a `ConnectionManager` and owns `manager`
 * (starting and stopping it; one started already is adopted with its open connections).
 * @throws {InvalidOptionsError} when an option is out of range.
 * @example
 * ```ts
 * const hub = new MemoryHub()
 * const budget = createConnectionBudget(hub.connectionManager(id), { maxConnections: 24, idleTimeoutMs: 10_000 })
 * const network = createNetwork({ connectionManager: budget })
 * budget.tag(neighbour, 'neighbour', { value: 100, protect: true })
 * ```
 */
export function createConnectionBudget(
  manager: ConnectionManager,
  options: ConnectionBudgetOptions = {},
): BudgetedConnectionManager {
  return new DefaultBudgetedConnectionManager(manager, options)
}
