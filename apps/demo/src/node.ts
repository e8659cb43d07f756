/**
 * One skip-graph node hosted by this tab: its connection manager (from the tab's transport), a `Network` over
 * it, and a skip-graph node on that network. The rest of the demo sees {@link LocalNode}.
 *
 * @module
 */
import {
  type ConnectionBudgetMetrics,
  Identifier,
  type Network,
  createConnectionBudget,
  createNetwork,
} from '@skipmesh/core'
import { type MergeEvent, type SkipGraphMetrics, createSkipGraphNode } from '@skipmesh/skipgraph'
import type { NodeTable, TableLevel } from './graph.js'
import type { RoomView, SignalRoutes, TabTransport } from './transport.js'

/** A search answer with ids as hex. */
export interface SearchAnswer {
  result: string
  found: boolean
  /** The nodes the search was forwarded to, in order, with the level of the link (the start not included). */
  hops: Array<{ node: string; level: number }>
  /** The level the search started at (the start node's top level). */
  startLevel: number
}

/** A node of this tab, as the rest of the demo uses it. */
export interface LocalNode {
  readonly hex: string
  readonly mvHex: string
  readonly network: Network
  /** Finished joining the graph. */
  readonly joined: boolean
  /** Decided to start the graph alone and is doing so. */
  readonly bootstrapping: boolean
  /** Moving from its graph into another one it found (the skip graph's merge). */
  readonly merging: boolean
  /** Starts the network (and so the connection manager: signaling join). */
  start(): Promise<void>
  /** Joins through `introducer` (hex), or starts the graph when `undefined`. */
  join(introducer: string | undefined, options: { signal?: AbortSignal }): Promise<void>
  search(target: string, options: { signal?: AbortSignal }): Promise<SearchAnswer>
  /** The node's lookup table, read now. */
  table(): TableLevel[]
  /** The table as the describe channel sends it. */
  describe(tab: string): NodeTable
  /** The signaling room as the join coordination sees it. */
  room(): RoomView
  /** Remote ids (hex) of the open connections. */
  connections(): string[]
  /** Opens a connection to `remote` (hex), or finds the open one. */
  connect(remote: string, options: { signal?: AbortSignal }): Promise<void>
  /** Closes the open connection to `remote` (hex), if there is one. */
  disconnect(remote: string): Promise<void>
  /** Which way the node's WebRTC signals went (server, overlay), when its transport counts them. */
  signals(): SignalRoutes | undefined
  /** The skip-graph node's own counters. */
  skipMetrics(): SkipGraphMetrics
  /** The connection budget's counters (pruned, protected, active), or `undefined` without a budget. */
  budget(): ConnectionBudgetMetrics | undefined
  leave(): Promise<void>
  stop(): Promise<void>
}

/** What {@link createLocalNode} needs. */
export interface LocalNodeOptions {
  /** The tab's transport, which gives the node its connection manager. */
  transport: TabTransport
  /**
   * Wraps the node's manager in core's connection budget with this `maxConnections`, its skip-graph neighbours
   * tagged (protected); `null`: no budget.
   */
  maxConnections: number | null
  onConnection(remote: string, open: boolean): void
  onNeighborChange(): void
  onPeerLeft(id: string): void
  onSignaling(up: boolean): void
  /** The node found another graph and moves into it (`start`), or is done (`end`). */
  onMerge(event: MergeEvent): void
}

/** Creates (does not start) one node. */
export async function createLocalNode(options: LocalNodeOptions): Promise<LocalNode> {
  const localId = Identifier.random()
  const transport = await options.transport.node(localId)
  const budget =
    options.maxConnections === null
      ? undefined
      : createConnectionBudget(transport.cm, { maxConnections: options.maxConnections })
  const cm = budget ?? transport.cm
  const network = createNetwork({ connectionManager: cm })
  // the room's nodes are the contacts the skip-graph node checks for a second graph (two tabs that each started
  // one, or a tab whose nodes were cut off while it was frozen): the graphs then merge
  const skip = createSkipGraphNode({
    network,
    contacts: () => transport.room().ask.map((id) => Identifier.fromHex(id)),
    ...(budget === undefined ? {} : { connectionTags: budget }),
  })
  const hex = localId.toHex()
  let joined = false
  let bootstrapping = false
  const unsubscribe: Array<() => void> = []

  cm.on('connection', (conn) => {
    const remote = conn.remoteId.toHex()
    options.onConnection(remote, true)
    conn.on('close', () => options.onConnection(remote, false))
  })

  const table = (): TableLevel[] =>
    skip.lookupTable().levels.map((l) => ({
      left: l.left?.id.toHex() ?? null,
      right: l.right?.id.toHex() ?? null,
      leftDead: l.left !== null && !l.left.alive,
      rightDead: l.right !== null && !l.right.alive,
    }))

  return {
    hex,
    get mvHex() {
      return skip.identity.mv.toHex()
    },
    network,
    get joined() {
      return joined
    },
    get bootstrapping() {
      return bootstrapping
    },
    get merging() {
      return skip.merging
    },
    async start() {
      network.start()
      await network.ready()
      skip.start()
      await skip.ready()
      // from now on the node's signals can travel through the graph (the server only as fallback)
      await transport.overlay?.start(network, cm)
      unsubscribe.push(skip.on('neighbor:change', () => options.onNeighborChange()))
      unsubscribe.push(skip.on('merge', (event) => options.onMerge(event)))
      unsubscribe.push(transport.onPeerLeft((id) => options.onPeerLeft(id)))
      unsubscribe.push(transport.onSignaling((up) => options.onSignaling(up)))
    },
    async join(introducer, opts) {
      if (introducer === undefined) bootstrapping = true
      try {
        await skip.join(introducer === undefined ? undefined : Identifier.fromHex(introducer), opts)
        joined = true
        transport.overlay?.joined()
      } finally {
        bootstrapping = false
      }
    },
    async search(target, opts) {
      const startLevel = Math.max(0, skip.lookupTable().levels.length - 2)
      const res = await skip.searchById(Identifier.fromHex(target), opts)
      return {
        result: res.result.toHex(),
        found: res.found,
        hops: res.hops.map((h) => ({ node: h.node.toHex(), level: h.level })),
        startLevel,
      }
    },
    table,
    describe(tab) {
      // a node starting the graph counts as joined at once: nobody else may start another one meanwhile
      const member = joined || bootstrapping
      return { id: hex, mv: skip.identity.mv.toHex(), joined: member, levels: member ? table() : [], tab }
    },
    room() {
      return transport.room()
    },
    connections() {
      return cm.connections().map((c) => c.remoteId.toHex())
    },
    async connect(remote, opts) {
      await cm.connect(Identifier.fromHex(remote), opts)
    },
    async disconnect(remote) {
      await cm
        .connections()
        .find((c) => c.remoteId.toHex() === remote)
        ?.close()
    },
    signals() {
      return transport.signals?.()
    },
    skipMetrics() {
      return skip.metrics()
    },
    budget() {
      return budget?.metrics()
    },
    async leave() {
      if (joined) await skip.leave()
      joined = false
    },
    async stop() {
      for (const u of unsubscribe.splice(0)) u()
      await transport.overlay?.stop()
      await skip.stop()
      await network.stop()
    },
  }
}
