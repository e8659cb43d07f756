/**
 * Membership vectors nobody can choose (issue 13, attack 4): whether the entries a node learns carry the
 * membership vector derived from their identifier (`MembershipVector.fromIdentifier`), so that no node can claim
 * a vector that makes it a victim's neighbour at every level. Refusals are counted in `entriesRefused`.
 *
 * @module
 */
import { type Identifier, MembershipVector } from '@skipmesh/core'
import type { SkipGraphMetrics } from './contract.js'
import type { ApplyWrite, LockReplyMsg, WireNeighbor } from './wire.js'

/** Identifiers whose derived vector is remembered (a hash costs microseconds; walks read the same nodes often). */
const CACHE_SIZE = 4096

export class MvCheck {
  readonly #enabled: boolean
  readonly #metrics: SkipGraphMetrics
  /** Derived vectors by identifier hex, oldest first. */
  readonly #derived = new Map<string, MembershipVector>()

  /** @param enabled false: every vector is accepted as claimed (the `verifyMembershipVectors: false` option). */
  constructor(enabled: boolean, metrics: SkipGraphMetrics) {
    this.#enabled = enabled
    this.#metrics = metrics
  }

  /** Whether `mv` is the vector derived from `id` (always true when checks are off). */
  isDerived(id: Identifier, mv: MembershipVector): boolean {
    if (!this.#enabled) return true
    const hex = id.toHex()
    let derived = this.#derived.get(hex)
    if (derived === undefined) {
      derived = MembershipVector.fromIdentifier(id)
      if (this.#derived.size >= CACHE_SIZE) this.#derived.delete(this.#derived.keys().next().value!)
      this.#derived.set(hex, derived)
    }
    return derived.equals(mv)
  }

  /**
   * Whether a lock or read reply from `from` may be used: its own vector and every neighbour it names are
   * derived. Counts a refusal.
   */
  reply(from: Identifier, msg: LockReplyMsg): boolean {
    const ok =
      this.isDerived(from, msg.mv) && msg.levels.every((s) => this.#entry(s.left) && this.#entry(s.right))
    if (!ok) this.#metrics.entriesRefused++
    return ok
  }

  /** Whether every entry an apply writes is derived. Counts a refusal. */
  writes(writes: readonly ApplyWrite[]): boolean {
    const ok = writes.every((w) => this.#entry(w.entry))
    if (!ok) this.#metrics.entriesRefused++
    return ok
  }

  #entry(entry: WireNeighbor | null): boolean {
    return entry === null || this.isDerived(entry.id, entry.mv)
  }
}
