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
 * Resolves once `live` form a correct skip graph with no dead entry left: re-checked after every table change
 * of any of them (no polling), bounded by `signal` (then it rejects with the first violations).
 */
export function repaired(live: readonly SkipGraphNode[], signal: AbortSignal): Promise<void> {
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
      if (live.some(hasDeadEntry)) return
      if (checkSkipGraph(live, { maxViolations: 1 }).length === 0) finish()
    }
    const onAbort = (): void => {
      const violations = checkSkipGraph(live, { maxViolations: 5 }).map((v) => v.message)
      finish(new Error(`not repaired: ${JSON.stringify(violations)}`, { cause: signal.reason }))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    for (const n of live) {
      offs.push(
        n.on('neighbor:change', () => {
          if (scheduled) return
          scheduled = true
          setImmediate(check)
        }),
      )
    }
    check()
  })
}
