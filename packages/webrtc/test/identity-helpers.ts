import type { Identifier } from '@skipmesh/core'
import { createNativePeerTransport } from '../src/peer-native.js'
import type { PeerSignal, PeerTransport } from '../src/peer-transport.js'
import type { Signaling, SignalingEvents, SignalPayload } from '../src/signaling.js'
import type { WrtcImplementation } from '../src/wrtc.js'

type SignalHandler = SignalingEvents['signal']

/** What {@link interceptedSignaling} lets a test do with a manager's signals. */
export interface SignalHooks {
  /** An outgoing signal: return the payload to relay, or `undefined` to swallow it. */
  outgoing?(to: Identifier, session: string, data: SignalPayload): SignalPayload | undefined
}

/**
 * `inner` with its outgoing signals passed through `hooks`, and `deliver` to hand the manager a signal as if the
 * server had relayed it (a signaling server or relay that lies).
 */
export function interceptedSignaling(
  inner: Signaling,
  hooks: SignalHooks,
): { signaling: Signaling; deliver: SignalHandler } {
  const handlers: SignalHandler[] = []
  const signaling = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'signal') {
        return (to: Identifier, session: string, data: SignalPayload, options?: { signal?: AbortSignal }) => {
          const out = hooks.outgoing === undefined ? data : hooks.outgoing(to, session, data)
          return out === undefined ? Promise.resolve() : target.signal(to, session, out, options)
        }
      }
      if (prop === 'on') {
        return (event: keyof SignalingEvents, handler: SignalingEvents[keyof SignalingEvents]) => {
          if (event === 'signal') handlers.push(handler as SignalHandler)
          return target.on(event, handler)
        }
      }
      const value = Reflect.get(target, prop, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  const deliver: SignalHandler = (from, session, data) => {
    for (const h of handlers) h(from, session, data)
  }
  return { signaling, deliver }
}

/** Rewrites every `a=fingerprint` line of the descriptions in a `{ batch }` payload. */
export function forgeFingerprints(data: SignalPayload): SignalPayload {
  const batch = data.batch
  if (!Array.isArray(batch)) return data
  return {
    batch: (batch as PeerSignal[]).map((s) =>
      'sdp' in s
        ? { ...s, sdp: s.sdp.replace(/^a=fingerprint:(\S+) .*$/gm, `a=fingerprint:$1 ${'AB:'.repeat(31)}AB`) }
        : s,
    ),
  }
}

/**
 * A machine in the middle of a signaling server: it answers the initiator's offer with a peer connection of its own
 * and offers the responder another, so that each side's DTLS ends at the middle; it forwards the control channel
 * (id 2) between both legs verbatim, hellos and their proofs included.
 */
export class MiddleRelay {
  readonly #wrtc: WrtcImplementation
  readonly #toInitiator: (session: string, data: SignalPayload) => void
  readonly #toResponder: (session: string, data: SignalPayload) => void
  /** Per session: the leg facing the initiator and the leg facing the responder. */
  readonly #legs = new Map<string, readonly [PeerTransport, PeerTransport]>()
  /** Control messages forwarded (both ways). */
  forwarded = 0

  /**
   * @param toInitiator hands the initiator a signal as if the responder sent it
   * @param toResponder hands the responder a signal as if the initiator sent it
   */
  constructor(
    wrtc: WrtcImplementation,
    toInitiator: (session: string, data: SignalPayload) => void,
    toResponder: (session: string, data: SignalPayload) => void,
  ) {
    this.#wrtc = wrtc
    this.#toInitiator = toInitiator
    this.#toResponder = toResponder
  }

  /** A signal the initiator sent to the responder (a new session: a new pair of legs). */
  fromInitiator(session: string, data: SignalPayload): void {
    const legs = this.#legs.get(session) ?? this.#start(session)
    if (Array.isArray(data.batch)) for (const s of data.batch as PeerSignal[]) legs[0].signal(s)
  }

  /** A signal the responder sent to the initiator. */
  fromResponder(session: string, data: SignalPayload): void {
    const legs = this.#legs.get(session)
    if (legs !== undefined && Array.isArray(data.batch)) {
      for (const s of data.batch as PeerSignal[]) legs[1].signal(s)
    }
  }

  close(): void {
    for (const [a, b] of this.#legs.values()) {
      a.destroy()
      b.destroy()
    }
  }

  #start(session: string): readonly [PeerTransport, PeerTransport] {
    const config = { iceServers: [] }
    const a = createNativePeerTransport({ initiator: false, wrtc: this.#wrtc, config })
    const b = createNativePeerTransport({ initiator: true, wrtc: this.#wrtc, config })
    const legs = [a, b] as const
    this.#legs.set(session, legs)
    a.on('signal', (s) => this.#toInitiator(session, { batch: [s] }))
    b.on('signal', (s) => this.#toResponder(session, { batch: [s] }))
    const ca = a.createChannel('skipmesh-control', 2)
    const cb = b.createChannel('skipmesh-control', 2)
    this.#pipe(ca, cb)
    this.#pipe(cb, ca)
    return legs
  }

  #pipe(from: RTCDataChannel, to: RTCDataChannel): void {
    const queued: unknown[] = []
    const flush = (): void => {
      while (to.readyState === 'open' && queued.length > 0) {
        to.send(queued.shift() as string)
        this.forwarded++
      }
    }
    to.addEventListener('open', flush)
    from.onmessage = (e: MessageEvent) => {
      queued.push(e.data)
      flush()
    }
  }
}
