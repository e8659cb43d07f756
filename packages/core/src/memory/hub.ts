import { type AbortOptions, raceSignal, throwIfAborted } from '../abort.js'
import { type Channel, isChannel } from '../channel.js'
import type {
  Connection,
  ConnectionEvents,
  ConnectionManager,
  ConnectionManagerEvents,
} from '../connection.js'
import {
  ComponentNotStartedError,
  ConnectionClosedError,
  ConnectionFailedError,
  DuplicatePeerError,
  InvalidChannelError,
  MessageTooLargeError,
  PeerNotFoundError,
  SendFailedError,
} from '../errors.js'
import { Emitter, type Unsubscribe } from '../events.js'
import type { Identifier } from '../identifier.js'
import { AbstractComponent } from '../lifecycle.js'
import { yieldTask } from '../internal/async.js'

/** Options of a {@link MemoryHub}. */
export interface MemoryHubOptions {
  /** Seed of the PRNG that draws latencies and drops: the same seed and sends give the same schedule. @default 1 */
  seed?: number
  /**
   * One-way delay of each message (and of establishing a connection), in milliseconds: a fixed number or a
   * uniform range. Per connection and channel, order is kept regardless of the drawn delays.
   * @default 0
   */
  latency?: number | { min: number; max: number }
  /** Fraction (0–1) of messages silently lost. @default 0 */
  dropRate?: number
  /** When true nothing is delivered until {@link MemoryHub.deliverAll} or {@link MemoryHub.deliverSome}. @default false */
  manual?: boolean
  /** Largest byte array one `Connection.send` accepts. @default 16 MiB + 64 KiB (16842752) */
  maxMessageSize?: number
}

/** A message in flight, as shown to a {@link MemoryHub.deliverSome} predicate. */
export interface PendingMessage {
  readonly from: Identifier
  readonly to: Identifier
  readonly channel: Channel
  readonly bytes: Uint8Array
}

/** Default of {@link MemoryHubOptions.maxMessageSize}. */
export const DEFAULT_MEMORY_MAX_MESSAGE_SIZE = 16 * 1024 * 1024 + 64 * 1024

/** mulberry32: a small, fast, seedable PRNG giving floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Entry extends PendingMessage {
  readonly seq: number
  readonly queue: Queue
  readonly target: MemoryConnection
  delivered: boolean
}

/** The messages in flight on one direction of one link and one channel, oldest first (from `head` on). */
interface Queue {
  items: Entry[]
  /** Index of the oldest undelivered entry in `items`. */
  head: number
  /** Delivery time of the last message put in this queue (to keep order under random latency). */
  lastAt: number
}

function pairKey(a: Identifier, b: Identifier): string {
  const x = a.toHex()
  const y = b.toHex()
  return x < y ? `${x}:${y}` : `${y}:${x}`
}

/**
 * An in-memory network for tests and examples: an explicit object (no module-global state) that connection
 * managers made by {@link MemoryHub.connectionManager} reach each other through. Seeded latency and drops,
 * partitions, and a manual delivery mode for step-by-step deterministic tests (after flow-go's stub hub).
 *
 * @example
 * ```ts
 * const hub = new MemoryHub({ manual: true })
 * const network = createNetwork({ connectionManager: hub.connectionManager(Identifier.random()) })
 * // ... send messages ...
 * await hub.deliverAll()
 * ```
 */
export class MemoryHub {
  readonly maxMessageSize: number
  readonly manual: boolean
  readonly #random: () => number
  readonly #latency: { min: number; max: number }
  readonly #dropRate: number
  readonly #managers = new Map<string, MemoryConnectionManager>()
  readonly #active = new Set<string>()
  readonly #dials = new Map<string, Promise<void>>()
  readonly #manualPending: Entry[] = []
  readonly #partitions: Array<{ a: Set<string>; b: Set<string> }> = []
  #seq = 0
  #linkSerial = 0

  constructor(options: MemoryHubOptions = {}) {
    const latency = options.latency ?? 0
    this.#latency = typeof latency === 'number' ? { min: latency, max: latency } : { ...latency }
    if (!(this.#latency.min >= 0 && this.#latency.max >= this.#latency.min)) {
      throw new RangeError('latency must be >= 0 and min <= max')
    }
    this.#dropRate = options.dropRate ?? 0
    if (!(this.#dropRate >= 0 && this.#dropRate <= 1)) throw new RangeError('dropRate must be within [0, 1]')
    this.#random = mulberry32(options.seed ?? 1)
    this.manual = options.manual ?? false
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MEMORY_MAX_MESSAGE_SIZE
  }

  /**
   * A new, unstarted connection manager for `id` on this hub. Once started it is reachable by the others.
   * @throws {DuplicatePeerError} when a manager for `id` exists and is not stopped.
   */
  connectionManager(id: Identifier): MemoryConnectionManager {
    const existing = this.#managers.get(id.toHex())
    if (existing !== undefined && existing.state !== 'stopped') {
      throw new DuplicatePeerError(`a connection manager for ${id.toHex()} already exists on this hub`)
    }
    const manager = new MemoryConnectionManager(this, id, {
      attach: (m) => {
        this.#active.add(m.localId.toHex())
      },
      detach: (m) => {
        if (this.#managers.get(m.localId.toHex()) === m) this.#active.delete(m.localId.toHex())
      },
      dial: (from, to, options) => this.#dial(from, to, options),
      send: (conn, ch, bytes) => this.#enqueue(conn, ch, bytes),
      flush: (conn) => this.#flushLink(conn),
    })
    this.#managers.set(id.toHex(), manager)
    return manager
  }

  /**
   * Splits the network: closes every connection between a member of `groupA` and a member of `groupB`
   * (pending messages on them are lost) and makes connects across the groups fail with
   * {@link ConnectionFailedError} until {@link MemoryHub.heal}.
   */
  partition(groupA: readonly Identifier[], groupB: readonly Identifier[]): void {
    const a = new Set(groupA.map((id) => id.toHex()))
    const b = new Set(groupB.map((id) => id.toHex()))
    this.#partitions.push({ a, b })
    for (const hex of a) {
      const m = this.#managers.get(hex)
      if (m === undefined) continue
      for (const conn of m.openConnections()) {
        if (b.has(conn.remoteId.toHex())) conn.fail(new ConnectionFailedError('network partitioned'))
      }
    }
  }

  /** Lifts every partition. */
  heal(): void {
    this.#partitions.length = 0
  }

  /** How many messages are waiting for delivery in manual mode. */
  get pendingCount(): number {
    return this.#manualPending.filter((e) => !e.delivered).length
  }

  /**
   * Manual mode: delivers every pending message in send order, then waits a macrotask turn so processors can
   * send more, and repeats until nothing is pending. Resolves with how many were delivered.
   */
  async deliverAll(): Promise<number> {
    let total = 0
    for (;;) {
      total += this.deliverSome(() => true)
      await yieldTask()
      if (this.pendingCount === 0) return total
    }
  }

  /**
   * Manual mode: delivers, in send order, the pending messages `predicate` accepts, never one before an earlier
   * undelivered message of the same connection and channel (a rejected message holds back the later ones
   * on its connection and channel). Messages sent during this call wait for the next call. Returns the count.
   */
  deliverSome(predicate: (message: PendingMessage) => boolean): number {
    const snapshot = this.#manualPending.splice(0)
    const held = new Set<Queue>()
    let count = 0
    for (const e of snapshot) {
      if (e.delivered) continue
      if (held.has(e.queue)) {
        this.#manualPending.push(e)
        continue
      }
      const view: PendingMessage = { from: e.from, to: e.to, channel: e.channel, bytes: e.bytes }
      if (predicate(view)) {
        if (this.#deliverHeadUpTo(e)) count++
      } else {
        held.add(e.queue)
        this.#manualPending.push(e)
      }
    }
    // keep what arrived during delivery after what was held back, in send order
    this.#manualPending.sort((x, y) => x.seq - y.seq)
    return count
  }

  #drawLatency(): number {
    const { min, max } = this.#latency
    return min === max ? min : min + this.#random() * (max - min)
  }

  #partitioned(x: Identifier, y: Identifier): boolean {
    const a = x.toHex()
    const b = y.toHex()
    return this.#partitions.some((p) => (p.a.has(a) && p.b.has(b)) || (p.a.has(b) && p.b.has(a)))
  }

  async #dial(
    from: MemoryConnectionManager,
    to: Identifier,
    options: AbortOptions,
  ): Promise<MemoryConnection> {
    const key = pairKey(from.localId, to)
    let dial = this.#dials.get(key)
    if (dial === undefined) {
      dial = this.#establish(from, to)
      this.#dials.set(key, dial)
      const clear = (): void => {
        if (this.#dials.get(key) === dial) this.#dials.delete(key)
      }
      dial.then(clear, clear)
    }
    await raceSignal(dial, options.signal)
    const conn = from.openConnection(to)
    if (conn === undefined)
      throw new ConnectionFailedError(`connection to ${to.toHex()} closed while connecting`)
    return conn
  }

  async #establish(from: MemoryConnectionManager, to: Identifier): Promise<void> {
    const delay = this.#drawLatency()
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay))
    else await Promise.resolve()
    const target = this.#managers.get(to.toHex())
    if (target === undefined || !this.#active.has(to.toHex()) || target.state !== 'ready') {
      throw new PeerNotFoundError(`no started peer ${to.toHex()} on this hub`)
    }
    if (from.state !== 'ready') throw new ConnectionFailedError('the dialling connection manager stopped')
    if (this.#partitioned(from.localId, to))
      throw new ConnectionFailedError(`${to.toHex()} is partitioned away`)
    if (from.openConnection(to) !== undefined) return
    const link = ++this.#linkSerial
    const local = new MemoryConnection(from, to, link, this.maxMessageSize)
    const remote = new MemoryConnection(target, from.localId, link, this.maxMessageSize)
    local.peer = remote
    remote.peer = local
    target.add(remote)
    from.add(local)
  }

  #enqueue(conn: MemoryConnection, channel: Channel, bytes: Uint8Array): void {
    const target = conn.peer
    if (target === undefined) return
    if (this.#dropRate > 0 && this.#random() < this.#dropRate) return
    let queue = conn.queues.get(channel)
    if (queue === undefined) {
      queue = { items: [], head: 0, lastAt: 0 }
      conn.queues.set(channel, queue)
    }
    const entry: Entry = {
      seq: ++this.#seq,
      queue,
      target,
      from: conn.manager.localId,
      to: conn.remoteId,
      channel,
      bytes,
      delivered: false,
    }
    queue.items.push(entry)
    if (this.manual) {
      this.#manualPending.push(entry)
      return
    }
    const delay = this.#drawLatency()
    if (delay <= 0 && (queue.lastAt === 0 || queue.lastAt <= Date.now())) {
      queueMicrotask(() => this.#deliverHeadUpTo(entry))
      return
    }
    const at = Math.max(Date.now() + delay, queue.lastAt)
    queue.lastAt = at
    setTimeout(() => this.#deliverHeadUpTo(entry), Math.max(0, at - Date.now()))
  }

  /** Delivers the queue's messages from its head up to and including `entry`; whether `entry` was delivered. */
  #deliverHeadUpTo(entry: Entry): boolean {
    if (entry.delivered) return false
    const queue = entry.queue
    let arrived = false
    while (queue.head < queue.items.length) {
      const head = queue.items[queue.head]!
      if (head.seq > entry.seq) break
      queue.head++
      head.delivered = true
      const ok = head.target.receive(head.channel, head.bytes)
      if (head === entry) arrived = ok
    }
    if (queue.head === queue.items.length) {
      queue.items = []
      queue.head = 0
    } else if (queue.head > 1024 && queue.head * 2 > queue.items.length) {
      queue.items = queue.items.slice(queue.head)
      queue.head = 0
    }
    return arrived
  }

  /** Graceful close: delivers, now, whatever both sides of the link already sent. */
  #flushLink(conn: MemoryConnection): void {
    for (const side of [conn, conn.peer]) {
      if (side === undefined) continue
      for (const queue of [...side.queues.values()]) {
        const last = queue.items.at(-1)
        if (last !== undefined) this.#deliverHeadUpTo(last)
      }
    }
  }
}

interface HubPort {
  attach(manager: MemoryConnectionManager): void
  detach(manager: MemoryConnectionManager): void
  dial(from: MemoryConnectionManager, to: Identifier, options: AbortOptions): Promise<MemoryConnection>
  send(conn: MemoryConnection, channel: Channel, bytes: Uint8Array): void
  flush(conn: MemoryConnection): void
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
      throwIfAborted(options.signal)
      if (this.#status !== 'open')
        throw new ConnectionClosedError(`connection to ${this.remoteId.toHex()} is closed`)
      if (!isChannel(channel)) throw new InvalidChannelError('invalid channel name')
      if (!(bytes instanceof Uint8Array)) throw new SendFailedError('bytes must be a Uint8Array')
      if (bytes.length > this.#maxMessageSize) {
        throw new MessageTooLargeError(`${bytes.length} bytes exceed the maximum of ${this.#maxMessageSize}`)
      }
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
    this.#status = 'closing'
    this.manager.port.flush(this)
    this.peer?.closed(undefined)
    this.closed(undefined)
    return Promise.resolve()
  }

  /** @internal abrupt failure of the link (partition): both sides close, pending messages are lost. */
  fail(reason: Error): void {
    this.peer?.closed(reason)
    this.closed(reason)
  }

  /** @internal bytes from the peer; false when this side is already closed (the bytes are lost). */
  receive(channel: Channel, bytes: Uint8Array): boolean {
    if (this.#status === 'closed') return false
    this.#events.emit('message', channel, bytes)
    return true
  }

  /** @internal marks this side closed and emits `'close'` once. */
  closed(reason: Error | undefined): void {
    if (this.#status === 'closed') return
    this.#status = 'closed'
    this.manager.remove(this)
    if (reason === undefined) this.#events.emit('close')
    else this.#events.emit('close', reason)
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
