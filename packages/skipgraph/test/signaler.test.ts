import {
  ConnectionFailedError,
  type ConnectionManager,
  createNetwork,
  Identifier,
  MemoryHub,
  MembershipVector,
  type Network,
} from '@skipmesh/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createSkipGraphNode, type SkipGraphNode } from '../src/index.js'
import { createSkipGraphSignaler, nextSignalHop, type SkipGraphSignaler } from '../src/signaler.js'
import { randomBytes, rng } from './helpers.js'

interface Peer {
  readonly id: Identifier
  readonly manager: ConnectionManager
  readonly network: Network
  readonly node: SkipGraphNode
  readonly signaler: SkipGraphSignaler
  /** Bytes delivered here. */
  readonly got: Uint8Array[]
}

const idOf = (n: bigint): Identifier => Identifier.fromHex(n.toString(16).padStart(64, '0'))

describe('next signal hop', () => {
  const self = idOf(100n)
  const at = (...ns: bigint[]) => ns.map(idOf)

  it('goes to the target itself when connected, else its reverse route, else the closest peer', () => {
    expect(nextSignalHop(self, idOf(500n), at(90n, 500n, 499n), undefined, undefined)).toEqual(idOf(500n))
    expect(nextSignalHop(self, idOf(500n), at(90n, 300n), idOf(90n), undefined)).toEqual(idOf(90n))
    expect(nextSignalHop(self, idOf(500n), at(90n, 300n, 700n, 450n), undefined, undefined)).toEqual(
      idOf(450n),
    )
    expect(nextSignalHop(self, idOf(50n), at(90n, 300n, 20n), undefined, undefined)).toEqual(idOf(20n))
    // the origin may be closer than any peer (a joining node between its future neighbours): it still sends
    expect(nextSignalHop(self, idOf(120n), at(80n, 150n), undefined, undefined)).toEqual(idOf(150n))
  })

  it('at a relay, never goes back where the signal came from, nor to a peer no closer than here', () => {
    expect(nextSignalHop(self, idOf(500n), at(300n), undefined, idOf(300n))).toBeUndefined()
    expect(nextSignalHop(self, idOf(500n), at(300n), idOf(300n), idOf(300n))).toBeUndefined()
    expect(nextSignalHop(self, idOf(120n), at(80n, 150n, 7n), undefined, idOf(7n))).toBeUndefined()
    expect(nextSignalHop(self, idOf(500n), [], undefined, undefined)).toBeUndefined()
  })
})

describe('skip-graph signaler', () => {
  const peers: Peer[] = []
  afterEach(async () => {
    for (const p of peers.splice(0)) {
      await p.signaler.stop()
      await p.node.stop()
      await p.network.stop()
    }
  })

  async function peer(hub: MemoryHub, id: Identifier): Promise<Peer> {
    const manager = hub.connectionManager(id)
    const network = createNetwork({ connectionManager: manager })
    network.start()
    await network.ready()
    const node = createSkipGraphNode({
      network,
      identity: { id, mv: MembershipVector.fromIdentifier(id) },
      probeIntervalMs: 0,
      mergeCheckMs: 0,
    })
    node.start()
    await node.ready()
    const signaler = createSkipGraphSignaler({
      network,
      openConnections: () => manager.connections().map((c) => c.remoteId),
    })
    signaler.start()
    await signaler.ready()
    const got: Uint8Array[] = []
    signaler.onDeliver((bytes) => void got.push(bytes))
    const p = { id, manager, network, node, signaler, got }
    peers.push(p)
    return p
  }

  async function graph(hub: MemoryHub, n: number, seed: number): Promise<Peer[]> {
    const random = rng(seed)
    const out: Peer[] = []
    for (let i = 0; i < n; i++) {
      const p = await peer(hub, Identifier.fromBytes(randomBytes(random)))
      await p.node.join(out[0]?.id, { signal: AbortSignal.timeout(20_000) })
      out.push(p)
    }
    return out
  }

  const connectionCount = (ps: readonly Peer[]): number =>
    ps.reduce((sum, p) => sum + p.manager.connections().length, 0)

  it('carries a signal to any node over existing connections only, never dialling', async () => {
    const hub = new MemoryHub({ seed: 1 })
    const members = await graph(hub, 24, 7)
    const before = connectionCount(members)
    let forwarded = 0
    for (const [i, from] of members.entries()) {
      const to = members[(i * 7 + 5) % members.length]!
      if (to === from) continue
      const bytes = new TextEncoder().encode(`signal ${i}`)
      await from.signaler.relay(to.id, bytes, { signal: AbortSignal.timeout(10_000) })
      expect(to.got.at(-1)).toEqual(bytes)
    }
    let relays = 0
    for (const p of members) {
      forwarded += p.signaler.metrics().signalsForwarded
      relays += p.signaler.metrics().relaysOfDelivered
    }
    expect(forwarded).toBeGreaterThan(0)
    expect(relays).toBe(forwarded)
    expect(connectionCount(members)).toBe(before)
  })

  it('reaches a node that is not in the graph back along the path its own signal took', async () => {
    const hub = new MemoryHub({ seed: 2 })
    const members = await graph(hub, 16, 11)
    const newcomer = await peer(hub, Identifier.fromBytes(randomBytes(rng(99))))
    // its one connection, to its introducer (as a joining node's first connection)
    await newcomer.manager.connect(members[0]!.id)
    const farthest = members.find(
      (m) => !m.manager.connections().some((c) => c.remoteId.equals(newcomer.id)) && m !== members[0],
    )!
    await expect(farthest.signaler.relay(newcomer.id, new Uint8Array([1]))).rejects.toBeInstanceOf(
      ConnectionFailedError,
    )
    const before = connectionCount([...members, newcomer])
    await newcomer.signaler.relay(farthest.id, new Uint8Array([2]), { signal: AbortSignal.timeout(10_000) })
    await farthest.signaler.relay(newcomer.id, new Uint8Array([3]), { signal: AbortSignal.timeout(10_000) })
    expect(farthest.got).toEqual([new Uint8Array([2])])
    expect(newcomer.got).toEqual([new Uint8Array([3])])
    expect(connectionCount([...members, newcomer])).toBe(before)
  })

  it('fails at once at the origin when no connection leads anywhere', async () => {
    const hub = new MemoryHub({ seed: 3 })
    const lone = await peer(hub, Identifier.random())
    await expect(lone.signaler.relay(Identifier.random(), new Uint8Array([1]))).rejects.toBeInstanceOf(
      ConnectionFailedError,
    )
    expect(lone.signaler.metrics()).toMatchObject({ signalsFailed: 1, signalsOriginated: 0 })
  })

  it('tells the origin when the addressee refuses the signal', async () => {
    const hub = new MemoryHub({ seed: 4 })
    const [a, b] = await graph(hub, 2, 5)
    b!.signaler.onDeliver(() => Promise.reject(new Error('bad signature')))
    await expect(a!.signaler.relay(b!.id, new Uint8Array([1]))).rejects.toBeInstanceOf(ConnectionFailedError)
    expect(b!.signaler.metrics()).toMatchObject({ signalsDelivered: 0, signalsRefused: 1 })
    expect(a!.signaler.metrics().signalsFailed).toBe(1)
  })
})
