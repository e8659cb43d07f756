/**
 * "The nodes of this tab": each one a skip-graph node on its own `Network`, all on the tab's transport
 * (`transport.ts`). The tab composes the join coordination (`join.ts`), the collection of the tables the
 * picture is drawn from (`collector.ts`) and the searches, and reports them as events.
 *
 * @module
 */
import { Emitter, Identifier, raceSignal } from '@skipmesh/core'
import type { MergeEvent } from '@skipmesh/skipgraph'
import type { Conduit } from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import { GraphCollector } from './collector.js'
import { registerDescribe } from './describe.js'
import { NotLocalNodeError } from './errors.js'
import type { GraphSnapshot } from './graph.js'
import { JoinCoordinator } from './join.js'
import { type TabMetrics, sumMetrics } from './metrics.js'
import { type LocalNode, createLocalNode } from './node.js'
import { type SearchTrace, markDetours } from './trace.js'
import { type TabTransport, type TransportKind, createTabTransport } from './transport.js'

export type { SearchTrace, TraceHop } from './trace.js'
export type { TabMetrics } from './metrics.js'

/** Pause between two rounds of table collection, plus a little per node (rounds cost more in a big graph). */
const REFRESH_GAP_MS = 1000
const REFRESH_GAP_PER_NODE_MS = 4
const SIGNALING_SLOW_MS = 5000
const SEARCH_TIMEOUT_MS = 15_000
const CONNECT_TIMEOUT_MS = 20_000
const HISTORY = 50

/** A line of the event log. */
export interface LogEntry {
  at: number
  kind: 'join' | 'leave' | 'gone' | 'connection' | 'search' | 'merge' | 'error' | 'info'
  text: string
}

/** Events of a {@link TabMesh}. */
export interface TabMeshEvents {
  log: (entry: LogEntry) => void
  graph: (snapshot: GraphSnapshot) => void
  nodes: () => void
  search: (trace: SearchTrace) => void
  /** Signaling unreachable (message) or reachable again (`null`). */
  status: (problem: string | null) => void
}

/** What a tab needs to run its nodes. */
export interface TabMeshOptions {
  signalingUrl: string
  room: string
  iceServers: RTCIceServer[]
  /** Which transport the tab's nodes use. @default 'shared' */
  transport?: TransportKind
  /** Each node's connection budget (`maxConnections`), or `null` for none. @default null */
  maxConnections?: number | null
}

/** The nodes of one tab and the graph it sees. */
export class TabMesh extends Emitter<TabMeshEvents> {
  readonly tab = randomNonce(4)
  readonly transport: TabTransport
  readonly #signalingUrl: string
  readonly #room: string
  readonly #maxConnections: number | null
  readonly #nodes = new Map<string, LocalNode>()
  readonly #conduits = new Map<string, Conduit>()
  readonly #history: SearchTrace[] = []
  readonly #collector: GraphCollector
  readonly #joins: JoinCoordinator
  readonly #signalingDown = new Set<string>()
  #badFrames = 0
  #seq = 0
  #refreshing: Promise<GraphSnapshot> | undefined
  #refreshAgain = false
  #timer: ReturnType<typeof setTimeout> | undefined
  #due = 0
  #stopped = false
  #problem: string | null = null

  constructor(options: TabMeshOptions) {
    super()
    this.#signalingUrl = options.signalingUrl
    this.#room = options.room
    this.#maxConnections = options.maxConnections ?? null
    this.transport = createTabTransport({
      kind: options.transport ?? 'shared',
      signalingUrl: options.signalingUrl,
      room: options.room,
      iceServers: options.iceServers,
    })
    const shared = {
      localNodes: () => this.#nodes.values(),
      conduitOf: (hex: string) => this.#conduits.get(hex),
      countBadFrame: () => {
        this.#badFrames++
      },
      log: (kind: LogEntry['kind'], text: string) => this.#log(kind, text),
    }
    this.#collector = new GraphCollector({ ...shared, tab: this.tab })
    this.#joins = new JoinCoordinator({
      ...shared,
      joinedRemotes: () => this.#collector.joinedRemotes(),
      remember: (t) => this.#collector.remember(t),
      isGone: (id) => this.#collector.isGone(id),
    })
  }

  /** This tab's nodes (joined or still joining). */
  localNodes(): LocalNode[] {
    return [...this.#nodes.values()]
  }

  /** The latest snapshot the picture was drawn from. */
  snapshot(): GraphSnapshot {
    return this.#collector.snapshot()
  }

  /** Recent searches, newest last. */
  history(): SearchTrace[] {
    return [...this.#history]
  }

  /** The current signaling problem, if any. */
  problem(): string | null {
    return this.#problem
  }

  #log(kind: LogEntry['kind'], text: string): void {
    this.emit('log', { at: Date.now(), kind, text })
  }

  #setProblem(problem: string | null): void {
    if (problem === this.#problem) return
    this.#problem = problem
    this.emit('status', problem)
  }

  /** Starts the periodic collection of the picture. */
  start(): void {
    this.#scheduleRefresh()
  }

  #onSignaling(hex: string, up: boolean): void {
    if (up) this.#signalingDown.delete(hex)
    else this.#signalingDown.add(hex)
    this.#log(
      up ? 'info' : 'error',
      `node ${hex.slice(0, 6)} ${up ? 'is back in' : 'lost'} the signaling room`,
    )
    this.#setProblem(
      this.#signalingDown.size === 0
        ? null
        : `Lost the signaling server at ${this.#signalingUrl} (retrying): ${
            this.transport.kind === 'per-node'
              ? 'the nodes in the graph keep searching, leaving and connecting to each other (their signals travel through the graph), and a node added here joins through them'
              : 'open connections keep working'
          }; a new tab cannot join until the server is back.`,
    )
  }

  /** A node of this tab found another graph and moves into it, or is done: logged, and the status line says so. */
  #onMerge(hex: string, event: MergeEvent): void {
    const via = event.via.toHex().slice(0, 6)
    const node = hex.slice(0, 6)
    if (event.phase === 'start') {
      this.#log('merge', `node ${node} found another graph (through ${via}) and moves into it`)
    } else if (event.outcome === 'merged') {
      this.#log('merge', `node ${node} merged into the graph of ${via}`)
    } else if (event.outcome === 'stayed') {
      this.#log(
        'merge',
        `node ${node} could not leave its graph for ${via}'s and stays (checked again later)`,
      )
    } else {
      this.#log(
        'merge',
        `node ${node} could not join ${via}'s graph and started one of its own (merged later)`,
      )
    }
    this.emit('nodes')
    this.#scheduleRefresh()
  }

  /** Starts one more node in this tab, joins it to the graph and resolves with its id. */
  async addNode(options: { signal?: AbortSignal } = {}): Promise<string> {
    const node: LocalNode = await createLocalNode({
      transport: this.transport,
      maxConnections: this.#maxConnections,
      onConnection: (remote, open) => {
        this.#log(
          'connection',
          `${open ? 'connected' : 'disconnected'} ${remote.slice(0, 6)} ⇄ ${node.hex.slice(0, 6)}`,
        )
        if (!open) this.#scheduleRefresh()
      },
      onNeighborChange: () => this.#scheduleRefresh(),
      onPeerLeft: (id) => {
        if (!this.#nodes.has(id) && this.#collector.table(id) !== undefined) this.#scheduleRefresh()
      },
      onSignaling: (up) => this.#onSignaling(node.hex, up),
      onMerge: (event) => this.#onMerge(node.hex, event),
    })
    const hex = node.hex
    this.#nodes.set(hex, node)
    this.emit('nodes')
    // the signaling client retries by itself: say so when it takes long, keep waiting
    const slow = setTimeout(() => {
      this.#setProblem(
        `Cannot reach the signaling server at ${this.#signalingUrl} — retrying. Is it running? (\`npm start\` serves it together with this page.)`,
      )
      this.#log('error', `node ${hex.slice(0, 6)} cannot reach the signaling server yet`)
    }, SIGNALING_SLOW_MS)
    try {
      await raceSignal(node.start(), options.signal)
      clearTimeout(slow)
      if (this.#signalingDown.size === 0) this.#setProblem(null)
    } catch (err) {
      clearTimeout(slow)
      this.#nodes.delete(hex)
      await node.stop()
      this.emit('nodes')
      const e = err instanceof Error ? err : new Error(String(err))
      this.#setProblem(
        `Cannot reach the signaling server at ${this.#signalingUrl} (${e.name}): this tab cannot join the graph until it is back.`,
      )
      this.#log('error', `node ${hex.slice(0, 6)} could not start: ${e.name}`)
      throw e
    }
    const conduit = await registerDescribe(
      node,
      this.tab,
      () => this.#badFrames++,
      () => [...this.#nodes.values()].map((n) => n.describe(this.tab)),
    )
    this.#conduits.set(hex, conduit)
    this.#log('info', `node ${hex.slice(0, 6)} is in room ${this.#room}, joining the graph`)
    await this.#joins.join(node, options.signal)
    this.#log('join', `node ${hex.slice(0, 6)} joined the skip graph (${node.table().length} levels)`)
    this.emit('nodes')
    this.#scheduleRefresh()
    return hex
  }

  /**
   * Opens a connection from this tab's node `fromId` to node `toHex` (or finds the open one).
   * @throws {NotLocalNodeError} when `fromId` is not hosted by this tab.
   * @throws the connection manager's errors (`ConnectionFailedError`, `PeerNotFoundError`, …).
   */
  async connect(fromId: string, toHex: string): Promise<void> {
    const node = this.#nodes.get(fromId)
    if (node === undefined) throw new NotLocalNodeError(`${fromId} is not a node of this tab`)
    await node.connect(Identifier.fromHex(toHex).toHex(), { signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS) })
  }

  /**
   * Closes the connection from this tab's node `fromId` to node `toHex`, if open (the skip graph reconnects when it
   * needs the link again).
   * @throws {NotLocalNodeError} when `fromId` is not hosted by this tab.
   */
  async disconnect(fromId: string, toHex: string): Promise<void> {
    const node = this.#nodes.get(fromId)
    if (node === undefined) throw new NotLocalNodeError(`${fromId} is not a node of this tab`)
    await node.disconnect(Identifier.fromHex(toHex).toHex())
  }

  /** Leaves the graph gracefully and stops the node. */
  async removeNode(id: string): Promise<void> {
    const node = this.#nodes.get(id)
    if (node === undefined) throw new NotLocalNodeError(`${id} is not a node of this tab`)
    try {
      await node.leave()
      this.#log('leave', `node ${id.slice(0, 6)} left the skip graph`)
    } catch (err) {
      this.#log('error', `node ${id.slice(0, 6)} could not leave cleanly: ${(err as Error).name}`)
    }
    this.#nodes.delete(id)
    this.#conduits.delete(id)
    this.#signalingDown.delete(id)
    await node.stop()
    this.#collector.forget(id)
    this.emit('nodes')
    if (!this.#stopped) await this.refresh()
  }

  /** Stops every node (gracefully leaving), then the transport. */
  async stopAll(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    await Promise.all([...this.#nodes.keys()].map((id) => this.removeNode(id).catch(() => {})))
    await this.transport.stop()
  }

  /** Searches `targetHex` from the local node `fromId`; the trace is also added to the history. */
  async search(fromId: string, targetHex: string): Promise<SearchTrace> {
    const node = this.#nodes.get(fromId)
    if (node === undefined) throw new NotLocalNodeError(`${fromId} is not a node of this tab`)
    const target = Identifier.fromHex(targetHex).toHex()
    const at = Date.now()
    const t0 = performance.now()
    const seq = ++this.#seq
    let trace: SearchTrace
    try {
      const res = await node.search(target, { signal: AbortSignal.timeout(SEARCH_TIMEOUT_MS) })
      const hops = markDetours(
        { from: fromId, startLevel: res.startLevel, target },
        res.hops,
        (id) => this.#collector.table(id) ?? this.#nodes.get(id)?.describe(this.tab),
        (id) => this.#collector.isGone(id),
      )
      const ms = performance.now() - t0
      trace = {
        seq,
        from: fromId,
        target,
        result: res.result,
        found: res.found,
        startLevel: res.startLevel,
        hops,
        ms,
        error: null,
        at,
      }
      this.#log(
        'search',
        `search ${target.slice(0, 6)} from ${fromId.slice(0, 6)}: ${res.found ? 'found' : 'closest'} ${res.result.slice(0, 6)} in ${res.hops.length} hops`,
      )
    } catch (err) {
      const name = err instanceof Error ? err.name : 'Error'
      const ms = performance.now() - t0
      trace = {
        seq,
        from: fromId,
        target,
        result: null,
        found: false,
        startLevel: 0,
        hops: [],
        ms,
        error: name,
        at,
      }
      this.#log('error', `search ${target.slice(0, 6)} from ${fromId.slice(0, 6)} failed: ${name}`)
    }
    this.#history.push(trace)
    if (this.#history.length > HISTORY) this.#history.shift()
    this.emit('search', trace)
    return trace
  }

  /** Per-channel counters summed over this tab's nodes. */
  metrics(): TabMetrics {
    return sumMetrics(
      [...this.#nodes.values()].map((n) => n.network.metrics()),
      this.#badFrames,
    )
  }

  /** Asks for a round soon: a round running now is followed by one; else one starts after a short pause. */
  #scheduleRefresh(): void {
    if (this.#stopped) return
    if (this.#refreshing !== undefined) {
      this.#refreshAgain = true
      return
    }
    this.#rearm(REFRESH_GAP_PER_NODE_MS * this.#collector.snapshot().nodes.length)
  }

  /** The next round starts in `ms` (or sooner, if already due sooner). */
  #rearm(ms: number): void {
    const due = performance.now() + ms
    if (this.#timer !== undefined && this.#due <= due) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#due = due
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.refresh().catch(() => {})
    }, ms)
  }

  /**
   * Collects every reachable table now and redraws. Concurrent calls share one round (plus one follow-up round
   * when asked during a round). The next periodic round starts a pause after this one.
   */
  refresh(): Promise<GraphSnapshot> {
    if (this.#refreshing !== undefined) {
      this.#refreshAgain = true
      return this.#refreshing
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#refreshing = this.#collector
      .round()
      .then((snapshot) => {
        this.emit('graph', snapshot)
        return snapshot
      })
      .finally(() => {
        this.#refreshing = undefined
        if (this.#stopped) return
        const again = this.#refreshAgain
        this.#refreshAgain = false
        const perNode = REFRESH_GAP_PER_NODE_MS * this.#collector.snapshot().nodes.length
        this.#rearm((again ? 0 : REFRESH_GAP_MS) + perNode)
      })
    return this.#refreshing
  }
}
