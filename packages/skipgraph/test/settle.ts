import type { Cluster } from './helpers.js'

/** Joins `n` new members one after another, each through a random earlier one. */
export async function buildGraph(c: Cluster, n: number): Promise<void> {
  const first = await c.add()
  await first.node.join()
  for (let i = 1; i < n; i++) {
    const m = await c.add()
    await m.node.join(c.pick(c.members.slice(0, i)).node.identity.id)
  }
}

export { hasDeadEntry, oneGraph, repaired, settle } from '../src/testing/index.js'
