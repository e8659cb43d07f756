/**
 * `window.skipmesh`: the demo's automation API, for tests and curious users (documented in README.md).
 *
 * @module
 */
import type { ConnectionBudgetMetrics } from '@skipmesh/core'
import type { SkipGraphMetrics } from '@skipmesh/skipgraph'
import type { GraphSnapshot, NodeTable } from './graph.js'
import type { SearchTrace, TabMesh, TabMetrics } from './mesh.js'
import type { RoomView, SignalRoutes, TransportKind } from './transport.js'

/** One node hosted by this tab, with its lookup table read directly from the skip-graph node. */
export interface LocalNodeInfo {
  id: string
  mv: string
  joined: boolean
  /** Moving from its graph into another one it found (the skip graph's merge). */
  merging: boolean
  table: NodeTable
  /** Remote ids of its open connections. */
  connections: string[]
  /** The signaling room as the node's transport last knew it (`ask`: the other tabs' nodes in it). */
  room: RoomView
  /** The skip-graph node's counters (messages by kind, searches, conflicts, dropped frames). */
  skipgraph: SkipGraphMetrics
  /** Which way its WebRTC signals went (`per-node` transport; `null` on the others). */
  signals: SignalRoutes | null
  /** Its connection budget's counters (`?budget=`), or `null` with `?budget=off`. */
  budget: ConnectionBudgetMetrics | null
}

/** The automation API installed on `window.skipmesh`. */
export interface SkipmeshApi {
  /** Resolves once every node this tab started with (and every node added so far) has joined the graph. */
  ready(): Promise<void>
  /** This tab's nodes. */
  nodes(): LocalNodeInfo[]
  /** Starts and joins one more node; resolves with its id (hex). */
  addNode(): Promise<string>
  /** Leaves the graph gracefully and stops the node. */
  removeNode(id: string): Promise<void>
  /** Opens a connection from this tab's node `fromId` to node `toId` (or finds the open one); rejects if it fails. */
  connect(fromId: string, toId: string): Promise<void>
  /** Closes the connection from this tab's node `fromId` to node `toId`, if open. */
  disconnect(fromId: string, toId: string): Promise<void>
  /** Searches `targetHex` from this tab's node `fromId`; the route is drawn. */
  search(fromId: string, targetHex: string, options?: { show?: boolean }): Promise<SearchTrace>
  /** Per-channel network counters summed over this tab's nodes. */
  metrics(): TabMetrics
  /** The snapshot the picture is currently drawn from. */
  graph(): GraphSnapshot
  /** Collects every reachable node's lookup table now, redraws, and returns the new snapshot. */
  refresh(): Promise<GraphSnapshot>
  /** Recent searches, oldest first. */
  history(): SearchTrace[]
  /** The signaling problem shown to the user, or `null`. */
  problem(): string | null
  /** The transport this tab's nodes use (`?transport=`). */
  transport(): TransportKind
}

declare global {
  interface Window {
    skipmesh: SkipmeshApi
  }
}

/** Installs `window.skipmesh` and starts `initialNodes` nodes. */
export function installApi(
  win: Window,
  mesh: TabMesh,
  initialNodes: number,
  ui: { show(trace: SearchTrace): void; draw(snapshot: GraphSnapshot): void },
): SkipmeshApi {
  const joins: Array<Promise<string>> = []
  const addNode = (): Promise<string> => {
    const p = mesh.addNode()
    joins.push(p)
    p.catch(() => {})
    return p
  }
  const api: SkipmeshApi = {
    ready: async () => {
      let seen = -1
      while (seen !== joins.length) {
        seen = joins.length
        await Promise.all(joins)
      }
    },
    nodes: () =>
      mesh.localNodes().map((n) => ({
        id: n.hex,
        mv: n.mvHex,
        joined: n.joined,
        merging: n.merging,
        table: n.describe(mesh.tab),
        connections: n.connections(),
        room: n.room(),
        skipgraph: n.skipMetrics(),
        signals: n.signals() ?? null,
        budget: n.budget() ?? null,
      })),
    addNode,
    removeNode: (id) => mesh.removeNode(id),
    connect: (fromId, toId) => mesh.connect(fromId, toId),
    disconnect: (fromId, toId) => mesh.disconnect(fromId, toId),
    search: async (fromId, targetHex, options = {}) => {
      const trace = await mesh.search(fromId, targetHex)
      if (options.show !== false) ui.show(trace)
      return trace
    },
    metrics: () => mesh.metrics(),
    graph: () => mesh.snapshot(),
    refresh: async () => {
      const snapshot = await mesh.refresh()
      ui.draw(snapshot) // the picture shows what this call returns
      return snapshot
    },
    history: () => mesh.history(),
    problem: () => mesh.problem(),
    transport: () => mesh.transport.kind,
  }
  win.skipmesh = api
  mesh.start()
  for (let i = 0; i < initialNodes; i++) addNode()
  return api
}
