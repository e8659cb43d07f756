// Shared by the skip-graph benchmarks: making a member, building a graph by sequential joins, and taking it down.

import { createNetwork, Identifier, MembershipVector } from '@skipmesh/core'
import { createSkipGraphNode } from '../dist/index.js'

/** A fresh identifier of 32 bytes drawn from `random`. */
export function randomId(random) {
  return Identifier.fromBytes(Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256)))
}

/**
 * A started member, not joined: a network over `manager` and a skip-graph node on it whose identity is `id` with
 * the membership vector derived from it, `random` and `options` over the defaults; `create` builds the node
 * (another build of the skip graph, for comparisons). Returns `{ node, network, manager }`.
 * @param {{ id: Identifier, manager: import('@skipmesh/core').ConnectionManager, random: () => number,
 *   options?: Record<string, unknown>, create?: typeof createSkipGraphNode }} spec
 */
export async function makeMember({ id, manager, random, options = {}, create = createSkipGraphNode }) {
  const network = createNetwork({ connectionManager: manager })
  network.start()
  await network.ready()
  const node = create({
    network,
    identity: { id, mv: MembershipVector.fromIdentifier(id) },
    random,
    ...options,
  })
  node.start()
  await node.ready()
  return { node, network, manager }
}

/**
 * Makes `n` members with `makeNode` (started, not joined) and joins them one after the other, each through a
 * member drawn with `random`. Returns the members in join order.
 * @template {{ node: { join(introducer?: unknown): Promise<void>, identity: { id: unknown } } }} M
 * @param {number} n @param {() => Promise<M>} makeNode @param {() => number} random
 * @returns {Promise<M[]>}
 */
export async function joinSequentially(n, makeNode, random) {
  const first = await makeNode()
  await first.node.join()
  const members = [first]
  for (let i = 1; i < n; i++) {
    const m = await makeNode()
    await m.node.join(members[Math.floor(random() * members.length)].node.identity.id)
    members.push(m)
  }
  return members
}

/** Stops every member's node, then its network. */
export async function stopAll(members) {
  await Promise.all(
    members.map(async (m) => {
      await m.node.stop()
      await m.network.stop()
    }),
  )
}

/**
 * Makes `n` members with `makeNode` and joins them faster than one by one: the first `batch` one after the
 * other, then the rest `batch` at a time at once, each through a member drawn with `random` among those joined
 * before its batch. Returns the members in join order.
 * @template {{ node: { join(introducer?: unknown): Promise<void>, identity: { id: unknown } } }} M
 * @param {number} n @param {() => Promise<M>} makeNode @param {() => number} random @param {number} batch
 * @returns {Promise<M[]>}
 */
export async function joinInBatches(n, makeNode, random, batch) {
  const members = await joinSequentially(Math.min(n, batch), makeNode, random)
  while (members.length < n) {
    const joined = [...members]
    const next = []
    for (let i = 0; i < Math.min(batch, n - joined.length); i++) next.push(await makeNode())
    await Promise.all(
      next.map((m) => m.node.join(joined[Math.floor(random() * joined.length)].node.identity.id)),
    )
    members.push(...next)
  }
  return members
}
