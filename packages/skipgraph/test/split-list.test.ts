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

/** Pointer writes at one node: `side` := `to`. */
type Rewrites = Array<[Identifier, Array<{ side: 'left' | 'right'; to: Identifier | null }>]>

/**
 * A peer outside the graph rewrites level-`level` pointers under the nodes' locks (all locked first, then written),
 * as a repair that missed a node would.
 */
async function rewrite(peer: HostilePeer, level: number, writes: Rewrites): Promise<void> {
  const txn = randomNonce()
  for (const [target] of writes) {
    expect(await peer.request(target, { kind: Kind.Lock, txn, levels: [level] })).toMatchObject({
      granted: true,
    })
  }
  for (const [target, ws] of writes) {
    const msg = {
      kind: Kind.Apply,
      txn,
      writes: ws.map((w) => ({ level, side: w.side, entry: w.to === null ? null : entryOf(w.to) })),
    } as const
    expect(await peer.request(target, msg)).toMatchObject({ ok: true })
  }
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
    const writes: Rewrites = [
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
    await rewrite(peer, 1, writes)
    const before = checkSkipGraph(nodes).map((v) => v.message)
    expect(before).not.toEqual([])

    await repaired(nodes, AbortSignal.timeout(30_000))
    expect(nodes.reduce((s, n) => s + n.metrics().splitLists, 0)).toBeGreaterThan(0)
    await peer.stop()
    await c.stopAll()
  }, 60_000)
})

describe('a level-0 list split in two while the levels above still join it', () => {
  it('is found from the level above (no walk below can show it) and becomes one list again', async () => {
    // p ↔ q with x ↔ y cut out of level 0 (x.left and y.right null), as the merge of a graph left it in the
    // frozen-tab e2e case: each part consistent, every level above still linked through x and y
    const c = new Cluster(25, {}, { probeIntervalMs: 100 })
    await buildGraph(c, 24)
    const nodes = c.members.map((m) => m.node)
    await repaired(nodes, AbortSignal.timeout(30_000))
    const list = listOf(nodes, nodes[0]!, 0)
    const at = list.findIndex(
      (n, i) =>
        i > 0 &&
        i + 2 < list.length &&
        (n.lookupTable().levels[1]?.left ?? null) !== null &&
        (list[i + 1]!.lookupTable().levels[1]?.right ?? null) !== null,
    )
    expect(at).toBeGreaterThan(0)
    const [p, x, y, q] = list.slice(at - 1, at + 3).map((n) => n.identity.id) as [
      Identifier,
      Identifier,
      Identifier,
      Identifier,
    ]
    const peer = await HostilePeer.create(c.hub, c.randomId(), () => undefined)
    await rewrite(peer, 0, [
      [p, [{ side: 'right', to: q }]],
      [x, [{ side: 'left', to: null }]],
      [y, [{ side: 'right', to: null }]],
      [q, [{ side: 'left', to: p }]],
    ])
    expect(checkSkipGraph(nodes).map((v) => v.message)).not.toEqual([])

    await repaired(nodes, AbortSignal.timeout(15_000))
    expect(nodes.reduce((s, n) => s + n.metrics().splitLists, 0)).toBeGreaterThan(0)
    await peer.stop()
    await c.stopAll()
  }, 60_000)
})

describe('a relink that takes in a node its list missed', () => {
  it('moves its old neighbour to that node, so no pointer is left at it (probing off everywhere else)', async () => {
    // Lists a ↔ cc (cc.right null) and b ↔ d ↔ …, as a lost write at a leaves them: b linked beside a, its write
    // there lost, and cc then linked beside a as if b were not there. Only b probes: its relink takes cc in
    // between itself and d, and so must hand d's pointer at b on to cc; nobody else would look.
    const c = new Cluster(23, {}, { probeIntervalMs: 0 })
    const ids = Array.from({ length: 6 }, () => c.randomId()).sort((x, y) => x.compare(y))
    const [a, b, cc, d] = ids as [Identifier, Identifier, Identifier, Identifier]
    const first = await c.add({}, a)
    await first.node.join()
    for (const id of ids.slice(1)) {
      const m = await c.add(id.equals(b) ? { probeIntervalMs: 100 } : {}, id)
      await m.node.join(a)
    }
    const nodes = c.members.map((m) => m.node)
    await repaired(nodes, AbortSignal.timeout(10_000))

    const peer = await HostilePeer.create(c.hub, c.randomId(), () => undefined)
    const writes: Rewrites = [
      [a, [{ side: 'right', to: cc }]],
      [b, [{ side: 'right', to: d }]],
      [
        cc,
        [
          { side: 'left', to: a },
          { side: 'right', to: null },
        ],
      ],
      [d, [{ side: 'left', to: b }]],
    ]
    await rewrite(peer, 0, writes)
    expect(checkSkipGraph(nodes).map((v) => v.message)).not.toEqual([])

    await repaired(nodes, AbortSignal.timeout(15_000))
    await peer.stop()
    await c.stopAll()
  }, 60_000)
})
