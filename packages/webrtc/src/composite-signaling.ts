/**
 * Signaling from two sources: the overlay first, the signaling server as the fallback and for bootstrapping (the
 * room, the first connection). Ready once the server is, or without it once the overlay can carry signals (see
 * {@link CompositeSignalingOptions.serverWaitMs}): a node whose overlay is up needs no server. Every signal is sealed
 * end to end once ({@link sealSignal}); the same sealed signal goes over the overlay and, if that route fails or is
 * slow while the server is connected ({@link CompositeSignalingOptions.overlayWaitMs}), through the server, so the
 * addressee verifies it whichever way it came, and a copy that arrives both ways is taken once (the second is a
 * replay). The signals of one session leave after the session's first one (its description or dial request) arrived
 * or failed, so a candidate never overtakes it on a faster route.
 *
 * @module
 */
import {
  AbstractComponent,
  type AbortOptions,
  createRootContext,
  Emitter,
  type Identifier,
  raceSignal,
  type ThrowableContext,
  throwIfAborted,
  type Unsubscribe,
} from '@skipmesh/core'
import { checkNumber, sleep } from '@skipmesh/core/internal'
import type { IdentityPins } from './identity-pins.js'
import type { OverlaySignaling } from './overlay-signaling.js'
import type { OpenedSignal, SealedSignal } from './signed-signals.js'
import type { Signaling, SignalingEvents, SignalPayload, SignalRouteMetrics } from './signaling.js'

/** Options of {@link createCompositeSignaling}. */
export interface CompositeSignalingOptions {
  /** The signaling server's client (a `SignalingClient`, or any {@link Signaling}): the room, and the fallback. */
  readonly server: Signaling
  /** The overlay's signaling ({@link createOverlaySignaling}); attach its relay once the overlay node exists. */
  readonly overlay: OverlaySignaling
  /**
   * How long `start` waits for the server once the overlay has a relay attached; then the composite is ready on the
   * overlay alone, and the server goes on joining in the background (its room fills in, and `'authenticated'` is
   * emitted, when it does). `0`: ready as soon as a relay is attached. Whatever this is, a server that fails to join
   * (its own timeout) while a relay is attached leaves the composite ready on the overlay; with no relay attached,
   * the server's failure fails the start. @default Infinity (ready with the server, or once the server failed)
   */
  readonly serverWaitMs?: number
  /**
   * How long a signal waits for the overlay's route, while the server is connected, before it goes through the server
   * too (the first copy to arrive is taken; a later one is refused there as a replay). With the server disconnected
   * the overlay route has its own timeout (the overlay's `relayTimeoutMs`). @default 1000
   */
  readonly overlayWaitMs?: number
}

/** The key of a sealed signal inside the payload that travels through the server. */
const SEALED_KEY = 'sealed'

/** Sessions whose first signal is remembered (oldest forgotten first). */
const MAX_SESSIONS = 512

/**
 * A {@link Signaling} that sends over the overlay when it has a route and through the server otherwise, and takes
 * signals from both. Its room and `'authenticated'` / `'disconnected'` events are the server's; a signal over the
 * overlay needs no server, and neither does its readiness once the overlay is up (see
 * {@link CompositeSignalingOptions.serverWaitMs}). A plain signal through the server (from a peer that does not seal) is passed on
 * as the server authenticated it.
 */
export class CompositeSignaling extends AbstractComponent implements Signaling {
  readonly #server: Signaling
  readonly #overlay: OverlaySignaling
  readonly #serverWaitMs: number
  readonly #overlayWaitMs: number
  readonly #events = new Emitter<SignalingEvents>()
  readonly #subscriptions: Unsubscribe[] = []
  readonly #counts = { serverSent: 0, serverReceived: 0, fallbacks: 0 }
  /** `to`/`session` → settles when the session's first signal arrived or failed. */
  readonly #sessions = new Map<string, Promise<void>>()
  /** Joined the server's room and connected now. */
  #serverUp = false
  /**
   * Settles once every signal the server delivered so far was emitted (or refused): a sealed signal is verified
   * asynchronously (WebCrypto's jobs complete in any order), so emitting each once verified could hand a session's
   * signals to the manager in another order than the server delivered them.
   */
  #serverInbound: Promise<void> = Promise.resolve()
  /**
   * Settles once every signal handed to `signal` so far was sealed: sealing signs asynchronously (WebCrypto's jobs
   * complete in any order), and signals are sealed, so sent, in the order they were handed over. Across sessions this
   * matters too: a dial request overtaken by the answer to the remote's offer would reach it after the connection
   * opened, and the remote would take it for a new dial.
   */
  #sealing: Promise<unknown> = Promise.resolve()

  /** @throws {InvalidOptionsError} when `serverWaitMs` or `overlayWaitMs` is negative. */
  constructor(options: CompositeSignalingOptions) {
    super()
    this.#server = options.server
    this.#overlay = options.overlay
    this.#serverWaitMs =
      options.serverWaitMs === undefined || options.serverWaitMs === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : checkNumber('serverWaitMs', options.serverWaitMs, { min: 0 })
    this.#overlayWaitMs = checkNumber('overlayWaitMs', options.overlayWaitMs ?? 1_000, { min: 0 })
  }

  /** The overlay's signaling (attach its relay). */
  get overlay(): OverlaySignaling {
    return this.#overlay
  }

  on<E extends keyof SignalingEvents>(event: E, handler: SignalingEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  peers(): Identifier[] {
    return this.#server.peers()
  }

  /** Hands the manager's table of identity pins to both routes (see {@link Signaling.useIdentityPins}). */
  useIdentityPins(pins: IdentityPins): void {
    this.#server.useIdentityPins?.(pins)
    this.#overlay.useIdentityPins(pins)
  }

  iceServers(): RTCIceServer[] {
    return this.#server.iceServers?.() ?? []
  }

  /**
   * Seals `data` and relays it over the overlay when a relay is attached; through the server when that fails, or (the
   * server connected) when it has not arrived within `overlayWaitMs`. A signal of a session waits for the session's
   * first signal to settle (see the module).
   * @throws the server's errors ({@link Signaling.signal}) when the overlay route failed and so did the server.
   * @throws {AbortError} when `options.signal` aborts.
   */
  async signal(
    to: Identifier,
    session: string,
    data: SignalPayload,
    options: AbortOptions = {},
  ): Promise<void> {
    throwIfAborted(options.signal)
    const key = `${to.toHex()}/${session}`
    const first = this.#sessions.get(key)
    if (first === undefined) {
      // remembered before sealing: a later signal of the session (sealed meanwhile) waits for this one
      const sending = this.#seal(to, session, data).then((sealed) => this.#send(to, session, sealed, options))
      this.#rememberSession(
        key,
        sending.catch(() => {}),
      )
      await sending
      return
    }
    const sealed = await this.#seal(to, session, data)
    await raceSignal(first, options.signal)
    await this.#send(to, session, sealed, options)
  }

  /** Seals a signal after those handed over before it (see `#sealing`). */
  #seal(to: Identifier, session: string, data: SignalPayload): Promise<SealedSignal> {
    const sealing = this.#sealing.then(() => this.#overlay.seal(to, session, data))
    this.#sealing = sealing.catch(() => {})
    return sealing
  }

  routeMetrics(): SignalRouteMetrics {
    const overlay = this.#overlay.routeMetrics()
    return {
      ...overlay,
      serverSignalsSent: this.#counts.serverSent,
      serverSignalsReceived: this.#counts.serverReceived,
      overlayFallbacks: this.#counts.fallbacks,
    }
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    const server = this.#server
    const events = this.#events
    this.#subscriptions.push(
      this.#overlay.on('signal', (from, session, data) => events.emit('signal', from, session, data)),
      server.on('signal', (from, session, data) => this.#fromServer(from, session, data)),
      server.on('peer:joined', (id) => events.emit('peer:joined', id)),
      server.on('peer:left', (id) => events.emit('peer:left', id)),
      server.on('peer:host', (id, host) => events.emit('peer:host', id, host)),
      server.on('authenticated', (peers) => {
        this.#serverUp = true
        events.emit('authenticated', peers)
      }),
      server.on('disconnected', (reason) => {
        this.#serverUp = false
        events.emit('disconnected', reason)
      }),
    )
    this.#overlay.start(ctx)
    await this.#overlay.ready()
    // the server in a context of its own: its failure to join ends only its own start (judged below), and after
    // the composite is ready it matters only when the overlay cannot carry signals either
    server.start(
      createRootContext({
        onIrrecoverable: (err) => {
          if (this.state === 'ready' && !this.#overlay.canRelay) ctx.throwIrrecoverable(err)
        },
      }),
    )
    const viaServer = server.ready().catch((err: unknown) => {
      if (!this.#overlay.canRelay) throw err
    })
    const wait = this.#serverWaitMs
    const viaOverlay = Number.isFinite(wait)
      ? this.#overlay.attached().then(() => (wait > 0 ? sleep(wait, ctx.signal) : undefined))
      : new Promise<never>(() => {})
    await raceSignal(Promise.race([viaServer, viaOverlay]), ctx.signal)
  }

  protected async onStop(): Promise<void> {
    for (const off of this.#subscriptions.splice(0)) off()
    this.#serverUp = false
    this.#sessions.clear()
    await Promise.allSettled([this.#server.stop(), this.#overlay.stop()])
    this.#events.clear()
  }

  /** Sends one sealed signal: over the overlay when it can, through the server when that fails or is slow. */
  async #send(to: Identifier, session: string, sealed: SealedSignal, options: AbortOptions): Promise<void> {
    if (this.#overlay.canRelay) {
      const viaOverlay = this.#overlay.relaySealed(to, sealed, options)
      const outcome = await this.#overlayOutcome(viaOverlay)
      if (outcome === 'delivered') return
      throwIfAborted(options.signal)
      this.#counts.fallbacks++
      if (outcome === 'slow') {
        // the server copy goes too; the first to arrive counts, and the signal fails only when both routes failed
        return Promise.any([viaOverlay, this.#toServer(to, session, sealed, options)]).catch(
          (err: AggregateError) => {
            throw err.errors[1]
          },
        )
      }
    }
    return this.#toServer(to, session, sealed, options)
  }

  /**
   * How the overlay route went: `'slow'` when the server is connected and it did not settle within `overlayWaitMs`
   * (it goes on meanwhile); with the server down it has all its time.
   */
  async #overlayOutcome(viaOverlay: Promise<void>): Promise<'delivered' | 'failed' | 'slow'> {
    const settled = viaOverlay.then(
      () => 'delivered' as const,
      () => 'failed' as const,
    )
    if (!this.#serverUp) return settled
    let timer: ReturnType<typeof setTimeout> | undefined
    const slow = new Promise<'slow'>((resolve) => {
      timer = setTimeout(() => resolve('slow'), this.#overlayWaitMs)
    })
    try {
      return await Promise.race([settled, slow])
    } finally {
      clearTimeout(timer)
    }
  }

  async #toServer(
    to: Identifier,
    session: string,
    sealed: SealedSignal,
    options: AbortOptions,
  ): Promise<void> {
    this.#counts.serverSent++
    await this.#server.signal(to, session, { [SEALED_KEY]: JSON.stringify(sealed) }, options)
  }

  #rememberSession(key: string, settled: Promise<void>): void {
    this.#sessions.set(key, settled)
    if (this.#sessions.size > MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value
      if (oldest !== undefined) this.#sessions.delete(oldest)
    }
  }

  /** A signal the server delivered: opened at once, emitted in the order the server delivered it. */
  #fromServer(from: Identifier, session: string, data: SignalPayload): void {
    this.#counts.serverReceived++
    const opening = this.#openFromServer(from, session, data)
    this.#serverInbound = this.#serverInbound.then(async () => {
      const opened = await opening
      if (opened !== undefined && this.state === 'ready') {
        this.#events.emit('signal', opened.from, opened.session, opened.data)
      }
    })
  }

  /** The signal as sent (unsealed) or opened; `undefined` when refused (counted by the overlay's opener). */
  async #openFromServer(
    from: Identifier,
    session: string,
    data: SignalPayload,
  ): Promise<OpenedSignal | undefined> {
    const sealed = data[SEALED_KEY]
    if (typeof sealed !== 'string') return { from, session, data }
    let input: unknown
    try {
      input = JSON.parse(sealed)
    } catch {
      input = undefined
    }
    try {
      return await this.#overlay.open(input)
    } catch {
      return undefined
    }
  }
}

/**
 * Makes an unstarted {@link CompositeSignaling}: pass it as the manager's `signaling`; it starts and stops both.
 * @throws {InvalidOptionsError} when `serverWaitMs` or `overlayWaitMs` is negative.
 */
export function createCompositeSignaling(options: CompositeSignalingOptions): CompositeSignaling {
  return new CompositeSignaling(options)
}
