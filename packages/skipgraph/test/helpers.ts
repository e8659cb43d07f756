import {
  createNetwork,
  Identifier,
  MemoryHub,
  type MemoryHubOptions,
  MembershipVector,
  type Network,
} from '@skipmesh/core'
import { mulberry32 } from '@skipmesh/core/internal'
import { afterEach, beforeEach } from 'vitest'
import { createSkipGraphNode, type SkipGraphNode, type SkipGraphNodeOptions } from '../src/index.js'

/** A seedable PRNG in [0, 1): core's mulberry32. */
export const rng: (seed: number) => () => number = mulberry32

export function randomBytes(random: () => number): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = Math.floor(random() * 256)
  return out
}

export interface Member {
  readonly node: SkipGraphNode
  readonly network: Network
}

export class Cluster {
  readonly hub: MemoryHub
  readonly random: () => number
  readonly members: Member[] = []
  readonly #nodeOptions: Partial<SkipGraphNodeOptions>

  constructor(
    seed: number,
    hubOptions: MemoryHubOptions = {},
    nodeOptions: Partial<SkipGraphNodeOptions> = {},
  ) {
    this.hub = new MemoryHub({ seed, ...hubOptions })
    this.random = rng(seed * 7919 + 17)
    this.#nodeOptions = nodeOptions
  }

  randomMv(): MembershipVector {
    return MembershipVector.fromBytes(randomBytes(this.random))
  }

  randomId(): Identifier {
    return Identifier.fromBytes(randomBytes(this.random))
  }

  /**
   * The membership vector of a node with the identifier `id`: derived from it. A vector is still drawn (and
   * dropped), so the identifiers and every later draw of a seed are the ones they were when vectors were random.
   */
  mvOf(id: Identifier): MembershipVector {
    randomBytes(this.random)
    return MembershipVector.fromIdentifier(id)
  }

  /**
   * A started node (not joined), with `options` over the cluster's, and the identifier `id` when given. Its
   * membership vector is derived from `id`, or drawn at random when the options turn `verifyMembershipVectors` off
   * (the vectors every test had before they were derived).
   */
  async add(options: Partial<SkipGraphNodeOptions> = {}, id = this.randomId()): Promise<Member> {
    const drawn = MembershipVector.fromBytes(randomBytes(this.random))
    const chosen = { ...this.#nodeOptions, ...options }.verifyMembershipVectors === false
    const mv = chosen ? drawn : MembershipVector.fromIdentifier(id)
    const network = createNetwork({ connectionManager: this.hub.connectionManager(id) })
    network.start()
    await network.ready()
    const node = createSkipGraphNode({
      random: this.random,
      probeIntervalMs: 0,
      mergeCheckMs: 0,
      ...this.#nodeOptions,
      ...options,
      network,
      identity: { id, mv },
    })
    node.start()
    await node.ready()
    const member = { node, network }
    this.members.push(member)
    return member
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!
  }

  /**
   * Crashes `count` distinct random members (never the first, the graph's seed): their networks stop without a
   * leave, as a closed tab or a killed process would. Returns the crashed members.
   */
  async crash(count: number): Promise<Set<Member>> {
    const crashed = new Set<Member>()
    while (crashed.size < count) crashed.add(this.pick(this.members.slice(1)))
    await Promise.all([...crashed].map((m) => m.network.stop()))
    return crashed
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        await m.node.stop()
        await m.network.stop()
      }),
    )
  }
}

export function sortedIds(nodes: readonly SkipGraphNode[]): Identifier[] {
  return nodes.map((n) => n.identity.id).sort((a, b) => a.compare(b))
}

/** An identifier not in `present` (drawn from `random`). */
export function absentId(random: () => number, present: ReadonlySet<string>): Identifier {
  for (;;) {
    const id = Identifier.fromBytes(randomBytes(random))
    if (!present.has(id.toHex())) return id
  }
}

/**
 * Collects the process's unhandled rejections during each test of the enclosing `describe` (the array is emptied
 * before each test), so a test can assert that none happened.
 */
export function collectUnhandledRejections(): unknown[] {
  const rejections: unknown[] = []
  const onRejection = (reason: unknown): void => {
    rejections.push(reason)
  }
  beforeEach(() => {
    rejections.length = 0
    process.on('unhandledRejection', onRejection)
  })
  afterEach(() => {
    process.off('unhandledRejection', onRejection)
  })
  return rejections
}
