/**
 * "The nodes of this tab": each one a skip-graph node on its own `Network` over its own WebRTC connection
 * manager, all joining one room. Also the picture: the tab fetches the real lookup table of every node it
 * knows over the describe channel (`describe.ts`); and the join coordination (who bootstraps the graph).
 *
 * @module
 */
import { AbortError, Emitter, Identifier, MemoryHub, raceSignal } from '@skipmesh/core'
import type { Conduit, NetworkMetrics } from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import { registerDescribe, requestTable } from './describe.js'
import { DescribeFailedError, NotLocalNodeError } from './errors.js'
import { type GraphSnapshot, type NodeTable, buildSnapshot } from './graph.js'
import { type LocalNode, createLocalNode } from './node.js'
import type { MemoryTransport } from './transport.js'

const REFRESH_INTERVAL_MS = 1000
const GONE_AFTER_FAILURES = 2
const SIGNALING_SLOW_MS = 5000
/** A room peer silent this long is left out of the decision of who starts the graph. */
const PRESUMED_DEAD_MS = 15_000

/** One hop of a search as the UI shows it. */
export interface TraceHop {
  /** The node visited, hex. */
  node: string
  /** The level it was at. */
  level: number
  /** The hop went around a dead or gone neighbour of the previous node. */
  detour: boolean
}

/** A finished (or failed) search. */
export interface SearchTrace {
  /** Sequence number in this tab. */
  seq: number
  from: string
  target: string
  /** The node answering, hex; `null` when the search failed. */
  result: string | null
  found: boolean
  /** The level the search started at on `from` (its top level). */
  startLevel: number
  /** The nodes the search was forwarded to, in order (`from` not included; empty when answered by `from`). */
  hops: TraceHop[]
  /** Wall-clock duration, milliseconds. */
  ms: number
  /** The error's `name` when the search failed. */
  error: string | null
  /** When it started (epoch ms). */
  at: number
}

/** A line of the event log. */
export interface LogEntry {
  at: number
  kind: 'join' | 'leave' | 'gone' | 'connection' | 'search' | 'error' | 'info'
  text: string
}

/** Per-channel counters summed over this tab's nodes. */
export interface TabMetrics {
  channels: Record<string, NetworkMetrics['total']>
  total: NetworkMetrics['total']
  connections: NetworkMetrics['connections']
  decodeFailures: number
  /** `demo.graph` frames that failed validation. */
  badFrames: number
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
  /** `memory`: all nodes of the tab on one in-tab hub (development only). @default 'webrtc' */
  transport?: 'webrtc' | 'memory'
}

/** The nodes of one tab and the graph it sees. */
export class TabMesh extends Emitter<TabMeshEvents> {
  readonly tab = randomNonce(4)
  readonly #options: TabMeshOptions
  readonly #nodes = new Map<string, LocalNode>()
  readonly #conduits = new Map<string, Conduit>()
  readonly #tables = new Map<string, NodeTable>()
  readonly #failures = new Map<string, number>()
  readonly #gone = new Set<string>()
  readonly #history: SearchTrace[] = []
  #snapshot: GraphSnapshot = buildSnapshot([], new Set(), [], [])
  #badFrames = 0
  /** Counts a `demo.graph` frame that failed validation. */
  readonly #countBadFrame = (): void => {
    this.#badFrames++
  }
  #seq = 0
  #refreshing: Promise<GraphSnapshot> | undefined
  #refreshAgain = false
  #timer: ReturnType<typeof setInterval> | undefined
  #problem: string | null = null
  readonly #signalingDown = new Set<string>()

  readonly #memory: MemoryTransport | undefined

  constructor(options: TabMeshOptions) {
    super()
    this.#options = options
    this.#memory =
      options.transport === 'memory'
        ? { kind: 'memory', hub: new MemoryHub({ latency: 5 }), ids: new Set() }
        : undefined
  }

  /** This tab's nodes (joined or still joining). */
  localNodes(): LocalNode[] {
    return [...this.#nodes.values()]
  }

  /** The latest snapshot the picture was drawn from. */
  snapshot(): GraphSnapshot {
    return this.#snapshot
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

  /** Starts the periodic refresh of the picture. */
  start(): void {
    this.#timer ??= setInterval(() => void this.refresh().catch(() => {}), REFRESH_INTERVAL_MS)
  }

  /** Starts one more node in this tab, joins it to the graph and resolves with its id. */
  async addNode(options: { signal?: AbortSignal } = {}): Promise<string> {
    const node = await createLocalNode({
      transport:
        this.#memory !== undefined
          ? this.#memory
          : {
              kind: 'webrtc',
              signalingUrl: this.#options.signalingUrl,
              room: this.#options.room,
              iceServers: this.#options.iceServers,
            },
      onConnection: (remote, open) => {
        this.#log(
          'connection',
          `${open ? 'connected' : 'disconnected'} ${remote.slice(0, 6)} ⇄ ${node.hex.slice(0, 6)}`,
        )
        if (!open) this.#scheduleRefresh()
      },
      onNeighborChange: () => this.#scheduleRefresh(),
      onPeerLeft: (id) => this.#peerLeft(id),
      onSignaling: (up) => {
        if (up) this.#signalingDown.delete(node.hex)
        else this.#signalingDown.add(node.hex)
        this.#log(
          up ? 'info' : 'error',
          `node ${node.hex.slice(0, 6)} ${up ? 'is back in' : 'lost'} the signaling room`,
        )
        this.#setProblem(
          this.#signalingDown.size === 0
            ? null
            : `Lost the signaling server at ${this.#options.signalingUrl}: open WebRTC connections keep working, new peers cannot connect until it is back (retrying).`,
        )
      },
    })
    const hex = node.hex
    this.#nodes.set(hex, node)
    this.emit('nodes')
    // the signaling client retries by itself: say so when it takes long, keep waiting
    const slow = setTimeout(() => {
      this.#setProblem(
        `Cannot reach the signaling server at ${this.#options.signalingUrl} — retrying. Is it running? (\`npm start\` serves it together with this page.)`,
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
      this.#setProblem(`Cannot reach the signaling server at ${this.#options.signalingUrl} (${e.name}).`)
      this.#log('error', `node ${hex.slice(0, 6)} could not start: ${e.name}`)
      throw e
    }
    const conduit = await registerDescribe(node, this.tab, this.#countBadFrame)
    this.#conduits.set(hex, conduit)
    this.#log('info', `node ${hex.slice(0, 6)} is in room ${this.#options.room}, joining the graph`)
    await this.#join(node, options.signal)
    this.#log('join', `node ${hex.slice(0, 6)} joined the skip graph (${node.table().length} levels)`)
    this.emit('nodes')
    this.#scheduleRefresh()
    return hex
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
    this.#tables.delete(id)
    this.emit('nodes')
    await this.refresh()
  }

  /** Stops every node (gracefully leaving). */
  async stopAll(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    await Promise.all([...this.#nodes.keys()].map((id) => this.removeNode(id).catch(() => {})))
  }

  /** Searches `targetHex` from the local node `fromId`; the trace is also added to the history. */
  async search(fromId: string, targetHex: string): Promise<SearchTrace> {
    const node = this.#nodes.get(fromId)
    if (node === undefined) throw new NotLocalNodeError(`${fromId} is not a node of this tab`)
    const target = Identifier.fromHex(targetHex).toHex()
    const at = Date.now()
    const t0 = performance.now()
    let trace: SearchTrace
    try {
      const res = await node.search(target, { signal: AbortSignal.timeout(15_000) })
      trace = {
        seq: ++this.#seq,
        from: fromId,
        target,
        result: res.result,
        found: res.found,
        startLevel: res.startLevel,
        hops: this.#markDetours(fromId, res.startLevel, res.hops, target),
        ms: performance.now() - t0,
        error: null,
        at,
      }
      this.#log(
        'search',
        `search ${target.slice(0, 6)} from ${fromId.slice(0, 6)}: ${res.found ? 'found' : 'closest'} ${res.result.slice(0, 6)} in ${res.hops.length} hops`,
      )
    } catch (err) {
      const name = err instanceof Error ? err.name : 'Error'
      trace = {
        seq: ++this.#seq,
        from: fromId,
        target,
        result: null,
        found: false,
        startLevel: 0,
        hops: [],
        ms: performance.now() - t0,
        error: name,
        at,
      }
      this.#log('error', `search ${target.slice(0, 6)} from ${fromId.slice(0, 6)} failed: ${name}`)
    }
    this.#history.push(trace)
    if (this.#history.length > 50) this.#history.shift()
    this.emit('search', trace)
    return trace
  }

  /**
   * Marks hops that went around a dead neighbour: the previous node had, at a level it could use above the
   * hop's, a neighbour toward the target that is gone or that it marked dead; or the hop turned away from
   * the target (the reverse leg of a route around a dead neighbour).
   */
  #markDetours(
    from: string,
    startLevel: number,
    hops: Array<{ node: string; level: number }>,
    target: string,
  ): TraceHop[] {
    const route = [{ node: from, level: startLevel }, ...hops]
    return hops.map((hop, i) => {
      const prev = route[i]!
      const right = target > prev.node
      if (right ? hop.node < prev.node : hop.node > prev.node) return { ...hop, detour: true }
      const table = this.#tables.get(prev.node) ?? this.#nodes.get(prev.node)?.describe(this.tab)
      if (table === undefined) return { ...hop, detour: false }
      let detour = false
      for (let level = hop.level + 1; level <= Math.min(prev.level, table.levels.length - 1); level++) {
        const l = table.levels[level]!
        const n = right ? l.right : l.left
        const dead = right ? l.rightDead : l.leftDead
        if (n === null) continue
        const towardTarget = right ? n <= target : n >= target
        if (towardTarget && (dead || this.#gone.has(n))) detour = true
      }
      return { ...hop, detour }
    })
  }

  /** Per-channel counters summed over this tab's nodes. */
  metrics(): TabMetrics {
    const zero = (): NetworkMetrics['total'] => ({
      messagesSent: 0,
      bytesSent: 0,
      messagesReceived: 0,
      bytesReceived: 0,
      sendFailures: 0,
      processorErrors: 0,
    })
    const out: TabMetrics = {
      channels: {},
      total: zero(),
      connections: { opened: 0, closed: 0, active: 0 },
      decodeFailures: 0,
      badFrames: this.#badFrames,
    }
    const add = (into: NetworkMetrics['total'], from: NetworkMetrics['total']): void => {
      into.messagesSent += from.messagesSent
      into.bytesSent += from.bytesSent
      into.messagesReceived += from.messagesReceived
      into.bytesReceived += from.bytesReceived
      into.sendFailures += from.sendFailures
      into.processorErrors += from.processorErrors
    }
    for (const node of this.#nodes.values()) {
      const m = node.network.metrics()
      for (const [name, c] of Object.entries(m.channels)) {
        out.channels[name] ??= zero()
        add(out.channels[name], c)
      }
      add(out.total, m.total)
      out.connections.opened += m.connections.opened
      out.connections.closed += m.connections.closed
      out.connections.active += m.connections.active
      out.decodeFailures += m.decodeFailures
    }
    return out
  }

  // ---- join coordination ----

  /**
   * Joins `node`: through any joined node known to the tab or found among the room's peers; when no peer is
   * joined, the node with the lowest identifier among the peers that answer bootstraps the graph, the others
   * retry until a joined node appears.
   */
  async #join(node: LocalNode, signal: AbortSignal | undefined): Promise<void> {
    const silentSince = new Map<string, number>()
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted === true) throw new AbortError()
      const candidates = this.#joinedCandidates(node.hex)
      for (const introducer of candidates) {
        try {
          await node.join(introducer, { signal: AbortSignal.timeout(20_000) })
          return
        } catch (err) {
          this.#log(
            'error',
            `join of ${node.hex.slice(0, 6)} via ${introducer.slice(0, 6)} failed: ${(err as Error).name}`,
          )
        }
      }
      const peers = node.peers().filter((p) => p !== node.hex && !this.#gone.has(p))
      if (peers.length === 0 && candidates.length === 0) {
        await node.join(undefined, {})
        this.#log('info', `node ${node.hex.slice(0, 6)} found the room empty and started the graph`)
        return
      }
      const answers = await Promise.all(
        peers.map((p) =>
          this.#describeVia(node, p).then(
            (t) => t,
            () => undefined,
          ),
        ),
      )
      const joined = answers.filter((t): t is NodeTable => t?.joined === true)
      if (joined.length > 0) {
        for (const t of joined) this.#tables.set(t.id, t) // candidates of the next round
        continue
      }
      // Nobody has joined: the lowest identifier starts the graph. A peer that does not answer may be starting
      // it right now, so wait for it, unless it stayed silent so long that it is presumably dead. Peers that
      // entered the room while we asked are asked in the next round.
      const now = Date.now()
      const answered = new Set<string>()
      peers.forEach((p, i) => {
        if (answers[i] === undefined) silentSince.set(p, silentSince.get(p) ?? now)
        else {
          silentSince.delete(p)
          answered.add(p)
        }
      })
      const waitingFor = peers.filter((p) => !answered.has(p) && now - silentSince.get(p)! < PRESUMED_DEAD_MS)
      const newcomers = node.peers().filter((p) => p !== node.hex && !this.#gone.has(p) && !peers.includes(p))
      const lowest = [node.hex, ...answered].sort()[0]
      if (
        waitingFor.length === 0 &&
        newcomers.length === 0 &&
        lowest === node.hex &&
        !this.#anyLocalJoining(node)
      ) {
        await node.join(undefined, {})
        this.#log(
          'info',
          `node ${node.hex.slice(0, 6)} has the lowest id among ${answered.size + 1} waiting nodes and started the graph`,
        )
        return
      }
      await new Promise((r) => setTimeout(r, 150 + Math.min(attempt, 10) * 50))
    }
  }

  /** Another local node with a lower id is also waiting: let it bootstrap. */
  #anyLocalJoining(node: LocalNode): boolean {
    for (const other of this.#nodes.values()) {
      if (other !== node && other.bootstrapping) return true
    }
    return false
  }

  #joinedCandidates(self: string): string[] {
    const out: string[] = []
    for (const n of this.#nodes.values()) if (n.hex !== self && n.joined) out.push(n.hex)
    for (const t of this.#tables.values()) {
      if (t.joined && t.id !== self && !this.#gone.has(t.id) && !this.#nodes.has(t.id)) out.push(t.id)
    }
    // random order spreads concurrent joins over introducers
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
    return out
  }

  // ---- the describe channel ----

  /** Asks `target` for its lookup table through the local node `via`. */
  async #describeVia(via: LocalNode, target: string): Promise<NodeTable> {
    const local = this.#nodes.get(target)
    if (local !== undefined) return local.describe(this.tab)
    const conduit = this.#conduits.get(via.hex)
    if (conduit === undefined) throw new DescribeFailedError('node not registered yet')
    return requestTable(conduit, Identifier.fromHex(target), {}, this.#countBadFrame)
  }

  // ---- the picture ----

  #peerLeft(id: string): void {
    if (this.#nodes.has(id)) return
    if (this.#tables.has(id) && !this.#gone.has(id)) this.#scheduleRefresh()
  }

  #markGone(id: string): void {
    if (this.#gone.has(id)) return
    this.#gone.add(id)
    if (this.#tables.has(id)) this.#log('gone', `node ${id.slice(0, 6)} is gone (no answer)`)
    this.#tables.delete(id)
  }

  #scheduleRefresh(): void {
    void this.refresh().catch(() => {})
  }

  /**
   * Fetches the lookup table of every node the tab knows (its own nodes, the room's peers and every
   * neighbour named in a table), repeating while new ids turn up, and redraws. Concurrent calls share one
   * round (plus one follow-up round when asked during a round).
   */
  refresh(): Promise<GraphSnapshot> {
    if (this.#refreshing !== undefined) {
      this.#refreshAgain = true
      return this.#refreshing
    }
    this.#refreshing = this.#refreshRound().finally(() => {
      this.#refreshing = undefined
      if (this.#refreshAgain) {
        this.#refreshAgain = false
        this.#scheduleRefresh()
      }
    })
    return this.#refreshing
  }

  async #refreshRound(): Promise<GraphSnapshot> {
    const via = [...this.#nodes.values()].find((n) => this.#conduits.has(n.hex))
    const asked = new Set<string>()
    const fresh = new Map<string, NodeTable>()
    for (const n of this.#nodes.values()) fresh.set(n.hex, n.describe(this.tab))
    if (via !== undefined) {
      for (let round = 0; round < 8; round++) {
        const known = new Set<string>([...via.peers(), ...this.#tables.keys()])
        for (const t of fresh.values()) {
          for (const l of t.levels) {
            if (l.left !== null) known.add(l.left)
            if (l.right !== null) known.add(l.right)
          }
        }
        const inRoom = new Set(via.peers())
        const todo = [...known].filter(
          (id) => !asked.has(id) && !this.#nodes.has(id) && (!this.#gone.has(id) || inRoom.has(id)),
        )
        if (todo.length === 0) break
        for (const id of todo) asked.add(id)
        await Promise.all(
          todo.map(async (id) => {
            try {
              const t = await this.#describeVia(via, id)
              fresh.set(id, t)
              this.#failures.delete(id)
              if (this.#gone.delete(id)) this.#log('info', `node ${id.slice(0, 6)} answers again`)
            } catch {
              const f = (this.#failures.get(id) ?? 0) + 1
              this.#failures.set(id, f)
              const left = !via.peers().includes(id)
              if (f >= GONE_AFTER_FAILURES || (left && this.#tables.has(id))) this.#markGone(id)
            }
          }),
        )
      }
    }
    for (const [id, t] of fresh) {
      if (!this.#tables.has(id) && t.joined && !this.#nodes.has(id))
        this.#log('join', `node ${id.slice(0, 6)} (tab ${t.tab}) appeared`)
      this.#tables.set(id, t)
    }
    for (const id of [...this.#tables.keys()]) {
      if (!fresh.has(id) && this.#gone.has(id)) this.#tables.delete(id)
      else if (!fresh.has(id) && !this.#nodes.has(id) && via === undefined) this.#tables.delete(id)
    }
    const connections: Array<{ from: string; to: string }> = []
    for (const n of this.#nodes.values())
      for (const r of n.connections()) connections.push({ from: n.hex, to: r })
    this.#snapshot = buildSnapshot(
      this.#tables.values(),
      new Set(this.#nodes.keys()),
      this.#gone,
      connections,
    )
    this.emit('graph', this.#snapshot)
    return this.#snapshot
  }
}
