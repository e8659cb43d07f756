import { describe, expect, it } from 'vitest'
import { checkSkipGraph, searchOracle } from '../src/testing/index.js'
import { absentId, Cluster, sortedIds } from './helpers.js'

describe('sequential joins of 1,024 nodes', () => {
  it('builds a correct skip graph in which every search equals the oracle', async () => {
    const c = new Cluster(42)
    const first = await c.add()
    await first.node.join()
    for (let i = 1; i < 1024; i++) {
      const m = await c.add()
      await m.node.join(c.pick(c.members.slice(0, i)).node.identity.id)
    }
    const nodes = c.members.map((m) => m.node)
    expect(nodes.every((n) => n.status === 'joined')).toBe(true)
    expect(checkSkipGraph(nodes).map((v) => v.message)).toEqual([])

    const ids = sortedIds(nodes)
    const present = new Set(ids.map((id) => id.toHex()))
    let searches = 0
    let mismatches = 0
    let foundPresent = 0
    const maxHops = Math.ceil(6 * Math.log2(1024))
    await Promise.all(
      nodes.map(async (n) => {
        for (let k = 0; k < 40; k++) {
          const target = k < 20 ? c.pick(ids) : absentId(c.random, present)
          const got = await n.searchById(target)
          const want = searchOracle(ids, n.identity.id, target)
          searches++
          if (!got.result.equals(want.result) || got.found !== want.found) mismatches++
          if (k < 20 && got.found) foundPresent++
          expect(got.hops.length).toBeLessThanOrEqual(maxHops)
        }
      }),
    )
    expect(searches).toBe(40_960)
    expect(mismatches).toBe(0)
    expect(foundPresent).toBe(20_480)
    await c.stopAll()
  }, 1_200_000)
})
