import {
  createMultiplexer,
  createNetwork,
  createStaticDirectory,
  type Identifier,
  MembershipVector,
  type Multiplexer,
  type Network,
} from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { createSkipGraphNode, SkipGraphError, type SkipGraphNode } from '../src/index.js'
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

/**
 * Every one of `nodes` (started, not joined) starts a graph of its own at once; then they must end as one graph
 * (every node joined, none merging, no dead entry, the checker clean) within 60 s, with every search exact and
 * every node but one moved at least once.
 */
async function raceToOneGraph(nodes: readonly SkipGraphNode[], label: string): Promise<void> {
  const started = performance.now()
  await Promise.all(nodes.map((n) => n.join()))
  await oneGraph(nodes, AbortSignal.timeout(60_000))
  const ms = performance.now() - started
  expect(await inexactSearches(nodes)).toEqual([])
  const merges = nodes.reduce((s, n) => s + n.metrics().merges, 0)
  expect(merges).toBeGreaterThanOrEqual(nodes.length - 1)
  console.log(`${label}: one graph after ${ms.toFixed(0)} ms, ${merges} merges`)
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
      await raceToOneGraph(
        c.members.map((m) => m.node),
        `race seed ${seed}`,
      )
      await c.stopAll()
    }, 90_000)
  }
})

/**
 * `hostCount` multiplexers (core's `createMultiplexer`, as the demo's shared per-tab WebRTC host) on `c`'s hub,
 * with `perHost` started skip-graph nodes each (not joined) whose contacts are all the nodes; `stop` stops them all.
 */
async function nodesOnHosts(
  c: Cluster,
  hostCount: number,
  perHost: number,
): Promise<{ nodes: SkipGraphNode[]; stop: () => Promise<void> }> {
  const directory = createStaticDirectory()
  const hosts: Multiplexer[] = []
  for (let h = 0; h < hostCount; h++) {
    hosts.push(createMultiplexer({ host: c.hub.connectionManager(c.randomId()), directory }))
  }
  for (const h of hosts) h.start()
  await Promise.all(hosts.map((h) => h.ready()))
  const nodes: SkipGraphNode[] = []
  const networks: Network[] = []
  let ids: Identifier[] = []
  for (const host of hosts) {
    for (let i = 0; i < perHost; i++) {
      const id = c.randomId()
      directory.bind(id, host.hostId)
      const network = createNetwork({ connectionManager: host.node(id) })
      network.start()
      await network.ready()
      const node = createSkipGraphNode({
        random: c.random,
        mergeCheckMs: 200,
        contacts: () => ids,
        network,
        identity: { id, mv: MembershipVector.fromIdentifier(id) },
      })
      node.start()
      await node.ready()
      nodes.push(node)
      networks.push(network)
    }
  }
  ids = nodes.map((n) => n.identity.id)
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()))
    await Promise.all(networks.map((n) => n.stop()))
    await Promise.all(hosts.map((h) => h.stop()))
  }
  return { nodes, stop }
}

describe.concurrent('graphs formed apart on shared hosts', () => {
  for (const seed of RACE_SEEDS) {
    it(`8 nodes on 4 hosts that all start a graph at once end as one graph, the checker clean and every search exact (seed ${seed})`, async () => {
      const c = new Cluster(seed, { latency: { min: 0, max: 2 } })
      const { nodes, stop } = await nodesOnHosts(c, 4, 2)
      try {
        await raceToOneGraph(nodes, `race on hosts, seed ${seed}`)
      } finally {
        await stop()
      }
    }, 90_000)
  }
})

// 600 s is an outer bound only: the 128 sequential joins that build the two graphs are not timed and took 6.5 min
// at load 46 on 2 cores (22 s at load 7); the merge itself is bounded by oneGraph's 90 s
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
  }, 600_000)
})
