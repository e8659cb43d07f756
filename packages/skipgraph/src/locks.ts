/**
 * The locks this node grants: an exclusive lock per level and an all-levels lock (a leaving node's own), held
 * by transaction keys `<holder id hex>:<txn nonce>`. A request for a held lock waits here, first come first
 * served, at most `lockWaitMs`. Releases are tombstoned, so a release that overtakes its own lock request
 * still wins. A lock granted to another node is a lease: it lapses `leaseMs` after it was granted or last
 * renewed (the holder renews it by asking for the same levels again), and after `maxHoldMs` whatever the
 * renewals, so a lost release, a holder that went silent or a holder that never lets go blocks nobody for long.
 *
 * @module
 */
import { DenyReason } from './wire.js'

/** Released transaction keys remembered (a lock request arriving after its release is refused). */
const TOMBSTONES = 4096

/** A remote transaction's lock lapses after this many leases whatever its renewals. */
export const LEASES_PER_HOLD = 6

/** The levels a lock names, or `'all'`. */
export type LockLevels = readonly number[] | 'all'

interface LockWaiter {
  readonly key: string
  /** Tries again; true when the waiter is done (granted or refused for good). */
  grant(): boolean
  /** Refuses the request (its wait is over). */
  refuse(): void
  readonly timer: ReturnType<typeof setTimeout>
}

export interface LockTableInit {
  /** How long a request for a held lock waits. */
  readonly lockWaitMs: number
  /** Whether this node left the graph (every lock is refused with {@link DenyReason.Gone}). */
  readonly gone: () => boolean
  /** Whether this node is linked at level 0 (remote lock requests are refused before). */
  readonly linked: () => boolean
  /** How long a remote's lock lasts unless renewed. */
  readonly leaseMs: number
  /** How long a remote's transaction may hold a lock here at most, renewals included. */
  readonly maxHoldMs: number
  /** A remote's lock lapsed (it was neither released nor renewed in time, or held too long). */
  readonly onLapse: () => void
}

/** The lease of a remote transaction's locks here. */
interface Lease {
  /** When the first of its locks was granted. */
  readonly since: number
  timer: ReturnType<typeof setTimeout>
}

export class LockTable {
  readonly #init: LockTableInit
  readonly #levelLocks = new Map<number, string>()
  #allLock: string | undefined
  readonly #tombstones = new Set<string>()
  readonly #waiters: LockWaiter[] = []
  readonly #leases = new Map<string, Lease>()

  constructor(init: LockTableInit) {
    this.#init = init
  }

  /** Takes `levels` for `key` if they are free: 0 when granted, else a {@link DenyReason}. */
  tryLock(key: string, levels: LockLevels): number {
    if (this.#init.gone()) return DenyReason.Gone
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

  /**
   * A remote's lock request: granted at once, refused at once, or, when the levels are held, granted in turn
   * when they are released within `lockWaitMs`. `onWait` is told the current holders when the request waits.
   * Resolves with 0 when granted, else a {@link DenyReason}.
   */
  acquire(key: string, levels: readonly number[], onWait: (holders: Set<string>) => void): Promise<number> {
    const attempt = (): number =>
      !this.#init.linked() && !this.#init.gone() ? DenyReason.NotLinked : this.tryLock(key, levels)
    const first = attempt()
    if (first !== DenyReason.Locked || this.#tombstones.has(key) || this.#init.lockWaitMs <= 0) {
      if (first === 0) this.#lease(key)
      return Promise.resolve(first)
    }
    return new Promise((resolve) => {
      const waiter: LockWaiter = {
        key,
        grant: () => {
          const r = attempt()
          if (r === DenyReason.Locked && !this.#tombstones.has(key)) return false
          clearTimeout(waiter.timer)
          if (r === 0) this.#lease(key)
          resolve(r)
          return true
        },
        refuse: () => {
          clearTimeout(waiter.timer)
          resolve(DenyReason.Locked)
        },
        timer: setTimeout(() => {
          const i = this.#waiters.indexOf(waiter)
          if (i >= 0) this.#waiters.splice(i, 1)
          resolve(DenyReason.Locked)
        }, this.#init.lockWaitMs),
      }
      this.#waiters.push(waiter)
      // a holder that crashed would block this request (and every later one): let the caller check it
      onWait(this.#holdersOf(levels))
    })
  }

  /** Whether `key` holds `level`. */
  holds(key: string, level: number): boolean {
    return this.#allLock === key || this.#levelLocks.get(level) === key
  }

  /** Releases everything `key` holds and wakes the waiters that can go on. */
  release(key: string): void {
    const lease = this.#leases.get(key)
    if (lease !== undefined) {
      clearTimeout(lease.timer)
      this.#leases.delete(key)
    }
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

  /** A release from `key`'s holder: remembered (a late lock request of `key` is refused), then released. */
  releaseForGood(key: string): void {
    this.tombstone(key)
    this.release(key)
    if (this.#waiters.some((w) => w.key === key)) this.#wakeWaiters()
  }

  /** Remembers that `key` is finished: its later lock requests are refused. */
  tombstone(key: string): void {
    this.#tombstones.add(key)
    if (this.#tombstones.size > TOMBSTONES) {
      const oldest = this.#tombstones.values().next().value
      if (oldest !== undefined) this.#tombstones.delete(oldest)
    }
  }

  /** Releases every lock held by a transaction of the node `hex` (found dead); returns how many were held. */
  breakLocksOf(hex: string): number {
    const prefix = `${hex}:`
    const keys = new Set<string>()
    if (this.#allLock?.startsWith(prefix)) keys.add(this.#allLock)
    for (const holder of this.#levelLocks.values()) if (holder.startsWith(prefix)) keys.add(holder)
    for (const key of keys) {
      this.tombstone(key)
      this.release(key)
    }
    return keys.size
  }

  /** Refuses every waiting request now and forgets the leases (the node stops). */
  stop(): void {
    for (const w of this.#waiters.splice(0)) w.refuse()
    for (const lease of this.#leases.values()) clearTimeout(lease.timer)
    this.#leases.clear()
  }

  /**
   * Starts or renews the lease of `key`'s locks: they lapse `leaseMs` from now, and `maxHoldMs` after the
   * first grant at the latest. A lapsed key is tombstoned (its apply and its renewals are refused).
   */
  #lease(key: string): void {
    const { leaseMs, maxHoldMs } = this.#init
    const now = Date.now()
    const held = this.#leases.get(key)
    if (held !== undefined) clearTimeout(held.timer)
    const since = held?.since ?? now
    const lease: Lease = {
      since,
      timer: setTimeout(() => this.#lapse(key), Math.max(0, Math.min(leaseMs, since + maxHoldMs - now))),
    }
    this.#leases.set(key, lease)
  }

  #lapse(key: string): void {
    this.#leases.delete(key)
    if (this.#allLock !== key && ![...this.#levelLocks.values()].includes(key)) return
    this.#init.onLapse()
    this.tombstone(key)
    this.release(key)
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

  /** Grants, first come first served, every waiting request whose levels are now free. */
  #wakeWaiters(): void {
    for (let i = 0; i < this.#waiters.length; ) {
      if (this.#waiters[i]!.grant()) this.#waiters.splice(i, 1)
      else i++
    }
  }
}
