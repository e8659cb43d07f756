/**
 * The skip graph's signaler: carries opaque signals (a WebRTC manager's sealed offers, answers and candidates) to a
 * node over connections that already exist, on a channel of its own. It never dials to route: a signal that has no
 * next hop over an open connection fails at once, so the caller can use another route (the signaling server).
 *
 * Routing, per hop ({@link nextSignalHop}): to the target itself when connected; else back along the path the
 * target's own signals came by (a reverse route, learned from the signals this node carried: a node that is not in
 * the graph yet, such as a joining one, is reached this way); else greedily to the connected peer whose identifier is
 * closest to the target's, if it is closer than this node's (the skip graph's links make that progress toward any
 * identifier in O(log n) hops; from the first relay on the distance strictly falls, so no loop). Each hop is a core request whose reply comes once
 * the target took the signal, so the origin learns that it arrived, or that the route failed.
 *
 * Relays are not trusted: the payload is sealed end to end by its sender (`@skipmesh/webrtc`'s signed signals). A
 * hostile relay can drop, delay or misroute signals (the origin then falls back) and can poison a reverse route by
 * claiming another origin (bounded, and only for signals that pass through it).
 *
 * @module
 */
import {
  AbstractComponent,
  type AbortOptions,
  type Channel,
  type Conduit,
  ConnectionFailedError,
  channel,
  type Identifier,
  type Message,
  type Network,
  type ThrowableContext,
  throwIfAborted,
  type Unsubscribe,
} from '@skipmesh/core'
import { checkNumber } from '@skipmesh/core/internal'
import { decodeFrame, encodeFrame, MAX_SIGNAL_BYTES } from './signaler-frame.js'

export { MAX_SIGNAL_BYTES } from './signaler-frame.js'

/** The signaler's channel by default. */
export const SIGNAL_CHANNEL: Channel = channel('skipgraph.signal')

const EMPTY: Message = { payload: new Uint8Array(0), metadata: {} }

/** Options of {@link createSkipGraphSignaler}. */
export interface SkipGraphSignalerOptions {
  /** The node's started network (the one its skip-graph node runs on). */
  readonly network: Network
  /**
   * The peers this node has an open connection to now (e.g. `() => manager.connections().map((c) => c.remoteId)`):
   * the only next hops. They include the skip-graph node's neighbours (it keeps their connections), and a joining
   * node's introducer.
   */
  readonly openConnections: () => Iterable<Identifier>
  /** The channel. @default channel('skipgraph.signal') */
  readonly channel?: Channel
  /** Most hops one signal takes. @default 32 */
  readonly maxHops?: number
  /** How long a signal this node starts may take to arrive, in milliseconds. @default 4000 */
  readonly relayTimeoutMs?: number
  /** Reverse routes remembered (least recently learned evicted first). @default 1024 */
  readonly maxReverseRoutes?: number
  /** A reverse route is forgotten after this many milliseconds. @default 30000 */
  readonly reverseRouteTtlMs?: number
  /** Signals this node forwards at once for others; more are refused. @default 256 */
  readonly maxInFlight?: number
}

/** Counters of a {@link SkipGraphSignaler}. */
export interface SkipGraphSignalerMetrics {
  /** Signals this node started that arrived. */
  signalsOriginated: number
  /** Signals this node started that found no route or failed on the way. */
  signalsFailed: number
  /** Signals of others this node forwarded. */
  signalsForwarded: number
  /** Signals delivered here (to the handlers). */
  signalsDelivered: number
  /** The relays the signals delivered here passed, summed (0 for one that came straight from its origin). */
  relaysOfDelivered: number
  /** Signals delivered here that passed at most one relay (what a common neighbour could have carried). */
  deliveredViaOneRelayAtMost: number
  /** Signals refused here: malformed, out of hops or time, no route onward, too many in flight, or refused by the handler. */
  signalsRefused: number
}

/**
 * The next hop toward `target` from `self` (see the module): the target when connected, else its reverse route,
 * else the connected peer closest to the target: at the origin (`previous` undefined) any, since the origin may not
 * be in the graph yet (a joining node sits right between the neighbours it dials, and its one connection may be
 * its introducer, far off); at a relay only one closer than `self`, and never `previous` (where the signal came from).
 */
export function nextSignalHop(
  self: Identifier,
  target: Identifier,
  open: readonly Identifier[],
  reverse: Identifier | undefined,
  previous: Identifier | undefined,
): Identifier | undefined {
  const usable = open.filter((id) => !id.equals(self) && (previous === undefined || !id.equals(previous)))
  if (usable.some((id) => id.equals(target))) return target
  if (reverse !== undefined && usable.some((id) => id.equals(reverse))) return reverse
  const t = toBigInt(target)
  const distance = (id: Identifier): bigint => {
    const d = toBigInt(id) - t
    return d < 0n ? -d : d
  }
  let best: Identifier | undefined
  let bestDistance: bigint | undefined = previous === undefined ? undefined : distance(self)
  for (const id of usable) {
    const d = distance(id)
    if (bestDistance === undefined || d < bestDistance) {
      best = id
      bestDistance = d
    }
  }
  return best
}

function toBigInt(id: Identifier): bigint {
  return BigInt(`0x${id.toHex()}`)
}

/**
 * Carries signals over the skip graph's existing connections; see the module. Its `relay` / `onDeliver` are what a
 * WebRTC manager's overlay signaling attaches (`OverlaySignaling.attach`). Make one with
 * {@link createSkipGraphSignaler}; start it once the network is ready.
 */
export class SkipGraphSignaler extends AbstractComponent {
  readonly localId: Identifier
  readonly #network: Network
  readonly #open: () => Iterable<Identifier>
  readonly #channel: Channel
  readonly #maxHops: number
  readonly #relayTimeoutMs: number
  readonly #maxReverse: number
  readonly #reverseTtlMs: number
  readonly #maxInFlight: number
  /** origin hex → the neighbour its signals came from, and when. */
  readonly #reverse = new Map<string, { via: Identifier; at: number }>()
  readonly #handlers = new Set<(bytes: Uint8Array) => void | Promise<void>>()
  readonly #metrics: SkipGraphSignalerMetrics = {
    signalsOriginated: 0,
    signalsFailed: 0,
    signalsForwarded: 0,
    signalsDelivered: 0,
    relaysOfDelivered: 0,
    deliveredViaOneRelayAtMost: 0,
    signalsRefused: 0,
  }
  #conduit: Conduit | undefined
  #inFlight = 0

  /** @throws {InvalidOptionsError} when an option is out of range. */
  constructor(options: SkipGraphSignalerOptions) {
    super()
    this.#network = options.network
    this.localId = options.network.localId
    this.#open = options.openConnections
    this.#channel = options.channel ?? SIGNAL_CHANNEL
    const int = { min: 1, integer: true }
    this.#maxHops = checkNumber('maxHops', options.maxHops ?? 32, { ...int, max: 255 })
    this.#relayTimeoutMs = checkNumber('relayTimeoutMs', options.relayTimeoutMs ?? 4_000, int)
    this.#maxReverse = checkNumber('maxReverseRoutes', options.maxReverseRoutes ?? 1024, int)
    this.#reverseTtlMs = checkNumber('reverseRouteTtlMs', options.reverseRouteTtlMs ?? 30_000, int)
    this.#maxInFlight = checkNumber('maxInFlight', options.maxInFlight ?? 256, int)
  }

  /** A snapshot of the counters. */
  metrics(): SkipGraphSignalerMetrics {
    return { ...this.#metrics }
  }

  /** Subscribes to the signals delivered to this node; a handler that rejects refuses the signal (the origin learns it). */
  onDeliver(handler: (bytes: Uint8Array) => void | Promise<void>): Unsubscribe {
    this.#handlers.add(handler)
    return () => void this.#handlers.delete(handler)
  }

  /**
   * Carries `bytes` to `to` over existing connections; resolves once `to` took them.
   * @throws {ConnectionFailedError} when there is no route, a hop failed, or `to` refused them.
   * @throws {AbortError} when `options.signal` aborts.
   * @throws {ComponentNotStartedError} (a `ConnectionFailedError` cause) when the signaler is not started.
   */
  async relay(to: Identifier, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    const conduit = this.#conduit
    if (conduit === undefined || this.state !== 'ready') {
      throw new ConnectionFailedError('the skip-graph signaler is not started')
    }
    if (bytes.length > MAX_SIGNAL_BYTES) throw new ConnectionFailedError('signal too large for the overlay')
    const next = this.#nextHop(to, undefined)
    if (next === undefined) {
      this.#metrics.signalsFailed++
      throw new ConnectionFailedError(`no overlay route to ${to.toHex()}`)
    }
    const frame = encodeFrame(0, this.#relayTimeoutMs, to, this.localId, bytes)
    try {
      await this.#forward(conduit, next, frame, this.#relayTimeoutMs, options)
    } catch (err) {
      this.#metrics.signalsFailed++
      throwIfAborted(options.signal)
      throw new ConnectionFailedError(`the overlay route to ${to.toHex()} failed`, { cause: err })
    }
    this.#metrics.signalsOriginated++
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    this.#conduit = await this.#network.register(
      this.#channel,
      {
        processIncomingMessage: () => void this.#metrics.signalsRefused++,
        processRequest: (_ch, from, message) => this.#onRequest(from, message),
      },
      { signal: ctx.signal },
    )
  }

  protected async onStop(): Promise<void> {
    await this.#conduit?.close()
    this.#conduit = undefined
    this.#reverse.clear()
    this.#handlers.clear()
  }

  #nextHop(target: Identifier, previous: Identifier | undefined): Identifier | undefined {
    const hex = target.toHex()
    let reverse = this.#reverse.get(hex)
    if (reverse !== undefined && performance.now() - reverse.at > this.#reverseTtlMs) {
      this.#reverse.delete(hex)
      reverse = undefined
    }
    return nextSignalHop(this.localId, target, [...this.#open()], reverse?.via, previous)
  }

  #learn(origin: Identifier, via: Identifier): void {
    const hex = origin.toHex()
    this.#reverse.delete(hex)
    this.#reverse.set(hex, { via, at: performance.now() })
    if (this.#reverse.size > this.#maxReverse) {
      const oldest = this.#reverse.keys().next().value
      if (oldest !== undefined) this.#reverse.delete(oldest)
    }
  }

  async #forward(
    conduit: Conduit,
    next: Identifier,
    frame: Uint8Array,
    budgetMs: number,
    options: AbortOptions,
  ): Promise<void> {
    const request = { payload: frame, metadata: {} }
    await conduit.request(next, request, {
      timeoutMs: budgetMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    })
  }

  /** A hop of someone's signal: deliver it here, or forward it; the reply says it arrived. Throws to refuse. */
  async #onRequest(from: Identifier, message: Message): Promise<Message> {
    const frame = decodeFrame(message.payload)
    const conduit = this.#conduit
    if (frame === undefined || conduit === undefined) return this.#refuse('malformed signal frame')
    this.#learn(frame.origin, from)
    if (frame.target.equals(this.localId)) {
      if (this.#handlers.size === 0) return this.#refuse('nobody takes signals here')
      try {
        for (const handler of this.#handlers) await handler(frame.body)
      } catch {
        return this.#refuse('the addressee refused the signal')
      }
      this.#metrics.signalsDelivered++
      this.#metrics.relaysOfDelivered += frame.hops
      if (frame.hops <= 1) this.#metrics.deliveredViaOneRelayAtMost++
      return EMPTY
    }
    // a hop's share of the budget: the reply has to travel back through the hops before
    const budget = Math.floor(frame.budgetMs * 0.9) - 50
    if (frame.hops + 1 >= this.#maxHops || budget < 50) return this.#refuse('out of hops or time')
    const next = this.#nextHop(frame.target, from)
    if (next === undefined) return this.#refuse('no route onward')
    if (this.#inFlight >= this.#maxInFlight) return this.#refuse('too many signals in flight')
    this.#inFlight++
    try {
      await this.#forward(
        conduit,
        next,
        encodeFrame(frame.hops + 1, budget, frame.target, frame.origin, frame.body),
        budget,
        {},
      )
    } finally {
      this.#inFlight--
    }
    this.#metrics.signalsForwarded++
    return EMPTY
  }

  #refuse(why: string): never {
    this.#metrics.signalsRefused++
    throw new ConnectionFailedError(why)
  }
}

/**
 * Makes an unstarted {@link SkipGraphSignaler} on `options.network`; start it (and `await ready()`), then attach it
 * to the WebRTC manager's overlay signaling.
 * @throws {InvalidOptionsError} when an option is out of range.
 * @example
 * ```ts
 * const overlay = createOverlaySignaling({ localId, keyPair })
 * const manager = createWebRtcConnectionManager({ localId, keyPair, wrtc,
 *   signaling: createCompositeSignaling({ server: createSignalingClient({ url, room, localId, keyPair }), overlay }) })
 * const network = createNetwork({ connectionManager: manager }) // start, ready
 * const node = createSkipGraphNode({ network })                   // start, ready
 * const signaler = createSkipGraphSignaler({ network, openConnections: () => manager.connections().map((c) => c.remoteId) })
 * signaler.start(); await signaler.ready(); overlay.attach(signaler)
 * ```
 */
export function createSkipGraphSignaler(options: SkipGraphSignalerOptions): SkipGraphSignaler {
  return new SkipGraphSignaler(options)
}
