import type { Identifier } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import type { SkipGraphNode } from '../src/index.js'
import { Cluster } from './helpers.js'
import { buildGraph, oneGraph } from './settle.js'

const PERIOD_MS = 20
/** How long the settled graph's checks are counted (a rate measured, nothing waited for). */
const WINDOW_MS = 3000

const checks = (nodes: readonly SkipGraphNode[]): number =>
  nodes.reduce((s, n) => s + n.metrics().mergeChecks, 0)

describe('merge checks in a settled graph', () => {
  it('slow down while every check finds its own graph, and a graph formed apart meanwhile still becomes one with it', async () => {
    let contacts: Identifier[] = []
    const c = new Cluster(
      11,
      { latency: { min: 0, max: 1 } },
      { mergeCheckMs: PERIOD_MS, contacts: () => contacts },
    )
    await buildGraph(c, 24)
    const graph = c.members.map((m) => m.node)
    contacts = graph.map((n) => n.identity.id)

    const before = checks(graph)
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS))
    const perNode = (checks(graph) - before) / graph.length
    // a round checks 2 contacts; its wait doubles after each round that found only this graph, up to 16 periods
    // (±50 %): at most 4 rounds to get there, then one round per 8 periods at the shortest. At the full rate the
    // same graph costs each node one check per contact per 30 periods (the contacts found in it wait that long),
    // about 90 checks in this window.
    const rounds = 4 + WINDOW_MS / (16 * PERIOD_MS * 0.5) + 1
    console.log(`settled graph of ${graph.length}: ${perNode.toFixed(1)} checks per node in ${WINDOW_MS} ms`)
    expect(perNode).toBeLessThanOrEqual(2 * rounds)

    // four nodes form a graph apart, knowing nobody: only the quiet graph's checks can find them
    const apart: SkipGraphNode[] = []
    for (let i = 0; i < 4; i++) {
      const m = await c.add({ contacts: () => [] })
      await m.node.join(i === 0 ? undefined : apart[0]!.identity.id)
      apart.push(m.node)
    }
    contacts = [...contacts, ...apart.map((n) => n.identity.id)]
    await oneGraph([...graph, ...apart], AbortSignal.timeout(30_000))
    expect(graph.concat(apart).reduce((s, n) => s + n.metrics().merges, 0)).toBeGreaterThanOrEqual(4)
    await c.stopAll()
  }, 90_000)
})
