import type { Identifier } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { inexactSearches } from './exact.js'
import { Cluster } from './helpers.js'
import { buildGraph, oneGraph } from './settle.js'

describe.concurrent('isolation', () => {
  for (const seed of [9, 10, 11, 12, 13]) {
    it(`a node whose neighbours all crashed ends in the graph, through the contacts it can still reach (seed ${seed})`, async () => {
      let ids: Identifier[] = []
      const c = new Cluster(seed, {}, { probeIntervalMs: 300, mergeCheckMs: 300, contacts: () => ids })
      await buildGraph(c, 32)
      ids = c.members.map((m) => m.node.identity.id)
      const lonely = c.members[5]!
      const neighbours = new Set(
        lonely.node
          .lookupTable()
          .levels.flatMap((l) => [l.left?.id.toHex(), l.right?.id.toHex()])
          .filter((x) => x !== undefined),
      )
      const crashed = c.members.filter((m) => neighbours.has(m.node.identity.id.toHex()))
      expect(crashed.length).toBeGreaterThan(0)
      await Promise.all(crashed.map((m) => m.network.stop()))
      const live = c.members.filter((m) => !crashed.includes(m)).map((m) => m.node)
      await oneGraph(live, AbortSignal.timeout(60_000))
      expect(lonely.node.status).toBe('joined')
      expect(
        lonely.node.lookupTable().levels[0]?.right ?? lonely.node.lookupTable().levels[0]?.left,
      ).toBeTruthy()
      expect(await inexactSearches(c, live, 4)).toEqual([])
      console.log(
        `isolation (seed ${seed}): ${crashed.length} neighbours crashed; the node: merges ${lonely.node.metrics().merges}, rejoins ${lonely.node.metrics().rejoins}, repairs ${lonely.node.metrics().repairs}`,
      )
      await c.stopAll()
    }, 120_000)
  }
})
