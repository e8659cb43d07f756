/**
 * Transactions of the join, leave and repair protocols, seen from the node that runs them: lock, read and apply
 * requests to other nodes, the release of everything a transaction holds, and retries with backoff.
 *
 * @module
 */
import { AbortError, ConduitError, type Identifier, throwIfAborted } from '@skipmesh/core'
import { randomNonce, sleep } from '@skipmesh/core/internal'
import type { SkipGraphMetrics } from './contract.js'
import { JoinFailedError, LeaveFailedError, NodeStoppedError, RequestTimeoutError } from './errors.js'
import type { LockLevels, LockTable } from './locks.js'
import type { Messenger } from './messaging.js'
import type { NodeState } from './state.js'
import { type ApplyWrite, Kind, type LockMsg, type LockReplyMsg, type ReadMsg } from './wire.js'

/**
 * A lock conflict, a stale read, or an unreachable participant: the transaction is aborted and retried.
 * `stale` conflicts (a validation found that someone else linked first) mean progress elsewhere, so they are
 * retried at once; the others back off.
 */
export class Conflict extends Error {
  constructor(
    message: string,
    readonly stale = false,
  ) {
    super(message)
  }
}

/**
 * A walk cut short: it came back to a node it had visited or ran past its step budget (a corrupt or hostile
 * table). The attempt fails like one on an unreachable participant, so a transaction makes only a few of them.
 */
export class WalkCut extends Conflict {}

/**
 * Bounds one walk: at most `budget` steps, never the same node twice.
 * @throws {WalkCut} from {@link WalkGuard.step} when the walk must stop.
 */
export class WalkGuard {
  readonly #seen = new Set<string>()
  #left: number

  constructor(budget: number) {
    this.#left = budget
  }

  /** Records a step onto `id`. */
  step(id: Identifier): void {
    if (--this.#left < 0) throw new WalkCut('walk longer than its budget')
    const hex = id.toHex()
    if (this.#seen.has(hex)) throw new WalkCut('walk came back to a node it visited')
    this.#seen.add(hex)
  }
}

/** One attempt of a transaction. */
export interface Txn {
  readonly id: string
  /** The lock key: `<our id hex>:<id>`. */
  readonly key: string
  /** The nodes asked for a lock (released at the end). */
  readonly contacted: Map<string, Identifier>
  /** Nodes that applied our writes (which released our locks there). */
  readonly applied: Set<string>
  /** The levels we hold at other nodes (renewed every third of a lease until applied or released). */
  readonly held: Map<string, { readonly id: Identifier; readonly levels: Set<number> }>
  renewal: ReturnType<typeof setInterval> | undefined
  /** Aborts the lock phase only: once the commit started it runs to its end. */
  readonly signal: AbortSignal | undefined
  aborted: boolean
}

/** Attempts of one transaction that may fail on an unreachable participant (timeout, send failure). */
const MAX_UNREACHABLE = 5

export interface TransactionsInit {
  readonly state: NodeState
  readonly locks: LockTable
  readonly messenger: Messenger
  readonly metrics: SkipGraphMetrics
  /** Whether the node is started (a transaction is not attempted otherwise). */
  readonly isReady: () => boolean
  readonly maxAttempts: number
  readonly backoff: { readonly baseMs: number; readonly maxMs: number }
  readonly requestTimeoutMs: number
  /** The lease of a lock granted by another node: the locks a transaction holds are renewed thrice per lease. */
  readonly leaseMs: number
  readonly random: () => number
}

export class Transactions {
  readonly #init: TransactionsInit
  readonly #active = new Set<Txn>()

  constructor(init: TransactionsInit) {
    this.#init = init
  }

  /** Runs `body` as a transaction: retried with backoff on conflicts, released on every exit. */
  async run<T>(
    what: 'join' | 'leave' | 'repair',
    body: (txn: Txn) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const { metrics, maxAttempts, backoff, random, requestTimeoutMs } = this.#init
    let stale = 0
    let unreachable = 0
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal)
      if (!this.#init.isReady()) throw new NodeStoppedError('the skip-graph node stopped')
      const txn = this.#newTxn(signal)
      this.#active.add(txn)
      metrics.transactions++
      try {
        const out = await body(txn)
        void this.finish(txn)
        return out
      } catch (err) {
        void this.finish(txn)
        if (!(err instanceof Conflict || err instanceof RequestTimeoutError || err instanceof ConduitError))
          throw err
        if (err instanceof AbortError) throw err
        metrics.conflicts++
        if (err instanceof WalkCut) metrics.walksCut++
        if (!(err instanceof Conflict) || err instanceof WalkCut) unreachable++
        if (attempt + 1 >= maxAttempts || unreachable >= MAX_UNREACHABLE) {
          const E = what === 'join' ? JoinFailedError : LeaveFailedError
          throw new E(`${what} failed after ${attempt + 1} attempts`, { cause: err })
        }
        if (err instanceof Conflict && err.stale) {
          stale++
          if (stale % 8 !== 0) continue
        }
        const cap =
          err instanceof Conflict
            ? Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(attempt - stale, 16))
            : // an unreachable participant: leave time for the repair of the lists around it
              Math.min(requestTimeoutMs, 100 * 2 ** unreachable)
        await sleep(random() * cap, signal)
      }
    }
  }

  /** Releases every lock of `txn`, here and at every node it contacted. Idempotent; never rejects. */
  finish(txn: Txn): Promise<unknown> {
    if (txn.aborted) return Promise.resolve()
    txn.aborted = true
    clearInterval(txn.renewal)
    this.#active.delete(txn)
    this.#init.locks.release(txn.key)
    const sends: Promise<void>[] = []
    for (const [hex, id] of txn.contacted) {
      if (txn.applied.has(hex)) continue
      sends.push(this.#init.messenger.send(id, { kind: Kind.Release, txn: txn.id }).catch(() => {}))
    }
    return Promise.all(sends)
  }

  /** Releases what every unfinished transaction holds (before the node stops). */
  async finishAll(): Promise<void> {
    await Promise.allSettled([...this.#active].map((txn) => this.finish(txn)))
  }

  /** Takes our own `levels` for `txn`, without waiting. @throws {Conflict} when they are held. */
  lockOwn(txn: Txn, levels: LockLevels): void {
    if (this.#init.locks.tryLock(txn.key, levels) !== 0) throw new Conflict('own lock refused')
  }

  /** Locks `levels` of `node` for `txn` and reads its state there. @throws {Conflict} when refused. */
  async lock(txn: Txn, node: Identifier, levels: number[]): Promise<LockReplyMsg> {
    if (txn.aborted) throw new Conflict('transaction already finished')
    throwIfAborted(txn.signal)
    if (this.#init.state.isSelf(node)) {
      this.lockOwn(txn, levels)
      return this.#ownState(levels)
    }
    const hex = node.toHex()
    txn.contacted.set(hex, node)
    const reply = await this.#levels(txn, node, { kind: Kind.Lock, txn: txn.id, levels })
    if (!txn.aborted) {
      const held = txn.held.get(hex) ?? { id: node, levels: new Set<number>() }
      for (const level of levels) held.levels.add(level)
      txn.held.set(hex, held)
      txn.renewal ??= setInterval(() => this.#renew(txn), this.#init.leaseMs / 3)
    }
    return reply
  }

  /** Asks again for the locks `txn` holds at other nodes: a granted request renews their leases. */
  #renew(txn: Txn): void {
    for (const { id, levels } of txn.held.values()) {
      const msg: LockMsg = { kind: Kind.Lock, txn: txn.id, levels: [...levels].sort((a, b) => a - b) }
      this.#init.messenger.request(id, msg, undefined).catch(() => {})
    }
  }

  /** Reads `levels` of `node` without locking (a hint: every decision is validated under lock later). */
  async read(txn: Txn, node: Identifier, levels: number[]): Promise<LockReplyMsg> {
    if (txn.aborted) throw new Conflict('transaction already finished')
    throwIfAborted(txn.signal)
    if (this.#init.state.isSelf(node)) return this.#ownState(levels)
    return this.#levels(txn, node, { kind: Kind.Read, levels })
  }

  /** Writes `writes` at `node` (which `txn` has locked) and waits for the acknowledgement. */
  async apply(txn: Txn, node: Identifier, writes: ApplyWrite[]): Promise<void> {
    if (txn.aborted) throw new JoinFailedError('transaction finished before its commit')
    const ack = await this.#init.messenger.request(node, { kind: Kind.Apply, txn: txn.id, writes }, undefined)
    if (ack === undefined || !ack.ok) throw new JoinFailedError('a neighbour refused a table write')
    txn.applied.add(node.toHex())
    txn.held.delete(node.toHex())
  }

  /** Sends a lock or read request and checks that the reply grants it and reports exactly the levels asked. */
  async #levels(txn: Txn, node: Identifier, msg: LockMsg | ReadMsg): Promise<LockReplyMsg> {
    const reply = await this.#init.messenger.request(node, msg, txn.signal)
    const what = msg.kind === Kind.Lock ? 'lock' : 'read'
    if (reply === undefined) throw new Conflict(`invalid ${what} reply`)
    if (!reply.granted) throw new Conflict(`${what} refused (${reply.reason})`)
    const levels = msg.levels
    if (reply.levels.length !== levels.length || reply.levels.some((s, i) => s.level !== levels[i])) {
      throw new Conflict(`${what} reply does not match the request`)
    }
    return reply
  }

  /** Releases what `txn` holds at `node` (before the commit, for lock-coupling). */
  releaseAt(txn: Txn, node: Identifier): void {
    if (this.#init.state.isSelf(node)) return
    txn.held.delete(node.toHex())
    this.#init.messenger.send(node, { kind: Kind.Release, txn: txn.id }).catch(() => {})
  }

  #ownState(levels: readonly number[]): LockReplyMsg {
    const { state } = this.#init
    return {
      kind: Kind.LockReply,
      granted: true,
      reason: 0,
      mv: state.identity.mv,
      levels: state.levelStates(levels),
    }
  }

  #newTxn(signal: AbortSignal | undefined): Txn {
    const id = randomNonce()
    return {
      id,
      key: `${this.#init.state.selfHex}:${id}`,
      contacted: new Map(),
      applied: new Set(),
      held: new Map(),
      renewal: undefined,
      signal,
      aborted: false,
    }
  }
}
