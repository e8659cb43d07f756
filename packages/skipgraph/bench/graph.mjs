// Shared by the skip-graph benchmarks: building a graph by sequential joins, and taking it down.

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
