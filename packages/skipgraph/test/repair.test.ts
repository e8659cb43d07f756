import { type Identifier, MembershipVector } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { JoinFailedError, SearchFailedError, SearchTimeoutError, type SkipGraphNode } from '../src/index.js'
import { checkSkipGraph, searchOracle } from '../src/testing/index.js'
import { absentId, Cluster, collectUnhandledRejections, type Member, sortedIds } from './helpers.js'
import { beside, HostilePeer } from './hostile.js'
import { buildGraph, repaired } from './settle.js'
import { Kind } from '../src/wire.js'

/** Every live node searches `perNode` live targets, one absent id and one crashed id: all must equal the oracle. */
async function expectExactSearches(
  c: Cluster,
  live: readonly SkipGraphNode[],
  dead: readonly Identifier[],
  perNode: number,
): Promise<void> {
  const ids = sortedIds(live)
  const present = new Set(ids.map((id) => id.toHex()))
  const wrong: string[] = []
  let liveSearches = 0
  await Promise.all(
    live.map(async (n) => {
      const targets: Identifier[] = []
      for (let i = 0; i < perNode; i++) targets.push(c.pick(ids))
      targets.push(absentId(c.random, present))
      if (dead.length > 0) targets.push(c.pick(dead))
      for (const target of targets) {
        if (present.has(target.toHex())) liveSearches++
        const got = await n.searchById(target)
        const want = searchOracle(ids, n.identity.id, target)
        if (!got.result.equals(want.result) || got.found !== want.found)
          wrong.push(`${n.identity.id.toHex().slice(0, 8)} → ${target.toHex().slice(0, 8)}`)
      }
    }),
  )
  expect(wrong).toEqual([])
  expect(liveSearches).toBeGreaterThanOrEqual(live.length * perNode)
}

describe('repair of crashed neighbours', () => {
  const rejections = collectUnhandledRejections()

  it('after 5% of 256 nodes crash, probes find them, the lists are relinked and every search for a live target succeeds', async () => {
    const c = new Cluster(11, {}, { probeIntervalMs: 300 })
    await buildGraph(c, 256)
    const crashed = await c.crash(13)
    const live = c.members.filter((m) => !crashed.has(m)).map((m) => m.node)
    const dead = [...crashed].map((m) => m.node.identity.id)

    await repaired(live, AbortSignal.timeout(30_000))
    expect(checkSkipGraph(live)).toEqual([])
    expect(live.reduce((s, n) => s + n.metrics().repairs, 0)).toBeGreaterThan(0)
    await expectExactSearches(c, live, dead, 4)

    // a node that had a crashed neighbour leaves gracefully now, and the graph stays correct
    const leaver = live.find((n) => n.metrics().repairs > 0)!
    await leaver.leave()
    const rest = live.filter((n) => n !== leaver)
    expect(checkSkipGraph(rest)).toEqual([])
    await expect(c.add().then((m) => m.node.join(dead[0]!))).rejects.toBeInstanceOf(JoinFailedError)

    await new Promise((resolve) => setImmediate(resolve))
    expect(rejections).toEqual([])
    await c.stopAll()
  }, 60_000)

  it('searches started right after a crash, with probing off, start the repair, wait for it where blocked, and all find their live targets', async () => {
    const c = new Cluster(12)
    await buildGraph(c, 128)
    const crashed = await c.crash(6)
    const live = c.members.filter((m) => !crashed.has(m)).map((m) => m.node)
    const ids = sortedIds(live)
    let found = 0
    let typed = 0
    let wrong = 0
    await Promise.all(
      live.map(async (n) => {
        for (let i = 0; i < 4; i++) {
          const target = c.pick(ids)
          try {
            const got = await n.searchById(target)
            if (got.found && got.result.equals(target)) found++
            else wrong++
          } catch (err) {
            if (err instanceof SearchFailedError || err instanceof SearchTimeoutError) typed++
            else throw err
          }
        }
      }),
    )
    expect(wrong).toBe(0)
    expect(typed).toBe(0)
    expect(found).toBe(live.length * 4)
    expect(live.reduce((s, n) => s + n.metrics().deadNeighbors, 0)).toBeGreaterThan(0)
    await c.stopAll()
  }, 60_000)

  it('two and three adjacent crashed nodes are stepped over: the lists close the gap', async () => {
    const c = new Cluster(13, {}, { probeIntervalMs: 200 })
    await buildGraph(c, 64)
    const byId = [...c.members].sort((a, b) => a.node.identity.id.compare(b.node.identity.id))
    // three adjacent at level 0 in the middle, two adjacent near the start, and the greatest node
    const crashed = new Set<Member>([byId[20]!, byId[21]!, byId[22]!, byId[3]!, byId[4]!, byId[63]!])
    await Promise.all([...crashed].map((m) => m.network.stop()))
    const live = c.members.filter((m) => !crashed.has(m)).map((m) => m.node)

    await repaired(live, AbortSignal.timeout(30_000))
    expect(checkSkipGraph(live)).toEqual([])
    await expectExactSearches(
      c,
      live,
      [...crashed].map((m) => m.node.identity.id),
      8,
    )
    await c.stopAll()
  }, 60_000)

  it('a live node beyond a dead neighbour that is in no list (it cleared its table to rejoin) is stepped over: the list ends before it', async () => {
    // the frozen-tab e2e case: p's right neighbour d froze, and the only node beyond it, e, cleared its table to
    // rejoin; p's repair found e (it had heard from e) and tried to link to it, again and again, while e's join
    // waited for p's pointer at the dead d to be mended
    const c = new Cluster(27, {}, { probeIntervalMs: 200 })
    await buildGraph(c, 8)
    const byId = [...c.members].sort((a, b) => a.node.identity.id.compare(b.node.identity.id))
    const [p, d] = byId.slice(-2) as [Member, Member]
    const e = await HostilePeer.create(c.hub, beside(d.node.identity.id, 1), (_origin, msg) =>
      msg.kind === Kind.Read || msg.kind === Kind.Lock
        ? {
            kind: Kind.LockReply,
            granted: true,
            reason: 0,
            mv: MembershipVector.fromIdentifier(beside(d.node.identity.id, 1)),
            levels: msg.levels.map((level) => ({ level, linked: false, left: null, right: null })),
          }
        : undefined,
    )
    // p hears from e, so e is among the nodes p's repair looks at past d
    expect(await e.request(p.node.identity.id, { kind: Kind.Read, levels: [0] })).toMatchObject({
      granted: true,
    })
    await d.network.stop()
    const live = c.members.filter((m) => m !== d).map((m) => m.node)

    await repaired(live, AbortSignal.timeout(15_000))
    expect(checkSkipGraph(live)).toEqual([])
    await e.stop()
    await c.stopAll()
  }, 60_000)

  it('a crash during concurrent joins does not block them: they finish or fail typed, and resume into a correct graph', async () => {
    const c = new Cluster(
      14,
      { latency: { min: 0, max: 2 } },
      { probeIntervalMs: 200, requestTimeoutMs: 1000 },
    )
    await buildGraph(c, 32)
    const old = [...c.members]
    const joiners: Member[] = []
    for (let i = 0; i < 32; i++) joiners.push(await c.add())
    const victims = new Set<Member>([old[5]!, old[17]!])
    const introducers = old.filter((m) => !victims.has(m))
    const joins = joiners.map((m) => m.node.join(c.pick(introducers).node.identity.id))
    // crash as soon as the first join commits somewhere: the others are walking and holding locks
    await new Promise<void>((resolve) => {
      const offs = old.map((m) =>
        m.node.on('neighbor:change', () => {
          for (const off of offs) off()
          resolve()
        }),
      )
    })
    await Promise.all([...victims].map((m) => m.network.stop()))
    const outcomes = await Promise.allSettled(joins)
    const failures = outcomes
      .filter((o) => o.status === 'rejected')
      .map((o) => (o as PromiseRejectedResult).reason)
    for (const err of failures)
      expect((err as Error).name).toMatch(/^(JoinFailedError|SearchFailedError|SearchTimeoutError)$/)
    // a failed join resumes (once the lists around the crashed nodes are repaired, it succeeds)
    for (const m of joiners) {
      for (let attempt = 0; m.node.status !== 'joined'; attempt++) {
        try {
          await m.node.join(c.pick(introducers).node.identity.id)
        } catch (err) {
          expect((err as Error).name).toMatch(/^(JoinFailedError|SearchFailedError|SearchTimeoutError)$/)
          if (attempt >= 4) throw err
        }
      }
    }
    const live = c.members.filter((m) => !victims.has(m)).map((m) => m.node)
    await repaired(live, AbortSignal.timeout(30_000))
    expect(checkSkipGraph(live)).toEqual([])
    await expectExactSearches(
      c,
      live,
      [...victims].map((m) => m.node.identity.id),
      8,
    )
    await c.stopAll()
  }, 60_000)
})
