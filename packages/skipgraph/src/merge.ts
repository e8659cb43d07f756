/**
 * Merging: finds, in check rounds, contacts joined to another graph than this node's, decides which of the two
 * graphs wins (every member of either decides the same way), and moves this node into the winner when its own
 * graph loses: it leaves its graph under the leave protocol, joins the other through the contact under the join
 * protocol, and tells its former neighbours to check it, so that the loser's nodes follow one another (README,
 * "Merging graphs"). A node leaves its graph only on what it checked itself: a merge hint only asks for a check.
 *
 * @module
 */
import { type Emitter, IDENTIFIER_LENGTH, Identifier } from '@skipmesh/core'
import { Contacts } from './contacts.js'
import type { MergeOutcome, SkipGraphMetrics, SkipGraphNodeEvents } from './contract.js'
import { MAX_LEVEL } from './lookup-table.js'
import type { Messenger } from './messaging.js'
import type { SearchAnswer } from './search.js'
import type { NodeState } from './state.js'
import { Kind, type LockReplyMsg } from './wire.js'

/** The all-zeros identifier: a search for it ends at the smallest identifier of the graph it runs in. */
const ZERO = Identifier.fromBytes(new Uint8Array(IDENTIFIER_LENGTH))
/** Contacts checked per round. */
const CHECKS_PER_ROUND = 2
/** Contacts tried, in turn, to join the winning graph through. */
const JOIN_TRIES = 4
/**
 * Times the round period may double: after each round whose every check found its contact in this node's graph,
 * until a check finds another graph, a merge hint comes, a neighbour goes, or the node is stranded. A settled
 * graph of 256 nodes spent half its messages on these checks (docs/DECISIONS.md, "The settled
 * graph's traffic").
 */
const QUIET_DOUBLINGS = 4
/** Rounds a node stays stranded (no live neighbour at level 0) before it rejoins through a contact. */
const STRANDED_ROUNDS = 2
/** Longest a merge's leave may take before the node gives up and stays (a later round tries again), in ms. */
const LEAVE_LIMIT_MS = 60_000
/**
 * Longest one join of a move may take through one contact before the next contact is tried, in ms; an
 * interrupted join leaves the node consistently linked at some levels ('incomplete'), and a later round resumes it.
 */
const JOIN_LIMIT_MS = 60_000

/**
 * A graph's name as every member computes it: its smallest identifier (a search for the all-zeros identifier
 * ends there), and whether the graph is that one node alone.
 */
export interface GraphName {
  readonly single: boolean
  readonly min: Identifier
}

/**
 * Whether graph `a` wins over graph `b` (whose nodes then move into `a`): a graph of one node loses to any
 * larger one; otherwise the graph with the smaller minimum wins. While `b`'s nodes move, `a`'s name stays the
 * same (the nodes arriving are larger than its minimum) and `b`'s can only grow: so the members of both keep
 * deciding the same way throughout the merge.
 */
export function wins(a: GraphName, b: GraphName): boolean {
  if (a.single !== b.single) return b.single
  return a.min.compare(b.min) < 0
}

/** What a check found out about a contact. */
export type Verdict = 'skip' | 'same' | 'win' | 'lose'

export interface MergerInit {
  readonly state: NodeState
  readonly messenger: Messenger
  readonly linker: {
    join(introducer: Identifier, signal: AbortSignal | undefined, onLinkedAtZero: () => void): Promise<void>
    leave(signal: AbortSignal | undefined): Promise<void>
  }
  /** Searches for `target` here (`via` undefined) or at `via`, with the node's search timeout. */
  readonly search: (target: Identifier, via: Identifier | undefined) => Promise<SearchAnswer>
  /** The application's contacts (the `contacts` option). */
  readonly contacts: (() => Iterable<Identifier>) | undefined
  /** The nodes this node heard from lately. */
  readonly heard: () => Iterable<Identifier>
  readonly metrics: SkipGraphMetrics
  readonly events: Emitter<SkipGraphNodeEvents>
  readonly isReady: () => boolean
  readonly random: () => number
  /** Whether a repair round is running or scheduled (the node's table is in flux: no check then). */
  readonly repairBusy: () => boolean
  /** The node is linked in a graph again: probes and repairs go on. */
  readonly linked: () => void
  /** The round period (the `mergeCheckMs` option); 0: no rounds. */
  readonly mergeCheckMs: number
}

export class Merger {
  readonly #init: MergerInit
  readonly #state: NodeState
  readonly #contacts: Contacts
  #timer: ReturnType<typeof setTimeout> | undefined
  /** When the scheduled round is due (performance.now()). */
  #due = Number.POSITIVE_INFINITY
  #running = false
  #merging = false
  /** A merge left the node linked at some levels only: the next rounds complete its join first. */
  #resumeVia: Identifier | undefined
  /** When the last round started: hint-triggered rounds are spaced by a tenth of the period. */
  #lastRound = Number.NEGATIVE_INFINITY
  #stopped = true
  /** Rounds in a row that found this node stranded (see {@link Merger.#stranded}). */
  #strandedRounds = 0
  /** Rounds in a row whose checks all found their contacts in this graph (the period doubles with each). */
  #quietRounds = 0

  constructor(init: MergerInit) {
    this.#init = init
    this.#state = init.state
    const contacts = new Contacts({
      selfHex: init.state.selfHex,
      app: init.contacts,
      heard: init.heard,
      sameForMs: 30 * init.mergeCheckMs,
      now: () => performance.now(),
    })
    this.#contacts = contacts
    // a neighbour replaced or unlinked is a former neighbour: a contact to check (it may be in another graph now)
    init.events.on('neighbor:change', ({ previous, current }) => {
      if (previous === null || previous.id.equals(current?.id ?? init.state.identity.id)) return
      contacts.noteFormer(previous.id)
      // the graph changed around this node (a leave, a death, a partition): look again at the full rate
      this.#wake()
    })
  }

  get merging(): boolean {
    return this.#merging
  }

  /** Starts the rounds (the node started). */
  start(): void {
    if (this.#init.mergeCheckMs <= 0) return
    this.#stopped = false
    this.#quietRounds = 0
    this.#schedule(this.#period())
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#due = Number.POSITIVE_INFINITY
  }

  /** A merge hint came from `origin`: check it soon (once a tenth of the period after the last round). */
  hint(origin: Identifier): void {
    if (this.#init.mergeCheckMs <= 0 || !this.#contacts.hint(origin)) return
    this.#quietRounds = 0
    const gap = this.#init.mergeCheckMs / 10
    this.#schedule(Math.max(0, this.#lastRound + gap - performance.now()))
  }

  /** The wait before the next round: the period, doubled per quiet round (up to {@link QUIET_DOUBLINGS} times). */
  #period(): number {
    const doublings = Math.min(this.#quietRounds, QUIET_DOUBLINGS)
    return this.#init.mergeCheckMs * 2 ** doublings * (0.5 + this.#init.random())
  }

  /** Back to the full rate: the next round within one period. */
  #wake(): void {
    if (this.#quietRounds === 0) return
    this.#quietRounds = 0
    this.#schedule(this.#period())
  }

  /** Schedules the next round in `delayMs`, or sooner if one is due sooner already. */
  #schedule(delayMs: number): void {
    if (this.#init.mergeCheckMs <= 0 || this.#stopped || this.#running) return
    const due = performance.now() + delayMs
    if (this.#timer !== undefined && this.#due <= due) return
    clearTimeout(this.#timer)
    this.#due = due
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#due = Number.POSITIVE_INFINITY
      void this.#round()
    }, delayMs)
  }

  /**
   * Whether the node may check: joined, and its table not being repaired; or stranded (no live neighbour at
   * level 0: in no level-0 list) for two rounds in a row, whatever its repair does.
   */
  #eligible(): boolean {
    const state = this.#state
    if (!this.#init.isReady() || state.status !== 'joined' || state.height < 0) return false
    return !this.#init.repairBusy() || this.#strandedRounds >= STRANDED_ROUNDS
  }

  /** Whether this node has no live neighbour at level 0 (both gone, or it is alone). */
  #stranded(): boolean {
    const t = this.#state.table
    const l = t.get(0, 'left')
    const r = t.get(0, 'right')
    return (l === null || !l.alive) && (r === null || !r.alive)
  }

  async #round(): Promise<void> {
    this.#running = true
    this.#lastRound = performance.now()
    this.#strandedRounds = this.#state.status === 'joined' && this.#stranded() ? this.#strandedRounds + 1 : 0
    if (this.#strandedRounds > 0) this.#quietRounds = 0
    try {
      if (this.#state.status !== 'incomplete') this.#resumeVia = undefined
      if (this.#resumeVia !== undefined) {
        await this.#joinGraph(this.#resumeVia)
      } else if (this.#eligible()) {
        const neighbors = new Set(
          this.#state.neighborGroups(this.#state.table.topLevel, false).map((g) => g.id.toHex()),
        )
        const candidates = this.#contacts.next(CHECKS_PER_ROUND, (id) => neighbors.has(id.toHex()))
        let same = 0
        for (const c of candidates) {
          if (!this.#eligible()) break
          const verdict = await this.check(c)
          if (verdict === 'same') same++
          // another graph found: full rate until the graphs are one ('skip' tells nothing either way)
          if (verdict === 'win' || verdict === 'lose') this.#quietRounds = 0
          if (verdict === 'lose' && this.#eligible()) {
            await this.#merge(c)
            break
          }
        }
        if (same > 0 && same === candidates.length) this.#quietRounds++
      }
    } finally {
      this.#running = false
      this.#schedule(this.#contacts.hinted ? this.#init.mergeCheckMs / 10 : this.#period())
    }
  }

  /**
   * Checks `contact`: 'skip' when it is not joined or a step failed (nothing is concluded), 'same' when it is
   * in this node's graph, else whether this node's graph wins (the contact is told to check us) or loses.
   */
  async check(contact: Identifier): Promise<Verdict> {
    const { metrics } = this.#init
    const contacts = this.#contacts
    const me = this.#state.identity.id
    metrics.mergeChecks++
    const st = await this.#read(contact)
    const at0 = st?.granted === true ? st.levels[0] : undefined
    if (at0?.linked !== true) return 'skip'
    if (at0.left?.id.equals(me) === true || at0.right?.id.equals(me) === true) {
      contacts.noteSame(contact)
      return 'same'
    }
    // a node in no level-0 list is a graph of one node, whatever its other levels say
    const alone = this.#stranded()
    if (!alone) {
      const s = await this.#search(contact, undefined)
      if (s === undefined) return 'skip'
      if (s.found) {
        contacts.noteSame(contact)
        return 'same'
      }
    }
    const theirs = await this.#name(contact)
    if (theirs === undefined) return 'skip'
    const ours = alone ? { single: true, min: me } : await this.#name(undefined)
    if (ours === undefined || ours.min.equals(theirs.min)) return 'skip'
    metrics.graphsDetected++
    if (!wins(ours, theirs)) return 'lose'
    this.#init.messenger.send(contact, { kind: Kind.Merge }).catch(() => {})
    return 'win'
  }

  /** Whether this node has no neighbour at any level (all gone and repaired away, or it started alone). */
  #alone(): boolean {
    const t = this.#state.table
    for (let level = 0; level <= t.topLevel; level++) {
      if (t.get(level, 'left') !== null || t.get(level, 'right') !== null) return false
    }
    return true
  }

  /** The name of the graph `via` is in (this node's when undefined), or undefined when it could not be told. */
  async #name(via: Identifier | undefined): Promise<GraphName | undefined> {
    const s = await this.#search(ZERO, via)
    if (s === undefined) return undefined
    const min = s.result
    if (this.#state.isSelf(min)) {
      // the search ended here: this node is the smallest of its graph if nothing lies left of it
      return this.#state.table.get(0, 'left') === null ? { single: this.#alone(), min } : undefined
    }
    const st = await this.#read(min)
    const at0 = st?.granted === true ? st.levels[0] : undefined
    if (at0?.linked !== true || at0.left !== null) return undefined
    return { single: at0.right === null, min }
  }

  async #read(id: Identifier): Promise<LockReplyMsg | undefined> {
    try {
      return await this.#init.messenger.request(id, { kind: Kind.Read, levels: [0] }, undefined)
    } catch {
      return undefined
    }
  }

  async #search(target: Identifier, via: Identifier | undefined): Promise<SearchAnswer | undefined> {
    try {
      return await this.#init.search(target, via)
    } catch {
      return undefined
    }
  }

  /**
   * Moves this node from its graph into the one `via` is in: leaves under the leave protocol, joins through `via` (or another contact), then asks its former neighbours to check it.
   */
  async #merge(via: Identifier): Promise<void> {
    const { state, events, metrics, messenger } = this.#init
    const formers = state.neighborGroups(state.table.topLevel, false).map((g) => g.id)
    const alone = this.#stranded()
    this.#merging = true
    events.emit('merge', { phase: 'start', via })
    let outcome: MergeOutcome = 'stayed'
    try {
      if (!(await this.#leaveGraph())) return
      outcome = await this.#joinGraph(via)
      if (outcome === 'merged') {
        metrics.merges++
        if (alone) metrics.rejoins++
      }
      for (const f of formers) messenger.send(f, { kind: Kind.Merge }).catch(() => {})
    } finally {
      this.#merging = false
      events.emit('merge', { phase: 'end', via, outcome })
    }
  }

  /** Leaves this node's graph; false when that failed (the node stays in it). Ends with status 'joining'. */
  async #leaveGraph(): Promise<boolean> {
    const state = this.#state
    state.status = 'leaving'
    if (this.#stranded() && !this.#alone()) {
      // its level-0 neighbours are gone: no leave can relink them; the entries left are dropped here, and a live
      // node that still points at this one finds, on its next probe, that it does not point back, and relinks
      state.clear(state.table.topLevel)
      state.status = 'joining'
      return true
    }
    // alone too: the leave's own lock waits for a join that is linking to this node right now
    try {
      await this.#init.linker.leave(AbortSignal.timeout(LEAVE_LIMIT_MS))
    } catch {
      if (state.status === 'leaving') state.status = 'joined'
      this.#init.linked() // the probes stopped while the node was leaving
      return false
    }
    this.#contacts.forgetSame()
    state.status = 'joining'
    return true
  }

  /**
   * Joins (or completes the join into) the graph `via` is in, through it or, failing that, other contacts.
   * When none can be joined: a node linked nowhere starts a graph of its own ('alone'); one linked at some
   * levels stays 'incomplete' and the next rounds complete its join.
   */
  async #joinGraph(via: Identifier): Promise<MergeOutcome> {
    const state = this.#state
    state.status = 'joining'
    const tries = [via, ...this.#contacts.all().filter((c) => !c.equals(via))].slice(0, JOIN_TRIES)
    for (const c of tries) {
      if (!this.#init.isReady()) break
      try {
        await this.#init.linker.join(c, AbortSignal.timeout(JOIN_LIMIT_MS), () => this.#init.linked())
        this.#resumeVia = undefined
        state.status = 'joined'
        this.#init.linked()
        return 'merged'
      } catch {
        // the contact left, is merging itself, or is unreachable: the next one
      }
    }
    if (!this.#init.isReady()) return 'stayed'
    if (state.height >= 0) {
      this.#resumeVia = via
      state.status = 'incomplete'
      return 'stayed'
    }
    state.height = MAX_LEVEL
    state.status = 'joined'
    this.#init.linked()
    return 'alone'
  }
}
