/**
 * The skip-graph node: lifecycle, the public operations and the dispatch of arriving messages. The protocol
 * lives in the parts it wires together: {@link Messenger} (sends, requests, counters), {@link Transactions}
 * (lock / read / apply requests, retries), {@link Linker} (join and leave), {@link LockTable} and
 * {@link Responder} (the receiver side), {@link Liveness} and {@link Repair} (failures), {@link Search}.
 *
 * @module
 */
import {
  AbstractComponent,
  type AbortOptions,
  type Channel,
  ComponentNotStartedError,
  channel as makeChannel,
  Emitter,
  Identifier,
  MembershipVector,
  type Message,
  type Network,
  type ThrowableContext,
  throwIfAborted,
  type Unsubscribe,
} from '@skipmesh/core'
import type {
  NodeStatus,
  SearchOptions,
  SearchResult,
  SkipGraphMetrics,
  SkipGraphNode,
  SkipGraphNodeEvents,
  SkipGraphNodeOptions,
} from './contract.js'
import { AlreadyJoinedError, InvalidIdentityError, NodeStoppedError, NotJoinedError } from './errors.js'
import { NeighborTags } from './connection-tags.js'
import { Linker } from './linking.js'
import { ListCheck } from './list-check.js'
import { Liveness } from './liveness.js'
import { LEASES_PER_HOLD, LockTable } from './locks.js'
import { type Identity, type LookupTableSnapshot, MAX_LEVEL } from './lookup-table.js'
import { Merger } from './merge.js'
import { emptyMetrics, Messenger } from './messaging.js'
import { MvCheck } from './mv-check.js'
import { Repair } from './repair.js'
import { Responder } from './responder.js'
import { Search } from './search.js'
import { NodeState } from './state.js'
import { Transactions } from './transactions.js'
import { decodeWire } from './wire-codec.js'
import { hopAt, hopCount, Kind, type WireMessage } from './wire.js'

/** The answer to a request that is not one (malformed, or a kind that is not a request). */
function emptyReply(): Message {
  return { payload: new Uint8Array(0), metadata: {} }
}

class DefaultSkipGraphNode extends AbstractComponent implements SkipGraphNode {
  readonly identity: Identity
  /** Where to register, and the default search timeout. */
  readonly #config: { readonly network: Network; readonly channel: Channel; readonly searchTimeoutMs: number }
  readonly #events = new Emitter<SkipGraphNodeEvents>()
  readonly #metrics = emptyMetrics()
  readonly #state: NodeState
  readonly #messenger: Messenger
  readonly #txns: Transactions
  readonly #liveness: Liveness
  readonly #repair: Repair
  readonly #linker: Linker
  readonly #responder: Responder
  readonly #search: Search
  readonly #merger: Merger
  readonly #listCheck: ListCheck
  /** Keeps neighbours' connection tags in step with the table; undefined without `connectionTags`. */
  readonly #tags: { readonly tags: NeighborTags; readonly off: Unsubscribe } | undefined

  constructor(options: SkipGraphNodeOptions) {
    super()
    const network = options.network
    const given = options.identity ?? {
      id: network.localId,
      mv: MembershipVector.fromIdentifier(network.localId),
    }
    if (!given.id.equals(network.localId)) {
      throw new InvalidIdentityError('identity.id must equal network.localId')
    }
    this.identity = { id: given.id, mv: given.mv }
    const metrics = this.#metrics
    const mvCheck = new MvCheck(options.verifyMembershipVectors ?? true, metrics)
    if (!mvCheck.isDerived(given.id, given.mv)) {
      throw new InvalidIdentityError(
        'identity.mv must be MembershipVector.fromIdentifier(identity.id) (or verifyMembershipVectors: false)',
      )
    }
    const searchTimeoutMs = options.searchTimeoutMs ?? 10_000
    this.#config = { network, channel: options.channel ?? makeChannel('skipgraph'), searchTimeoutMs }
    const requestTimeoutMs = options.requestTimeoutMs ?? 5000
    const random = options.random ?? Math.random
    const lockLeaseMs = options.lockLeaseMs ?? 10_000
    const isReady = (): boolean => this.state === 'ready'
    const state = new NodeState(this.identity, this.#events)
    this.#state = state
    this.#messenger = new Messenger({
      metrics,
      requestTimeoutMs,
      onReply: (id) => this.#liveness.heardFrom(id),
      onDeadPeer: (id) => this.#liveness.noteDead(id),
      mvCheck,
    })
    const locks = new LockTable({
      lockWaitMs: options.lockWaitMs ?? 2000,
      gone: () => state.status === 'left',
      linked: () => state.linked,
      leaseMs: lockLeaseMs,
      maxHoldMs: LEASES_PER_HOLD * lockLeaseMs,
      onLapse: () => metrics.locksLapsed++,
    })
    this.#txns = new Transactions({
      state,
      locks,
      messenger: this.#messenger,
      metrics,
      isReady,
      maxAttempts: options.maxAttempts ?? 1000,
      backoff: { baseMs: options.backoff?.baseMs ?? 2, maxMs: options.backoff?.maxMs ?? 200 },
      requestTimeoutMs,
      leaseMs: lockLeaseMs,
      random,
    })
    this.#liveness = new Liveness({
      state,
      messenger: this.#messenger,
      locks,
      metrics,
      isReady,
      random,
      probeIntervalMs: options.probeIntervalMs ?? 2000,
      repair: {
        schedule: (delayMs) => this.#repair.schedule(delayMs),
        relinkLevel: (level) => this.#repair.relinkLevel(level),
      },
    })
    this.#linker = new Linker({
      state,
      txns: this.#txns,
      maxWalkSteps: options.maxWalkSteps ?? 1024,
      searchVia: (target, via, signal) => this.#search.start(target, via, signal, searchTimeoutMs),
      relink: (level) => {
        this.#repair.relinkLevel(level)
        this.#repair.schedule(0)
      },
    })
    this.#repair = new Repair({
      state,
      txns: this.#txns,
      linker: this.#linker,
      liveness: this.#liveness,
      messenger: this.#messenger,
      metrics,
      isReady,
      random,
    })
    this.#search = new Search({
      state,
      messenger: this.#messenger,
      liveness: this.#liveness,
      repair: this.#repair,
      events: this.#events,
      metrics,
      isReady,
      hopTimeoutMs: options.searchHopTimeoutMs ?? 1000,
    })
    this.#responder = new Responder({
      state,
      locks,
      liveness: this.#liveness,
      metrics,
      mvCheck,
      scheduleRepair: () => this.#repair.schedule(0),
    })
    this.#merger = this.#makeMerger(options, state)
    this.#listCheck = new ListCheck({
      state,
      messenger: this.#messenger,
      repair: this.#repair,
      metrics,
      isReady,
      intervalMs: options.probeIntervalMs ?? 2000,
    })
    if (options.connectionTags !== undefined) {
      const tags = new NeighborTags(state, options.connectionTags)
      this.#tags = { tags, off: this.#events.on('neighbor:change', () => tags.sync()) }
    }
  }

  get status(): NodeStatus {
    return this.#state.status
  }

  get merging(): boolean {
    return this.#merger.merging
  }

  /** The merge checks, fed with the application's contacts and the neighbours this node loses. */
  #makeMerger(options: SkipGraphNodeOptions, state: NodeState): Merger {
    return new Merger({
      state,
      messenger: this.#messenger,
      linker: this.#linker,
      search: (target, via) => this.#search.start(target, via, undefined, this.#config.searchTimeoutMs),
      contacts: options.contacts,
      heard: () => this.#liveness.heard(),
      metrics: this.#metrics,
      events: this.#events,
      isReady: () => this.state === 'ready',
      random: options.random ?? Math.random,
      repairBusy: () => this.#repair.busy,
      linked: () => {
        this.#liveness.scheduleProbe()
        if (state.hasDeadEntry()) this.#repair.schedule(0)
      },
      mergeCheckMs: options.mergeCheckMs ?? 2000,
    })
  }

  on<E extends keyof SkipGraphNodeEvents>(event: E, handler: SkipGraphNodeEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  protected async onStart(_ctx: ThrowableContext): Promise<void> {
    const conduit = await this.#config.network.register(this.#config.channel, {
      processIncomingMessage: (_channel, origin, message) => this.#receive(origin, message.payload),
      processRequest: (_channel, origin, message) => this.#answer(origin, message.payload),
    })
    this.#messenger.attach(conduit)
    this.#merger.start()
    this.#listCheck.schedule()
  }

  protected async onStop(): Promise<void> {
    // release what unfinished joins or leaves hold at other nodes before the conduit closes
    await this.#txns.finishAll()
    const err = new NodeStoppedError('the skip-graph node stopped')
    this.#messenger.failAll(err)
    this.#search.failAll(err)
    this.#responder.stop()
    this.#merger.stop()
    this.#listCheck.stop()
    this.#liveness.stop()
    this.#repair.stop()
    await this.#messenger.close()
    this.#tags?.off()
    this.#tags?.tags.clear()
  }

  lookupTable(): LookupTableSnapshot {
    return this.#state.snapshot()
  }

  metrics(): SkipGraphMetrics {
    return { ...this.#metrics, sentByKind: { ...this.#metrics.sentByKind } }
  }

  async join(introducer?: Identifier, options: AbortOptions = {}): Promise<void> {
    this.#assertReady()
    throwIfAborted(options.signal)
    const state = this.#state
    if (state.status !== 'new' && state.status !== 'incomplete') {
      throw new AlreadyJoinedError(`cannot join: node is ${state.status}`)
    }
    if (state.status === 'new' && introducer === undefined) {
      state.height = MAX_LEVEL
      state.status = 'joined'
      this.#liveness.scheduleProbe()
      return
    }
    state.status = 'joining'
    try {
      if (introducer !== undefined && !state.linked) this.#liveness.remember(introducer)
      await this.#linker.join(introducer, options.signal, () => this.#liveness.scheduleProbe())
      state.status = 'joined'
      this.#liveness.scheduleProbe()
      if (state.hasDeadEntry()) this.#repair.schedule(0)
    } catch (err) {
      if (state.status === 'joining') state.status = state.linked ? 'incomplete' : 'new'
      throw err
    }
  }

  async searchById(target: Identifier, options: SearchOptions = {}): Promise<SearchResult> {
    this.#assertReady()
    throwIfAborted(options.signal)
    if (!this.#state.linked) throw new NotJoinedError('the node is not in a graph')
    const out = await this.#search.start(
      target,
      undefined,
      options.signal,
      options.timeoutMs ?? this.#config.searchTimeoutMs,
    )
    return {
      result: out.result,
      found: out.found,
      hops: Array.from({ length: hopCount(out.hops) }, (_, i) => {
        const h = hopAt(out.hops, i)
        return { node: Identifier.fromBytes(h.node), level: h.level }
      }),
    }
  }

  async leave(options: AbortOptions = {}): Promise<void> {
    this.#assertReady()
    throwIfAborted(options.signal)
    const state = this.#state
    if (!state.linked || state.status === 'left' || state.status === 'new') {
      throw new NotJoinedError(`cannot leave: node is ${state.status}`)
    }
    if (state.status === 'leaving' || state.status === 'joining') {
      throw new AlreadyJoinedError(`cannot leave: node is ${state.status}`)
    }
    const before = state.status
    state.status = 'leaving'
    try {
      await this.#linker.leave(options.signal)
    } catch (err) {
      if (state.status === 'leaving') state.status = before
      // the probe timer does not go on while the node is leaving
      this.#liveness.scheduleProbe()
      throw err
    }
    await this.stop()
  }

  #assertReady(): void {
    if (this.state !== 'ready') throw new ComponentNotStartedError(`skip-graph node is ${this.state}`)
  }

  /** Validates an arriving message and hands it to the part that handles its kind. */
  #receive(origin: Identifier, payload: Uint8Array): void {
    const msg = this.#decode(origin, payload)
    if (msg === undefined) return
    switch (msg.kind) {
      case Kind.Release:
        this.#responder.release(origin, msg)
        return
      case Kind.Merge:
        this.#merger.hint(origin)
        return
      default:
        // requests and replies travel only as core requests and replies
        this.#metrics.unexpectedDropped++
    }
  }

  /**
   * Answers a lock, read, apply or search request (a search's answer from here on). Anything else is counted
   * and dropped, and gets an empty reply (which the requester counts as malformed) so that it does not wait for
   * its timeout.
   */
  async #answer(origin: Identifier, payload: Uint8Array): Promise<Message> {
    const msg = this.#decode(origin, payload)
    switch (msg?.kind) {
      case Kind.Lock:
        return this.#messenger.reply(await this.#responder.lock(origin, msg))
      case Kind.Read:
        return this.#messenger.reply(this.#responder.read(origin, msg))
      case Kind.Apply:
        return this.#messenger.reply(this.#responder.apply(origin, msg))
      case Kind.Search:
        return this.#messenger.reply(await this.#search.onRequest(msg))
      case undefined:
        return emptyReply()
      default:
        this.#metrics.unexpectedDropped++
        return emptyReply()
    }
  }

  /** Counts an arriving message and decodes it; undefined (counted) when malformed. */
  #decode(origin: Identifier, payload: Uint8Array): WireMessage | undefined {
    this.#metrics.messagesReceived++
    this.#liveness.heardFrom(origin)
    const decoded = decodeWire(payload)
    if (decoded.ok) return decoded.msg
    this.#metrics.malformedDropped++
    return undefined
  }
}

/**
 * Makes a skip-graph node on a started core `Network` (one node per network). Start it, then `join()`.
 * @throws {InvalidIdentityError} when `options.identity.id` differs from `options.network.localId`, or (with
 *   `verifyMembershipVectors`, the default) `options.identity.mv` is not derived from it.
 * @throws {InvalidChannelError} (core) when `options.channel` is not a valid channel name.
 */
export function createSkipGraphNode(options: SkipGraphNodeOptions): SkipGraphNode {
  return new DefaultSkipGraphNode(options)
}
