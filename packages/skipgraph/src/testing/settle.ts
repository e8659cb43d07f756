/**
 * Waiting, without polling, until a set of nodes has settled: re-checked after every table change and every merge
 * event of any of them, bounded by an AbortSignal. Used by the tests and the merge benchmark.
 *
 * @module
 */
import type { SkipGraphNode } from '../contract.js'
import { checkSkipGraph } from './index.js'

/** Whether `n` holds an entry it found dead (a repair has yet to relink it). */
export function hasDeadEntry(n: SkipGraphNode): boolean {
  return n.lookupTable().levels.some((l) => l.left?.alive === false || l.right?.alive === false)
}

/**
 * Resolves once `done()` holds: re-checked (once per turn of the event loop at most) after every table change and
 * every merge event of any of `nodes`, bounded by `signal` (then it rejects with an Error whose message is
 * `failure()`, caused by the signal's reason).
 */
export function settle(
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
      setTimeout(check, 0)
    }
    for (const n of nodes) {
      offs.push(n.on('neighbor:change', later))
      offs.push(n.on('merge', later))
    }
    check()
  })
}

/**
 * Resolves once `live` form a correct skip graph with no dead entry left, bounded by `signal` (then it rejects with
 * the first violations).
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
 * entry, bounded by `signal` (then it rejects with the state it was in).
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
