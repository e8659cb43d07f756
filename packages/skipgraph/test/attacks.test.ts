import { createNetwork, type Identifier, MembershipVector } from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import { describe, expect, it } from 'vitest'
import { createSkipGraphNode, JoinFailedError, type SkipGraphNode } from '../src/index.js'
import {
  Kind,
  type LockMsg,
  type LockReplyMsg,
  MAX_LOCK_LEVELS,
  type WireMessage,
  type WireNeighbor,
} from '../src/wire.js'
import { Cluster } from './helpers.js'
import { beside, entryOf, HostilePeer } from './hostile.js'
import { buildGraph } from './settle.js'

/** A started node with the identifier `id` on the cluster's hub (not joined). */
async function nodeWithId(c: Cluster, id: Identifier, lockLeaseMs: number): Promise<SkipGraphNode> {
  const network = createNetwork({ connectionManager: c.hub.connectionManager(id) })
  network.start()
  await network.ready()
  const node = createSkipGraphNode({
    network,
    identity: { id, mv: c.mvOf(id) },
    probeIntervalMs: 0,
    lockLeaseMs,
  })
  node.start()
  await node.ready()
  c.members.push({ node, network })
  return node
}

/** A read reply of a node with the vector `mv` linked at level 0 only, with `left` as its left neighbour there. */
function linkedAtZeroOnly(
  msg: WireMessage,
  mv: MembershipVector,
  left: WireNeighbor | null,
): LockReplyMsg | undefined {
  if (msg.kind !== Kind.Read && msg.kind !== Kind.Lock) return undefined
  return {
    kind: Kind.LockReply,
    granted: true,
    reason: 0,
    mv,
    levels: msg.levels.map((level) => ({
      level,
      linked: level === 0,
      left: level === 0 ? left : null,
      right: null,
    })),
  }
}

describe('hostile peers', () => {
  it('a peer that takes every level of a node’s locks, renews them and answers probes blocks a join next to that node for six leases at most; the lapse is counted', async () => {
    const LEASE = 300
    const c = new Cluster(31, {}, { lockLeaseMs: LEASE })
    await buildGraph(c, 8)
    const victim = c.members[3]!.node
    const hostileId = c.randomId()
    const hostile = await HostilePeer.create(c.hub, hostileId, (_origin, msg) =>
      linkedAtZeroOnly(msg, MembershipVector.fromIdentifier(hostileId), null),
    )
    const lock: LockMsg = {
      kind: Kind.Lock,
      txn: randomNonce(),
      levels: Array.from({ length: MAX_LOCK_LEVELS }, (_, i) => i),
    }
    expect(await hostile.request(victim.identity.id, lock)).toMatchObject({
      kind: Kind.LockReply,
      granted: true,
    })
    // it asks again and again (a renewal) and never releases
    const renewals: boolean[] = []
    const renew = setInterval(() => {
      hostile
        .request(victim.identity.id, lock)
        .then((r) => renewals.push(r?.kind === Kind.LockReply && r.granted))
        .catch(() => {})
    }, LEASE / 3)
    try {
      // the victim keeps answering searches meanwhile
      const searcher = c.members[6]!.node
      expect((await searcher.searchById(victim.identity.id)).found).toBe(true)
      // an honest node joins right next to the victim, so it must lock the victim's level 0
      const joiner = await nodeWithId(c, beside(victim.identity.id, 1), LEASE)
      const t0 = Date.now()
      await joiner.join(c.members[0]!.node.identity.id, { signal: AbortSignal.timeout(20_000) })
      expect(Date.now() - t0).toBeLessThan(15_000)
      expect(joiner.lookupTable().levels[0]!.left?.id.equals(victim.identity.id)).toBe(true)
      expect(victim.metrics().locksLapsed).toBeGreaterThanOrEqual(1)
      // once lapsed, the hostile's renewals are refused and so is a table write under the lapsed lock
      expect(renewals.some((granted) => granted)).toBe(true)
      expect(await hostile.request(victim.identity.id, lock)).toMatchObject({ granted: false })
      const write = await hostile.request(victim.identity.id, {
        kind: Kind.Apply,
        txn: lock.txn,
        writes: [{ level: 0, side: 'right', entry: entryOf(beside(victim.identity.id, 1)) }],
      })
      expect(write).toMatchObject({ kind: Kind.ApplyAck, ok: false })
      expect(victim.metrics().rejectedApplies).toBeGreaterThanOrEqual(1)
    } finally {
      clearInterval(renew)
      await hostile.stop()
      await c.stopAll()
    }
  }, 60_000)

  for (const shape of ['cycle', 'chain'] as const) {
    it(`a joining node walked into a ${shape} of hostile nodes stops after a bounded number of reads, counts it and fails typed, and keeps serving honest peers`, async () => {
      // a walk budget of 64 steps (default 1024), so that a chain of 100 hostile nodes runs past it
      // vectors as the hostile nodes choose them (one shared by all): the check of derived vectors is off here,
      // this test is about walks that never end, whatever the vectors
      const c = new Cluster(
        shape === 'cycle' ? 32 : 33,
        {},
        { maxWalkSteps: 64, verifyMembershipVectors: false },
      )
      await buildGraph(c, 8)
      const victim = (await c.add()).node
      // link the victim at level 0 only: its join is aborted once its level-0 entries are set
      const aborting = new AbortController()
      const off = victim.on('neighbor:change', (ch) => {
        if (ch.level === 0) aborting.abort()
      })
      await expect(victim.join(c.members[0]!.node.identity.id, { signal: aborting.signal })).rejects.toThrow()
      off()
      expect(victim.status).toBe('incomplete')
      const pred = victim.lookupTable().levels[0]!.left!.id

      // hostile nodes: the first sits right left of the victim, each points left to the next one
      const count = shape === 'cycle' ? 2 : 100
      const ids = Array.from({ length: count }, (_, k) =>
        k === 0 ? beside(victim.identity.id, -1) : c.randomId(),
      )
      const mv = c.randomMv()
      const peers = await Promise.all(
        ids.map((id, k) => {
          const next = shape === 'cycle' ? ids[(k + 1) % count]! : (ids[k + 1] ?? null)
          return HostilePeer.create(c.hub, id, (_origin, msg) =>
            linkedAtZeroOnly(msg, mv, next === null ? null : { id: next, mv }),
          )
        }),
      )
      try {
        // the first links itself in at level 0 between the victim's predecessor and the victim
        const txn = randomNonce()
        const first = peers[0]!
        for (const target of [pred, victim.identity.id]) {
          expect(await first.request(target, { kind: Kind.Lock, txn, levels: [0] })).toMatchObject({
            granted: true,
          })
        }
        const me = { id: first.id, mv }
        expect(
          await first.request(pred, {
            kind: Kind.Apply,
            txn,
            writes: [{ level: 0, side: 'right', entry: me }],
          }),
        ).toMatchObject({ ok: true })
        expect(
          await first.request(victim.identity.id, {
            kind: Kind.Apply,
            txn,
            writes: [{ level: 0, side: 'left', entry: me }],
          }),
        ).toMatchObject({ ok: true })

        // resuming, the victim walks its level-0 list to the left, into the hostile nodes
        const readsBefore = victim.metrics().sentByKind.Read
        await expect(victim.join(undefined, { signal: AbortSignal.timeout(20_000) })).rejects.toBeInstanceOf(
          JoinFailedError,
        )
        const reads = victim.metrics().sentByKind.Read - readsBefore
        // at most 5 walks of the budget of a node that knows one level (64 steps), plus the reads around them
        expect(reads).toBeLessThanOrEqual(5 * 65 + 10)
        expect(victim.metrics().walksCut).toBeGreaterThanOrEqual(1)

        // the victim still serves honest peers: a node right of it finds it, and a new node joins the graph
        const rightOfVictim = c.members.find(
          (m) => m.node.identity.id.compare(victim.identity.id) > 0 && m.node.status === 'joined',
        )
        if (rightOfVictim !== undefined) {
          expect((await rightOfVictim.node.searchById(victim.identity.id)).found).toBe(true)
        }
        const honest = await c.add()
        await honest.node.join(c.members[1]!.node.identity.id)
        expect(honest.node.status).toBe('joined')
      } finally {
        await Promise.all(peers.map((p) => p.stop()))
        await c.stopAll()
      }
    }, 60_000)
  }
})
