import { createNetwork, Identifier, MembershipVector } from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import { describe, expect, it } from 'vitest'
import { InvalidIdentityError, createSkipGraphNode, type SkipGraphNode } from '../src/index.js'
import { Kind, type LockReplyMsg, MAX_LOCK_LEVELS, type WireMessage } from '../src/wire.js'
import { Cluster } from './helpers.js'
import { beside, HostilePeer } from './hostile.js'
import { buildGraph } from './settle.js'

/**
 * Issue 13, attack 4: a hostile peer that claims the victim's own membership vector shares every prefix with it,
 * so table writes naming it are consistent at every level: it locks all of the victim's levels and writes itself
 * in as the victim's right neighbour at each. Resolves with the apply's acknowledgement.
 */
async function eclipse(
  victim: SkipGraphNode,
  hostile: HostilePeer,
): Promise<{ readonly ack: WireMessage | undefined; readonly txn: string }> {
  const txn = randomNonce()
  const levels = Array.from({ length: MAX_LOCK_LEVELS }, (_, i) => i)
  expect(await hostile.request(victim.identity.id, { kind: Kind.Lock, txn, levels })).toMatchObject({
    granted: true,
  })
  const height = victim.lookupTable().levels.length
  const entry = { id: hostile.id, mv: victim.identity.mv }
  const ack = await hostile.request(victim.identity.id, {
    kind: Kind.Apply,
    txn,
    writes: Array.from({ length: height }, (_, level) => ({ level, side: 'right' as const, entry })),
  })
  return { ack, txn }
}

/** How many of `node`'s levels have `id` as a neighbour. */
function levelsNaming(node: SkipGraphNode, id: Identifier): number {
  return node
    .lookupTable()
    .levels.filter((l) => l.left?.id.equals(id) === true || l.right?.id.equals(id) === true).length
}

describe('membership vectors nobody can choose (issue 13, attack 4)', () => {
  it('is the SHA-256 of "skipmesh/mv/1" and the identifier, and a node’s default identity uses it', () => {
    expect(MembershipVector.fromIdentifier(Identifier.fromHex('01')).toHex()).toBe(
      'b40ca4ad744b914f0bca7675871c16fac262d29911fc99c73504ace8f878725b',
    )
    const c = new Cluster(40)
    const network = createNetwork({ connectionManager: c.hub.connectionManager(c.randomId()) })
    const node = createSkipGraphNode({ network })
    expect(node.identity.mv.equals(MembershipVector.fromIdentifier(network.localId))).toBe(true)
  })

  it('a node whose own vector is not derived from its identifier is refused, unless the check is off', () => {
    const c = new Cluster(41)
    const id = c.randomId()
    const network = createNetwork({ connectionManager: c.hub.connectionManager(id) })
    expect(() => createSkipGraphNode({ network, identity: { id, mv: c.randomMv() } })).toThrow(
      InvalidIdentityError,
    )
    const node = createSkipGraphNode({
      network,
      identity: { id, mv: c.randomMv() },
      verifyMembershipVectors: false,
    })
    expect(node.identity.id.equals(id)).toBe(true)
  })

  it('without the check, a peer claiming the victim’s vector becomes its right neighbour at every level (the eclipse)', async () => {
    const c = new Cluster(42, {}, { verifyMembershipVectors: false })
    await buildGraph(c, 16)
    const victim = c.members[5]!.node
    const hostile = await HostilePeer.create(c.hub, beside(victim.identity.id, 1), () => undefined)
    const height = victim.lookupTable().levels.length
    try {
      expect((await eclipse(victim, hostile)).ack).toMatchObject({ kind: Kind.ApplyAck, ok: true })
      // every level the victim had (up to its top one, where it was alone) names the hostile
      expect(levelsNaming(victim, hostile.id)).toBe(height)
      expect(height).toBeGreaterThanOrEqual(3)
    } finally {
      await hostile.stop()
      await c.stopAll()
    }
  })

  it('with it, the eclipse’s writes are refused and counted, the table is unchanged, and honest peers are served', async () => {
    const c = new Cluster(42)
    await buildGraph(c, 16)
    const victim = c.members[5]!.node
    const before = JSON.stringify(victim.lookupTable())
    const hostile = await HostilePeer.create(c.hub, beside(victim.identity.id, 1), () => undefined)
    try {
      const { ack, txn } = await eclipse(victim, hostile)
      expect(ack).toMatchObject({ kind: Kind.ApplyAck, ok: false })
      expect(victim.metrics()).toMatchObject({ entriesRefused: 1, rejectedApplies: 1 })
      expect(levelsNaming(victim, hostile.id)).toBe(0)
      expect(JSON.stringify(victim.lookupTable())).toBe(before)
      // a refused apply does not release the locks it came under (their lease does): the hostile lets them go
      await hostile.send(victim.identity.id, { kind: Kind.Release, txn })
      for (const m of c.members) {
        expect((await m.node.searchById(victim.identity.id)).found).toBe(true)
        expect((await victim.searchById(m.node.identity.id)).found).toBe(true)
      }
      const honest = await c.add()
      await honest.node.join(victim.identity.id, { signal: AbortSignal.timeout(30_000) })
      expect(honest.node.status).toBe('joined')
    } finally {
      await hostile.stop()
      await c.stopAll()
    }
  }, 60_000)

  it('a contact whose read replies claim a chosen vector is dropped and counted at every check, and never merged with', async () => {
    const c = new Cluster(43)
    await buildGraph(c, 8)
    const hostileId = c.randomId()
    const victim = (await c.add({ contacts: () => [hostileId], mergeCheckMs: 20 })).node
    let reads = 0
    let readTen: () => void = () => {}
    const tenReads = new Promise<void>((resolve) => {
      readTen = resolve
    })
    const hostile = await HostilePeer.create(c.hub, hostileId, (_origin, msg): LockReplyMsg | undefined => {
      if (msg.kind !== Kind.Read) return undefined
      if (++reads === 10) readTen()
      // linked alone in a graph of its own, with the victim's vector: it shares every level with the victim
      return {
        kind: Kind.LockReply,
        granted: true,
        reason: 0,
        mv: victim.identity.mv,
        levels: msg.levels.map((level) => ({ level, linked: true, left: null, right: null })),
      }
    })
    try {
      await victim.join(c.members[0]!.node.identity.id)
      await tenReads
      const m = victim.metrics()
      expect(m.entriesRefused).toBeGreaterThanOrEqual(10 - 1)
      expect(m).toMatchObject({ graphsDetected: 0, merges: 0 })
      expect(victim.status).toBe('joined')
      expect(victim.merging).toBe(false)
      for (const other of c.members)
        expect((await victim.searchById(other.node.identity.id)).found).toBe(true)
    } finally {
      await hostile.stop()
      await c.stopAll()
    }
  }, 60_000)
})
