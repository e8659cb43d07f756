/**
 * The receiver side of the transaction protocol: answers other nodes' lock, read and apply requests and takes
 * their releases. Table writes are accepted only from the transaction holding the level's lock, and only when
 * consistent (the entry on the right side, sharing the level's prefix, its membership vector derived from its
 * identifier); others are refused and counted.
 *
 * @module
 */
import type { Identifier } from '@skipmesh/core'
import type { SkipGraphMetrics } from './contract.js'
import type { Liveness } from './liveness.js'
import type { LockTable } from './locks.js'
import type { MvCheck } from './mv-check.js'
import { sharesPrefix } from './lookup-table.js'
import type { NodeState } from './state.js'
import {
  type ApplyAckMsg,
  type ApplyMsg,
  DenyReason,
  Kind,
  type LockMsg,
  type LockReplyMsg,
  type ReadMsg,
  type ReleaseMsg,
} from './wire.js'

export interface ResponderInit {
  readonly state: NodeState
  readonly locks: LockTable
  readonly liveness: Liveness
  readonly metrics: SkipGraphMetrics
  /** Checks that every entry written carries the membership vector derived from its identifier. */
  readonly mvCheck: MvCheck
  /** Starts a repair round (an applied entry names a node known dead). */
  readonly scheduleRepair: () => void
}

/** The lock key of `origin`'s transaction `txn`. */
function keyOf(origin: Identifier, txn: string): string {
  return `${origin.toHex()}:${txn}`
}

export class Responder {
  readonly #init: ResponderInit

  constructor(init: ResponderInit) {
    this.#init = init
  }

  /** Grants (possibly after waiting, see {@link LockTable.acquire}) or refuses a lock; reports the levels. */
  async lock(origin: Identifier, msg: LockMsg): Promise<LockReplyMsg> {
    const { locks, liveness } = this.#init
    const reason = await locks.acquire(keyOf(origin, msg.txn), msg.levels, (holders) => {
      for (const holder of holders) liveness.checkHolder(holder)
    })
    return this.#reply(reason, msg.levels)
  }

  /** Reports the levels without locking them; a probe's view of us (`msg.view`) goes to the liveness checks. */
  read(origin: Identifier, msg: ReadMsg): LockReplyMsg {
    const { state } = this.#init
    if (msg.view !== undefined) this.#init.liveness.probedBy(origin, msg.view)
    const reason = state.status === 'left' ? DenyReason.Gone : state.height < 0 ? DenyReason.NotLinked : 0
    return this.#reply(reason, msg.levels)
  }

  /** Applies the writes of the transaction holding their levels' locks (which releases them), or refuses. */
  apply(origin: Identifier, msg: ApplyMsg): ApplyAckMsg {
    const { state, locks, liveness, metrics } = this.#init
    const key = keyOf(origin, msg.txn)
    const me = state.identity
    const ok =
      this.#init.mvCheck.writes(msg.writes) &&
      msg.writes.every((w) => {
        if (!locks.holds(key, w.level)) return false
        if (w.entry === null) return true
        const order = w.entry.id.compare(me.id)
        return (w.side === 'left' ? order < 0 : order > 0) && sharesPrefix(w.entry.mv, me.mv, w.level)
      })
    if (ok) {
      for (const w of msg.writes) {
        const dead = w.entry !== null && liveness.isDead(w.entry.id.toHex())
        state.setEntry(
          w.level,
          w.side,
          w.entry === null ? null : { id: w.entry.id, mv: w.entry.mv, alive: !dead },
        )
        if (dead) this.#init.scheduleRepair()
      }
      locks.release(key)
      locks.tombstone(key)
    } else {
      metrics.rejectedApplies++
    }
    return { kind: Kind.ApplyAck, ok }
  }

  /** Refuses the lock requests waiting here (the node stops). */
  stop(): void {
    this.#init.locks.stop()
  }

  /** Releases what `origin`'s transaction holds here (and refuses its later lock requests). */
  release(origin: Identifier, msg: ReleaseMsg): void {
    this.#init.locks.releaseForGood(keyOf(origin, msg.txn))
  }

  #reply(reason: number, levels: readonly number[]): LockReplyMsg {
    const { state } = this.#init
    const granted = reason === 0
    return {
      kind: Kind.LockReply,
      granted,
      reason,
      mv: state.identity.mv,
      levels: granted ? state.levelStates(levels) : [],
    }
  }
}
