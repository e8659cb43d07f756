/**
 * Join coordination: through whom a node of this tab joins the skip graph, and who starts the graph when
 * nobody has. A node joins through one of this tab's joined nodes, else through a joined node the tab's
 * picture knows. Only when the tab knows none does its lowest waiting node (the tab's pioneer) ask the room:
 * it asks a few of the nodes the transport names (`RoomView.ask`) per round, in turn, whether they have joined.
 * When none has, the lowest of the room's rivals (nodes, or with a shared host the tabs' hosts) starts the
 * graph, but only once the room has been stable for a round and every node it asks has lately answered "not
 * joined": a node that did not answer (a slow first contact under load) may already have started a graph, and
 * starting a second one would split the room into two graphs that never merge. The others retry until a joined
 * node appears. A rival that left the room (its tab closed) no longer counts.
 *
 * @module
 */
import { AbortError, type Conduit } from '@skipmesh/core'
import { sleep } from '@skipmesh/core/internal'
import { requestTable } from './describe.js'
import type { NodeTable } from './graph.js'
import type { LocalNode } from './node.js'
import type { RoomView } from './transport.js'

/** How many of the room's lowest identifiers the pioneer asks per round. */
const ASKED_PER_ROUND = 4
/** How long a "not joined" answer counts towards starting the graph. */
const NOT_JOINED_VALID_MS = 20_000
/**
 * Joins of one tab running at once while fewer of its nodes have joined (the others wait their turn). Beyond it
 * a tab joins in waves, one join per joined node of the tab (each an introducer in memory), instead of a flat 8:
 * on MemoryHub (4 × 64 at 20–300 ms) all 256 joined in 91 s from at least 8, 129 s from at least 1 (a slow
 * start), 187–233 s with a flat 8.
 */
const FIRST_WAVE = 8
/** Introducers tried per round. */
const INTRODUCERS_PER_ROUND = 3
/** A join attempt is cut once it has linked no new level for this long (see {@link cutWhenStalled}). */
const JOIN_STALL_MS = 20_000
/** How often a running join attempt's linked levels are looked at. */
const PROGRESS_CHECK_MS = 1_000

/** A join attempt's cut: its signal, and `stop()` to call once the attempt ended. */
export interface JoinCut {
  readonly signal: AbortSignal
  stop(): void
}

/**
 * Cuts a join attempt only when it makes no progress: the signal aborts (with an `AbortError`) once
 * `linkedLevels()` (the levels the node is linked at, as its lookup table shows) has not grown for `stallMs`,
 * looked at every `checkMs`. A join that links a level now and then is never cut, however long a level takes
 * while other joins hold the locks it waits for: a cut loses the level in progress (the library resumes above
 * the linked ones) and sends the node to the back of its tab's queue, which under load livelocked joins whose
 * one level took longer than a fixed cut.
 */
export function cutWhenStalled(linkedLevels: () => number, stallMs: number, checkMs: number): JoinCut {
  const controller = new AbortController()
  let levels = linkedLevels()
  let since = Date.now()
  const timer = setInterval(() => {
    const now = Date.now()
    const linked = linkedLevels()
    if (linked > levels) {
      levels = linked
      since = now
    } else if (now - since >= stallMs) {
      clearInterval(timer)
      controller.abort(new AbortError(`no level linked for ${stallMs} ms`))
    }
  }, checkMs)
  return { signal: controller.signal, stop: () => clearInterval(timer) }
}

/** What the coordinator needs from its tab. */
export interface JoinHost {
  localNodes(): Iterable<LocalNode>
  conduitOf(hex: string): Conduit | undefined
  /** Joined remote nodes the tab's picture knows. */
  joinedRemotes(): string[]
  /** Keeps a table an asked peer answered with (a candidate introducer). */
  remember(table: NodeTable): void
  isGone(id: string): boolean
  countBadFrame(): void
  log(kind: 'info' | 'error', text: string): void
}

function shuffled<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}

/** Joins the nodes of one tab. */
export class JoinCoordinator {
  readonly #host: JoinHost
  #running = 0
  readonly #queue: Array<() => void> = []
  /** When each room peer was first found silent (cleared when it answers). */
  /** When each room node was last asked (the pioneer asks the least recently asked first). */
  readonly #askedAt = new Map<string, number>()
  /** When each room node last answered that it has not joined. */
  readonly #notJoinedAt = new Map<string, number>()

  constructor(host: JoinHost) {
    this.#host = host
  }

  /** Joins `node` (started, describe registered); resolves once it is in the graph. */
  join(node: LocalNode, signal: AbortSignal | undefined): Promise<void> {
    return this.#joinLoop(node, signal)
  }

  /** One join attempt through `introducer`, waiting for a free slot first (the wait is not part of the timeout). */
  async #joinVia(node: LocalNode, introducer: string, signal: AbortSignal | undefined): Promise<void> {
    await this.#turn(signal)
    const cut = cutWhenStalled(() => node.table().length, JOIN_STALL_MS, PROGRESS_CHECK_MS)
    try {
      await node.join(introducer, { signal: cut.signal })
    } finally {
      cut.stop()
      this.#running--
      // a join that ended in the graph may let more than one wait go
      while (this.#queue.length > 0 && this.#running < this.#wave()) this.#queue.shift()?.()
    }
  }

  /** Joins this tab may run at once: one per node of the tab that has joined, at least {@link FIRST_WAVE}. */
  #wave(): number {
    let joined = 0
    for (const n of this.#host.localNodes()) if (n.joined) joined++
    return Math.max(FIRST_WAVE, joined)
  }

  async #turn(signal: AbortSignal | undefined): Promise<void> {
    if (this.#running < this.#wave()) {
      this.#running++
      return
    }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal?.removeEventListener('abort', abort)
        this.#running++
        resolve()
      }
      const abort = (): void => {
        const i = this.#queue.indexOf(go)
        if (i >= 0) this.#queue.splice(i, 1)
        reject(new AbortError())
      }
      signal?.addEventListener('abort', abort, { once: true })
      this.#queue.push(go)
    })
  }

  #introducers(self: string): string[] {
    const local: string[] = []
    for (const n of this.#host.localNodes()) if (n.hex !== self && n.joined) local.push(n.hex)
    // this tab's own joined nodes first (no new link to another tab), in random order to spread the joins
    if (local.length > 0) return shuffled(local)
    return shuffled(this.#host.joinedRemotes().filter((id) => id !== self))
  }

  async #joinLoop(node: LocalNode, signal: AbortSignal | undefined): Promise<void> {
    let quiet = 0
    let lastRoom = ''
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted === true) throw new AbortError()
      for (const introducer of this.#introducers(node.hex).slice(0, INTRODUCERS_PER_ROUND)) {
        try {
          await this.#joinVia(node, introducer, signal)
          return
        } catch (err) {
          this.#host.log(
            'error',
            `join of ${node.hex.slice(0, 6)} via ${introducer.slice(0, 6)} failed: ${(err as Error).name}`,
          )
        }
      }
      if (this.#isPioneer(node)) {
        const view = node.room()
        const rivals = view.rivals.filter((p) => p !== view.self && !this.#host.isGone(p))
        const key = [...rivals].sort().join()
        quiet = key === lastRoom ? quiet + 1 : 0
        lastRoom = key
        if (await this.#pioneer(node, { ...view, rivals }, quiet)) return
      }
      await sleep(150 + Math.min(attempt, 10) * 50, signal)
    }
  }

  /** The tab's lowest node that is still waiting to join asks the room (one pioneer per tab). */
  #isPioneer(node: LocalNode): boolean {
    for (const other of this.#host.localNodes()) {
      if (other.joined || other.bootstrapping) return false
      if (other !== node && other.hex < node.hex && this.#host.conduitOf(other.hex) !== undefined)
        return false
    }
    return true
  }

  /**
   * Asks a few nodes of `room.ask` (the least recently asked first) whether they have joined; remembers the
   * joined ones as introducers. Starts the graph when none has and `room.self` is the lowest of a room
   * (`room.rivals`) that is empty, or that has been stable for a round while every node of `room.ask` answered
   * "not joined" within {@link NOT_JOINED_VALID_MS}; returns whether it did.
   */
  async #pioneer(node: LocalNode, room: RoomView, quietRounds: number): Promise<boolean> {
    const now = Date.now()
    const askable = room.ask.filter((p) => p !== node.hex && !this.#host.isGone(p))
    const asked = [...askable]
      .sort((a, b) => (this.#askedAt.get(a) ?? 0) - (this.#askedAt.get(b) ?? 0))
      .slice(0, ASKED_PER_ROUND)
    for (const p of asked) this.#askedAt.set(p, now)
    const conduit = this.#host.conduitOf(node.hex)
    if (conduit === undefined) return false
    const answers = await Promise.all(
      asked.map((p) =>
        requestTable(conduit, [p], {}, () => this.#host.countBadFrame()).then(
          (t) => t,
          () => undefined,
        ),
      ),
    )
    let anyJoined = false
    const answeredAt = Date.now()
    asked.forEach((p, i) => {
      const t = answers[i]
      if (t === undefined) return
      if (t.joined) {
        this.#notJoinedAt.delete(p)
        this.#host.remember(t)
        anyJoined = true
      } else {
        this.#notJoinedAt.set(p, answeredAt)
      }
    })
    if (anyJoined) return false
    // nobody asked has joined: the lowest of the rivals starts the graph, once every node it asks said lately
    // that it has not joined (one that did not answer may have started a graph already)
    const rivals = room.rivals
    const lowest = [room.self, ...rivals].sort()[0]
    if (lowest !== room.self) return false
    if (rivals.length > 0) {
      if (quietRounds < 1) return false
      const confirmed = (p: string): boolean =>
        answeredAt - (this.#notJoinedAt.get(p) ?? Number.NEGATIVE_INFINITY) < NOT_JOINED_VALID_MS
      if (!askable.every(confirmed)) return false
    }
    await node.join(undefined, {})
    this.#host.log(
      'info',
      room.rivals.length === 0
        ? `node ${node.hex.slice(0, 6)} found the room empty and started the graph`
        : `node ${node.hex.slice(0, 6)} ${room.self === node.hex ? 'has' : 'is on the host with'} the lowest id of ${rivals.length + 1} waiting and started the graph`,
    )
    return true
  }
}
