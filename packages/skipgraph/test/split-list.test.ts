import type { Identifier } from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import { describe, expect, it } from 'vitest'
import type { SkipGraphNode } from '../src/index.js'
import { sharesPrefix } from '../src/lookup-table.js'
import { checkSkipGraph } from '../src/testing/index.js'
import { Kind } from '../src/wire.js'
import { Cluster } from './helpers.js'
import { entryOf, HostilePeer } from './hostile.js'
import { buildGraph, repaired } from './settle.js'

/** The members of `nodes` in the level-`level` list of `of`, in ascending order. */
function listOf(nodes: readonly SkipGraphNode[], of: SkipGraphNode, level: number): SkipGraphNode[] {
  return nodes
    .filter((n) => sharesPrefix(n.identity.mv, of.identity.mv, level))
    .sort((a, b) => a.identity.id.compare(b.identity.id))
}

describe('split lists', () => {
  it('a level-1 list split into two interleaved lists, each consistent, is found by the list check and becomes one list again', async () => {
    const c = new Cluster(21, {}, { probeIntervalMs: 100 })
    await buildGraph(c, 32)
    const nodes = c.members.map((m) => m.node)
    await repaired(nodes, AbortSignal.timeout(30_000))
    const list = listOf(nodes, nodes[0]!, 1)
    expect(list.length).toBeGreaterThanOrEqual(5)
    const [a, b, cc, d, e] = list.slice(0, 5).map((n) => n.identity.id) as [
      Identifier,
      Identifier,
      Identifier,
      Identifier,
      Identifier,
    ]
    // a peer outside the graph rewrites five neighbours' level-1 pointers under their locks, as a repair
    // that missed a node would: a ↔ c ↔ e and b ↔ d, two lists that interleave and each point back
    const peer = await HostilePeer.create(c.hub, c.randomId(), () => undefined)
    const txn = randomNonce()
    const writes: Array<[Identifier, Array<{ side: 'left' | 'right'; to: Identifier | null }>]> = [
      [a, [{ side: 'right', to: cc }]],
      [
        b,
        [
          { side: 'left', to: null },
          { side: 'right', to: d },
        ],
      ],
      [
        cc,
        [
          { side: 'left', to: a },
          { side: 'right', to: e },
        ],
      ],
      [
        d,
        [
          { side: 'left', to: b },
          { side: 'right', to: null },
        ],
      ],
      [e, [{ side: 'left', to: cc }]],
    ]
    for (const [target] of writes) {
      expect(await peer.request(target, { kind: Kind.Lock, txn, levels: [1] })).toMatchObject({
        granted: true,
      })
    }
    for (const [target, ws] of writes) {
      const msg = {
        kind: Kind.Apply,
        txn,
        writes: ws.map((w) => ({ level: 1, side: w.side, entry: w.to === null ? null : entryOf(w.to) })),
      } as const
      expect(await peer.request(target, msg)).toMatchObject({ ok: true })
    }
    const before = checkSkipGraph(nodes).map((v) => v.message)
    expect(before).not.toEqual([])

    await repaired(nodes, AbortSignal.timeout(30_000))
    expect(nodes.reduce((s, n) => s + n.metrics().splitLists, 0)).toBeGreaterThan(0)
    await peer.stop()
    await c.stopAll()
  }, 60_000)
})
