import { describe, expect, it } from 'vitest'
import { checkSkipGraph, searchOracle } from '../src/testing/index.js'
import { absentId, Cluster, type Member, sortedIds } from './helpers.js'

describe('churn', () => {
  it('joins and leaves running at the same time end in a correct skip graph', async () => {
    const c = new Cluster(31, { latency: { min: 0, max: 1 } }, { requestTimeoutMs: 3000 })
    const first = await c.add()
    await first.node.join()
    for (let i = 1; i < 96; i++) {
      const m = await c.add()
      await m.node.join(c.pick(c.members.slice(0, i)).node.identity.id)
    }
    const old = [...c.members]
    const leaving = new Set<Member>()
    while (leaving.size < 32) leaving.add(c.pick(old.slice(1)))
    const stay = old.filter((m) => !leaving.has(m))
    const joiners: Member[] = []
    for (let i = 0; i < 64; i++) joiners.push(await c.add())
    await Promise.all([
      ...[...leaving].map((m) => m.node.leave()),
      ...joiners.map((m) => m.node.join(c.pick(stay).node.identity.id)),
    ])
    const nodes = [...stay, ...joiners].map((m) => m.node)
    expect(nodes.every((n) => n.status === 'joined')).toBe(true)
    expect(checkSkipGraph(nodes).map((v) => v.message)).toEqual([])
    const ids = sortedIds(nodes)
    const present = new Set(ids.map((id) => id.toHex()))
    const wrong: string[] = []
    await Promise.all(
      nodes.map(async (n) => {
        for (const target of [c.pick(ids), absentId(c.random, present)]) {
          const got = await n.searchById(target)
          const want = searchOracle(ids, n.identity.id, target)
          if (!got.result.equals(want.result) || got.found !== want.found) wrong.push(target.toHex())
        }
      }),
    )
    expect(wrong).toEqual([])
    await c.stopAll()
  }, 120_000)
})
