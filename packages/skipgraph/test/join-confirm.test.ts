import { type Identifier, MembershipVector } from '@skipmesh/core'
import { deferred } from '@skipmesh/core/internal'
import { describe, expect, it } from 'vitest'
import { Kind, type WireMessage } from '../src/wire.js'
import { Cluster } from './helpers.js'
import { grantedReply, HostilePeer } from './hostile.js'

describe('a join whose write at a neighbour was not confirmed', () => {
  it('links no higher until that neighbour points back at it (a creator of the level above could miss it)', async () => {
    const c = new Cluster(41, {}, { requestTimeoutMs: 500 })
    // the scripted neighbour P and a joiner J right of it whose vectors differ in bit 0: J creates level 1
    const p = c.randomId()
    let j = c.randomId()
    const pmv = MembershipVector.fromIdentifier(p)
    while (j.compare(p) <= 0 || MembershipVector.fromIdentifier(j).bit(0) === pmv.bit(0)) j = c.randomId()

    // P's level-0 pointers (P is alone above level 0)
    const level0 = { left: null as Identifier | null, right: null as Identifier | null }
    let writesRefused = true
    let gateOpen = false
    let readsAfterRefusal = 0
    const threeReads = deferred<void>()
    const reply = (levels: readonly number[]) => grantedReply(pmv, [level0], levels)
    const peer = await HostilePeer.create(c.hub, p, (_origin, msg): WireMessage | undefined => {
      switch (msg.kind) {
        case Kind.Search:
          // the join's search through P ends at P
          return { kind: Kind.SearchResult, nonce: msg.hop, found: false, hops: msg.hops }
        case Kind.Lock:
          return reply(msg.levels)
        case Kind.Read:
          if (!writesRefused && ++readsAfterRefusal >= 3) threeReads.resolve()
          return reply(msg.levels)
        case Kind.Apply:
          // the first writes are refused, as when the lease at P lapsed before they arrived
          if (writesRefused) {
            writesRefused = false
            return { kind: Kind.ApplyAck, ok: false }
          }
          if (!gateOpen) return { kind: Kind.ApplyAck, ok: false }
          for (const w of msg.writes) if (w.level === 0) level0[w.side] = w.entry?.id ?? null
          return { kind: Kind.ApplyAck, ok: true }
        default:
          return undefined
      }
    })

    const joiner = await c.add({}, j)
    const join = joiner.node.join(p, { signal: AbortSignal.timeout(30_000) })
    const first = await Promise.race([
      join.then(() => 'joined' as const),
      threeReads.promise.then(() => 'waiting' as const),
    ])
    // linked at level 0 on its own side, P not pointing back: the join waits (and asks the repair to relink)
    expect(first).toBe('waiting')
    expect(joiner.node.status).toBe('joining')
    expect(joiner.node.lookupTable().levels[0]?.left?.id.equals(p)).toBe(true)
    expect(level0.right).toBeNull()

    gateOpen = true
    await join
    // it went on only once P pointed back at it, and it is alone above level 0
    expect(level0.right?.equals(j)).toBe(true)
    expect(joiner.node.status).toBe('joined')
    expect(
      joiner.node
        .lookupTable()
        .levels.slice(1)
        .every((l) => l.left === null && l.right === null),
    ).toBe(true)
    await c.stopAll()
    await peer.stop()
  })
})
