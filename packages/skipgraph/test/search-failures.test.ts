import { channel, createNetwork, Identifier, type Network, type PendingMessage } from '@skipmesh/core'
import { yieldTask } from '@skipmesh/core/internal'
import { Packr } from 'msgpackr'
import { describe, expect, it, vi } from 'vitest'
import { SearchFailedError, type SkipGraphNode } from '../src/index.js'
import { searchOracle } from '../src/testing/index.js'
import { decodeWire, encodeWire } from '../src/wire-codec.js'
import { appendHop, FailReason, Kind } from '../src/wire.js'
import { Cluster, collectUnhandledRejections, sortedIds } from './helpers.js'

const packr = new Packr({ useRecords: false })
const pack = (v: unknown): Uint8Array => packr.pack(v)

async function graph(c: Cluster, n: number): Promise<SkipGraphNode[]> {
  const first = await c.add()
  await first.node.join()
  for (let i = 1; i < n; i++) {
    const m = await c.add()
    await m.node.join(c.pick(c.members.slice(0, i)).node.identity.id)
  }
  return c.members.map((m) => m.node)
}

/** A started network on the hub with a raw processor on the skip-graph channel. */
async function rawPeer(c: Cluster, id = c.randomId()): Promise<Network> {
  const network = createNetwork({ connectionManager: c.hub.connectionManager(id) })
  network.start()
  await network.ready()
  return network
}

describe('forged search answers (attack 3)', () => {
  const rejections = collectUnhandledRejections()

  it('drops and counts answers from a peer the search never went to, and resolves with the real answer', async () => {
    const c = new Cluster(31, { manual: true })
    const a = await c.add()
    await a.node.join()
    const b = await c.add()
    const joined = b.node.join(a.node.identity.id)
    await c.hub.deliverAll()
    await joined
    const attacker = await rawPeer(c)
    const conduit = await attacker.register(channel('skipgraph'), { processIncomingMessage: () => {} })

    // the attacker learns the search's nonce (it travels on every hop) and forges answers with it
    let nonce = ''
    a.node.on('search:hop', (e) => {
      nonce = e.nonce
    })
    const before = a.node.metrics()
    const search = a.node.searchById(b.node.identity.id)
    let settled = false
    const settle = (): void => {
      settled = true
    }
    search.then(settle, settle)
    expect(nonce).toMatch(/^[0-9a-f]{32}$/)
    const forged = [
      // found, with an empty path: once accepted from any sender
      encodeWire({ kind: Kind.SearchResult, nonce, found: false, hops: new Uint8Array(0) }),
      encodeWire({
        kind: Kind.SearchResult,
        nonce,
        found: false,
        hops: appendHop(new Uint8Array(0), attacker.localId.bytes, 0),
      }),
      // a failure: once accepted without any sender check
      encodeWire({ kind: Kind.SearchFail, nonce, reason: FailReason.Unreachable }),
    ]
    const sends = forged.map((payload) => conduit.send(a.node.identity.id, { payload, metadata: {} }))
    let replied = 0
    const requests = forged.map((payload) =>
      conduit.request(a.node.identity.id, { payload, metadata: {} }).finally(() => {
        replied++
      }),
    )
    // the forgeries (and a's replies to them) go first: the real hop to b is held by the hub meanwhile
    const attackerTraffic = (m: PendingMessage): boolean =>
      m.from.equals(attacker.localId) || m.to.equals(attacker.localId)
    while (replied < forged.length) {
      c.hub.deliverSome(attackerTraffic)
      await yieldTask()
    }
    await Promise.all(sends)
    // a search is answered only by the reply to the request it sent: none of these reached it
    for (const r of await Promise.all(requests)) expect(r.payload).toHaveLength(0)
    expect(settled).toBe(false)

    await c.hub.deliverAll()
    const got = await search
    expect(got.result.equals(b.node.identity.id)).toBe(true)
    expect(got.found).toBe(true)
    const after = a.node.metrics()
    expect(after.unexpectedDropped - before.unexpectedDropped).toBe(2 * forged.length)
    expect(after.searchesAnswered - before.searchesAnswered).toBe(1)
    expect(after.searchesFailed - before.searchesFailed).toBe(0)
    await attacker.stop()
    await c.stopAll()
    expect(rejections).toEqual([])
  })

  it('refuses an answer from the next hop that contradicts the path it was sent, and never resolves with it', async () => {
    const c = new Cluster(32)
    const nodes = await graph(c, 16)
    const ids = sortedIds(nodes)
    // the victim searches for its right neighbour, which lies: every search it gets "ends" at a made-up node
    const victim = nodes.find((n) => n.lookupTable().levels[0]?.right !== null)!
    const liarId = victim.lookupTable().levels[0]!.right!.id
    const liar = c.members.find((m) => m.node.identity.id.equals(liarId))!
    await liar.node.stop()
    const fake = Identifier.fromBytes(new Uint8Array(32).fill(0x5a))
    let lies = 0
    await liar.network.register(channel('skipgraph'), {
      processIncomingMessage: () => {},
      processRequest: (_ch, _from, message) => {
        const got = decodeWire(message.payload)
        if (!got.ok || got.msg.kind !== Kind.Search) return { payload: new Uint8Array(0), metadata: {} }
        lies++
        const hops = appendHop(got.msg.hops, fake.bytes, 0)
        return { payload: pack([Kind.SearchResult, got.msg.hop, true, hops]), metadata: {} }
      },
    })
    const before = victim.metrics()
    await expect(victim.searchById(liarId)).rejects.toBeInstanceOf(SearchFailedError)
    expect(lies).toBeGreaterThan(0)
    expect(victim.metrics().malformedDropped - before.malformedDropped).toBeGreaterThan(0)
    expect(victim.metrics().searchesAnswered).toBe(before.searchesAnswered)
    // searches that do not pass the liar are unaffected
    const other = ids.find((id) => !id.equals(liarId) && id.compare(victim.identity.id) < 0)
    if (other !== undefined) {
      const got = await victim.searchById(other)
      expect(got.result.equals(other)).toBe(true)
    }
    await c.stopAll()
    expect(rejections).toEqual([])
  })
})

describe('lost messages (issue 13)', () => {
  const rejections = collectUnhandledRejections()

  it('a search whose hop is lost is sent again after the per-hop timeout and answers', async () => {
    const c = new Cluster(33, {}, { searchHopTimeoutMs: 50 })
    const nodes = await graph(c, 8)
    const [from, to] = [nodes[2]!, nodes[6]!]
    c.hub.setDropRate(1)
    const search = from.searchById(to.identity.id, { timeoutMs: 30_000 })
    await vi.waitFor(() => expect(from.metrics().searchRetries).toBeGreaterThan(0), {
      timeout: 20_000,
      interval: 5,
    })
    c.hub.setDropRate(0)
    const got = await search
    expect(got.found).toBe(true)
    expect(got.result.equals(to.identity.id)).toBe(true)
    expect(from.metrics().searchesTimedOut).toBe(0)
    await c.stopAll()
    expect(rejections).toEqual([])
  })

  it('with 1% of messages lost, 1,000 searches from random nodes answer exactly (at least 99%)', async () => {
    const c = new Cluster(34, {}, { searchHopTimeoutMs: 250, searchTimeoutMs: 60_000 })
    const nodes = await graph(c, 128)
    const ids = sortedIds(nodes)
    c.hub.setDropRate(0.01)
    let exact = 0
    let errors = 0
    const jobs = Array.from({ length: 1000 }, () => ({ from: c.pick(nodes), target: c.pick(ids) }))
    // 50 at a time
    for (let i = 0; i < jobs.length; i += 50) {
      await Promise.all(
        jobs.slice(i, i + 50).map(async ({ from, target }) => {
          try {
            const got = await from.searchById(target)
            const want = searchOracle(ids, from.identity.id, target)
            if (got.result.equals(want.result) && got.found === want.found) exact++
          } catch {
            errors++
          }
        }),
      )
    }
    c.hub.setDropRate(0)
    const retries = nodes.reduce((s, n) => s + n.metrics().searchRetries, 0)
    expect(exact).toBeGreaterThanOrEqual(990)
    expect(exact + errors).toBe(1000)
    expect(retries).toBeGreaterThan(0)
    await c.stopAll()
    expect(rejections).toEqual([])
  }, 300_000)
})

describe('search hops on paths slower than the hop timeout', () => {
  const rejections = collectUnhandledRejections()

  it('are sent again rarely once the answer times of their levels are known, and every search answers exactly', async () => {
    // 25-50 ms a message: a search of a few hops takes longer than the 75 ms hop timeout (the times are long
    // beside a loaded machine's timer lag, which would otherwise decide the ratio below)
    const c = new Cluster(
      35,
      { latency: { min: 25, max: 50 } },
      { searchHopTimeoutMs: 75, searchTimeoutMs: 60_000 },
    )
    const nodes = await graph(c, 16)
    const ids = sortedIds(nodes)
    const round = async (): Promise<{ exact: number; retries: number; forwarded: number }> => {
      const before = nodes.map((n) => n.metrics())
      let exact = 0
      await Promise.all(
        nodes.map(async (from) => {
          for (let i = 0; i < 4; i++) {
            const target = c.pick(ids)
            const got = await from.searchById(target)
            const want = searchOracle(ids, from.identity.id, target)
            if (got.result.equals(want.result) && got.found === want.found) exact++
          }
        }),
      )
      const sum = (k: 'searchRetries' | 'searchesForwarded'): number =>
        nodes.reduce((s, n, i) => s + n.metrics()[k] - before[i]![k], 0)
      return { exact, retries: sum('searchRetries'), forwarded: sum('searchesForwarded') }
    }
    const warm = await round()
    const known = await round()
    expect(warm.exact).toBe(64)
    expect(known.exact).toBe(64)
    expect(known.forwarded).toBeGreaterThan(64)
    expect(known.retries).toBeLessThan(known.forwarded / 4)
    await c.stopAll()
    expect(rejections).toEqual([])
  }, 120_000)
})
