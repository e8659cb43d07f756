/**
 * Where the picture comes from: the tab collects the real lookup table of every node it can reach and builds
 * the snapshot it draws. It asks only over links that exist (see `describe.ts`): its own nodes' tables are read
 * directly; a node that one of them is connected to, or has as a neighbour, is asked by that node; every other
 * node is found as a neighbour in a table already fetched and asked through the overlay, along the neighbour
 * links that led to it (breadth first, so the path is short). It never dials the room's peers.
 *
 * @module
 */
import type { Conduit } from '@skipmesh/core'
import { MAX_RELAY_HOPS, requestTable } from './describe.js'
import { type GraphSnapshot, type NodeTable, buildSnapshot } from './graph.js'
import type { LocalNode } from './node.js'

/** A node that failed to answer this many rounds in a row is gone. */
const GONE_AFTER_FAILURES = 2

/** What the collector needs from its tab. */
export interface CollectorHost {
  readonly tab: string
  /** This tab's nodes, joined or not. */
  localNodes(): Iterable<LocalNode>
  /** The describe conduit of a local node, once registered. */
  conduitOf(hex: string): Conduit | undefined
  countBadFrame(): void
  log(kind: 'join' | 'gone' | 'info', text: string): void
}

/** How a remote node is asked: by local node `via`, along `path` (the first is linked to `via`). */
interface Route {
  via: string
  path: string[]
}

/** Collects lookup tables round by round and builds the snapshot the picture is drawn from. */
export class GraphCollector {
  readonly #host: CollectorHost
  readonly #tables = new Map<string, NodeTable>()
  readonly #failures = new Map<string, number>()
  readonly #gone = new Set<string>()
  #snapshot: GraphSnapshot = buildSnapshot([], new Set(), [], [])

  constructor(host: CollectorHost) {
    this.#host = host
  }

  /** The snapshot of the last round. */
  snapshot(): GraphSnapshot {
    return this.#snapshot
  }

  /** The last table fetched of `id` (remote nodes only). */
  table(id: string): NodeTable | undefined {
    return this.#tables.get(id)
  }

  /** Whether `id` was seen and then left or failed. */
  isGone(id: string): boolean {
    return this.#gone.has(id)
  }

  /** Joined remote nodes whose tables the tab holds (introducers for a join). */
  joinedRemotes(): string[] {
    const out: string[] = []
    for (const t of this.#tables.values()) if (t.joined && !this.#gone.has(t.id)) out.push(t.id)
    return out
  }

  /** Keeps a table learnt elsewhere (a join's answer) until the next round. */
  remember(table: NodeTable): void {
    this.#tables.set(table.id, table)
  }

  /** Forgets a local node that stopped. */
  forget(id: string): void {
    this.#tables.delete(id)
  }

  /** One round: fetches every reachable table, updates who is gone, returns the new snapshot. */
  async round(): Promise<GraphSnapshot> {
    const locals = new Map<string, LocalNode>()
    for (const n of this.#host.localNodes()) locals.set(n.hex, n)
    const fresh = new Map<string, NodeTable>()
    for (const n of locals.values()) fresh.set(n.hex, n.describe(this.#host.tab))
    const routes = new Map<string, Route>()
    const failed = new Set<string>()
    if (![...locals.keys()].some((id) => this.#host.conduitOf(id) !== undefined)) {
      // nothing to ask through: draw only this tab's own nodes
      this.#tables.clear()
      this.#snapshot = buildSnapshot(fresh.values(), new Set(locals.keys()), this.#gone, [])
      return this.#snapshot
    }
    let frontier = [...fresh.keys()]
    // the nodes this tab's nodes are connected to are asked directly too
    const direct = new Map<string, string>()
    for (const n of locals.values())
      if (this.#host.conduitOf(n.hex) !== undefined)
        for (const r of n.connections()) if (!locals.has(r)) direct.set(r, n.hex)
    for (let wave = 0; wave <= MAX_RELAY_HOPS && frontier.length > 0; wave++) {
      const todo = new Map<string, Route>()
      const offer = (id: string, route: Route): void => {
        if (locals.has(id) || fresh.has(id) || failed.has(id) || routes.has(id)) return
        const had = todo.get(id)
        if (had === undefined || route.path.length < had.path.length) todo.set(id, route)
      }
      for (const from of frontier) {
        const t = fresh.get(from)!
        const base: Route | undefined = locals.has(from)
          ? this.#host.conduitOf(from) === undefined
            ? undefined
            : { via: from, path: [] }
          : routes.get(from)
        if (base === undefined) continue
        for (const l of t.levels) {
          for (const n of [l.left, l.right]) {
            if (n === null) continue
            const via = direct.get(n)
            offer(n, via !== undefined ? { via, path: [n] } : { via: base.via, path: [...base.path, n] })
          }
        }
      }
      if (wave === 0) for (const [r, via] of direct) offer(r, { via, path: [r] })
      for (const [id, route] of todo) routes.set(id, route)
      const got = await Promise.all([...todo].map(([id, route]) => this.#fetch(id, route)))
      frontier = []
      for (const t of got) {
        if (t === undefined) continue
        fresh.set(t.id, t)
        frontier.push(t.id)
      }
      for (const id of todo.keys()) if (!fresh.has(id)) failed.add(id)
    }
    this.#settle(fresh, failed, locals)
    const connections: Array<{ from: string; to: string }> = []
    for (const n of locals.values()) for (const r of n.connections()) connections.push({ from: n.hex, to: r })
    this.#snapshot = buildSnapshot(this.#tables.values(), new Set(locals.keys()), this.#gone, connections)
    return this.#snapshot
  }

  async #fetch(id: string, route: Route): Promise<NodeTable | undefined> {
    const conduit = this.#host.conduitOf(route.via)
    if (conduit === undefined) return undefined
    try {
      const t = await requestTable(conduit, route.path, {}, () => this.#host.countBadFrame())
      this.#failures.delete(id)
      if (this.#gone.delete(id)) this.#host.log('info', `node ${id.slice(0, 6)} answers again`)
      return t
    } catch {
      const f = (this.#failures.get(id) ?? 0) + 1
      this.#failures.set(id, f)
      if (f >= GONE_AFTER_FAILURES) this.#markGone(id)
      return undefined
    }
  }

  /**
   * Keeps this round's tables; a node that failed this round, or that only a failed node names, keeps its last
   * table until it is gone; a node no table names any more (it left, or crashed and was repaired away) is gone.
   */
  #settle(
    fresh: ReadonlyMap<string, NodeTable>,
    failed: ReadonlySet<string>,
    locals: ReadonlyMap<string, LocalNode>,
  ): void {
    for (const [id, t] of fresh) {
      if (!this.#tables.has(id) && t.joined && !locals.has(id))
        this.#host.log('join', `node ${id.slice(0, 6)} (tab ${t.tab}) appeared`)
      this.#tables.set(id, t)
    }
    const kept = (id: string): boolean => fresh.has(id) || (failed.has(id) && !this.#gone.has(id))
    const named = new Set<string>()
    for (const [id, t] of this.#tables) {
      if (!kept(id)) continue
      for (const l of t.levels) {
        if (l.left !== null) named.add(l.left)
        if (l.right !== null) named.add(l.right)
      }
    }
    for (const id of [...this.#tables.keys()]) {
      if (kept(id) || (named.has(id) && !this.#gone.has(id) && !locals.has(id))) continue
      if (!locals.has(id)) this.#markGone(id)
      this.#tables.delete(id)
    }
  }

  #markGone(id: string): void {
    if (this.#gone.has(id)) return
    this.#gone.add(id)
    if (this.#tables.has(id)) this.#host.log('gone', `node ${id.slice(0, 6)} is gone (no answer)`)
    this.#tables.delete(id)
  }
}
