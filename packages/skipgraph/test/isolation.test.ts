import type { Identifier } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import type { SkipGraphNode } from '../src/index.js'
import { searchOracle } from '../src/testing/index.js'
import { Cluster, sortedIds } from './helpers.js'
import { buildGraph, oneGraph } from './settle.js'

/** Every node searches `perNode` random members of `nodes`: returns the searches that did not equal the oracle. */
async function inexact(c: Cluster, nodes: readonly SkipGraphNode[], perNode: number): Promise<string[]> {
  const ids = sortedIds(nodes)
  const wrong: string[] = []
  await Promise.all(
    nodes.map(async (n) => {
      for (let i = 0; i < perNode; i++) {
        const target = c.pick(ids)
        const got = await n.searchById(target)
        const want = searchOracle(ids, n.identity.id, target)
        if (!got.result.equals(want.result) || got.found !== want.found)
          wrong.push(`${n.identity.id.toHex().slice(0, 8)} → ${target.toHex().slice(0, 8)}`)
      }
    }),
  )
  return wrong
}

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
      expect(await inexact(c, live, 4)).toEqual([])
      console.log(
        `isolation (seed ${seed}): ${crashed.length} neighbours crashed; the node: merges ${lonely.node.metrics().merges}, rejoins ${lonely.node.metrics().rejoins}, repairs ${lonely.node.metrics().repairs}`,
      )
      await c.stopAll()
    }, 120_000)
  }
})
