import type { SkipGraphNode } from '../src/index.js'
import { searchOracle } from '../src/testing/index.js'
import { type Cluster, sortedIds } from './helpers.js'

/**
 * Every node of `nodes` searches `perNode` random members of `nodes`, all nodes at once: returns the searches whose
 * answer differs from the oracle's (and those that threw, with the error's name).
 */
export async function inexactSearches(
  c: Cluster,
  nodes: readonly SkipGraphNode[],
  perNode: number,
): Promise<string[]> {
  const ids = sortedIds(nodes)
  const wrong: string[] = []
  await Promise.all(
    nodes.map(async (n) => {
      for (let i = 0; i < perNode; i++) {
        const target = c.pick(ids)
        const what = `${n.identity.id.toHex().slice(0, 8)} → ${target.toHex().slice(0, 8)}`
        try {
          const got = await n.searchById(target)
          const want = searchOracle(ids, n.identity.id, target)
          if (!got.result.equals(want.result) || got.found !== want.found) wrong.push(what)
        } catch (err) {
          wrong.push(`${what}: ${(err as Error).name}`)
        }
      }
    }),
  )
  return wrong
}
