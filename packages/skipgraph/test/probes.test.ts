import { type Identifier, MembershipVector, raceSignal } from '@skipmesh/core'
import { deferred, randomNonce } from '@skipmesh/core/internal'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { SkipGraphNode } from '../src/index.js'
import { sharesPrefix } from '../src/lookup-table.js'
import { checkSkipGraph } from '../src/testing/index.js'
import type * as codec from '../src/wire-codec.js'
import { Kind, type WireMessage } from '../src/wire.js'
import { Cluster, type Member } from './helpers.js'
import { entryOf, HostilePeer } from './hostile.js'
import { repaired } from './settle.js'

/** Every message the nodes of this file encode, as sent (probe reads are told apart by their levels). */
const encoded: WireMessage[] = []
vi.mock('../src/wire-codec.js', async (importOriginal) => {
  const real = await importOriginal<typeof codec>()
  return {
    ...real,
    encodeWire: (msg: WireMessage) => {
      encoded.push(msg)
      return real.encodeWire(msg)
    },
  }
})

const INTERVAL = 1000

/** Lets `ms` of fake time pass in steps of 10 ms, letting every message in flight arrive after each step. */
async function advance(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    await vi.advanceTimersByTimeAsync(10)
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  }
}

/** Two identifiers whose membership vectors share at least 3 bits: neighbours at levels 0-3 in a graph of two. */
function closePair(c: Cluster): [Identifier, Identifier] {
  const a = c.randomId()
  const mv = MembershipVector.fromIdentifier(a)
  for (;;) {
    const b = c.randomId()
    if (sharesPrefix(MembershipVector.fromIdentifier(b), mv, 3)) return [a, b]
  }
}

/** The probe reads among `msgs`: reads of at least 3 levels (the list check reads 2, a lock-holder check 1). */
function probeReads(msgs: readonly WireMessage[]): number {
  return msgs.filter((m) => m.kind === Kind.Read && m.levels.length >= 3).length
}

describe('neighbour probes, one per neighbour pair', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('two neighbours probe each other about once an interval between them, not once each', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const c = new Cluster(31, {}, { probeIntervalMs: INTERVAL })
    const [a, b] = closePair(c)
    const first = await c.add({}, a)
    await first.node.join()
    const second = await c.add({}, b)
    await second.node.join(a)
    await advance(2 * INTERVAL)
    const from = encoded.length
    await advance(100 * INTERVAL)
    const probes = probeReads(encoded.slice(from))
    // each node runs about 100 rounds (every 0.5-1.5 intervals): 200 probes when each probes the other; with the
    // other's probe of the last interval standing for one's own, about 102 (a simulation of the jitter)
    expect(probes).toBeGreaterThan(80)
    expect(probes).toBeLessThanOrEqual(130)
    expect(checkSkipGraph([first.node, second.node])).toEqual([])
    await c.stopAll()
  }, 60_000)

  it('a neighbour that crashes right after it probed us is still found dead within 2.5 intervals', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const c = new Cluster(32, {}, { probeIntervalMs: INTERVAL })
    const first = await c.add()
    await first.node.join()
    for (let i = 1; i < 8; i++)
      await (await c.add()).node.join(c.pick(c.members.slice(0, i)).node.identity.id)
    await advance(3 * INTERVAL)
    const victim = c.members[5]!
    const vid = victim.node.identity.id
    // the crash comes in the step right after the victim's probe round
    const reads = (): number => victim.node.metrics().sentByKind.Read
    const before = reads()
    for (let t = 0; reads() === before; t += 10) {
      expect(t).toBeLessThan(3 * INTERVAL)
      await advance(10)
    }
    const neighbours = c.members.filter(
      (m) =>
        m !== victim &&
        m.node
          .lookupTable()
          .levels.some((l) => l.left?.id.equals(vid) === true || l.right?.id.equals(vid) === true),
    )
    expect(neighbours.length).toBeGreaterThan(0)
    await victim.network.stop()
    // when each neighbour stopped holding a live entry for the victim: it found it dead, or a repair that
    // another one started relinked it past the victim
    const found = new Map<Member, number>()
    const t0 = performance.now()
    const pointsAtVictim = (m: Member): boolean =>
      m.node
        .lookupTable()
        .levels.some((l) => [l.left, l.right].some((e) => e?.alive === true && e.id.equals(vid)))
    const offs = neighbours.map((m) =>
      m.node.on('neighbor:change', () => {
        if (!found.has(m) && !pointsAtVictim(m)) found.set(m, performance.now() - t0)
      }),
    )
    for (let t = 0; found.size < neighbours.length && t < 10 * INTERVAL; t += 10) await advance(10)
    for (const off of offs) off()
    expect(found.size).toBe(neighbours.length)
    expect(Math.max(...found.values())).toBeLessThanOrEqual(2.5 * INTERVAL + 50)
    await c.stopAll()
  }, 60_000)

  it('a neighbour that stops pointing back at one level is caught, also when its probe of us names its other levels (by our probe, or by its own check of its table from above)', async () => {
    const c = new Cluster(33, {}, { probeIntervalMs: 200 })
    const first = await c.add()
    await first.node.join()
    for (let i = 1; i < 16; i++)
      await (await c.add()).node.join(c.pick(c.members.slice(0, i)).node.identity.id)
    const nodes = c.members.map((m) => m.node)
    await repaired(nodes, AbortSignal.timeout(20_000))
    // A and its right neighbour B at levels 0 and 1: B still points at A at level 1 (and so probes A, naming
    // level 1 only) once a peer outside the graph has written B's level-0 left pointer to nothing
    const right = (n: SkipGraphNode, level: number) => n.lookupTable().levels[level]?.right?.id
    const a = nodes.find((n) => {
      const r0 = right(n, 0)
      return r0 !== undefined && right(n, 1)?.equals(r0) === true
    })!
    expect(a).toBeDefined()
    const b = right(a, 0)!
    const peer = await HostilePeer.create(c.hub, c.randomId(), () => undefined)
    const txn = randomNonce()
    expect(await peer.request(b, { kind: Kind.Lock, txn, levels: [0] })).toMatchObject({ granted: true })
    const write = { kind: Kind.Apply, txn, writes: [{ level: 0, side: 'left', entry: null }] } as const
    expect(await peer.request(b, write)).toMatchObject({ ok: true })
    expect(checkSkipGraph(nodes)).not.toEqual([])
    const bNode = nodes.find((n) => n.identity.id.equals(b))!
    // either relinks level 0: A, whose probe of B finds B not pointing back there, or B, whose list check sees its
    // level-1 left (A) nearer than its level-0 left (none); which comes first is a race between two periods
    const repairs = (): number => a.metrics().repairs + bNode.metrics().repairs
    const repairsBefore = repairs()

    await repaired(nodes, AbortSignal.timeout(30_000))
    expect(checkSkipGraph(nodes)).toEqual([])
    expect(repairs()).toBeGreaterThan(repairsBefore)
    expect(bNode.lookupTable().levels[0]!.left?.id.equals(a.identity.id)).toBe(true)
    await peer.stop()
    await c.stopAll()
  }, 60_000)

  it('a neighbour that cannot read a probe with a view (an older build) is probed with plain reads from then on', async () => {
    const c = new Cluster(34, {}, { probeIntervalMs: 100 })
    const n = await c.add()
    await n.node.join()
    const me = n.node.identity
    let hid = c.randomId()
    while (hid.compare(me.id) <= 0) hid = c.randomId()
    const seen: string[] = []
    const plainAfterView = deferred<void>()
    const peer = await HostilePeer.create(c.hub, hid, (_origin, msg): WireMessage | undefined => {
      if (msg.kind !== Kind.Read) return undefined
      seen.push(msg.view === undefined ? 'plain' : 'view')
      // as a build before views: a read with three fields is malformed (an empty reply)
      if (msg.view !== undefined) return undefined
      if (seen.includes('view')) plainAfterView.resolve()
      const levels = msg.levels.map((level) => ({ level, linked: true, left: entryOf(me.id), right: null }))
      return {
        kind: Kind.LockReply,
        granted: true,
        reason: 0,
        mv: MembershipVector.fromIdentifier(hid),
        levels,
      }
    })
    // the peer becomes the node's right neighbour at level 0, under the node's lock
    const txn = randomNonce()
    expect(await peer.request(me.id, { kind: Kind.Lock, txn, levels: [0] })).toMatchObject({ granted: true })
    const write = {
      kind: Kind.Apply,
      txn,
      writes: [{ level: 0, side: 'right', entry: entryOf(hid) }],
    } as const
    expect(await peer.request(me.id, write)).toMatchObject({ ok: true })

    await raceSignal(plainAfterView.promise, AbortSignal.timeout(20_000))
    const firstPlain = seen.indexOf('plain')
    expect(seen.slice(0, firstPlain)).toEqual(['view'])
    expect(seen.slice(firstPlain)).not.toContain('view')
    expect(n.node.metrics().repairs).toBe(0)
    await peer.stop()
    await c.stopAll()
  }, 60_000)
})
