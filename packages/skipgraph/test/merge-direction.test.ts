import { Identifier, MembershipVector } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import type { MergeEvent, SkipGraphNode } from '../src/index.js'
import { wins } from '../src/merge.js'
import { checkSkipGraph } from '../src/testing/index.js'
import { Kind } from '../src/wire.js'
import { Cluster, type Member } from './helpers.js'
import { HostilePeer } from './hostile.js'
import { oneGraph } from './settle.js'

function idOf(byte: number): Identifier {
  const bytes = new Uint8Array(32)
  bytes[0] = byte
  return Identifier.fromBytes(bytes)
}

/** Joins `members` into one graph, one after another through the first. */
async function graphOf(members: readonly Member[]): Promise<void> {
  await members[0]!.node.join()
  for (const m of members.slice(1)) await m.node.join(members[0]!.node.identity.id)
}

/** Records the merge events of `nodes`, by node. */
function mergeEvents(nodes: readonly SkipGraphNode[]): Map<SkipGraphNode, MergeEvent[]> {
  const out = new Map<SkipGraphNode, MergeEvent[]>()
  for (const n of nodes) {
    const events: MergeEvent[] = []
    out.set(n, events)
    n.on('merge', (e) => events.push(e))
  }
  return out
}

describe('which graph wins', () => {
  it('a graph of one node loses to any larger graph, whatever the identifiers', () => {
    expect(wins({ single: false, min: idOf(9) }, { single: true, min: idOf(1) })).toBe(true)
    expect(wins({ single: true, min: idOf(1) }, { single: false, min: idOf(9) })).toBe(false)
  })

  it('otherwise the graph with the smaller minimum wins, and a graph never wins over itself', () => {
    expect(wins({ single: false, min: idOf(1) }, { single: false, min: idOf(2) })).toBe(true)
    expect(wins({ single: false, min: idOf(2) }, { single: false, min: idOf(1) })).toBe(false)
    expect(wins({ single: true, min: idOf(1) }, { single: true, min: idOf(2) })).toBe(true)
    expect(wins({ single: false, min: idOf(3) }, { single: false, min: idOf(3) })).toBe(false)
  })
})

/** A started node on `c`'s hub (not joined) whose contacts are `contacts()`; `id` drawn when not given. */
function addNode(c: Cluster, contacts: () => Identifier[], id?: Identifier): Promise<Member> {
  return c.add({ mergeCheckMs: 100, contacts }, id)
}

function minOf(g: readonly Member[]): Identifier {
  return g.map((m) => m.node.identity.id).reduce((x, y) => (x.compare(y) < 0 ? x : y))
}

describe('detection and direction', () => {
  it('two graphs of which one node knows one node of the other become one: the nodes of the graph with the larger minimum move, the others do not', async () => {
    const c = new Cluster(21)
    const known: Identifier[] = []
    const members: Member[] = []
    for (let i = 0; i < 7; i++) members.push(await addNode(c, () => (i === 6 ? known : [])))
    const a = members.slice(0, 3)
    const b = members.slice(3)
    await graphOf(a)
    await graphOf(b)
    const nodes = members.map((m) => m.node)
    const events = mergeEvents(nodes)
    // the last node of b knows the second node of a, nobody else knows anyone of the other graph
    known.push(a[1]!.node.identity.id)
    const [winner, loser] = minOf(a).compare(minOf(b)) < 0 ? [a, b] : [b, a]
    await oneGraph(nodes, AbortSignal.timeout(30_000))
    for (const m of winner) expect(events.get(m.node)).toEqual([])
    for (const m of loser) {
      expect(events.get(m.node)!.map((e) => e.phase)).toEqual(['start', 'end'])
      expect(events.get(m.node)![1]).toMatchObject({ phase: 'end', outcome: 'merged' })
      expect(m.node.metrics().merges).toBe(1)
    }
    expect(nodes.reduce((s, n) => s + n.metrics().graphsDetected, 0)).toBeGreaterThanOrEqual(1)
    expect(checkSkipGraph(nodes)).toEqual([])
    await c.stopAll()
  })

  it('a node alone in a graph of its own joins a larger graph even when its identifier is the smallest', async () => {
    const c = new Cluster(23)
    let ids: Identifier[] = []
    const graph: Member[] = []
    for (let i = 0; i < 4; i++) graph.push(await addNode(c, () => ids))
    const single = await addNode(c, () => ids, idOf(0))
    ids = c.members.map((m) => m.node.identity.id)
    const events = mergeEvents([single.node, ...graph.map((m) => m.node)])
    await graphOf(graph)
    await single.node.join()
    const nodes = c.members.map((m) => m.node)
    await oneGraph(nodes, AbortSignal.timeout(30_000))
    for (const m of graph) expect(events.get(m.node)).toEqual([])
    expect(events.get(single.node)![1]).toMatchObject({ phase: 'end', outcome: 'merged' })
    expect(single.node.metrics()).toMatchObject({ merges: 1, rejoins: 1 })
    await c.stopAll()
  })

  it('merge hints from a peer that claims to be joined make a node check it, never leave its graph', async () => {
    const c = new Cluster(25)
    const graph: Member[] = []
    for (let i = 0; i < 4; i++) graph.push(await addNode(c, () => []))
    await graphOf(graph)
    const victim = graph[2]!.node
    // it answers every read as a node linked alone, and every search with garbage; each search it gets is the
    // victim's check going as far as asking it for its graph's name
    let searched: () => void = () => {}
    const hostile = await HostilePeer.create(c.hub, idOf(0), (_origin, msg) => {
      if (msg.kind === Kind.Search) searched()
      return msg.kind === Kind.Read
        ? {
            kind: Kind.LockReply,
            granted: true,
            reason: 0,
            mv: MembershipVector.fromIdentifier(idOf(0)),
            levels: [{ level: 0, linked: true, left: null, right: null }],
          }
        : undefined
    })
    for (let round = 0; round < 5; round++) {
      const asked = new Promise<void>((resolve) => {
        searched = resolve
      })
      for (let i = 0; i < 20; i++) await hostile.send(victim.identity.id, { kind: Kind.Merge })
      await asked
    }
    expect(victim.status).toBe('joined')
    expect(victim.merging).toBe(false)
    expect(victim.metrics()).toMatchObject({ merges: 0, graphsDetected: 0 })
    // a hint is queued once per sender and rounds are spaced: 100 hints are not 100 checks
    expect(victim.metrics().mergeChecks).toBeGreaterThanOrEqual(5)
    expect(victim.metrics().mergeChecks).toBeLessThan(50)
    expect(checkSkipGraph(graph.map((m) => m.node))).toEqual([])
    await hostile.stop()
    await c.stopAll()
  })
})
