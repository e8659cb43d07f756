import type { SkipGraphNode } from '../src/index.js'
import { checkSkipGraph } from '../src/testing/index.js'
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

export function hasDeadEntry(n: SkipGraphNode): boolean {
  return n.lookupTable().levels.some((l) => l.left?.alive === false || l.right?.alive === false)
}

/**
 * Resolves once `done()` holds: re-checked after every table change and every merge event of any of `nodes` (no
 * polling), bounded by `signal` (then it rejects with `failure()`).
 */
function settle(
  nodes: readonly SkipGraphNode[],
  signal: AbortSignal,
  done: () => boolean,
  failure: () => string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let scheduled = false
    const offs: Array<() => void> = []
    const finish = (err?: unknown): void => {
      for (const off of offs) off()
      signal.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const check = (): void => {
      scheduled = false
      if (done()) finish()
    }
    const onAbort = (): void => finish(new Error(failure(), { cause: signal.reason }))
    signal.addEventListener('abort', onAbort, { once: true })
    const later = (): void => {
      if (scheduled) return
      scheduled = true
      setImmediate(check)
    }
    for (const n of nodes) {
      offs.push(n.on('neighbor:change', later))
      offs.push(n.on('merge', later))
    }
    check()
  })
}

/**
 * Resolves once `live` form a correct skip graph with no dead entry left: re-checked after every table change
 * of any of them (no polling), bounded by `signal` (then it rejects with the first violations).
 */
export function repaired(live: readonly SkipGraphNode[], signal: AbortSignal): Promise<void> {
  return settle(
    live,
    signal,
    () => !live.some(hasDeadEntry) && checkSkipGraph(live, { maxViolations: 1 }).length === 0,
    () => `not repaired: ${JSON.stringify(checkSkipGraph(live, { maxViolations: 5 }).map((v) => v.message))}`,
  )
}

/**
 * Resolves once `nodes` are joined, none is merging, and together they form one correct skip graph with no dead
 * entry: re-checked after every table change and every merge event of any of them (no polling), bounded by
 * `signal` (then it rejects with the state it was in).
 */
export function oneGraph(nodes: readonly SkipGraphNode[], signal: AbortSignal): Promise<void> {
  return settle(
    nodes,
    signal,
    () =>
      nodes.every((n) => n.status === 'joined' && !n.merging) &&
      !nodes.some(hasDeadEntry) &&
      checkSkipGraph(nodes, { maxViolations: 1 }).length === 0,
    () => {
      const statuses = nodes.map((n) => `${n.status}${n.merging ? '+merging' : ''}`)
      const violations = checkSkipGraph(nodes, { maxViolations: 5 }).map((v) => v.message)
      return `not one graph: ${JSON.stringify({ statuses, violations })}`
    },
  )
}
