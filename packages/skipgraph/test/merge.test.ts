import type { Identifier } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { SkipGraphError, type SkipGraphNode } from '../src/index.js'
import { searchOracle } from '../src/testing/index.js'
import { Cluster, sortedIds } from './helpers.js'
import { oneGraph } from './settle.js'

/** Searches from every node for every node; returns the mismatches with the oracle. */
async function inexactSearches(nodes: readonly SkipGraphNode[]): Promise<string[]> {
  const ids = sortedIds(nodes)
  const bad: string[] = []
  await Promise.all(
    nodes.map(async (n) => {
      for (const target of ids) {
        const got = await n.searchById(target)
        const want = searchOracle(ids, n.identity.id, target)
        if (!got.result.equals(want.result) || got.found !== want.found) bad.push(target.toHex())
      }
    }),
  )
  return bad
}

const RACE_SEEDS =
  (process.env.SEEDS ?? '').length > 0
    ? process.env.SEEDS!.split(',').map(Number)
    : Array.from({ length: 20 }, (_, i) => i + 1)

describe.concurrent('graphs formed apart', () => {
  for (const seed of RACE_SEEDS) {
    it(`8 nodes that all start a graph at once end as one graph (seed ${seed})`, async () => {
      let ids: Identifier[] = []
      const c = new Cluster(seed, { latency: { min: 0, max: 2 } }, { mergeCheckMs: 200, contacts: () => ids })
      for (let i = 0; i < 8; i++) await c.add()
      ids = c.members.map((m) => m.node.identity.id)
      const nodes = c.members.map((m) => m.node)
      const started = performance.now()
      await Promise.all(nodes.map((n) => n.join()))
      await oneGraph(nodes, AbortSignal.timeout(60_000))
      const ms = performance.now() - started
      expect(await inexactSearches(nodes)).toEqual([])
      const merges = nodes.reduce((s, n) => s + n.metrics().merges, 0)
      expect(merges).toBeGreaterThanOrEqual(7)
      console.log(`race seed ${seed}: one graph after ${ms.toFixed(0)} ms, ${merges} merges`)
      await c.stopAll()
    }, 90_000)
  }
})

describe('two graphs of 64 formed apart', () => {
  it('become one graph of 128 while searches go on, every search exact afterwards', async () => {
    let room: Identifier[] = []
    const c = new Cluster(
      31,
      { latency: { min: 0, max: 1 } },
      { probeIntervalMs: 500, mergeCheckMs: 500, contacts: () => room },
    )
    const a: SkipGraphNode[] = []
    const b: SkipGraphNode[] = []
    for (const g of [a, b]) {
      const first = await c.add()
      await first.node.join()
      g.push(first.node)
      for (let i = 1; i < 64; i++) {
        const m = await c.add()
        await m.node.join(c.pick(g).identity.id)
        g.push(m.node)
      }
    }
    const nodes = [...a, ...b]
    const sentBefore = nodes.reduce((s, n) => s + n.metrics().messagesSent, 0)
    // every node learns of every other (a signaling room)
    room = nodes.map((n) => n.identity.id)
    const started = performance.now()
    const merged = oneGraph(nodes, AbortSignal.timeout(90_000))
    // searches meanwhile, from both graphs: answered, or failed with a typed error
    let typed = 0
    let answered = 0
    const searching = Promise.all(
      Array.from({ length: 64 }, async (_, i) => {
        const from = nodes[i * 2]!
        try {
          await from.searchById(c.pick(nodes).identity.id)
          answered++
        } catch (err) {
          expect(err).toBeInstanceOf(SkipGraphError)
          typed++
        }
      }),
    )
    await merged
    const ms = performance.now() - started
    await searching
    const sent = nodes.reduce((s, n) => s + n.metrics().messagesSent, 0) - sentBefore
    const merges = nodes.reduce((s, n) => s + n.metrics().merges, 0)
    expect(await inexactSearches(nodes.slice(0, 32))).toEqual([])
    expect(merges).toBeGreaterThanOrEqual(64)
    console.log(
      `two graphs of 64: one graph after ${ms.toFixed(0)} ms, ${merges} merges, ${sent} messages ` +
        `(${(sent / 128).toFixed(0)} per node, checks included), searches meanwhile: ${answered} answered, ${typed} typed failures`,
    )
    await c.stopAll()
  }, 150_000)
})
