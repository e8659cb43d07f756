/**
 * The repair's walk along the lists below a level: finds the nearest node on one side that is in our list at
 * that level, as the join's walk does, but routes around dead pointers. The join walks the level i−1 list, whose
 * pointers at other nodes may still name nodes that are gone (after a partition, until those nodes relink their own
 * lower levels); a repair that waited for all of them would wait on a chain of other repairs. Every list below
 * level i holds our level-i list in order, so where a node's pointer at level i−1 leads to a dead node the walk goes
 * on from that node along the highest lower level whose pointer does not.
 *
 * @module
 */
import type { Identifier, MembershipVector } from '@skipmesh/core'
import type { Side } from './lookup-table.js'
import { sharesPrefix } from './lookup-table.js'
import { isDeadSignal } from './messaging.js'
import type { NodeState } from './state.js'
import { Conflict, type Transactions, type Txn, type WalkGuard } from './transactions.js'
import type { LockReplyMsg } from './wire.js'

export interface RepairWalkInit {
  readonly state: NodeState
  readonly txns: Transactions
  /** Whether a send found `hex` unreachable. */
  readonly isDead: (hex: string) => boolean
  /** A guard for one walk (the linker's). */
  readonly walkGuard: () => WalkGuard
}

/**
 * The nearest node on `side` of us that shares `level` bits with us and is linked at `level` (null when the lists
 * below end first), walking the lists below `level` (unlocked: a hint). Starts on our own level `level − 1`
 * pointer; at each node it takes the highest level below `level` at which the node is in our list and whose
 * pointer is not known dead; a pointer that turns out dead (the read fails), or names a node not linked at its
 * level, is replaced by the next lower one.
 * @throws {Conflict} when the walk reaches a node not linked at the level it came along.
 * @throws the dead signal of the last pointer tried when every pointer onward from a node is dead.
 */
export async function walkBelow(
  init: RepairWalkInit,
  txn: Txn,
  level: number,
  side: Side,
): Promise<Identifier | null> {
  const me = init.state.identity
  const levels = Array.from({ length: level + 1 }, (_, l) => l)
  const guard = init.walkGuard()
  // the pointers onward of the node the walk is at, by level below `level` (null: its list there ends;
  // undefined: it is not in our list there)
  let onward: Array<Identifier | null | undefined> = levels
    .slice(0, level)
    .map((l) => (l <= init.state.table.topLevel ? (init.state.table.get(l, side)?.id ?? null) : null))
  for (;;) {
    let st: LockReplyMsg | undefined
    let cur: Identifier | null = null
    let via = -1
    // the nodes read from here (several pointers may name one node)
    const read = new Map<string, LockReplyMsg>()
    for (let l = level - 1; l >= 0 && st === undefined; l--) {
      const next = onward[l]
      if (next === undefined) continue
      // the end of our list at level l: nothing in our lists at l and above lies beyond
      if (next === null) return null
      const hex = next.toHex()
      if (init.isDead(hex) && l > 0) continue
      let got = read.get(hex)
      if (got === undefined) {
        guard.step(next)
        try {
          got = await init.txns.read(txn, next, levels)
        } catch (err) {
          if (!isDeadSignal(err) || l === 0) throw err
          continue
        }
        read.set(hex, got)
      }
      // a stale pointer (its node left the list at l without unlinking, as a stranded node moving graphs does):
      // the next lower one
      if (!got.levels[l]!.linked && l > 0) continue
      st = got
      cur = next
      via = l
    }
    if (st === undefined || cur === null) throw new Conflict('every pointer onward is dead')
    if (!st.levels[via]!.linked) throw new Conflict('walked onto an unlinked node')
    if (st.levels[level]!.linked && sharesPrefix(st.mv, me.mv, level)) return cur
    onward = pointersOnward(st, st.mv, me.mv, level, side, cur)
  }
}

/**
 * The pointers on `side` of the node `at` (read as `st`) at the levels below `level`: null where its list ends,
 * undefined where it is not in our list (or its pointer does not lead onward).
 */
function pointersOnward(
  st: LockReplyMsg,
  mv: MembershipVector,
  ours: MembershipVector,
  level: number,
  side: Side,
  at: Identifier,
): Array<Identifier | null | undefined> {
  const out: Array<Identifier | null | undefined> = []
  for (let l = 0; l < level; l++) {
    const s = st.levels[l]!
    const p = side === 'left' ? s.left : s.right
    if (!s.linked || !sharesPrefix(mv, ours, l)) out.push(undefined)
    else if (p === null) out.push(null)
    else out.push((side === 'left' ? p.id.compare(at) < 0 : p.id.compare(at) > 0) ? p.id : undefined)
  }
  return out
}
