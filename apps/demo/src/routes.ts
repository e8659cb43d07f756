/**
 * The routes of one collection round: how the tab reaches each remote node without dialling it, along the skip
 * graph's own links only. A neighbour of one of the tab's nodes is asked by that node; a node a fetched table
 * names as a neighbour is asked along the route to that table's node, one relay further (each relay forwards only
 * to its own neighbours or connections, see `describe.ts`). The shortest route offered wins. Other connections
 * are not used: a round every second over them would keep every connection a node ever opened busy, and the
 * node's connection budget could never close the ones the skip graph does not need (its neighbours' are
 * protected).
 *
 * @module
 */
import { MAX_RELAY_HOPS } from './describe.js'
import type { NodeTable } from './graph.js'

/** How a remote node is asked: by local node `via`, along `path` (the first is linked to `via`). */
export interface Route {
  via: string
  path: string[]
}

/** The shortest known route to each remote node of a round. */
export class RouteTable {
  readonly #locals: ReadonlyMap<string, unknown>
  readonly #routes = new Map<string, Route>()
  /** The local nodes that can ask (a describe conduit), with their empty route. */
  readonly #bases = new Map<string, Route>()
  /** Nodes whose tables' neighbours were offered. */
  readonly #extended = new Set<string>()

  constructor(locals: ReadonlyMap<string, unknown>) {
    this.#locals = locals
  }

  /** Local node `id` asks through its own conduit. */
  base(id: string, route: Route): void {
    this.#bases.set(id, route)
  }

  /** Offers `route` to remote node `id`; kept when it is the first or shorter, and not too long to relay. */
  offer(id: string, route: Route): void {
    if (this.#locals.has(id) || route.path.length > MAX_RELAY_HOPS + 1) return
    const had = this.#routes.get(id)
    if (had === undefined || route.path.length < had.path.length) this.#routes.set(id, route)
  }

  /** Offers the neighbours named by every table of `tables` whose node has a route, until nothing new is found. */
  extend(tables: ReadonlyMap<string, NodeTable>): void {
    for (let changed = true; changed; ) {
      changed = false
      for (const [id, t] of tables) {
        if (this.#extended.has(id)) continue
        const base = this.#bases.get(id) ?? this.#routes.get(id)
        if (base === undefined) continue
        this.#extended.add(id)
        changed = true
        for (const l of t.levels) {
          for (const n of [l.left, l.right]) {
            if (n !== null) this.offer(n, { via: base.via, path: [...base.path, n] })
          }
        }
      }
    }
  }

  /** Remote nodes with a route that are neither fetched (`fresh`) nor failed this round. */
  pending(fresh: ReadonlyMap<string, unknown>, failed: ReadonlySet<string>): Array<[string, Route]> {
    return [...this.#routes].filter(([id]) => !fresh.has(id) && !failed.has(id))
  }
}
