import {
  AbortError,
  ComponentNotStartedError,
  createNetwork,
  Identifier,
  ProcessorAlreadyRegisteredError,
} from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import {
  AlreadyJoinedError,
  createSkipGraphNode,
  InvalidIdentityError,
  type NeighborChange,
  NotJoinedError,
  type SearchHopEvent,
  SearchTimeoutError,
} from '../src/index.js'
import { checkSkipGraph, searchOracle } from '../src/testing/index.js'
import { absentId, Cluster, sortedIds } from './helpers.js'

async function graph(seed: number, n: number): Promise<Cluster> {
  const c = new Cluster(seed)
  const first = await c.add()
  await first.node.join()
  for (let i = 1; i < n; i++) {
    const m = await c.add()
    await m.node.join(c.pick(c.members.slice(0, i)).node.identity.id)
  }
  return c
}

describe('searches', () => {
  it('answers 100 concurrent searches from one node, each with its own result', async () => {
    const c = await graph(5, 128)
    const nodes = c.members.map((m) => m.node)
    const ids = sortedIds(nodes)
    const present = new Set(ids.map((id) => id.toHex()))
    const origin = nodes[17]!
    const nonces = new Set<string>()
    origin.on('search:hop', (e) => {
      if (e.origin.equals(origin.identity.id)) nonces.add(e.nonce)
    })
    const targets = Array.from({ length: 100 }, (_, i) =>
      i % 2 === 0 ? ids[i]! : absentId(c.random, present),
    )
    const answeredBefore = origin.metrics().searchesAnswered
    const results = await Promise.all(targets.map((t) => origin.searchById(t)))
    expect(nonces.size).toBe(100)
    results.forEach((got, i) => {
      const want = searchOracle(ids, origin.identity.id, targets[i]!)
      expect(got.result.toHex()).toBe(want.result.toHex())
      expect(got.found).toBe(want.found)
    })
    expect(origin.metrics().searchesAnswered - answeredBefore).toBe(100)
    await c.stopAll()
  })

  it('emits search:hop on every node of the route, in order, with the levels of the hops', async () => {
    const c = await graph(6, 64)
    const nodes = c.members.map((m) => m.node)
    const events: SearchHopEvent[] = []
    const offs = nodes.map((n) => n.on('search:hop', (e) => events.push(e)))
    const origin = nodes[3]!
    const ids = sortedIds(nodes)
    const target = ids.find(
      (id) => !id.equals(origin.identity.id) && searchOracle(ids, origin.identity.id, id).found,
    )!
    const got = await origin.searchById(target)
    expect(got.found).toBe(true)
    expect(got.hops.length).toBeGreaterThan(0)
    expect(got.hops.at(-1)!.node.equals(target)).toBe(true)
    const route = events.map((e) => e.node.toHex())
    expect(route).toEqual([origin.identity.id.toHex(), ...got.hops.map((h) => h.node.toHex())])
    expect(events.map((e) => e.hop)).toEqual(events.map((_, i) => i))
    expect(new Set(events.map((e) => e.nonce)).size).toBe(1)
    events.slice(1).forEach((e, i) => {
      expect(e.level).toBe(got.hops[i]!.level)
      expect(e.target.equals(target)).toBe(true)
      expect(e.origin.equals(origin.identity.id)).toBe(true)
    })
    for (const off of offs) off()
    events.length = 0
    await origin.searchById(target)
    expect(events).toEqual([])
    await c.stopAll()
  })

  it('finds itself without a hop', async () => {
    const c = await graph(8, 4)
    const n = c.members[2]!.node
    const got = await n.searchById(n.identity.id)
    expect(got).toEqual({ result: n.identity.id, found: true, hops: [] })
    await c.stopAll()
  })

  it('rejects with SearchTimeoutError when no answer comes', async () => {
    const c = new Cluster(9, { manual: true })
    const a = await c.add()
    await a.node.join()
    const b = await c.add()
    const joined = b.node.join(a.node.identity.id)
    await c.hub.deliverAll()
    await joined
    await expect(b.node.searchById(a.node.identity.id, { timeoutMs: 20 })).rejects.toBeInstanceOf(
      SearchTimeoutError,
    )
    expect(b.node.metrics().searchesTimedOut).toBe(1)
    await c.hub.deliverAll()
    await c.stopAll()
  })

  it('rejects with AbortError for an already aborted signal', async () => {
    const c = await graph(10, 2)
    await expect(
      c.members[1]!.node.searchById(Identifier.random(), { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(AbortError)
    await expect(c.members[1]!.node.join(undefined, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortError,
    )
    await c.stopAll()
  })
})

describe('lookup table and events', () => {
  it('reports neighbour changes as nodes link in, and a snapshot that matches them', async () => {
    const c = new Cluster(12)
    const a = await c.add()
    await a.node.join()
    expect(a.node.lookupTable().levels).toEqual([{ level: 0, left: null, right: null }])
    const changes: NeighborChange[] = []
    const off = a.node.on('neighbor:change', (ch) => changes.push(ch))
    const b = await c.add()
    await b.node.join(a.node.identity.id)
    off()
    const side = b.node.identity.id.compare(a.node.identity.id) > 0 ? 'right' : 'left'
    expect(changes.length).toBeGreaterThan(0)
    expect(
      changes.every(
        (ch) => ch.side === side && ch.previous === null && ch.current?.id.equals(b.node.identity.id),
      ),
    ).toBe(true)
    const levels = a.node.lookupTable().levels
    const shared = a.node.identity.mv.commonPrefixBits(b.node.identity.mv)
    expect(levels.length).toBe(shared + 2)
    expect(
      levels.slice(0, shared + 1).every((l) => l[side]?.id.equals(b.node.identity.id) && l[side]?.alive),
    ).toBe(true)
    expect(levels.at(-1)).toEqual({ level: shared + 1, left: null, right: null })
    expect(checkSkipGraph([a.node, b.node])).toEqual([])
    await c.stopAll()
  })

  it('types its events', () => {
    const c = new Cluster(13)
    const node = createSkipGraphNode({
      network: createNetwork({ connectionManager: c.hub.connectionManager(Identifier.random()) }),
    })
    // @ts-expect-error: not an event of a skip-graph node
    const off = node.on('peer:connect', () => {})
    off()
  })
})

describe('lifecycle', () => {
  it('refuses operations in the wrong state with typed errors', async () => {
    const c = new Cluster(14)
    const id = Identifier.random()
    const network = createNetwork({ connectionManager: c.hub.connectionManager(id) })
    network.start()
    await network.ready()
    const node = createSkipGraphNode({ network })
    await expect(node.join()).rejects.toBeInstanceOf(ComponentNotStartedError)
    node.start()
    await node.ready()
    await expect(node.searchById(Identifier.random())).rejects.toBeInstanceOf(NotJoinedError)
    await expect(node.leave()).rejects.toBeInstanceOf(NotJoinedError)
    await node.join()
    await expect(node.join()).rejects.toBeInstanceOf(AlreadyJoinedError)
    const second = createSkipGraphNode({ network })
    second.start()
    await expect(second.ready()).rejects.toBeInstanceOf(ProcessorAlreadyRegisteredError)
    await node.stop()
    await network.stop()
  })

  it('rejects an identity whose id is not the network’s', () => {
    const c = new Cluster(15)
    const network = createNetwork({ connectionManager: c.hub.connectionManager(Identifier.random()) })
    let caught: unknown
    try {
      createSkipGraphNode({ network, identity: { id: Identifier.random(), mv: c.randomMv() } })
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(InvalidIdentityError)
  })
})
