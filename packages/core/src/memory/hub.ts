import { type AbortOptions, raceSignal } from '../abort.js'
import type { Channel } from '../channel.js'
import { ConnectionFailedError, DuplicatePeerError, PeerNotFoundError } from '../errors.js'
import type { Identifier } from '../identifier.js'
import { yieldTask } from '../internal/async.js'
import { mulberry32 } from '../internal/random.js'
import { MemoryConnection, MemoryConnectionManager } from './endpoint.js'
import type { Entry, PendingMessage, Queue } from './queue.js'

export type { PendingMessage } from './queue.js'
export { MemoryConnection, MemoryConnectionManager } from './endpoint.js'

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

/** Default of {@link MemoryHubOptions.maxMessageSize}. */
export const DEFAULT_MEMORY_MAX_MESSAGE_SIZE = 16 * 1024 * 1024 + 64 * 1024

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
  #dropRate: number
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
    this.#dropRate = checkDropRate(options.dropRate ?? 0)
    this.#random = mulberry32(options.seed ?? 1)
    this.manual = options.manual ?? false
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MEMORY_MAX_MESSAGE_SIZE
  }

  /**
   * Changes the fraction (0–1) of messages silently lost from now on (e.g. lose messages, then stop losing
   * them). Messages already in flight keep their fate.
   * @throws {RangeError} when `rate` is not within [0, 1].
   */
  setDropRate(rate: number): void {
    this.#dropRate = checkDropRate(rate)
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
      abandon: (conn) => this.#abandon(conn),
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

  /** A failed link: drops (and counts) what `conn` sent that was not delivered yet. */
  #abandon(conn: MemoryConnection): number {
    let lost = 0
    for (const queue of conn.queues.values()) {
      for (let i = queue.head; i < queue.items.length; i++) {
        const entry = queue.items[i]!
        if (entry.delivered) continue
        entry.delivered = true
        lost++
      }
      queue.items = []
      queue.head = 0
    }
    return lost
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

function checkDropRate(rate: number): number {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError('dropRate must be within [0, 1]')
  return rate
}
