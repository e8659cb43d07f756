import { describe, expect, it } from 'vitest'
import { checkSkipGraph, searchOracle } from '../src/testing/index.js'
import { absentId, Cluster, sortedIds } from './helpers.js'

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1)

describe.concurrent('concurrent joins', () => {
  for (const seed of SEEDS) {
    it(`256 nodes joining at once through random introducers end in a correct skip graph (seed ${seed})`, async () => {
      const c = new Cluster(
        seed,
        { latency: { min: 0, max: 1 } },
        { requestTimeoutMs: 30_000, searchTimeoutMs: 30_000 },
      )
      const first = await c.add()
      await first.node.join()
      for (let i = 1; i < 16; i++) {
        const m = await c.add()
        await m.node.join(first.node.identity.id)
      }
      const introducers = c.members.map((m) => m.node.identity.id)
      const joiners = []
      for (let i = 0; i < 256; i++) joiners.push(await c.add())
      await Promise.all(joiners.map((m) => m.node.join(c.pick(introducers))))

      const nodes = c.members.map((m) => m.node)
      expect(nodes.every((n) => n.status === 'joined')).toBe(true)
      expect(checkSkipGraph(nodes).map((v) => v.message)).toEqual([])

      const ids = sortedIds(nodes)
      const present = new Set(ids.map((id) => id.toHex()))
      const outcomes = await Promise.all(
        nodes.map(async (n, i) => {
          const target = i % 2 === 0 ? c.pick(ids) : absentId(c.random, present)
          const got = await n.searchById(target)
          const want = searchOracle(ids, n.identity.id, target)
          return got.result.equals(want.result) && got.found === want.found
        }),
      )
      expect(outcomes.filter((ok) => !ok)).toEqual([])
      await c.stopAll()
    }, 120_000)
  }
})
