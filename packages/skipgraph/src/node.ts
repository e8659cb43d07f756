import {
  AbstractComponent,
  type AbortOptions,
  AbortError,
  type Channel,
  type Component,
  ComponentNotStartedError,
  type Conduit,
  ConduitClosedError,
  ConduitError,
  ConnectionFailedError,
  channel as makeChannel,
  Emitter,
  Identifier,
  MembershipVector,
  InvalidMessageError,
  type Network,
  SendFailedError,
  type ThrowableContext,
  type TypedEvents,
  throwIfAborted,
  toAbortError,
  type Unsubscribe,
} from '@skipmesh/core'
import {
  AlreadyJoinedError,
  DuplicateIdentifierError,
  InvalidIdentityError,
  JoinFailedError,
  LeaveFailedError,
  NodeStoppedError,
  NotJoinedError,
  RequestTimeoutError,
  SearchFailedError,
  SearchTimeoutError,
} from './errors.js'
import {
  type Identity,
  LookupTable,
  type LookupTableSnapshot,
  MAX_LEVEL,
  type NeighborEntry,
  type Side,
  sharesPrefix,
} from './lookup-table.js'
import {
  type ApplyMsg,
  type ApplyWrite,
  DenyReason,
  decodeWire,
  encodeWire,
  FailReason,
  Kind,
  type KindName,
  type LockMsg,
  type LockReplyMsg,
  MAX_HOPS,
  type ReadMsg,
  appendHop,
  hopAt,
  hopCount,
  type SearchMsg,
  type WireHops,
  type WireLevelState,
  type WireMessage,
  type WireNeighbor,
} from './wire.js'

/** Where a node stands in the graph. */
export type NodeStatus = 'new' | 'joining' | 'incomplete' | 'joined' | 'leaving' | 'left'

/** One step of a search path. */
export interface SearchHopRecord {
  /** The node the search was forwarded to. */
  readonly node: Identifier
  /** The level of the link it was forwarded over. */
  readonly level: number
}

/** The answer of {@link SkipGraphNode.searchById}. */
export interface SearchResult {
  /**
   * The node holding the target if it is present; otherwise, searching toward larger identifiers
   * (target > start), the greatest identifier ≤ target, and toward smaller ones (target < start), the smallest
   * identifier ≥ target. When no node lies between the start and the target, the start node itself.
   */
  readonly result: Identifier
  /** Whether `result` equals the target. */
  readonly found: boolean
  /** The nodes the search was forwarded to, in order, with the level of each link (empty if answered locally). */
  readonly hops: readonly SearchHopRecord[]
}

/** Options of {@link SkipGraphNode.searchById}. */
export interface SearchOptions extends AbortOptions {
  /** How long to wait for the answer, in milliseconds. @default the node's `searchTimeoutMs` */
  timeoutMs?: number
}

/** A change of one lookup-table entry, for UIs that draw the graph. */
export interface NeighborChange {
  readonly level: number
  readonly side: Side
  /** The entry before the change, or null. */
  readonly previous: NeighborEntry | null
  /** The entry after the change, or null. */
  readonly current: NeighborEntry | null
}

/** Emitted on every node a search passes (the origin included), so a UI can draw routes. */
export interface SearchHopEvent {
  /** The search's nonce: the same on every node of one search. */
  readonly nonce: string
  /** The node that started the search (the answer goes back to it). */
  readonly origin: Identifier
  /** The identifier searched for. */
  readonly target: Identifier
  /** The node emitting the event (where the search is now). */
  readonly node: Identifier
  /**
   * The highest level this node may route the search on: the level of the link it arrived over, or, at the
   * origin (and after a reverse leg), this node's top level.
   */
  readonly level: number
  /** How many times the search was forwarded before reaching this node. */
  readonly hop: number
}

/** Events of a {@link SkipGraphNode}. */
export interface SkipGraphNodeEvents {
  /** A lookup-table entry changed (linked, unlinked, or marked dead). */
  'neighbor:change': (change: NeighborChange) => void
  /** A search passed this node. */
  'search:hop': (hop: SearchHopEvent) => void
}

/** Counters of one node. */
export interface SkipGraphMetrics {
  /** Protocol messages handed to the conduit, all kinds. */
  messagesSent: number
  /** Protocol messages handed to the conduit, by kind. */
  sentByKind: Record<KindName, number>
  /** Sends that rejected. */
  sendFailures: number
  /** Messages that arrived (valid or not). */
  messagesReceived: number
  /** Arrived messages that failed validation: dropped. */
  malformedDropped: number
  /** Well-formed messages that were unsolicited or inconsistent (unknown nonce, wrong sender): dropped. */
  unexpectedDropped: number
  /** Table writes refused because the writer did not hold the lock or the write was inconsistent. */
  rejectedApplies: number
  /** Searches started here (including the one `join` makes). */
  searchesStarted: number
  /** Searches started here that were answered. */
  searchesAnswered: number
  /** Searches started here that failed with {@link SearchFailedError}. */
  searchesFailed: number
  /** Searches started here that timed out. */
  searchesTimedOut: number
  /** Searches this node forwarded to a neighbour. */
  searchesForwarded: number
  /** Join or leave transactions attempted (one per level and attempt). */
  transactions: number
  /** Transactions aborted (lock conflict, timeout, unreachable node) and retried. */
  conflicts: number
  /** Neighbours marked dead after a failed send. */
  deadNeighbors: number
  /** Levels relinked around dead neighbours (repair transactions committed). */
  repairs: number
  /** Locks broken because the node holding them was found dead. */
  locksBroken: number
}

/** Options of {@link createSkipGraphNode}. */
export interface SkipGraphNodeOptions {
  /** A started core `Network`. One skip-graph node per network: the node's id is `network.localId`. */
  network: Network
  /**
   * The node's identity; `id` must equal `network.localId`.
   * @default `{ id: network.localId, mv: MembershipVector.random() }`
   */
  identity?: Identity
  /** The channel the node registers its processor on. @default channel('skipgraph') */
  channel?: Channel
  /** Timeout of one protocol request of join and leave (lock, apply), in milliseconds. @default 5000 */
  requestTimeoutMs?: number
  /** Default timeout of a search (`searchById`, and the search `join` makes), in milliseconds. @default 10000 */
  searchTimeoutMs?: number
  /**
   * Attempts per level of a join (and of a leave) before it fails. Independently, 5 attempts that fail on an
   * unreachable participant (a send failure or a `requestTimeoutMs` timeout) fail it. @default 1000
   */
  maxAttempts?: number
  /** Backoff after a conflicting attempt: uniform in `[0, min(maxMs, baseMs * 2^attempt)]` ms. @default { baseMs: 2, maxMs: 200 } */
  backoff?: { baseMs?: number; maxMs?: number }
  /** Random source in [0, 1) for backoff jitter (seed it for reproducible runs). @default Math.random */
  random?: () => number
  /**
   * How long a lock request that finds the lock taken waits here for it (first come, first served) before it
   * is refused, in milliseconds. Bounded so that a rare deadlock between a leave and a join resolves.
   * @default 200
   */
  lockWaitMs?: number
  /**
   * How often the node checks that its neighbours are alive (one small read to each distinct neighbour), in
   * milliseconds; 0 turns probing off. A failed send (here or on any other message) marks the neighbour dead and
   * starts the repair of the lists around it (README, "Failure handling"). Probing finds a crashed neighbour
   * that no search happens to touch.
   * @default 2000
   */
  probeIntervalMs?: number
}

/** A skip-graph node: a {@link Component} that joins, searches and leaves over a core `Network`. */
export interface SkipGraphNode extends Component, TypedEvents<SkipGraphNodeEvents> {
  /** This node's identity. */
  readonly identity: Identity
  /** Where the node stands in the graph. */
  readonly status: NodeStatus
  /** The component lifecycle state (`'stopped'` after `leave()` or `stop()`). */
  readonly state: 'new' | 'starting' | 'ready' | 'stopping' | 'stopped'
  /**
   * Joins the graph: without `introducer`, as its first node; otherwise through `introducer` (a node already in
   * the graph). Resolves once the node is linked at every level up to the one where it is alone. Safe under any
   * number of concurrent joins and leaves (see README, "Join protocol"). After a failed or aborted join the
   * status is `'incomplete'` (linked at some levels, consistently) or `'new'`; call `join()` again to resume.
   * @throws {AlreadyJoinedError} when the node is joining, joined, leaving or left.
   * @throws {DuplicateIdentifierError} when a node with the same identifier is in the graph.
   * @throws {SearchTimeoutError} / {@link SearchFailedError} when the search through the introducer failed.
   * @throws {JoinFailedError} after `maxAttempts` failed attempts at one level.
   * @throws {AbortError} when `options.signal` aborts.
   * @throws {ComponentNotStartedError} when the node is not started.
   */
  join(introducer?: Identifier, options?: AbortOptions): Promise<void>
  /**
   * Searches the graph for `target`, starting here at the top level and forwarding node to node.
   * @throws {SearchTimeoutError} when no answer came within the timeout.
   * @throws {SearchFailedError} when an unreachable neighbour blocked every exact route.
   * @throws {NotJoinedError} when the node is not linked in the graph.
   * @throws {AbortError} when `options.signal` aborts.
   * @throws {ComponentNotStartedError} when the node is not started.
   */
  searchById(target: Identifier, options?: SearchOptions): Promise<SearchResult>
  /**
   * Leaves gracefully: relinks the neighbours at every level around this node in one atomic step, then stops
   * the node (its channel is unregistered; the network is left running).
   * @throws {NotJoinedError} when the node never linked in.
   * @throws {LeaveFailedError} after `maxAttempts` failed attempts (e.g. a neighbour crashed).
   * @throws {AbortError} when `options.signal` aborts (the node then stays in the graph).
   * @throws {ComponentNotStartedError} when the node is not started.
   */
  leave(options?: AbortOptions): Promise<void>
  /** A snapshot of the lookup table. */
  lookupTable(): LookupTableSnapshot
  /** A snapshot of the counters. */
  metrics(): SkipGraphMetrics
}

/**
 * A lock conflict, a stale read, or an unreachable participant: the transaction is aborted and retried.
 * `stale` conflicts (a validation found that someone else linked first) mean progress elsewhere, so they are
 * retried at once; the others back off.
 */
class Conflict extends Error {
  constructor(
    message: string,
    readonly stale = false,
  ) {
    super(message)
  }
}

interface LockWaiter {
  readonly key: string
  readonly levels: readonly number[]
  grant(): boolean
  readonly timer: ReturnType<typeof setTimeout>
}

interface PendingRpc {
  readonly from: string
  readonly kind: number
  resolve(msg: WireMessage): void
  reject(err: unknown): void
}

interface PendingSearch {
  readonly target: Identifier
  resolve(out: { result: Identifier; found: boolean; hops: WireHops }): void
  reject(err: unknown): void
}

interface Txn {
  readonly id: string
  readonly key: string
  readonly contacted: Map<string, Identifier>
  /** Nodes that applied our writes (which released our locks there). */
  readonly applied: Set<string>
  /** Aborts the lock phase only: once the commit started it runs to its end. */
  readonly signal: AbortSignal | undefined
  aborted: boolean
}

interface WalkEnd {
  /** The nearest node sharing the level's prefix and linked at the level, if any. */
  readonly found: Identifier | null
  /** The last node visited (the end of the list when nothing was found), or this node. */
  readonly end: Identifier
}

interface Located {
  readonly id: Identifier
  readonly mv: MembershipVector
  /** The located node's neighbour on the far side at the level being linked (its current link across us). */
  readonly across: WireNeighbor | null
}

const KIND_NAMES = Object.keys(Kind) as KindName[]
const KIND_NAME_BY_CODE = new Map<number, KindName>(KIND_NAMES.map((k) => [Kind[k], k]))
const TOMBSTONES = 4096
/** Identifiers remembered as dead (found unreachable by a failed send). */
const DEAD_REMEMBERED = 4096
/** Levels read per step of a repair walk (enough for 2^32 nodes). */
const REPAIR_READ_LEVELS = 32
/** Nodes a repair may ask for their tables when it knows nobody beyond a dead neighbour. */
const REPAIR_DISCOVERY_READS = 64
/** Nodes remembered as heard from (the places a repair's discovery starts from besides the table). */
const HEARD_REMEMBERED = 64

/** Whether a send failure says the peer is gone (not a local or a message problem). */
function isDeadSignal(err: unknown): boolean {
  return (
    (err instanceof ConnectionFailedError || err instanceof SendFailedError) &&
    !(err instanceof InvalidMessageError)
  )
}
/** Attempts of one transaction that may fail on an unreachable participant (timeout, send failure). */
const MAX_UNREACHABLE = 5

function sameId(a: { id: Identifier } | null, b: { id: Identifier } | null): boolean {
  if (a === null || b === null) return a === b
  return a.id.equals(b.id)
}

function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(b)
  let s = ''
  for (const x of b) s += x.toString(16).padStart(2, '0')
  return s
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(toAbortError(signal))
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(toAbortError(signal!))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function emptyMetrics(): SkipGraphMetrics {
  const sentByKind = {} as Record<KindName, number>
  for (const k of KIND_NAMES) sentByKind[k] = 0
  return {
    messagesSent: 0,
    sentByKind,
    sendFailures: 0,
    messagesReceived: 0,
    malformedDropped: 0,
    unexpectedDropped: 0,
    rejectedApplies: 0,
    searchesStarted: 0,
    searchesAnswered: 0,
    searchesFailed: 0,
    searchesTimedOut: 0,
    searchesForwarded: 0,
    transactions: 0,
    conflicts: 0,
    deadNeighbors: 0,
    repairs: 0,
    locksBroken: 0,
  }
}

class DefaultSkipGraphNode extends AbstractComponent implements SkipGraphNode {
  readonly identity: Identity
  readonly #network: Network
  readonly #channel: Channel
  readonly #requestTimeoutMs: number
  readonly #searchTimeoutMs: number
  readonly #maxAttempts: number
  readonly #backoffBase: number
  readonly #backoffMax: number
  readonly #random: () => number
  readonly #events = new Emitter<SkipGraphNodeEvents>()
  readonly #table = new LookupTable()
  readonly #metrics = emptyMetrics()
  readonly #selfHex: string
  readonly #noncePrefix = randomHex(12)
  #nonceCounter = 0
  #conduit: Conduit | undefined
  #status: NodeStatus = 'new'
  /** Levels 0..height are linked; MAX_LEVEL once joined (a joined node is, alone, in every level above). */
  #height = -1
  /** Bumped by every table write (a leave checks nothing linked in between its read and its own lock). */
  #tableVersion = 0
  readonly #levelLocks = new Map<number, string>()
  #allLock: string | undefined
  readonly #tombstones = new Set<string>()
  readonly #waiters: LockWaiter[] = []
  readonly #lockWaitMs: number
  readonly #rpcs = new Map<string, PendingRpc>()
  readonly #searches = new Map<string, PendingSearch>()
  readonly #activeTxns = new Set<Txn>()
  /** Identifiers a send found unreachable (oldest first); a message from one of them removes it. */
  readonly #dead = new Set<string>()
  /** Lock holders whose liveness is being checked (a lock request is waiting for them). */
  readonly #holderChecks = new Set<string>()
  readonly #probeIntervalMs: number
  #probeTimer: ReturnType<typeof setTimeout> | undefined
  #repairTimer: ReturnType<typeof setTimeout> | undefined
  #repairing = false
  #repairAgain = false
  #repairFailures = 0
  /** Levels a probe found inconsistent (a neighbour does not point back): relinked like a dead entry. */
  readonly #relinkLevels = new Set<number>()
  /** A live node a relink found between us and the neighbour it aimed at: tried first next time. */
  readonly #relinkHints = new Map<string, Identifier>()
  /** Nodes we heard from lately (bounded, oldest first): where a repair looks when our pointers do not help. */
  readonly #heard = new Map<string, Identifier>()
  /** Resolved when a repair round ends (searches blocked by a dead neighbour wait for it). */
  #repairWaiters: Array<() => void> = []

  constructor(options: SkipGraphNodeOptions) {
    super()
    this.#network = options.network
    const identity = options.identity ?? { id: options.network.localId, mv: MembershipVector.random() }
    if (!identity.id.equals(options.network.localId)) {
      throw new InvalidIdentityError('identity.id must equal network.localId')
    }
    this.identity = { id: identity.id, mv: identity.mv }
    this.#selfHex = identity.id.toHex()
    this.#channel = options.channel ?? makeChannel('skipgraph')
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 5000
    this.#searchTimeoutMs = options.searchTimeoutMs ?? 10_000
    this.#maxAttempts = options.maxAttempts ?? 1000
    this.#backoffBase = options.backoff?.baseMs ?? 2
    this.#backoffMax = options.backoff?.maxMs ?? 200
    this.#random = options.random ?? Math.random
    this.#lockWaitMs = options.lockWaitMs ?? 2000
    this.#probeIntervalMs = options.probeIntervalMs ?? 2000
  }

  get status(): NodeStatus {
    return this.#status
  }

  on<E extends keyof SkipGraphNodeEvents>(event: E, handler: SkipGraphNodeEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  protected async onStart(_ctx: ThrowableContext): Promise<void> {
    this.#conduit = await this.#network.register(this.#channel, {
      processIncomingMessage: (_channel, origin, message) => this.#receive(origin, message.payload),
    })
  }

  protected async onStop(): Promise<void> {
    // release what unfinished joins or leaves hold at other nodes before the conduit closes
    await Promise.allSettled([...this.#activeTxns].map((txn) => this.#finishTxn(txn)))
    const err = new NodeStoppedError('the skip-graph node stopped')
    for (const p of [...this.#rpcs.values()]) p.reject(err)
    for (const s of [...this.#searches.values()]) s.reject(err)
    for (const w of this.#waiters.splice(0)) clearTimeout(w.timer)
    clearTimeout(this.#probeTimer)
    clearTimeout(this.#repairTimer)
    this.#probeTimer = undefined
    this.#repairTimer = undefined
    this.#wakeRepairWaiters()
    await this.#conduit?.close()
  }

  lookupTable(): LookupTableSnapshot {
    return this.#table.snapshot(this.identity, this.#height)
  }

  metrics(): SkipGraphMetrics {
    return { ...this.#metrics, sentByKind: { ...this.#metrics.sentByKind } }
  }

  // ---------------------------------------------------------------- public operations

  async join(introducer?: Identifier, options: AbortOptions = {}): Promise<void> {
    this.#assertReady()
    throwIfAborted(options.signal)
    if (this.#status !== 'new' && this.#status !== 'incomplete') {
      throw new AlreadyJoinedError(`cannot join: node is ${this.#status}`)
    }
    const signal = options.signal
    if (this.#status === 'new' && introducer === undefined) {
      this.#height = MAX_LEVEL
      this.#status = 'joined'
      this.#scheduleProbe()
      return
    }
    this.#status = 'joining'
    try {
      if (this.#height < 0) {
        if (introducer === undefined || introducer.equals(this.identity.id)) {
          throw new NotJoinedError('an introducer other than this node is needed to join a graph')
        }
        const via = introducer
        this.#remember(via)
        const hint: { near: Identifier | undefined } = { near: undefined }
        await this.#transact('join', (txn) => this.#linkLevel0(txn, via, hint, signal), signal)
        this.#scheduleProbe()
      }
      for (let level = this.#height + 1; level <= MAX_LEVEL; level++) {
        const alone = await this.#transact('join', (txn) => this.#linkLevel(txn, level), signal)
        if (alone) break
      }
      this.#height = MAX_LEVEL
      this.#status = 'joined'
      this.#scheduleProbe()
      if (this.#hasDeadEntry()) this.#scheduleRepair(0)
    } catch (err) {
      if (this.#status === 'joining') this.#status = this.#height < 0 ? 'new' : 'incomplete'
      throw err
    }
  }

  async searchById(target: Identifier, options: SearchOptions = {}): Promise<SearchResult> {
    this.#assertReady()
    throwIfAborted(options.signal)
    if (this.#height < 0) throw new NotJoinedError('the node is not in a graph')
    const out = await this.#search(
      target,
      undefined,
      options.signal,
      options.timeoutMs ?? this.#searchTimeoutMs,
    )
    return {
      result: out.result,
      found: out.found,
      hops: Array.from({ length: hopCount(out.hops) }, (_, i) => {
        const h = hopAt(out.hops, i)
        return { node: Identifier.fromBytes(h.node), level: h.level }
      }),
    }
  }

  async leave(options: AbortOptions = {}): Promise<void> {
    this.#assertReady()
    throwIfAborted(options.signal)
    if (this.#height < 0 || this.#status === 'left' || this.#status === 'new') {
      throw new NotJoinedError(`cannot leave: node is ${this.#status}`)
    }
    if (this.#status === 'leaving' || this.#status === 'joining') {
      throw new AlreadyJoinedError(`cannot leave: node is ${this.#status}`)
    }
    const before = this.#status
    this.#status = 'leaving'
    try {
      await this.#transact('leave', (txn) => this.#unlinkAll(txn), options.signal)
    } catch (err) {
      if (this.#status === 'leaving') this.#status = before
      throw err
    }
    await this.stop()
  }

  // ---------------------------------------------------------------- transactions

  #assertReady(): void {
    if (this.state !== 'ready') throw new ComponentNotStartedError(`skip-graph node is ${this.state}`)
  }

  #nonce(): string {
    this.#nonceCounter = (this.#nonceCounter + 1) >>> 0
    return this.#noncePrefix + this.#nonceCounter.toString(16).padStart(8, '0')
  }

  #newTxn(signal: AbortSignal | undefined): Txn {
    const id = this.#nonce()
    return {
      id,
      key: `${this.#selfHex}:${id}`,
      contacted: new Map(),
      applied: new Set(),
      signal,
      aborted: false,
    }
  }

  /** Runs `body` as a transaction: retried with backoff on conflicts, released on every exit. */
  async #transact<T>(
    what: 'join' | 'leave' | 'repair',
    body: (txn: Txn) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    let stale = 0
    let unreachable = 0
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal)
      if (this.state !== 'ready') throw new NodeStoppedError('the skip-graph node stopped')
      const txn = this.#newTxn(signal)
      this.#activeTxns.add(txn)
      this.#metrics.transactions++
      try {
        const out = await body(txn)
        void this.#finishTxn(txn)
        return out
      } catch (err) {
        void this.#finishTxn(txn)
        if (!(err instanceof Conflict || err instanceof RequestTimeoutError || err instanceof ConduitError))
          throw err
        if (err instanceof AbortError) throw err
        this.#metrics.conflicts++
        if (!(err instanceof Conflict)) unreachable++
        if (attempt + 1 >= this.#maxAttempts || unreachable >= MAX_UNREACHABLE) {
          const E = what === 'join' ? JoinFailedError : LeaveFailedError
          throw new E(`${what} failed after ${attempt + 1} attempts`, { cause: err })
        }
        if (err instanceof Conflict && err.stale) {
          stale++
          if (stale % 8 !== 0) continue
        }
        const cap =
          err instanceof Conflict
            ? Math.min(this.#backoffMax, this.#backoffBase * 2 ** Math.min(attempt - stale, 16))
            : // an unreachable participant: leave time for the repair of the lists around it
              Math.min(this.#requestTimeoutMs, 100 * 2 ** unreachable)
        await sleep(this.#random() * cap, signal)
      }
    }
  }

  /** Releases every lock of `txn`, here and at every node it contacted. Idempotent; never rejects. */
  #finishTxn(txn: Txn): Promise<unknown> {
    if (txn.aborted) return Promise.resolve()
    txn.aborted = true
    this.#activeTxns.delete(txn)
    this.#releaseLocal(txn.key)
    const sends: Promise<void>[] = []
    for (const [hex, id] of txn.contacted) {
      if (txn.applied.has(hex)) continue
      sends.push(this.#send(id, { kind: Kind.Release, txn: txn.id }).catch(() => {}))
    }
    return Promise.all(sends)
  }

  /** Locks `levels` of `node` for `txn` and reads its state there. @throws {Conflict} when refused. */
  async #lock(txn: Txn, node: Identifier, levels: number[]): Promise<LockReplyMsg> {
    if (txn.aborted) throw new Conflict('transaction already finished')
    throwIfAborted(txn.signal)
    if (node.equals(this.identity.id)) {
      const reason = this.#tryLock(txn.key, levels)
      if (reason !== 0) throw new Conflict('own lock refused')
      return this.#lockReply('', true, 0, levels)
    }
    txn.contacted.set(node.toHex(), node)
    const reply = (await this.#rpc(
      node,
      Kind.LockReply,
      (rpc): LockMsg => ({ kind: Kind.Lock, rpc, txn: txn.id, levels }),
      txn.signal,
    )) as LockReplyMsg
    if (!reply.granted) throw new Conflict(`lock refused (${reply.reason})`)
    if (reply.levels.length !== levels.length || reply.levels.some((s, i) => s.level !== levels[i])) {
      throw new Conflict('lock reply does not match the request')
    }
    return reply
  }

  /** Writes `writes` at `node` (which `txn` has locked) and waits for the acknowledgement. */
  async #apply(txn: Txn, node: Identifier, writes: ApplyWrite[]): Promise<void> {
    if (txn.aborted) throw new JoinFailedError('transaction finished before its commit')
    const ack = await this.#rpc(
      node,
      Kind.ApplyAck,
      (rpc): ApplyMsg => ({ kind: Kind.Apply, rpc, txn: txn.id, writes }),
      undefined,
    )
    if (ack.kind !== Kind.ApplyAck || !ack.ok) throw new JoinFailedError('a neighbour refused a table write')
    txn.applied.add(node.toHex())
  }

  /** Reads `levels` of `node` without locking (a hint: every decision is validated under lock later). */
  async #read(txn: Txn, node: Identifier, levels: number[]): Promise<LockReplyMsg> {
    if (txn.aborted) throw new Conflict('transaction already finished')
    throwIfAborted(txn.signal)
    if (node.equals(this.identity.id)) return this.#lockReply('', true, 0, levels)
    const reply = (await this.#rpc(
      node,
      Kind.LockReply,
      (rpc): ReadMsg => ({ kind: Kind.Read, rpc, levels }),
      txn.signal,
    )) as LockReplyMsg
    if (!reply.granted) throw new Conflict(`read refused (${reply.reason})`)
    if (reply.levels.length !== levels.length || reply.levels.some((s, i) => s.level !== levels[i])) {
      throw new Conflict('read reply does not match the request')
    }
    return reply
  }

  /** Level 0: find the gap by searching for our own id through the introducer, then link into it. */
  async #linkLevel0(
    txn: Txn,
    introducer: Identifier,
    hint: { near: Identifier | undefined },
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const me = this.identity.id
    if (this.#tryLock(txn.key, [0]) !== 0) throw new Conflict('own lock refused')
    // a retry walks on from where the last attempt got to; the first attempt searches through the introducer
    const near = hint.near
    hint.near = undefined
    let cur: Identifier
    if (near !== undefined) cur = near
    else {
      const found = await this.#search(me, introducer, signal, this.#searchTimeoutMs)
      if (found.result.equals(me))
        throw new DuplicateIdentifierError('a node with this identifier is in the graph')
      cur = found.result
    }
    const goRight = cur.compare(me) < 0
    for (let steps = 0; ; steps++) {
      const s = (await this.#read(txn, cur, [0])).levels[0]!
      if (!s.linked) throw new Conflict('walked onto an unlinked node')
      hint.near = cur
      const next = goRight ? s.right : s.left
      if (next?.id.equals(me))
        throw new DuplicateIdentifierError('a node with this identifier is in the graph')
      if (next === null || (goRight ? next.id.compare(me) > 0 : next.id.compare(me) < 0)) {
        const other = next === null ? null : next.id
        if (goRight) await this.#insertBetween(txn, 0, cur, other)
        else await this.#insertBetween(txn, 0, other, cur)
        return false
      }
      if (steps > 1_000_000) throw new Conflict('walk too long')
      cur = next.id
    }
  }

  /**
   * Links us at `level` into the gap the walk found between `leftId` and `rightId` (either may be null): locks
   * the left node, moves right under lock (lock-coupling) while a node that linked meanwhile sits between it
   * and us, then locks its right neighbour and checks that one points back. Locks at one level are always
   * taken in ascending identifier order, so waiting for them cannot deadlock.
   */
  async #insertBetween(
    txn: Txn,
    level: number,
    leftId: Identifier | null,
    rightId: Identifier | null,
  ): Promise<void> {
    const me = this.identity
    let left: Located | null = null
    if (leftId !== null) {
      let cur = leftId
      for (let steps = 0; ; steps++) {
        const here = await this.#locate(txn, cur, level, 'right')
        if (!sharesPrefix(here.mv, me.mv, level) || here.id.compare(me.id) >= 0)
          throw new Conflict('bad left neighbour')
        const next = here.across
        if (next === null || next.id.compare(me.id) > 0) {
          left = here
          break
        }
        // someone linked between: step right, keeping our order of locks
        this.#releaseAt(txn, cur)
        cur = next.id
        if (steps > 1_000_000) throw new Conflict('walk too long')
      }
    }
    const rightNow = left === null ? rightId : (left.across?.id ?? null)
    const right = rightNow === null ? null : await this.#locate(txn, rightNow, level, 'left')
    if (right !== null) {
      if (!sharesPrefix(right.mv, me.mv, level) || right.id.compare(me.id) <= 0)
        throw new Conflict('bad right neighbour')
      if (left === null && right.across !== null) {
        // a node linked left of the head we aimed at: retry from it (locking it now would break the order)
        throw new Conflict(`level ${level}: the head changed`, true)
      }
    }
    if (!this.#adjacent(left, right)) throw new Conflict(`level ${level} neighbours not adjacent`, true)
    await this.#commitLink(txn, level, left, right)
  }

  /** Releases what `txn` holds at `node` (before the commit, for lock-coupling). */
  #releaseAt(txn: Txn, node: Identifier): void {
    if (node.equals(this.identity.id)) return
    this.#send(node, { kind: Kind.Release, txn: txn.id }).catch(() => {})
  }

  /** Whether the located nodes point at each other across the gap we link into. */
  #adjacent(left: Located | null, right: Located | null): boolean {
    return (left === null || sameId(left.across, right)) && (right === null || sameId(right.across, left))
  }

  /** Locks `level` of `node` and reports it with its `pointer` neighbour there. */
  async #locate(txn: Txn, node: Identifier, level: number, pointer: Side): Promise<Located> {
    const st = await this.#lock(txn, node, [level])
    const s = st.levels[0]!
    if (!s.linked) throw new Conflict('neighbour not linked')
    return { id: node, mv: st.mv, across: pointer === 'left' ? s.left : s.right }
  }

  /**
   * Level i ≥ 1: walk the level i-1 list both ways (unlocked: a hint) to the nearest nodes that share i bits with
   * us and are linked at level i, then lock and link between them. When there are none, the level-i list of our
   * prefix is empty and we would create it: that is serialised by locking the head of our level i-1 list and
   * walking again. Returns true when we are alone at level i (and so joined).
   */
  async #linkLevel(txn: Txn, level: number): Promise<boolean> {
    if (this.#tryLock(txn.key, [level]) !== 0) throw new Conflict('own lock refused')
    let gap = await this.#findGap(txn, level)
    if (gap.left === null && gap.right === null) {
      const s = (await this.#lock(txn, gap.head, [level - 1])).levels[0]!
      if (!s.linked || s.left !== null) throw new Conflict('not the head of the list')
      gap = await this.#findGap(txn, level)
      if (gap.left === null && gap.right === null) {
        this.#height = MAX_LEVEL
        return true
      }
    }
    await this.#insertBetween(txn, level, gap.left, gap.right)
    return false
  }

  /**
   * The walks of level `level`: left first; only when nothing is found there, right (a found left node's right
   * pointer is read again under its lock, so the right walk would be wasted). `head` is where the left walk
   * ended: the head of our level-1 list when nothing was found.
   */
  async #findGap(
    txn: Txn,
    level: number,
  ): Promise<{ left: Identifier | null; right: Identifier | null; head: Identifier }> {
    const l = await this.#walk(txn, level, 'left')
    if (l.found !== null) return { left: l.found, right: null, head: l.end }
    const r = await this.#walk(txn, level, 'right')
    return { left: null, right: r.found, head: l.end }
  }

  /** Follows the level-1 pointers on `side` to the first node sharing `level` bits with us and linked at `level`. */
  async #walk(txn: Txn, level: number, side: Side): Promise<WalkEnd> {
    let end = this.identity.id
    let cur: Identifier | null = this.#table.get(level - 1, side)?.id ?? null
    for (let steps = 0; cur !== null; steps++) {
      const st = await this.#read(txn, cur, [level - 1, level])
      const below = st.levels[0]!
      const at = st.levels[1]!
      if (!below.linked) throw new Conflict('walked onto an unlinked node')
      if (at.linked && sharesPrefix(st.mv, this.identity.mv, level)) return { found: cur, end: cur }
      end = cur
      cur = (side === 'left' ? below.left : below.right)?.id ?? null
      if (steps > 1_000_000) throw new Conflict('walk too long')
    }
    return { found: null, end }
  }

  async #commitLink(txn: Txn, level: number, left: Located | null, right: Located | null): Promise<void> {
    const me: WireNeighbor = { id: this.identity.id, mv: this.identity.mv }
    // Our own side first: a search the neighbours forward to us once they took the write must find us linked.
    this.#setEntry(level, 'left', left === null ? null : { id: left.id, mv: left.mv, alive: true })
    this.#setEntry(level, 'right', right === null ? null : { id: right.id, mv: right.mv, alive: true })
    this.#height = level
    const applies: Promise<void>[] = []
    if (left !== null) applies.push(this.#apply(txn, left.id, [{ level, side: 'right', entry: me }]))
    if (right !== null) applies.push(this.#apply(txn, right.id, [{ level, side: 'left', entry: me }]))
    const results = await Promise.allSettled(applies)
    const failed = results.find((x) => x.status === 'rejected')
    if (failed !== undefined) {
      // a neighbour took (or may have taken) the write but we cannot confirm: not retried (see README)
      throw new JoinFailedError(`commit at level ${level} failed`, {
        cause: (failed as PromiseRejectedResult).reason,
      })
    }
  }

  /**
   * Leave: lock every neighbour at the levels where it is our neighbour and ourselves at all levels, in ascending
   * identifier order (as joins do, so leaves and joins never wait on each other in a cycle), check that each
   * neighbour points back at us, then relink them around us.
   */
  async #unlinkAll(txn: Txn): Promise<void> {
    const me = this.identity.id
    const version = this.#tableVersion
    const top = Math.min(this.#table.topLevel, this.#height)
    const byNode = new Map<string, { id: Identifier; levels: number[]; sides: Side[] }>()
    for (let level = 0; level <= top; level++) {
      for (const side of ['left', 'right'] as const) {
        const e = this.#table.get(level, side)
        if (e === null) continue
        const key = e.id.toHex()
        let g = byNode.get(key)
        if (g === undefined) {
          g = { id: e.id, levels: [], sides: [] }
          byNode.set(key, g)
        }
        g.levels.push(level)
        g.sides.push(side)
      }
    }
    const groups = [...byNode.values()].sort((a, b) => a.id.compare(b.id))
    let selfLocked = false
    const lockSelf = (): void => {
      if (this.#tryLock(txn.key, 'all') !== 0) throw new Conflict('own lock refused')
      // a neighbour that linked in before we held our own lock would be missing from what we locked
      if (this.#tableVersion !== version) throw new Conflict('table changed', true)
      selfLocked = true
    }
    for (const g of groups) {
      if (!selfLocked && g.id.compare(me) > 0) lockSelf()
      const reply = await this.#lock(txn, g.id, g.levels)
      for (let k = 0; k < g.levels.length; k++) {
        const st = reply.levels[k]!
        // g is our neighbour on side g.sides[k], so its pointer on the other side must be us
        const back = g.sides[k] === 'left' ? st.right : st.left
        if (back === null || !back.id.equals(me)) throw new Conflict('neighbour does not point back', true)
      }
    }
    if (!selfLocked) lockSelf()
    if (this.#tableVersion !== version) throw new Conflict('table changed', true)
    const writes = new Map<string, { id: Identifier; writes: ApplyWrite[] }>()
    for (let level = 0; level <= top; level++) {
      const l = this.#table.get(level, 'left')
      const r = this.#table.get(level, 'right')
      if (l !== null) {
        const w = writes.get(l.id.toHex()) ?? { id: l.id, writes: [] }
        w.writes.push({ level, side: 'right', entry: r === null ? null : { id: r.id, mv: r.mv } })
        writes.set(l.id.toHex(), w)
      }
      if (r !== null) {
        const w = writes.get(r.id.toHex()) ?? { id: r.id, writes: [] }
        w.writes.push({ level, side: 'left', entry: l === null ? null : { id: l.id, mv: l.mv } })
        writes.set(r.id.toHex(), w)
      }
    }
    const results = await Promise.allSettled(
      [...writes.values()].map((w) => this.#apply(txn, w.id, w.writes)),
    )
    const failed = results.find((x) => x.status === 'rejected')
    if (failed !== undefined) {
      throw new LeaveFailedError('commit of the leave failed', {
        cause: (failed as PromiseRejectedResult).reason,
      })
    }
    this.#status = 'left'
    this.#height = -1
    for (let level = top; level >= 0; level--) {
      this.#setEntry(level, 'left', null)
      this.#setEntry(level, 'right', null)
    }
    this.#table.clear()
  }

  // ---------------------------------------------------------------- failure handling and repair

  #hasDeadEntry(): boolean {
    for (let level = 0; level <= this.#table.topLevel; level++) if (this.#table.hasDead(level)) return true
    return false
  }

  /** A send to `id` failed with a sign that it is gone: mark it dead everywhere and break its locks. */
  #noteDead(id: Identifier): void {
    if (this.state !== 'ready' || id.equals(this.identity.id)) return
    const hex = id.toHex()
    if (!this.#dead.has(hex)) {
      this.#dead.add(hex)
      if (this.#dead.size > DEAD_REMEMBERED) {
        const oldest = this.#dead.values().next().value
        if (oldest !== undefined) this.#dead.delete(oldest)
      }
    }
    this.#markDead(id)
    this.#breakLocksOf(hex)
    // requests still waiting for it will not be answered
    for (const p of [...this.#rpcs.values()]) {
      if (p.from === hex) p.reject(new ConnectionFailedError(`${hex} is unreachable`))
    }
  }

  /** Releases every lock here held by a transaction of the node `hex` (found dead), and wakes the waiters. */
  #breakLocksOf(hex: string): void {
    const prefix = `${hex}:`
    const keys = new Set<string>()
    if (this.#allLock?.startsWith(prefix)) keys.add(this.#allLock)
    for (const holder of this.#levelLocks.values()) if (holder.startsWith(prefix)) keys.add(holder)
    for (const key of keys) {
      this.#metrics.locksBroken++
      this.#tombstone(key)
      this.#releaseLocal(key)
    }
  }

  /**
   * A lock request waits for `key`'s holder: check that the holder is alive (once at a time); a holder that
   * cannot be reached loses its locks, so a crash in the middle of a join or leave does not block its neighbours.
   */
  #checkHolder(key: string): void {
    const hex = key.slice(0, key.indexOf(':'))
    if (hex === this.#selfHex || this.#holderChecks.has(hex)) return
    if (this.#dead.has(hex)) {
      this.#breakLocksOf(hex)
      return
    }
    this.#holderChecks.add(hex)
    void this.#probe(Identifier.fromHex(hex)).finally(() => this.#holderChecks.delete(hex))
  }

  /** Reads level 0 of `id`: 'alive' when it answers, 'dead' when the send fails, 'unknown' on a timeout. */
  async #probe(id: Identifier): Promise<'alive' | 'dead' | 'unknown'> {
    try {
      await this.#rpc(
        id,
        Kind.LockReply,
        (rpc): ReadMsg => ({ kind: Kind.Read, rpc, levels: [0] }),
        undefined,
      )
      return 'alive'
    } catch (err) {
      return isDeadSignal(err) ? 'dead' : 'unknown'
    }
  }

  /**
   * Reads the levels where `id` is our neighbour: a failed send marks it dead; a level where it does not point
   * back at us (a repair elsewhere missed us) is relinked.
   */
  async #probeLinks(id: Identifier, levels: number[], sides: Side[]): Promise<void> {
    let reply: WireMessage
    try {
      reply = await this.#rpc(
        id,
        Kind.LockReply,
        (rpc): ReadMsg => ({ kind: Kind.Read, rpc, levels }),
        undefined,
      )
    } catch {
      return
    }
    if (reply.kind !== Kind.LockReply || !reply.granted || reply.levels.length !== levels.length) return
    let inconsistent = false
    for (let k = 0; k < levels.length; k++) {
      const st = reply.levels[k]!
      const side = sides[k]!
      const level = levels[k]!
      if (st.level !== level || !sameId(this.#table.get(level, side), { id })) continue
      const back = side === 'right' ? st.left : st.right
      if (st.linked && back?.id.equals(this.identity.id) === true) continue
      this.#relinkLevels.add(level)
      inconsistent = true
    }
    if (inconsistent) this.#scheduleRepair(0)
  }

  #scheduleProbe(): void {
    if (this.#probeIntervalMs <= 0 || this.#probeTimer !== undefined || this.state !== 'ready') return
    const delay = this.#probeIntervalMs * (0.5 + this.#random())
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = undefined
      if (this.state !== 'ready' || this.#height < 0 || this.#status === 'leaving') return
      const byNode = new Map<string, { id: Identifier; levels: number[]; sides: Side[] }>()
      for (let level = 0; level <= this.#table.topLevel; level++) {
        for (const side of ['left', 'right'] as const) {
          const e = this.#table.get(level, side)
          if (e === null || !e.alive) continue
          const g = byNode.get(e.id.toHex()) ?? { id: e.id, levels: [], sides: [] }
          g.levels.push(level)
          g.sides.push(side)
          byNode.set(e.id.toHex(), g)
        }
      }
      for (const g of byNode.values()) void this.#probeLinks(g.id, g.levels, g.sides)
      this.#scheduleProbe()
    }, delay)
  }

  /**
   * Repairs run while the node is linked and not leaving: also during a join (it repairs the levels it is
   * linked at, and the join's own transaction works one level above).
   */
  #mayRepair(): boolean {
    return (
      this.state === 'ready' &&
      this.#height >= 0 &&
      (this.#status === 'joined' || this.#status === 'joining' || this.#status === 'incomplete')
    )
  }

  #wakeRepairWaiters(): void {
    for (const w of this.#repairWaiters.splice(0)) w()
  }

  /** Resolves when the current (or next) repair round ends, or at once when nothing is to repair. */
  #repairRound(): Promise<void> {
    if (!this.#repairing && this.#repairTimer === undefined) return Promise.resolve()
    return new Promise((resolve) => this.#repairWaiters.push(resolve))
  }

  #scheduleRepair(delayMs: number): void {
    if (this.state !== 'ready') return
    if (this.#repairing) {
      this.#repairAgain = true
      return
    }
    if (this.#repairTimer !== undefined) return
    this.#repairTimer = setTimeout(() => {
      this.#repairTimer = undefined
      void this.#runRepair()
    }, delayMs)
  }

  /**
   * One repair round: every level with a dead entry, lowest first (a level's walk uses the level below), is
   * relinked by a transaction. Rounds repeat, with backoff after a failure, until no dead entry is left.
   */
  async #runRepair(): Promise<void> {
    if (!this.#mayRepair()) {
      this.#wakeRepairWaiters()
      return
    }
    this.#repairing = true
    this.#repairAgain = false
    let failed = false
    try {
      for (let level = 0; level <= Math.min(this.#table.topLevel, this.#height); level++) {
        if (!this.#table.hasDead(level) && !this.#relinkLevels.has(level)) continue
        try {
          await this.#transact('repair', (txn) => this.#relink(txn, level), undefined)
          this.#metrics.repairs++
        } catch {
          failed = true
          break
        } finally {
          this.#relinkLevels.delete(level)
        }
      }
    } finally {
      this.#repairing = false
    }
    this.#repairFailures = failed ? this.#repairFailures + 1 : 0
    if (this.#mayRepair() && (this.#repairAgain || this.#hasDeadEntry())) {
      const cap = Math.min(2000, 20 * 2 ** Math.min(this.#repairFailures, 10))
      this.#scheduleRepair(failed ? this.#random() * cap : 0)
      if (!failed) return // the waiters get the next round's outcome
    }
    this.#wakeRepairWaiters()
  }

  /**
   * Relinks this node at `level` between the nearest live nodes on both sides (found by unlocked walks, a hint),
   * under the join's lock discipline: the left one, ourselves, the right one, in ascending identifier order.
   * Validated under the locks: each of them points at us, at the other, or at a node between that is dead (a
   * fresh probe fails). Then we point at them and they at us. A live node that the walks missed (its pointers
   * lead only to dead nodes) relinks itself the same way: between the two nodes that now point at each other.
   */
  async #relink(txn: Txn, level: number): Promise<void> {
    const me = this.identity
    if (!this.#table.hasDead(level) && !this.#relinkLevels.has(level)) return
    const leftId = await this.#nearestLive(txn, level, 'left')
    const rightId = await this.#nearestLive(txn, level, 'right')
    let left: Located | null = null
    if (leftId !== null) {
      left = await this.#locate(txn, leftId, level, 'right')
      if (!sharesPrefix(left.mv, me.mv, level) || left.id.compare(me.id) >= 0)
        throw new Conflict('bad left neighbour')
    }
    if (this.#tryLock(txn.key, [level]) !== 0) throw new Conflict('own lock refused')
    let right: Located | null = null
    if (rightId !== null) {
      right = await this.#locate(txn, rightId, level, 'left')
      if (!sharesPrefix(right.mv, me.mv, level) || right.id.compare(me.id) <= 0)
        throw new Conflict('bad right neighbour')
    }
    // What the three point at across the gap: us, the other one, a node beyond the gap (a pointer that skips
    // us: we are a member it missed, so pointing it at us is a correction), or a node in the gap, which must be
    // dead (the walks found no live one there).
    const lo = left?.id ?? null
    const hi = right?.id ?? null
    const checks: Array<Identifier | null> = [
      left?.across?.id ?? null,
      right?.across?.id ?? null,
      this.#table.get(level, 'left')?.id ?? null,
      this.#table.get(level, 'right')?.id ?? null,
    ]
    const probed = new Set<string>()
    for (const x of checks) {
      if (x === null || x.equals(me.id) || (lo !== null && x.equals(lo)) || (hi !== null && x.equals(hi)))
        continue
      if ((lo !== null && x.compare(lo) < 0) || (hi !== null && x.compare(hi) > 0)) continue
      const hex = x.toHex()
      if (probed.has(hex)) continue
      probed.add(hex)
      const state = await this.#probe(x)
      if (state === 'alive') {
        // a live node we missed lies between: aim at it next time (the lock validates it)
        this.#relinkHints.set(`${level}:${x.compare(me.id) > 0 ? 'right' : 'left'}`, x)
      }
      if (state !== 'dead') throw new Conflict(`a node between is ${state}`)
    }
    if (txn.aborted) throw new Conflict('transaction already finished')
    this.#setEntry(level, 'left', left === null ? null : { id: left.id, mv: left.mv, alive: true })
    this.#setEntry(level, 'right', right === null ? null : { id: right.id, mv: right.mv, alive: true })
    const self: WireNeighbor = { id: me.id, mv: me.mv }
    const applies: Promise<void>[] = []
    if (left !== null && !sameId(left.across, self))
      applies.push(this.#apply(txn, left.id, [{ level, side: 'right', entry: self }]))
    if (right !== null && !sameId(right.across, self))
      applies.push(this.#apply(txn, right.id, [{ level, side: 'left', entry: self }]))
    const results = await Promise.allSettled(applies)
    if (results.some((x) => x.status === 'rejected')) throw new Conflict('a repair write failed')
  }

  /**
   * The nearest live node on `side` of us in our level-`level` list (null when there is none), found without
   * locks (a hint). A live entry is taken as it is. Past a dead one: start from a live node beyond it (our own
   * entries at higher levels; at level ≥ 1 else the walk of the level below, as a join does; at level 0 else the
   * tables of nodes we know) and search back toward us on levels ≥ `level`, stepping over dead nodes.
   */
  async #nearestLive(txn: Txn, level: number, side: Side): Promise<Identifier | null> {
    const me = this.identity.id
    const beyondMe = (id: Identifier): boolean => (side === 'right' ? id.compare(me) > 0 : id.compare(me) < 0)
    const hint = this.#relinkHints.get(`${level}:${side}`)
    this.#relinkHints.delete(`${level}:${side}`)
    const e = this.#table.get(level, side)
    if (hint !== undefined && beyondMe(hint) && !this.#dead.has(hint.toHex())) return hint
    if (e === null) return null
    if (e.alive && !this.#dead.has(e.id.toHex())) return e.id
    // past a dead neighbour: search back toward us from the farthest live node we know beyond it, so that the
    // search crosses every level's lists (and finds live nodes that only those reach)
    let start: Identifier | null = null
    for (let l = this.#table.topLevel; l > level && start === null; l--) {
      const x = this.#table.get(l, side)
      if (x?.alive && !this.#dead.has(x.id.toHex())) start = x.id
    }
    if (start === null && level > 0) {
      const below = this.#table.get(level - 1, side)
      if (below !== null && (!below.alive || this.#dead.has(below.id.toHex())))
        throw new Conflict('the level below is not repaired yet')
      start = (await this.#walk(txn, level, side)).found
      if (start === null) return null
    }
    if (start === null) start = await this.#discoverBeyond(txn, e.id, side)
    if (start === null) return null
    const levels: number[] = []
    for (let l = level; l < Math.min(MAX_LEVEL + 1, level + REPAIR_READ_LEVELS); l++) levels.push(l)
    let cur = start
    let st = await this.#read(txn, cur, levels)
    for (let steps = 0; steps < 100_000; steps++) {
      let moved = false
      for (let k = st.levels.length - 1; k >= 0 && !moved; k--) {
        const s = st.levels[k]!
        if (!s.linked) continue
        const back = side === 'right' ? s.left : s.right
        if (back === null || !beyondMe(back.id)) continue
        if (side === 'right' ? back.id.compare(cur) >= 0 : back.id.compare(cur) <= 0) continue
        if (this.#dead.has(back.id.toHex())) continue
        try {
          st = await this.#read(txn, back.id, levels)
        } catch (err) {
          if (isDeadSignal(err)) continue
          throw err
        }
        cur = back.id
        moved = true
      }
      if (!moved) return cur
    }
    throw new Conflict('repair walk too long')
  }

  /**
   * When none of our own entries leads past the dead node `dead` on `side`: read the tables of the nodes we
   * know (and of those they know, a bounded breadth-first search) for a live node beyond it.
   */
  async #discoverBeyond(txn: Txn, dead: Identifier, side: Side): Promise<Identifier | null> {
    const beyond = (id: Identifier): boolean =>
      side === 'right' ? id.compare(dead) > 0 : id.compare(dead) < 0
    const seen = new Set<string>([this.#selfHex, dead.toHex()])
    const queue: Identifier[] = []
    const offer = (id: Identifier): Identifier | null => {
      const hex = id.toHex()
      if (seen.has(hex) || this.#dead.has(hex)) return null
      seen.add(hex)
      if (beyond(id)) return id
      queue.push(id)
      return null
    }
    for (let level = 0; level <= this.#table.topLevel; level++) {
      for (const s of ['left', 'right'] as const) {
        const x = this.#table.get(level, s)
        if (x === null || !x.alive) continue
        const hit = offer(x.id)
        if (hit !== null) return hit
      }
    }
    for (const id of this.#heard.values()) {
      const hit = offer(id)
      if (hit !== null) return hit
    }
    const levels = Array.from({ length: REPAIR_READ_LEVELS }, (_, i) => i)
    for (let reads = 0; queue.length > 0; reads++) {
      // nobody known so far lies beyond: "there is none" only once every known node was asked
      if (reads >= REPAIR_DISCOVERY_READS) throw new Conflict('no live node found beyond a dead one yet')
      const id = queue.shift()!
      let st: LockReplyMsg
      try {
        st = await this.#read(txn, id, levels)
      } catch (err) {
        if (isDeadSignal(err) || err instanceof Conflict) continue
        throw err
      }
      for (const s of st.levels) {
        for (const x of [s.left, s.right]) {
          if (x === null) continue
          const hit = offer(x.id)
          if (hit !== null) return hit
        }
      }
    }
    return null
  }

  // ---------------------------------------------------------------- locks (receiver side)

  /** 0 when granted, else a {@link DenyReason}. */
  #tryLock(key: string, levels: readonly number[] | 'all'): number {
    if (this.#status === 'left') return DenyReason.Gone
    if (this.#tombstones.has(key)) return DenyReason.Locked
    if (this.#allLock !== undefined && this.#allLock !== key) return DenyReason.Locked
    if (levels === 'all') {
      for (const holder of this.#levelLocks.values()) if (holder !== key) return DenyReason.Locked
      this.#allLock = key
      return 0
    }
    for (const level of levels) {
      const holder = this.#levelLocks.get(level)
      if (holder !== undefined && holder !== key) return DenyReason.Locked
    }
    for (const level of levels) this.#levelLocks.set(level, key)
    return 0
  }

  /** The transactions holding any of `levels` here. */
  #holdersOf(levels: readonly number[]): Set<string> {
    const out = new Set<string>()
    if (this.#allLock !== undefined) out.add(this.#allLock)
    for (const level of levels) {
      const h = this.#levelLocks.get(level)
      if (h !== undefined) out.add(h)
    }
    return out
  }

  #holds(key: string, level: number): boolean {
    return this.#allLock === key || this.#levelLocks.get(level) === key
  }

  #releaseLocal(key: string): void {
    let released = false
    if (this.#allLock === key) {
      this.#allLock = undefined
      released = true
    }
    for (const [level, holder] of this.#levelLocks) {
      if (holder === key) {
        this.#levelLocks.delete(level)
        released = true
      }
    }
    if (released && this.#waiters.length > 0) this.#wakeWaiters()
  }

  #lockReply(rpc: string, granted: boolean, reason: number, levels: readonly number[]): LockReplyMsg {
    const states: WireLevelState[] = granted
      ? levels.map((level) => {
          const l = this.#table.get(level, 'left')
          const r = this.#table.get(level, 'right')
          return {
            level,
            linked: level <= this.#height,
            left: l === null ? null : { id: l.id, mv: l.mv },
            right: r === null ? null : { id: r.id, mv: r.mv },
          }
        })
      : []
    return { kind: Kind.LockReply, rpc, granted, reason, mv: this.identity.mv, levels: states }
  }

  #onLock(origin: Identifier, msg: LockMsg): void {
    const key = `${origin.toHex()}:${msg.txn}`
    const reply = (reason: number): void => {
      this.#send(origin, this.#lockReply(msg.rpc, reason === 0, reason, msg.levels)).catch(() => {})
    }
    const reason =
      this.#height < 0 && this.#status !== 'left' ? DenyReason.NotLinked : this.#tryLock(key, msg.levels)
    if (reason !== DenyReason.Locked || this.#tombstones.has(key) || this.#lockWaitMs <= 0) {
      reply(reason)
      return
    }
    const waiter: LockWaiter = {
      key,
      levels: msg.levels,
      grant: () => {
        const r =
          this.#height < 0 && this.#status !== 'left' ? DenyReason.NotLinked : this.#tryLock(key, msg.levels)
        if (r === DenyReason.Locked && !this.#tombstones.has(key)) return false
        clearTimeout(waiter.timer)
        reply(r)
        return true
      },
      timer: setTimeout(() => {
        const i = this.#waiters.indexOf(waiter)
        if (i >= 0) this.#waiters.splice(i, 1)
        reply(DenyReason.Locked)
      }, this.#lockWaitMs),
    }
    this.#waiters.push(waiter)
    // a holder that crashed would block this request (and every later one): check it
    for (const holder of this.#holdersOf(msg.levels)) this.#checkHolder(holder)
  }

  /** After a release: grants, first come first served, every waiting request whose levels are now free. */
  #wakeWaiters(): void {
    for (let i = 0; i < this.#waiters.length; ) {
      if (this.#waiters[i]!.grant()) this.#waiters.splice(i, 1)
      else i++
    }
  }

  #onApply(origin: Identifier, msg: ApplyMsg): void {
    const key = `${origin.toHex()}:${msg.txn}`
    const me = this.identity
    const ok = msg.writes.every((w) => {
      if (!this.#holds(key, w.level)) return false
      if (w.entry === null) return true
      const order = w.entry.id.compare(me.id)
      return (w.side === 'left' ? order < 0 : order > 0) && sharesPrefix(w.entry.mv, me.mv, w.level)
    })
    if (ok) {
      for (const w of msg.writes) {
        this.#setEntry(
          w.level,
          w.side,
          w.entry === null
            ? null
            : { id: w.entry.id, mv: w.entry.mv, alive: !this.#dead.has(w.entry.id.toHex()) },
        )
        if (w.entry !== null && this.#dead.has(w.entry.id.toHex())) this.#scheduleRepair(0)
      }
      this.#releaseLocal(key)
      this.#tombstone(key)
    } else {
      this.#metrics.rejectedApplies++
    }
    this.#send(origin, { kind: Kind.ApplyAck, rpc: msg.rpc, ok }).catch(() => {})
  }

  #tombstone(key: string): void {
    this.#tombstones.add(key)
    if (this.#tombstones.size > TOMBSTONES) {
      const oldest = this.#tombstones.values().next().value
      if (oldest !== undefined) this.#tombstones.delete(oldest)
    }
  }

  #setEntry(level: number, side: Side, entry: NeighborEntry | null): void {
    this.#tableVersion++
    const previous = this.#table.set(level, side, entry)
    if (
      previous === entry ||
      (previous !== null && entry !== null && previous.id.equals(entry.id) && previous.alive === entry.alive)
    )
      return
    this.#events.emit('neighbor:change', { level, side, previous, current: entry })
  }

  // ---------------------------------------------------------------- messaging

  #send(dest: Identifier, msg: WireMessage): Promise<void> {
    const conduit = this.#conduit
    if (conduit === undefined) return Promise.reject(new ConduitClosedError('skip-graph node not started'))
    this.#metrics.messagesSent++
    this.#metrics.sentByKind[KIND_NAME_BY_CODE.get(msg.kind)!]++
    return conduit.send(dest, { payload: encodeWire(msg), metadata: {} }).catch((err: unknown) => {
      this.#metrics.sendFailures++
      if (isDeadSignal(err)) this.#noteDead(dest)
      throw err
    })
  }

  #rpc(
    dest: Identifier,
    replyKind: number,
    build: (rpc: string) => WireMessage,
    signal: AbortSignal | undefined,
  ): Promise<WireMessage> {
    const rpc = this.#nonce()
    return new Promise<WireMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        settle()
        reject(new RequestTimeoutError(`no reply from ${dest.toHex()} within ${this.#requestTimeoutMs} ms`))
      }, this.#requestTimeoutMs)
      const onAbort = (): void => {
        settle()
        reject(toAbortError(signal!))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      const settle = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#rpcs.delete(rpc)
      }
      this.#rpcs.set(rpc, {
        from: dest.toHex(),
        kind: replyKind,
        resolve: (m) => {
          settle()
          resolve(m)
        },
        reject: (e) => {
          settle()
          reject(e)
        },
      })
      this.#send(dest, build(rpc)).catch((err: unknown) => {
        const p = this.#rpcs.get(rpc)
        if (p !== undefined) p.reject(err)
      })
    })
  }

  /** Remembers a node we heard from or of (bounded, oldest dropped first). */
  #remember(id: Identifier): void {
    const hex = id.toHex()
    if (this.#heard.has(hex) || hex === this.#selfHex) return
    this.#heard.set(hex, id)
    if (this.#heard.size > HEARD_REMEMBERED) {
      const oldest = this.#heard.keys().next().value
      if (oldest !== undefined) this.#heard.delete(oldest)
    }
  }

  #receive(origin: Identifier, payload: Uint8Array): void {
    this.#metrics.messagesReceived++
    this.#remember(origin)
    if (this.#dead.size > 0 && this.#dead.delete(origin.toHex())) {
      // it answered after all (a send failed for another reason): its entries count as alive again
      for (const c of this.#table.markAlive(origin)) this.#events.emit('neighbor:change', c)
    }
    const decoded = decodeWire(payload)
    if (!decoded.ok) {
      this.#metrics.malformedDropped++
      return
    }
    const msg = decoded.msg
    switch (msg.kind) {
      case Kind.Search:
        this.#searchStep(msg, true)
        return
      case Kind.SearchResult: {
        const p = this.#searches.get(msg.nonce)
        const n = hopCount(msg.hops)
        if (p === undefined || (n > 0 && !Identifier.fromBytes(hopAt(msg.hops, n - 1).node).equals(origin))) {
          this.#metrics.unexpectedDropped++
          return
        }
        if (msg.found !== origin.equals(p.target)) {
          this.#metrics.malformedDropped++
          return
        }
        p.resolve({ result: origin, found: msg.found, hops: msg.hops })
        return
      }
      case Kind.SearchFail: {
        const p = this.#searches.get(msg.nonce)
        if (p === undefined) {
          this.#metrics.unexpectedDropped++
          return
        }
        this.#metrics.searchesFailed++
        p.reject(
          new SearchFailedError(
            msg.reason === FailReason.Stopped
              ? 'the search reached a departed node'
              : 'an unreachable neighbour blocked the search',
          ),
        )
        return
      }
      case Kind.Lock:
        this.#onLock(origin, msg)
        return
      case Kind.Read: {
        const gone = this.#status === 'left' ? DenyReason.Gone : this.#height < 0 ? DenyReason.NotLinked : 0
        this.#send(origin, this.#lockReply(msg.rpc, gone === 0, gone, msg.levels)).catch(() => {})
        return
      }
      case Kind.Apply:
        this.#onApply(origin, msg)
        return
      case Kind.Release: {
        const key = `${origin.toHex()}:${msg.txn}`
        this.#tombstone(key)
        this.#releaseLocal(key)
        if (this.#waiters.some((w) => w.key === key)) this.#wakeWaiters()
        return
      }
      case Kind.LockReply:
      case Kind.ApplyAck: {
        const p = this.#rpcs.get(msg.rpc)
        if (p === undefined || p.from !== origin.toHex() || p.kind !== msg.kind) {
          this.#metrics.unexpectedDropped++
          return
        }
        p.resolve(msg)
        return
      }
    }
  }

  // ---------------------------------------------------------------- search

  /** Starts a search here (`via` undefined) or at `via` (the join's search through the introducer). */
  #search(
    target: Identifier,
    via: Identifier | undefined,
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): Promise<{ result: Identifier; found: boolean; hops: WireHops }> {
    const nonce = this.#nonce()
    this.#metrics.searchesStarted++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#metrics.searchesTimedOut++
        done()
        reject(new SearchTimeoutError(`search for ${target.toHex()} got no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      const onAbort = (): void => {
        done()
        reject(toAbortError(signal!))
      }
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#searches.delete(nonce)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#searches.set(nonce, {
        target,
        resolve: (out) => {
          this.#metrics.searchesAnswered++
          // the nodes on the path are places a later repair can start from
          for (let i = 0; i < hopCount(out.hops); i++)
            this.#remember(Identifier.fromBytes(hopAt(out.hops, i).node))
          done()
          resolve(out)
        },
        reject: (err) => {
          done()
          reject(err)
        },
      })
      const start = via ?? this.identity.id
      const msg: SearchMsg = {
        kind: Kind.Search,
        nonce,
        origin: this.identity.id,
        target,
        level: MAX_LEVEL,
        dir: target.compare(start) >= 0 ? 1 : 0,
        reverse: 0,
        hops: new Uint8Array(0),
      }
      if (via === undefined) this.#searchStep(msg, true)
      else {
        this.#send(via, msg).catch((err: unknown) => this.#searches.get(nonce)?.reject(err))
      }
    })
  }

  /**
   * The local SearchByID step (skipgraph-go): the best live neighbour at levels ≤ msg.level in the search
   * direction that does not overshoot the target; else this node is the answer. Forwards, or answers the origin.
   */
  #searchStep(msg: SearchMsg, emit: boolean, mayWait = true): void {
    const me = this.identity.id
    if (this.#height < 0) {
      this.#answer(msg, { kind: Kind.SearchFail, nonce: msg.nonce, reason: FailReason.Stopped })
      return
    }
    if (emit && this.#events.listenerCount('search:hop') > 0) {
      this.#events.emit('search:hop', {
        nonce: msg.nonce,
        origin: msg.origin,
        target: msg.target,
        node: me,
        level: Math.min(msg.level, Math.max(0, this.#table.topLevel)),
        hop: hopCount(msg.hops),
      })
    }
    const cmp = msg.target.compare(me)
    if (cmp === 0) {
      this.#answer(msg, { kind: Kind.SearchResult, nonce: msg.nonce, found: true, hops: msg.hops })
      return
    }
    const right = msg.dir === 1
    const side: Side = right ? 'right' : 'left'
    if ((right && cmp < 0) || (!right && cmp > 0) || hopCount(msg.hops) >= MAX_HOPS) {
      // we are past the target: only a corrupted table or a forged message gets here
      this.#answer(msg, { kind: Kind.SearchFail, nonce: msg.nonce, reason: FailReason.Unreachable })
      return
    }
    let blocked = false
    const top = this.#table.topLevel
    // first the levels up to the one we arrived on (the skip-graph search); when a dead neighbour blocks
    // those, any live neighbour between us and the target, at any level, is progress too
    for (let pass = 0; pass < 2; pass++) {
      const from = pass === 0 ? Math.min(msg.level, top) : top
      const to = pass === 0 ? 0 : msg.level + 1
      for (let level = from; level >= to; level--) {
        const e = this.#table.get(level, side)
        if (e === null) continue
        const c = e.id.compare(msg.target)
        if (right ? c > 0 : c < 0) continue
        if (!e.alive) {
          blocked = true
          continue
        }
        this.#forward(msg, e, level, msg.reverse, msg.dir)
        return
      }
      if (!blocked) break
    }
    if (!blocked) {
      if (msg.reverse === 1) {
        this.#answer(msg, { kind: Kind.SearchFail, nonce: msg.nonce, reason: FailReason.Unreachable })
      } else {
        this.#answer(msg, { kind: Kind.SearchResult, nonce: msg.nonce, found: false, hops: msg.hops })
      }
      return
    }
    // A dead neighbour stands between us and the target. Approach the target from the far side instead: the
    // nearest live neighbour beyond the target searches back; that leg must end exactly on the target.
    if (msg.reverse === 0) {
      for (let level = 0; level <= this.#table.topLevel; level++) {
        const e = this.#table.get(level, side)
        if (e === null || !e.alive) continue
        const c = e.id.compare(msg.target)
        if (right ? c > 0 : c < 0) {
          this.#forward(msg, e, MAX_LEVEL, 1, right ? 0 : 1, level)
          return
        }
      }
    }
    if (mayWait && (this.#repairing || this.#repairTimer !== undefined)) {
      // the lists around the dead neighbour are being repaired: route again once that round is over
      void this.#repairRound().then(() => {
        if (this.state === 'ready') this.#searchStep(msg, false, false)
      })
      return
    }
    this.#answer(msg, { kind: Kind.SearchFail, nonce: msg.nonce, reason: FailReason.Unreachable })
  }

  #forward(
    msg: SearchMsg,
    to: NeighborEntry,
    level: number,
    reverse: 0 | 1,
    dir: 0 | 1,
    linkLevel = level,
  ): void {
    const next: SearchMsg = { ...msg, level, reverse, dir, hops: appendHop(msg.hops, to.id.bytes, linkLevel) }
    this.#metrics.searchesForwarded++
    this.#send(to.id, next).catch((err: unknown) => {
      if (err instanceof ConduitClosedError || this.state !== 'ready') return
      this.#markDead(to.id)
      this.#searchStep(msg, false)
    })
  }

  #markDead(id: Identifier): void {
    const changes = this.#table.markDead(id)
    if (changes.length > 0) this.#metrics.deadNeighbors++
    for (const c of changes) this.#events.emit('neighbor:change', c)
    if (changes.length > 0) this.#scheduleRepair(0)
  }

  #answer(msg: SearchMsg, reply: WireMessage): void {
    if (msg.origin.equals(this.identity.id)) {
      const p = this.#searches.get(msg.nonce)
      if (p === undefined) return
      if (reply.kind === Kind.SearchResult)
        p.resolve({ result: this.identity.id, found: reply.found, hops: reply.hops })
      else {
        this.#metrics.searchesFailed++
        p.reject(new SearchFailedError('an unreachable neighbour blocked the search'))
      }
      return
    }
    this.#send(msg.origin, reply).catch(() => {})
  }
}

/**
 * Makes a skip-graph node on a started core `Network` (one node per network). Start it, then `join()`.
 * @throws {InvalidIdentityError} when `options.identity.id` differs from `options.network.localId`.
 * @throws {InvalidChannelError} (core) when `options.channel` is not a valid channel name.
 */
export function createSkipGraphNode(options: SkipGraphNodeOptions): SkipGraphNode {
  return new DefaultSkipGraphNode(options)
}
