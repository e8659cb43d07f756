import { AbortError, type Identifier } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { JoinFailedError, SearchFailedError, SearchTimeoutError } from '../src/index.js'
import { checkSkipGraph, searchOracle } from '../src/testing/index.js'
import { absentId, Cluster, collectUnhandledRejections, type Member, sortedIds } from './helpers.js'
import { buildGraph } from './settle.js'

function rightNeighbour(m: Member, members: readonly Member[]): Member | undefined {
  const r = m.node.lookupTable().levels[0]?.right
  return r == null ? undefined : members.find((x) => x.node.identity.id.equals(r.id))
}

describe('leaves', () => {
  it('25% of nodes leaving, adjacent ones concurrently, leave a correct graph with exact searches', async () => {
    const c = new Cluster(7)
    await buildGraph(c, 256)
    const leaving = new Set<Member>()
    // 16 leave one after the other
    while (leaving.size < 16) {
      const m = c.pick(c.members.filter((x) => !leaving.has(x)))
      leaving.add(m)
      await m.node.leave()
    }
    // 48 more leave at once, among them 12 pairs of level-0 neighbours
    const batch = new Set<Member>()
    while (batch.size < 24) {
      const m = c.pick(c.members.filter((x) => !leaving.has(x) && !batch.has(x)))
      const r = rightNeighbour(m, c.members)
      if (r === undefined || batch.has(r)) continue
      batch.add(m)
      batch.add(r)
    }
    while (batch.size < 48) batch.add(c.pick(c.members.filter((x) => !leaving.has(x) && !batch.has(x))))
    await Promise.all([...batch].map((m) => m.node.leave()))
    for (const m of batch) leaving.add(m)

    expect(leaving.size).toBe(64)
    for (const m of leaving) {
      expect(m.node.status).toBe('left')
      expect(m.node.state).toBe('stopped')
      expect(m.node.lookupTable().levels).toEqual([])
    }
    const remaining = c.members.filter((m) => !leaving.has(m)).map((m) => m.node)
    expect(checkSkipGraph(remaining).map((v) => v.message)).toEqual([])
    const ids = sortedIds(remaining)
    const present = new Set(ids.map((id) => id.toHex()))
    const departed = [...leaving].map((m) => m.node.identity.id)
    const mismatches: string[] = []
    await Promise.all(
      remaining.map(async (n) => {
        for (const target of [c.pick(ids), absentId(c.random, present), c.pick(departed)]) {
          const got = await n.searchById(target)
          const want = searchOracle(ids, n.identity.id, target)
          if (!got.result.equals(want.result) || got.found !== want.found) mismatches.push(target.toHex())
        }
      }),
    )
    expect(mismatches).toEqual([])
    await c.stopAll()
  }, 120_000)
})

describe('crashes', () => {
  const rejections = collectUnhandledRejections()

  it('5% of nodes stopping without leaving, probing off: searches started at once answer exactly for live targets or fail with a typed error', async () => {
    const c = new Cluster(11, {}, { searchTimeoutMs: 10_000 })
    await buildGraph(c, 256)
    const crashed = await c.crash(13)

    const live = c.members.filter((m) => !crashed.has(m)).map((m) => m.node)
    const ids = sortedIds(live)
    const present = new Set(ids.map((id) => id.toHex()))
    const deadIds: Identifier[] = [...crashed].map((m) => m.node.identity.id)
    let exact = 0
    let typed = 0
    let wrong = 0
    let liveTargetsFound = 0
    let liveTargets = 0
    await Promise.all(
      live.map(async (n) => {
        const targets = [
          c.pick(ids),
          c.pick(ids),
          c.pick(ids),
          c.pick(ids),
          absentId(c.random, present),
          c.pick(deadIds),
        ]
        for (const target of targets) {
          const isLive = present.has(target.toHex())
          if (isLive) liveTargets++
          try {
            const got = await n.searchById(target)
            const want = searchOracle(ids, n.identity.id, target)
            if (got.result.equals(want.result) && got.found === want.found) exact++
            else wrong++
            if (isLive && got.found) liveTargetsFound++
          } catch (err) {
            if (err instanceof SearchFailedError || err instanceof SearchTimeoutError) typed++
            else throw err
          }
        }
      }),
    )
    expect(wrong).toBe(0)
    expect(exact + typed).toBe(live.length * 6)
    // routing around dead neighbours, and the repair the failed sends start, keep live targets reachable
    console.log(
      `crash: ${liveTargetsFound}/${liveTargets} live targets found, ${typed} typed errors, ${exact} exact`,
    )
    expect(liveTargetsFound / liveTargets).toBeGreaterThan(0.8)
    const dead = live.reduce((s, n) => s + n.metrics().deadNeighbors, 0)
    expect(dead).toBeGreaterThan(0)
    // a join through a crashed introducer fails with a typed error
    const late = await c.add()
    await expect(late.node.join(deadIds[0]!)).rejects.toBeInstanceOf(JoinFailedError)
    expect(late.node.status).toBe('new')

    await new Promise((resolve) => setImmediate(resolve))
    expect(rejections).toEqual([])
    await c.stopAll()
  }, 120_000)

  it('a search can be aborted while in flight', async () => {
    const c = new Cluster(3, { manual: true })
    const a = await c.add()
    await a.node.join()
    const b = await c.add()
    const joined = b.node.join(a.node.identity.id)
    await c.hub.deliverAll()
    await joined
    const controller = new AbortController()
    // a's id: the search must be forwarded to a, and the manual hub holds it in flight
    const pending = b.node.searchById(a.node.identity.id, { signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toBeInstanceOf(AbortError)
    await c.hub.deliverAll()
    await c.stopAll()
  })
})
