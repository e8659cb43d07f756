import type { Identifier } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { SearchFailedError, SearchTimeoutError, type SkipGraphNode } from '../src/index.js'
import { searchOracle } from '../src/testing/index.js'
import { Cluster, type Member, sortedIds } from './helpers.js'
import { repaired } from './settle.js'

/**
 * Short timeouts and leases, no probing: what heals a lost message here is the protocol itself (a request's
 * timeout, a lock's lease, the relink a failed commit asks for), not a probe that happens to look.
 */
const LOSSY = {
  requestTimeoutMs: 500,
  searchTimeoutMs: 2000,
  lockWaitMs: 250,
  lockLeaseMs: 1000,
  probeIntervalMs: 0,
}

/** Joins `m` through a random joined member, until it is joined or `deadline` passes; whether it joined. */
async function joinUntil(c: Cluster, m: Member, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    const joined = c.members.filter((x) => x !== m && x.node.status === 'joined')
    try {
      await m.node.join(c.pick(joined).node.identity.id, {
        signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
      })
      return true
    } catch {
      // typed failures (timeouts, aborted attempts) are expected under loss: the next try resumes
    }
  }
  return m.node.status === 'joined'
}

/** The members linked into the graph. */
function linked(c: Cluster): SkipGraphNode[] {
  return c.members.map((m) => m.node).filter((n) => n.status === 'joined')
}

describe('message loss', () => {
  it('at 1% loss, at least 95% of 64 sequential joins succeed within 30 s, the joined nodes form a correct skip graph, and searches answer exactly or fail typed', async () => {
    const c = new Cluster(11, { dropRate: 0.01 }, LOSSY)
    const first = await c.add()
    await first.node.join()
    const failed: Member[] = []
    for (let i = 0; i < 64; i++) {
      const m = await c.add()
      const joined = c.members.filter((x) => x !== m && x.node.status === 'joined')
      try {
        await m.node.join(c.pick(joined).node.identity.id, { signal: AbortSignal.timeout(30_000) })
      } catch {
        failed.push(m)
      }
    }
    expect(failed.length).toBeLessThanOrEqual(3) // >= 61 of 64
    // a failed join that linked some levels resumes (still at 1% loss); one that linked none stays out
    for (const m of failed) if (m.node.status === 'incomplete') await joinUntil(c, m, Date.now() + 30_000)
    expect(c.members.filter((m) => m.node.status === 'incomplete')).toEqual([])
    const nodes = linked(c)
    await repaired(nodes, AbortSignal.timeout(20_000))

    const ids = sortedIds(nodes)
    let exact = 0
    let typed = 0
    for (let batch = 0; batch < 10; batch++) {
      const outcomes = await Promise.all(
        Array.from({ length: 100 }, async () => {
          const from = c.pick(nodes)
          const target: Identifier = c.pick(ids)
          try {
            const got = await from.searchById(target)
            const want = searchOracle(ids, from.identity.id, target)
            return got.result.equals(want.result) && got.found === want.found ? 'exact' : 'wrong'
          } catch (err) {
            return err instanceof SearchTimeoutError || err instanceof SearchFailedError ? 'typed' : 'untyped'
          }
        }),
      )
      exact += outcomes.filter((o) => o === 'exact').length
      typed += outcomes.filter((o) => o === 'typed').length
    }
    console.log(`1% loss: ${exact}/1000 searches exact, ${typed} failed typed, ${nodes.length} nodes joined`)
    // a search never answers wrongly: it is exact or fails with a typed error
    expect(exact + typed).toBe(1000)
    await c.stopAll()
  }, 180_000)

  it('at 5% loss no join or search outlives its timeout; once the loss stops every later join succeeds and the graph is correct', async () => {
    const c = new Cluster(12, {}, LOSSY)
    const first = await c.add()
    await first.node.join()
    for (let i = 1; i < 16; i++) {
      const m = await c.add()
      await m.node.join(c.pick(c.members.slice(0, i)).node.identity.id)
    }
    c.hub.setDropRate(0.05)
    const JOIN_MS = 10_000
    // an aborted join may be committing one level: that ends within one request timeout
    const joinSlack = LOSSY.requestTimeoutMs + 1000
    const lossy = await Promise.all(
      Array.from({ length: 16 }, async () => {
        const m = await c.add()
        const t0 = Date.now()
        await m.node
          .join(c.pick(c.members.slice(0, 16)).node.identity.id, { signal: AbortSignal.timeout(JOIN_MS) })
          .catch(() => {})
        return { m, ms: Date.now() - t0 }
      }),
    )
    expect(lossy.filter((j) => j.ms > JOIN_MS + joinSlack)).toEqual([])
    const searchMs = await Promise.all(
      Array.from({ length: 64 }, async () => {
        const from = c.pick(c.members.slice(0, 16)).node
        const t0 = Date.now()
        await from.searchById(c.pick(c.members).node.identity.id, { timeoutMs: 2000 }).catch(() => {})
        return Date.now() - t0
      }),
    )
    expect(searchMs.filter((ms) => ms > 2000 + 1000)).toEqual([])

    c.hub.setDropRate(0)
    for (const { m } of lossy) {
      if (m.node.status === 'joined') continue
      const joined = c.members.filter((x) => x !== m && x.node.status === 'joined')
      await m.node.join(c.pick(joined).node.identity.id)
    }
    for (let i = 0; i < 8; i++) {
      const m = await c.add()
      await m.node.join(c.pick(linked(c)).identity.id)
    }
    const nodes = c.members.map((m) => m.node)
    expect(nodes.filter((n) => n.status !== 'joined')).toEqual([])
    await repaired(nodes, AbortSignal.timeout(20_000))
    await c.stopAll()
  }, 120_000)
})

/**
 * With the list check on (it runs at the probe interval). 24 joins at once at 2 % loss can leave a level's list split
 * in two consistent parts: a node whose write at its left neighbour was lost is reachable from the right only, and
 * a node that links beside it and climbs is then invisible from the head of the level below, so two creators start
 * the same level above (docs/DECISIONS.md, "Relinking past a displaced neighbour"). Finding such splits is the list
 * check's job by design; without it about one run of these cases in 200 did not mend.
 */
describe.concurrent('concurrent joins losing messages (lost applies and releases heal; the list check mends split lists)', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`24 nodes joining at once at 2% loss all join and form a correct skip graph (seed ${seed})`, async () => {
      const c = new Cluster(
        seed,
        { latency: { min: 0, max: 20 }, dropRate: 0.02 },
        { ...LOSSY, requestTimeoutMs: 300, probeIntervalMs: 1000 },
      )
      const first = await c.add()
      await first.node.join()
      for (let i = 1; i < 8; i++) {
        const m = await c.add()
        await joinUntil(c, m, Date.now() + 30_000)
      }
      const joiners: Member[] = []
      for (let i = 0; i < 24; i++) joiners.push(await c.add())
      const deadline = Date.now() + 45_000
      const outcomes = await Promise.all(joiners.map((m) => joinUntil(c, m, deadline)))
      expect(outcomes.filter((ok) => !ok).length).toBe(0)
      await repaired(
        c.members.map((m) => m.node),
        AbortSignal.timeout(20_000),
      )
      await c.stopAll()
    }, 120_000)
  }
})
