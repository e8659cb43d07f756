/**
 * Where the picture comes from: the tab collects the real lookup table of every node it can reach and builds
 * the snapshot it draws. It asks only over links that exist (see `describe.ts`): its own nodes' tables are read
 * directly; a node that one of them has as a neighbour is asked by that node; every other node is found as a
 * neighbour in a table already fetched and asked through the overlay, along the neighbour links that led to it
 * (`routes.ts`: the shortest route offered). It never dials the room's peers, and uses no connection the skip
 * graph does not (so a node's connection budget can close the others when idle). A node asked
 * answers with the tables of every node of its tab, so a round costs about one request per other tab.
 *
 * @module
 */
import type { Conduit } from '@skipmesh/core'
import { requestTabTables } from './describe.js'
import { type GraphSnapshot, type NodeTable, buildSnapshot } from './graph.js'
import type { LocalNode } from './node.js'
import { type Route, RouteTable } from './routes.js'

/** A node that failed to answer this many rounds in a row is gone. */
const GONE_AFTER_FAILURES = 2
/** Waves of requests per round at most (each wave waits for its answers). */
const MAX_WAVES = 16
/** Nodes of tabs not known yet asked per wave (each answers for its whole tab). */
const UNKNOWN_PER_WAVE = 4
/** Nodes of one tab asked in one round before every node of that tab counts as failed. */
const TAB_TRIES = 3

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

  /**
   * One round: fetches every reachable table, updates who is gone, returns the new snapshot. A remote node is
   * asked for the tables of its whole tab (`requestTabTables`), so a round costs about one request per other
   * tab, not one per node: one node per tab known from the last round, a few nodes of unknown tabs per wave,
   * then the nodes the answers name, until every named node is fetched or has failed.
   */
  async round(): Promise<GraphSnapshot> {
    const locals = new Map<string, LocalNode>()
    for (const n of this.#host.localNodes()) locals.set(n.hex, n)
    const fresh = new Map<string, NodeTable>()
    for (const n of locals.values()) fresh.set(n.hex, n.describe(this.#host.tab))
    if (![...locals.keys()].some((id) => this.#host.conduitOf(id) !== undefined)) {
      // nothing to ask through: draw only this tab's own nodes
      this.#tables.clear()
      this.#snapshot = buildSnapshot(fresh.values(), new Set(locals.keys()), this.#gone, [])
      return this.#snapshot
    }
    const failed = new Set<string>()
    const routes = this.#routes(locals, fresh)
    const answered = new Set<string>()
    const tries = new Map<string, number>()
    for (let wave = 0; wave < MAX_WAVES; wave++) {
      routes.extend(fresh)
      const asks = this.#pick(routes.pending(fresh, failed), answered, failed)
      if (asks.length === 0) break
      const got = await Promise.all(asks.map(([id, route]) => this.#fetchTab(id, route)))
      asks.forEach(([id], i) => {
        const tables = got[i]
        if (tables === undefined) {
          failed.add(id)
          const tab = this.#tables.get(id)?.tab
          if (tab === undefined) return
          // a tab that did not answer through TAB_TRIES of its nodes: the rest of it fails this round too
          const n = (tries.get(tab) ?? 0) + 1
          tries.set(tab, n)
          if (n >= TAB_TRIES)
            for (const [other, t] of this.#tables)
              if (t.tab === tab && !fresh.has(other)) this.#fail(other, failed)
          return
        }
        for (const t of tables) if (!locals.has(t.id)) fresh.set(t.id, t)
        answered.add(tables[0]!.tab)
      })
    }
    this.#settle(fresh, failed, locals)
    const connections: Array<{ from: string; to: string }> = []
    for (const n of locals.values()) for (const r of n.connections()) connections.push({ from: n.hex, to: r })
    this.#snapshot = buildSnapshot(this.#tables.values(), new Set(locals.keys()), this.#gone, connections)
    return this.#snapshot
  }

  /** The routes of a round: the neighbours the tab's nodes' tables name, then theirs (`routes.ts`). */
  #routes(locals: ReadonlyMap<string, LocalNode>, fresh: ReadonlyMap<string, NodeTable>): RouteTable {
    const routes = new RouteTable(locals)
    for (const n of locals.values())
      if (this.#host.conduitOf(n.hex) !== undefined) routes.base(n.hex, { via: n.hex, path: [] })
    routes.extend(fresh)
    return routes
  }

  /**
   * Whom to ask this wave: one node per tab known from the last round that has not answered yet (the shortest
   * route first), and up to {@link UNKNOWN_PER_WAVE} nodes whose tab is not known. A node whose tab answered
   * without it is not in that tab any more: it fails.
   */
  #pick(
    pending: Array<[string, Route]>,
    answered: ReadonlySet<string>,
    failed: Set<string>,
  ): Array<[string, Route]> {
    const byKey = new Map<string, [string, Route]>()
    let unknown = 0
    for (const [id, route] of pending.sort((a, b) => a[1].path.length - b[1].path.length)) {
      const tab = this.#tables.get(id)?.tab
      if (tab !== undefined && answered.has(tab)) {
        this.#fail(id, failed)
        continue
      }
      const key = tab ?? id
      if (byKey.has(key)) continue
      if (tab === undefined && unknown++ >= UNKNOWN_PER_WAVE) continue
      byKey.set(key, [id, route])
    }
    return [...byKey.values()]
  }

  /** `id` did not answer this round (counted: gone after {@link GONE_AFTER_FAILURES} rounds in a row). */
  #fail(id: string, failed: Set<string>): void {
    if (failed.has(id)) return
    failed.add(id)
    const f = (this.#failures.get(id) ?? 0) + 1
    this.#failures.set(id, f)
    if (f >= GONE_AFTER_FAILURES) this.#markGone(id)
  }

  async #fetchTab(id: string, route: Route): Promise<NodeTable[] | undefined> {
    const conduit = this.#host.conduitOf(route.via)
    if (conduit === undefined) return undefined
    try {
      const tables = await requestTabTables(conduit, route.path, {}, () => this.#host.countBadFrame())
      for (const t of tables) {
        this.#failures.delete(t.id)
        if (this.#gone.delete(t.id)) this.#host.log('info', `node ${t.id.slice(0, 6)} answers again`)
      }
      return tables
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
