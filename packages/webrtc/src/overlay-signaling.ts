/**
 * Signaling over the overlay: signals sealed end to end ({@link sealSignal}) and carried by a {@link SignalRelay}
 * over connections that already exist. Made before the node that provides the relay (the manager needs its
 * signaling first, the node needs the manager's network), it {@link OverlaySignaling.attach}es the relay later.
 *
 * @module
 */
import {
  AbstractComponent,
  type AbortOptions,
  ConnectionFailedError,
  Emitter,
  type Identifier,
  type KeyPair,
  raceSignal,
  type ThrowableContext,
  throwIfAborted,
  type Unsubscribe,
} from '@skipmesh/core'
import { checkNumber, deferred } from '@skipmesh/core/internal'
import { SignalingUnavailableError, SignalRefusedError } from './errors.js'
import type { IdentityPins } from './identity-pins.js'
import type {
  Signaling,
  SignalingEvents,
  SignalPayload,
  SignalRelay,
  SignalRouteMetrics,
} from './signaling.js'
import {
  type OpenedSignal,
  type SealedSignal,
  SignalOpener,
  type SignalRefusal,
  sealSignal,
} from './signed-signals.js'

/** Options of {@link createOverlaySignaling}. */
export interface OverlaySignalingOptions {
  /** This node's identifier (the sender of its signals, the addressee of others'). */
  readonly localId: Identifier
  /** The identity key that signs this node's signals (the manager's `keyPair`). */
  readonly keyPair: KeyPair
  /** Whether only senders whose identifiers derive from their keys are accepted (else: pinned). @default false */
  readonly selfCertifyingOnly?: boolean
  /** A relayed signal not delivered within this many milliseconds fails (the composite then uses the server). @default 4000 */
  readonly relayTimeoutMs?: number
  /** Oldest signal accepted, in milliseconds. @default 60000 */
  readonly maxSignalAgeMs?: number
}

const ENCODER = new TextEncoder()
const DECODER = new TextDecoder('utf-8', { fatal: true })

/**
 * The {@link Signaling} of the overlay: sends through the attached {@link SignalRelay}, emits the signals relayed to
 * this node once verified, and counts the refused ones. Has no room: `peers()` is empty. Ready at once; until a relay
 * is attached, `signal` fails with `SignalingUnavailableError`.
 */
export class OverlaySignaling extends AbstractComponent implements Signaling {
  readonly localId: Identifier
  readonly #keyPair: KeyPair
  readonly #opener: SignalOpener
  readonly #relayTimeoutMs: number
  readonly #events = new Emitter<SignalingEvents>()
  readonly #refused: Partial<Record<SignalRefusal, number>> = {}
  readonly #firstAttach = deferred<void>()
  #relay: SignalRelay | undefined
  #offDeliver: Unsubscribe | undefined
  #sent = 0
  #received = 0
  /**
   * Settles once every signal delivered so far was emitted (or refused): signals are verified asynchronously
   * (WebCrypto's jobs complete in any order), and are emitted in the order they were delivered.
   */
  #inbound: Promise<void> = Promise.resolve()

  /** @throws {InvalidOptionsError} */
  constructor(options: OverlaySignalingOptions) {
    super()
    this.localId = options.localId
    this.#keyPair = options.keyPair
    this.#relayTimeoutMs = checkNumber('relayTimeoutMs', options.relayTimeoutMs ?? 4_000, { min: 1 })
    this.#opener = new SignalOpener({
      localId: options.localId,
      selfCertifyingOnly: options.selfCertifyingOnly ?? false,
      maxAgeMs: checkNumber('maxSignalAgeMs', options.maxSignalAgeMs ?? 60_000, { min: 1 }),
    })
  }

  on<E extends keyof SignalingEvents>(event: E, handler: SignalingEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  /** Carries this node's signals from now on (replacing any relay attached before); returns the detach function. */
  attach(relay: SignalRelay): Unsubscribe {
    this.#offDeliver?.()
    this.#relay = relay
    const off = relay.onDeliver((bytes) => this.#onDeliver(bytes))
    this.#offDeliver = off
    this.#firstAttach.resolve()
    return () => {
      if (this.#relay !== relay) return
      off()
      this.#relay = undefined
      this.#offDeliver = undefined
    }
  }

  /** Resolves once a relay has been attached (at once if one was): the overlay can carry signals from then on. */
  attached(): Promise<void> {
    return this.#firstAttach.promise
  }

  /** Whether a relay is attached and the component is ready. */
  get canRelay(): boolean {
    return this.#relay !== undefined && this.state === 'ready'
  }

  /** Opens signals against `pins`, the manager's one table (see {@link Signaling.useIdentityPins}). */
  useIdentityPins(pins: IdentityPins): void {
    this.#opener.usePins(pins)
  }

  /** The overlay has no room. */
  peers(): Identifier[] {
    return []
  }

  /**
   * Seals `data` and relays it to `to`.
   * @throws {SignalingUnavailableError} when no relay is attached or the component is not ready.
   * @throws {ConnectionFailedError} when the relay found no route or timed out.
   * @throws {AbortError} when `options.signal` aborts.
   */
  async signal(
    to: Identifier,
    session: string,
    data: SignalPayload,
    options: AbortOptions = {},
  ): Promise<void> {
    throwIfAborted(options.signal)
    await this.relaySealed(to, await this.seal(to, session, data), options)
  }

  /** `data` sealed by this node for `to` under `session`. */
  seal(to: Identifier, session: string, data: SignalPayload): Promise<SealedSignal> {
    return sealSignal(this.#keyPair, this.localId, to, session, data)
  }

  /**
   * Relays a sealed signal to `to`.
   * @throws the errors of {@link OverlaySignaling.signal}.
   */
  async relaySealed(to: Identifier, sealed: SealedSignal, options: AbortOptions = {}): Promise<void> {
    const relay = this.#relay
    if (relay === undefined || this.state !== 'ready') {
      throw new SignalingUnavailableError('no overlay relay is attached')
    }
    const timeout = AbortSignal.timeout(this.#relayTimeoutMs)
    const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
    try {
      await raceSignal(relay.relay(to, ENCODER.encode(JSON.stringify(sealed)), { signal }), signal)
    } catch (err) {
      throwIfAborted(options.signal)
      if (err instanceof ConnectionFailedError) throw err
      throw new ConnectionFailedError(`the overlay route to ${to.toHex()} failed`, { cause: err })
    }
    this.#sent++
  }

  /**
   * Verifies a sealed signal (`input`: its parsed JSON), from either route.
   * @throws {SignalRefusedError} when it is refused (counted).
   */
  async open(input: unknown): Promise<OpenedSignal> {
    const opened = await this.#opener.open(input)
    if (typeof opened === 'string') {
      this.#refused[opened] = (this.#refused[opened] ?? 0) + 1
      throw new SignalRefusedError(opened)
    }
    return opened
  }

  /** Refused signed signals by reason. */
  refusals(): Readonly<Partial<Record<SignalRefusal, number>>> {
    return { ...this.#refused }
  }

  routeMetrics(): SignalRouteMetrics {
    let refused = 0
    for (const n of Object.values(this.#refused)) refused += n
    return {
      serverSignalsSent: 0,
      serverSignalsReceived: 0,
      overlaySignalsSent: this.#sent,
      overlaySignalsReceived: this.#received,
      overlayFallbacks: 0,
      signedSignalsRefused: refused,
    }
  }

  protected async onStart(_ctx: ThrowableContext): Promise<void> {}

  protected async onStop(): Promise<void> {
    this.#offDeliver?.()
    this.#offDeliver = undefined
    this.#relay = undefined
    this.#opener.clear()
    this.#events.clear()
  }

  /**
   * Bytes a relay delivered: a sealed signal, or refused (the relay reports the refusal to the sender's side).
   * Opened at once, emitted after the signals delivered before it.
   */
  #onDeliver(bytes: Uint8Array): Promise<void> {
    let input: unknown
    try {
      input = JSON.parse(DECODER.decode(bytes))
    } catch {
      input = undefined
    }
    const opening = this.open(input)
    // a refusal is reported through `emitted`, once the signals before it were emitted
    opening.catch(() => {})
    const emitted = this.#inbound.then(async () => {
      const opened = await opening
      if (this.state !== 'ready') return
      this.#received++
      this.#events.emit('signal', opened.from, opened.session, opened.data)
    })
    this.#inbound = emitted.catch(() => {})
    return emitted
  }
}

/**
 * Makes an unstarted {@link OverlaySignaling}: pass it to {@link createCompositeSignaling} (or, alone, as a manager's
 * `signaling`), then `attach` a relay once the overlay node exists.
 * @throws {InvalidOptionsError} when an option is out of range.
 */
export function createOverlaySignaling(options: OverlaySignalingOptions): OverlaySignaling {
  return new OverlaySignaling(options)
}
