import { MembershipVector } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { Kind, type WireMessage } from '../src/wire.js'
import { Cluster } from './helpers.js'
import { grantedReply, HostilePeer, type ScriptedPointers } from './hostile.js'

describe('a join past a pointer at itself', () => {
  // A node that left its lists without unlinking (a stranded node moving graphs clears its table) can find, when it
  // joins again, a neighbour that still points at it. Before the fix the join locked itself (not linked there) as
  // the node "between", or took the pointer for a node linked left of the head, on every attempt.
  for (const side of ['left', 'right'] as const) {
    it(`links at a level where its ${side} neighbour still points at it`, async () => {
      const c = new Cluster(43, {}, { requestTimeoutMs: 500 })
      // the scripted neighbour P and the joiner J: their vectors share bit 0 (both in one level-1 list), differ in
      // bit 1 (J is alone at level 2)
      const p = c.randomId()
      const pmv = MembershipVector.fromIdentifier(p)
      let j = c.randomId()
      for (;;) {
        const jmv = MembershipVector.fromIdentifier(j)
        const order = side === 'left' ? j.compare(p) > 0 : j.compare(p) < 0
        if (order && jmv.bit(0) === pmv.bit(0) && jmv.bit(1) !== pmv.bit(1)) break
        j = c.randomId()
      }
      // P points at J at level 1 already (stale), across the side where J lies
      const across = side === 'left' ? 'right' : 'left'
      const pointers: ScriptedPointers = [
        { left: null, right: null },
        { left: null, right: null },
      ]
      pointers[1]![across] = j
      const reply = (levels: readonly number[]) => grantedReply(pmv, pointers, levels)
      const peer = await HostilePeer.create(c.hub, p, (_origin, msg): WireMessage | undefined => {
        switch (msg.kind) {
          case Kind.Search:
            return { kind: Kind.SearchResult, nonce: msg.hop, found: false, hops: msg.hops }
          case Kind.Lock:
          case Kind.Read:
            return reply(msg.levels)
          case Kind.Apply:
            for (const w of msg.writes) if (w.level <= 1) pointers[w.level]![w.side] = w.entry?.id ?? null
            return { kind: Kind.ApplyAck, ok: true }
          default:
            return undefined
        }
      })

      const joiner = await c.add({}, j)
      await joiner.node.join(p, { signal: AbortSignal.timeout(30_000) })
      expect(joiner.node.status).toBe('joined')
      const levels = joiner.node.lookupTable().levels
      for (const level of [0, 1]) {
        expect(levels[level]?.[side]?.id.equals(p)).toBe(true)
        expect(levels[level]?.[across]).toBeNull()
        expect(pointers[level]![across]?.equals(j)).toBe(true)
      }
      expect(levels.slice(2).every((l) => l.left === null && l.right === null)).toBe(true)
      await c.stopAll()
      await peer.stop()
    }, 60_000)
  }
})
