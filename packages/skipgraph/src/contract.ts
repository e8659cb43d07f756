/**
 * The contract of a skip-graph node: the {@link SkipGraphNode} interface, its events, options, result types and
 * counters. The implementation is `node.ts` (wiring) and the modules it composes.
 *
 * @module
 */
import type { AbortOptions, Channel, Component, Identifier, Network, TypedEvents } from '@skipmesh/core'
import type { Identity, LookupTableSnapshot, NeighborEntry, Side } from './lookup-table.js'
import type { KindName } from './wire.js'

/** Where a node stands in the graph. */
export type NodeStatus = 'new' | 'joining' | 'incomplete' | 'joined' | 'leaving' | 'left'

/** One step of a search path. */
export interface SearchHopRecord {
  /** The node the search was forwarded to. */
  readonly node: Identifier
  /** The level of the link it was forwarded over. */
  readonly level: number
}

/** The answer of {@link SkipGraphNode.searchById}. */
export interface SearchResult {
  /**
   * The node holding the target if it is present; otherwise, searching toward larger identifiers
   * (target > start), the greatest identifier ≤ target, and toward smaller ones (target < start), the smallest
   * identifier ≥ target. When no node lies between the start and the target, the start node itself.
   */
  readonly result: Identifier
  /** Whether `result` equals the target. */
  readonly found: boolean
  /** The nodes the search was forwarded to, in order, with the level of each link (empty if answered locally). */
  readonly hops: readonly SearchHopRecord[]
}

/** Options of {@link SkipGraphNode.searchById}. */
export interface SearchOptions extends AbortOptions {
  /** How long to wait for the answer, in milliseconds. @default the node's `searchTimeoutMs` */
  timeoutMs?: number
}

/** A change of one lookup-table entry, for UIs that draw the graph. */
export interface NeighborChange {
  readonly level: number
  readonly side: Side
  /** The entry before the change, or null. */
  readonly previous: NeighborEntry | null
  /** The entry after the change, or null. */
  readonly current: NeighborEntry | null
}

/** Emitted on every node a search passes (the origin included), so a UI can draw routes. */
export interface SearchHopEvent {
  /** The search's nonce: the same on every node of one search. */
  readonly nonce: string
  /** The node that started the search (the answer goes back to it). */
  readonly origin: Identifier
  /** The identifier searched for. */
  readonly target: Identifier
  /** The node emitting the event (where the search is now). */
  readonly node: Identifier
  /**
   * The highest level this node may route the search on: the level of the link it arrived over, or, at the
   * origin (and after a reverse leg), this node's top level.
   */
  readonly level: number
  /** How many times the search was forwarded before reaching this node. */
  readonly hop: number
}

/**
 * How a merge of this node ended: `'merged'`, it is now in the other graph; `'stayed'`, it could not leave its
 * graph and stays in it (a later check tries again); `'alone'`, it left its graph but could join no contact, and
 * started a graph of its own (which a later check merges).
 */
export type MergeOutcome = 'merged' | 'stayed' | 'alone'

/**
 * A merge seen from one node (README, "Merging graphs"): `'start'` when the node found that its graph loses to
 * the graph `via` is in, and leaves its graph to join that one through `via`; `'end'` when that is over.
 * Between the two, {@link SkipGraphNode.merging} is true, and the status goes `'leaving'`, `'joining'`,
 * `'joined'`: searches and joins through this node fail meanwhile with the usual typed errors.
 */
export type MergeEvent =
  | { readonly phase: 'start'; readonly via: Identifier }
  | { readonly phase: 'end'; readonly via: Identifier; readonly outcome: MergeOutcome }

/** Events of a {@link SkipGraphNode}. */
export interface SkipGraphNodeEvents {
  /** A lookup-table entry changed (linked, unlinked, or marked dead). */
  'neighbor:change': (change: NeighborChange) => void
  /** A search passed this node. */
  'search:hop': (hop: SearchHopEvent) => void
  /** This node moves from its graph into another one (start), or is done (end). */
  merge: (event: MergeEvent) => void
}

/** Counters of one node. */
export interface SkipGraphMetrics {
  /** Protocol messages handed to the conduit (requests and replies included), all kinds. */
  messagesSent: number
  /** Protocol messages handed to the conduit, by kind. */
  sentByKind: Record<KindName, number>
  /** Sends (and requests) that could not be sent. */
  sendFailures: number
  /** Messages that arrived, requests and replies included (valid or not). */
  messagesReceived: number
  /** Arrived messages that failed validation: dropped. */
  malformedDropped: number
  /**
   * Well-formed messages that were unsolicited or inconsistent (unknown nonce, wrong sender, a request sent as a
   * plain message or the other way round): dropped.
   */
  unexpectedDropped: number
  /**
   * Table writes refused because the writer did not hold the lock or the write was inconsistent (an entry on the
   * wrong side, not sharing the level's prefix, or with a membership vector not derived from its identifier).
   */
  rejectedApplies: number
  /**
   * Messages dropped or refused because an entry in them (the sender's own, a neighbour a lock or read reply
   * names, an entry an apply writes) carries a membership vector other than the one derived from its identifier
   * (`verifyMembershipVectors`): a refused apply counts here and in `rejectedApplies`.
   */
  entriesRefused: number
  /** Searches started here (including the one `join` makes). */
  searchesStarted: number
  /** Searches started here that were answered. */
  searchesAnswered: number
  /** Searches started here that failed with {@link SearchFailedError}. */
  searchesFailed: number
  /** Searches started here that timed out. */
  searchesTimedOut: number
  /** Searches this node forwarded to a neighbour. */
  searchesForwarded: number
  /**
   * Hops of a search sent again by this node after a per-hop timeout (`searchHopTimeoutMs`): the hop or its
   * answer was lost, or is slow. A lost message costs this, not the search.
   */
  searchRetries: number
  /** Join or leave transactions attempted (one per level and attempt). */
  transactions: number
  /** Transactions aborted (lock conflict, timeout, unreachable node) and retried. */
  conflicts: number
  /** Neighbours marked dead after a failed send. */
  deadNeighbors: number
  /** Levels relinked around dead neighbours (repair transactions committed). */
  repairs: number
  /** Locks broken because the node holding them was found dead. */
  locksBroken: number
  /** Locks granted here that lapsed: their holder neither released nor renewed them in time, or held them too long. */
  locksLapsed: number
  /**
   * Walks of a join or repair cut short: they came back to a node they had visited, or took more steps than a
   * small multiple of the expected path (a corrupt or hostile table); the attempt counts as a failed one.
   */
  walksCut: number
  /**
   * Levels this node found split (the list check: a node nearer than its left neighbour there shares its prefix
   * on the level below) and handed to the repair.
   */
  splitLists: number
  /** Contacts checked for another graph (README, "Merging graphs"). */
  mergeChecks: number
  /** Checks that found a contact joined to another graph than this node's. */
  graphsDetected: number
  /** Times this node left its graph and joined the other one (its graph lost the comparison). */
  merges: number
  /**
   * Times this node, alone in its graph (every neighbour gone, or a graph it started itself), joined another
   * graph through a contact; counted in `merges` too.
   */
  rejoins: number
}

/**
 * Where a node tags the connections of its neighbours so that a connection budget keeps them open (a core
 * `BudgetedConnectionManager`, from `createConnectionBudget`, satisfies it).
 */
export interface ConnectionTagger {
  /** Puts (or replaces) the tag `name` on `peer`. */
  tag(peer: Identifier, name: string, options: { value: number; protect?: boolean }): void
  /** Removes the tag `name` from `peer` (no-op when absent). */
  untag(peer: Identifier, name: string): void
}

/** Options of {@link createSkipGraphNode}. */
export interface SkipGraphNodeOptions {
  /** A started core `Network`. One skip-graph node per network: the node's id is `network.localId`. */
  network: Network
  /**
   * The node's identity; `id` must equal `network.localId`.
   * @default `{ id: network.localId, mv: MembershipVector.fromIdentifier(network.localId) }`
   */
  identity?: Identity
  /**
   * Whether membership vectors must be derived from identifiers (`MembershipVector.fromIdentifier`, a hash any
   * peer recomputes): the node's own (else creating the node throws `InvalidIdentityError`), and every entry it
   * learns: a lock or read reply naming another vector (for its sender or a neighbour) is dropped, an apply
   * writing one is refused; both are counted in `entriesRefused`. So no node can choose a vector that makes it a
   * victim's neighbour at every level (issue 13, attack 4). Off only for graphs whose every node uses chosen
   * vectors (tests with hand-made vectors); nodes with the check on and off do not mix.
   * @default true
   */
  verifyMembershipVectors?: boolean
  /** The channel the node registers its processor on. @default channel('skipgraph') */
  channel?: Channel
  /** Timeout of one protocol request of join, leave and repair (lock, read, apply), in milliseconds. @default 5000 */
  requestTimeoutMs?: number
  /** Default timeout of a search (`searchById`, and the search `join` makes), in milliseconds. @default 10000 */
  searchTimeoutMs?: number
  /**
   * How long one hop of a search (a core request to the next node, whose reply is the answer from there on)
   * waits before it is sent again, in milliseconds; the next copies wait twice and four times as long, until the
   * search's deadline. The next node answers every copy from the one search it runs, so a lost message costs
   * latency, not the search. @default 1000
   */
  searchHopTimeoutMs?: number
  /**
   * Attempts per level of a join (and of a leave) before it fails. Independently, 5 attempts that fail on an
   * unreachable participant (a send failure or a `requestTimeoutMs` timeout) fail it. @default 1000
   */
  maxAttempts?: number
  /** Backoff after a conflicting attempt: uniform in `[0, min(maxMs, baseMs * 2^attempt)]` ms. @default { baseMs: 2, maxMs: 200 } */
  backoff?: { baseMs?: number; maxMs?: number }
  /** Random source in [0, 1) for backoff jitter (seed it for reproducible runs). @default Math.random */
  random?: () => number
  /**
   * How long a lock request that finds the lock taken waits here for it (first come, first served) before it
   * is refused, in milliseconds. Bounded so that a rare deadlock between a leave and a join resolves.
   * @default 2000
   */
  lockWaitMs?: number
  /**
   * How long a lock this node grants to another node's transaction lasts unless that transaction renews it
   * (a running transaction renews its locks every third of this), in milliseconds. A lock held longer than six
   * leases lapses whatever the renewals. So a lost release heals by itself within one lease, and a node that
   * takes locks and never lets go blocks joins, leaves and repairs through this node for six leases at most.
   * @default 10000
   */
  lockLeaseMs?: number
  /**
   * The base step budget of one walk of a join, leave or repair along a list (plus 16 steps per level of this
   * node's table); a walk that runs past it, or comes back to a node it visited, is cut (`walksCut`) and counts as
   * a failed attempt (five per transaction). A backstop against hostile tables that lead a walk on forever: a
   * legitimate walk crosses at most one list, which is long only while many nodes join at once.
   * @default 1024
   */
  maxWalkSteps?: number
  /**
   * How often the node checks that its neighbours are alive (one small read per neighbour pair and interval:
   * a neighbour whose own probe confirmed our pointers at it is not read back), in
   * milliseconds; 0 turns probing off. A failed send (here or on any other message) marks the neighbour dead and
   * starts the repair of the lists around it (README, "Failure handling"). Probing finds a crashed neighbour
   * that no search happens to touch.
   * @default 2000
   */
  probeIntervalMs?: number
  /**
   * When given, the node tags every current neighbour (any level, either side, including one suspected dead
   * until it is repaired away) with `'skipgraph:neighbor'` (value 100, protected), and untags a node once it is
   * a neighbour at no level any more (after a join, leave or repair changed the table) and every tagged node
   * when it stops. Pass the `BudgetedConnectionManager` the node's network runs on, so that a connection
   * budget spends connections on the skip graph's own links (about 2·log2 n per node) and closes the rest.
   * @default undefined (no tags)
   */
  connectionTags?: ConnectionTagger
  /**
   * Peers the application knows of (the demo: its signaling room), asked again every check round. Besides them
   * the node remembers contacts itself: its former neighbours (the last 32) and the nodes it heard from lately
   * (the last 64). Every `mergeCheckMs` it checks two of them, in turn (one named by a merge hint first): is
   * it joined, and is it in this node's graph? A contact joined to another graph is a second graph: the two
   * are merged (README, "Merging graphs"). A node alone in its graph (its neighbours all gone) rejoins through
   * any contact it can reach the same way.
   * @default undefined (only the contacts the node remembers itself)
   */
  contacts?: () => Iterable<Identifier>
  /**
   * How often the node checks its contacts for another graph (±50 % jitter), in milliseconds; 0 turns the checks
   * (and so merging) off. A node that finds a contact in another graph either moves into it (its own graph
   * loses: the one whose smallest identifier is larger, a graph of one node always) and tells its former
   * neighbours to check it, or tells the contact to check it (its own graph wins); so the loser's nodes follow
   * one another along the loser's links. Two graphs one of whose nodes has a node of the other among its
   * contacts become one within about ⌈k/2⌉ check rounds (k its contacts) plus log2 n rounds of leave and join
   * (README, "Merging graphs", for measured figures). While every check finds its contact in the node's own graph,
   * the wait doubles after each round, up to 16 periods; a check that finds another graph, a merge hint, a
   * neighbour that goes, or a stranded node brings it back to one period.
   * @default 2000
   */
  mergeCheckMs?: number
}

/** A skip-graph node: a {@link Component} that joins, searches and leaves over a core `Network`. */
export interface SkipGraphNode extends Component, TypedEvents<SkipGraphNodeEvents> {
  /** This node's identity. */
  readonly identity: Identity
  /** Where the node stands in the graph. */
  readonly status: NodeStatus
  /**
   * Whether the node is moving from its graph into another one (between a `'merge'` event's start and end; see
   * `mergeCheckMs`).
   */
  readonly merging: boolean
  /** The component lifecycle state (`'stopped'` after `leave()` or `stop()`). */
  readonly state: 'new' | 'starting' | 'ready' | 'stopping' | 'stopped'
  /**
   * Joins the graph: without `introducer`, as its first node; otherwise through `introducer` (a node already in
   * the graph). Resolves once the node is linked at every level up to the one where it is alone. Safe under any
   * number of concurrent joins and leaves (see README, "Join protocol"). After a failed or aborted join the
   * status is `'incomplete'` (linked at some levels, consistently) or `'new'`; call `join()` again to resume.
   * @throws {AlreadyJoinedError} when the node is joining, joined, leaving or left.
   * @throws {DuplicateIdentifierError} when a node with the same identifier is in the graph.
   * @throws {SearchTimeoutError} / {@link SearchFailedError} when the search through the introducer failed.
   * @throws {JoinFailedError} after `maxAttempts` failed attempts at one level.
   * @throws {AbortError} when `options.signal` aborts.
   * @throws {ComponentNotStartedError} when the node is not started.
   */
  join(introducer?: Identifier, options?: AbortOptions): Promise<void>
  /**
   * Searches the graph for `target`, starting here at the top level and forwarding node to node.
   * @throws {SearchTimeoutError} when no answer came within the timeout.
   * @throws {SearchFailedError} when an unreachable neighbour blocked every exact route.
   * @throws {NotJoinedError} when the node is not linked in the graph.
   * @throws {AbortError} when `options.signal` aborts.
   * @throws {ComponentNotStartedError} when the node is not started.
   */
  searchById(target: Identifier, options?: SearchOptions): Promise<SearchResult>
  /**
   * Leaves gracefully: relinks the neighbours at every level around this node in one atomic step, then stops
   * the node (its channel is unregistered; the network is left running).
   * @throws {NotJoinedError} when the node never linked in.
   * @throws {LeaveFailedError} after `maxAttempts` failed attempts (e.g. a neighbour crashed).
   * @throws {AbortError} when `options.signal` aborts (the node then stays in the graph).
   * @throws {ComponentNotStartedError} when the node is not started.
   */
  leave(options?: AbortOptions): Promise<void>
  /** A snapshot of the lookup table. */
  lookupTable(): LookupTableSnapshot
  /** A snapshot of the counters. */
  metrics(): SkipGraphMetrics
}
