import { createNetwork, type Identifier, type Network } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { type ConnectionTagger, createSkipGraphNode, NEIGHBOR_TAG, type SkipGraphNode } from '../src/index.js'
import { Cluster } from './helpers.js'

/** A tagger that records the tags it holds, and every tag option it was given. */
class RecordingTagger implements ConnectionTagger {
  readonly tags = new Map<string, Set<string>>()
  readonly options: Array<{ value: number; protect?: boolean }> = []
  tag(peer: Identifier, name: string, options: { value: number; protect?: boolean }): void {
    this.options.push(options)
    const hex = peer.toHex()
    const names = this.tags.get(hex) ?? new Set<string>()
    names.add(name)
    this.tags.set(hex, names)
  }
  untag(peer: Identifier, name: string): void {
    const names = this.tags.get(peer.toHex())
    names?.delete(name)
    if (names?.size === 0) this.tags.delete(peer.toHex())
  }
  tagged(): string[] {
    return [...this.tags]
      .filter(([, names]) => names.has(NEIGHBOR_TAG))
      .map(([hex]) => hex)
      .sort()
  }
}

interface Tagged {
  readonly node: SkipGraphNode
  readonly network: Network
  readonly tagger: RecordingTagger
}

function tableNeighbors(node: SkipGraphNode): string[] {
  const ids = new Set<string>()
  for (const l of node.lookupTable().levels) {
    if (l.left !== null) ids.add(l.left.id.toHex())
    if (l.right !== null) ids.add(l.right.id.toHex())
  }
  return [...ids].sort()
}

function hasDeadEntry(n: SkipGraphNode): boolean {
  return n.lookupTable().levels.some((l) => l.left?.alive === false || l.right?.alive === false)
}

/** Nodes on one hub, each with its own recording tagger; every table change checks the tagged set at once. */
class TaggedCluster {
  readonly c: Cluster
  readonly members: Tagged[] = []
  /** Table changes after which a node's tagged set differed from its table's neighbours. */
  readonly mismatches: string[] = []
  changes = 0

  constructor(seed: number) {
    this.c = new Cluster(seed)
  }

  async add(): Promise<Tagged> {
    const id = this.c.randomId()
    const network = createNetwork({ connectionManager: this.c.hub.connectionManager(id) })
    network.start()
    await network.ready()
    const tagger = new RecordingTagger()
    const node = createSkipGraphNode({
      network,
      identity: { id, mv: this.c.mvOf(id) },
      random: this.c.random,
      probeIntervalMs: 100,
      connectionTags: tagger,
    })
    // the table as its change events describe it (the snapshot shows no level until the node is linked)
    const mirror = new Map<string, string>()
    node.on('neighbor:change', ({ level, side, current }) => {
      this.changes++
      if (current === null) mirror.delete(`${level}/${side}`)
      else mirror.set(`${level}/${side}`, current.id.toHex())
      const want = [...new Set(mirror.values())].sort()
      const got = tagger.tagged()
      if (JSON.stringify(want) !== JSON.stringify(got))
        this.mismatches.push(`${id.toHex().slice(0, 8)}: ${got.length} tagged, ${want.length} neighbours`)
    })
    node.start()
    await node.ready()
    const member = { node, network, tagger }
    this.members.push(member)
    return member
  }

  expectAllInStep(members: readonly Tagged[]): void {
    for (const m of members) expect(m.tagger.tagged()).toEqual(tableNeighbors(m.node))
    expect(this.mismatches).toEqual([])
  }
}

/** Resolves once no node of `live` has a dead entry or `gone` as a neighbour; re-checked on table changes. */
function repairedAround(
  live: readonly SkipGraphNode[],
  gone: Identifier,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const offs: Array<() => void> = []
    const done = (): boolean =>
      live.every((n) => !hasDeadEntry(n) && !tableNeighbors(n).includes(gone.toHex()))
    const finish = (err?: unknown): void => {
      for (const off of offs) off()
      signal.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onAbort = (): void => finish(new Error('not repaired', { cause: signal.reason }))
    signal.addEventListener('abort', onAbort, { once: true })
    for (const n of live) offs.push(n.on('neighbor:change', () => done() && finish()))
    if (done()) finish()
  })
}

describe('connection tags on neighbours', () => {
  it('a node tags exactly its table neighbours, protected, across joins, leaves and a repair, and untags all when it stops', async () => {
    const t = new TaggedCluster(41)
    const first = await t.add()
    await first.node.join()
    for (let i = 1; i < 24; i++) {
      const m = await t.add()
      await m.node.join(t.c.pick(t.members.slice(0, i)).node.identity.id)
      t.expectAllInStep(t.members)
    }
    expect(first.tagger.tagged().length).toBeGreaterThan(0)
    const options = t.members.flatMap((m) => m.tagger.options)
    expect(options.length).toBeGreaterThan(0)
    expect(options.filter((o) => o.value !== 100 || o.protect !== true)).toEqual([])

    // two leaves: the leavers hold no tag, the others follow their tables
    const leavers = [t.members[5]!, t.members[11]!]
    for (const m of leavers) {
      await m.node.leave()
      expect(m.tagger.tagged()).toEqual([])
    }
    let live = t.members.filter((m) => !leavers.includes(m))
    t.expectAllInStep(live)

    // a crash: probes find it dead, the lists are relinked, and the crashed node's tag goes with its entries
    const crashed = t.members[8]!
    const wasTaggedBy = live.filter((m) => m.tagger.tagged().includes(crashed.node.identity.id.toHex()))
    expect(wasTaggedBy.length).toBeGreaterThan(0)
    await crashed.network.stop()
    live = live.filter((m) => m !== crashed)
    await repairedAround(
      live.map((m) => m.node),
      crashed.node.identity.id,
      AbortSignal.timeout(30_000),
    )
    t.expectAllInStep(live)
    for (const m of live) expect(m.tagger.tagged()).not.toContain(crashed.node.identity.id.toHex())
    expect(t.changes).toBeGreaterThan(100)

    await Promise.all(live.map((m) => m.node.stop()))
    for (const m of live) expect(m.tagger.tagged()).toEqual([])
    await Promise.all(t.members.map((m) => m.network.stop()))
  }, 60_000)
})
