/**
 * Signals signed end to end: a signal that other peers (or the signaling server) carry is sealed by its sender with
 * its identity key (Ed25519) and opened by its addressee, who trusts neither the relays nor the server.
 *
 * The transcript is domain-separated ({@link SIGNAL_TRANSCRIPT_DOMAIN}) and covers the sender, the addressee, the
 * session, a timestamp, a fresh nonce, the sender's public key and the whole payload as the exact JSON text that
 * travels (so every SDP in it, with its DTLS fingerprint). The binding between the sender's identifier and the key is
 * the hello's ({@link PeerAuthenticator}), in the same table ({@link IdentityPins}: a manager's one, see
 * {@link SignalOpener.usePins}): an identifier derived from the key (`Identifier.fromPublicKey`) is accepted for it;
 * any other is pinned to the first key that signed for it, in a signal or a hello. A signal that does not verify, names
 * another addressee, is older than the freshness window, or repeats a nonce is refused with its reason. The checks
 * that need no key (shape, addressee, freshness window) run before the signature's, so a flood of stale or
 * misaddressed signals costs no verification; a nonce is remembered only once its signal verified.
 *
 * @module
 */
import { Identifier, isSelfCertifying, type KeyPair, verifySignature } from '@skipmesh/core'
import { bytesToHex, hexToBytes, randomNonce } from '@skipmesh/core/internal'
import * as v from 'valibot'
import { IdentityPins } from './identity-pins.js'
import { ReplayGuard } from './replay-guard.js'
import type { SignalPayload } from './signaling.js'

/** Domain separation of the signal transcript (versioned with it). */
export const SIGNAL_TRANSCRIPT_DOMAIN = 'skipmesh/signal/1'

/** Why a signed signal was refused. */
export type SignalRefusal =
  /** Not a sealed signal (bad shape, bad hex, a payload that is not a JSON object). */
  | 'malformed'
  /** Sealed for another addressee. */
  | 'misaddressed'
  /** The signature does not verify over the transcript (altered in transit, or forged). */
  | 'signature'
  /** The key does not own the sender's identifier (not derived from it, and another key is pinned for it). */
  | 'binding'
  /** The timestamp is outside the freshness window. */
  | 'stale'
  /** The nonce was seen before. */
  | 'replay'

const HEX_ID = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))

/** A sealed signal as it travels (JSON). */
export const SealedSignalSchema = v.object({
  v: v.literal(1),
  from: HEX_ID,
  to: HEX_ID,
  session: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  ts: v.pipe(v.number(), v.safeInteger()),
  nonce: v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/)),
  pk: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  sig: v.pipe(v.string(), v.regex(/^[0-9a-f]{128}$/)),
  /** The payload: the exact JSON text that was signed. */
  data: v.pipe(v.string(), v.maxLength(60 * 1024)),
})

/** A validated sealed signal. */
export type SealedSignal = v.InferOutput<typeof SealedSignalSchema>

/** The bytes the sender of `s` signs (and the addressee verifies). */
export function signalTranscript(s: Omit<SealedSignal, 'sig' | 'v'>): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify([SIGNAL_TRANSCRIPT_DOMAIN, s.from, s.to, s.session, s.ts, s.nonce, s.pk, s.data]),
  )
}

/** Seals `data` from `localId` to `to` under `session`, signed with `keyPair`. */
export async function sealSignal(
  keyPair: KeyPair,
  localId: Identifier,
  to: Identifier,
  session: string,
  data: SignalPayload,
  now: number = Date.now(),
): Promise<SealedSignal> {
  const unsigned = {
    from: localId.toHex(),
    to: to.toHex(),
    session,
    ts: Math.floor(now),
    nonce: randomNonce(16),
    pk: bytesToHex(keyPair.publicKey),
    data: JSON.stringify(data),
  }
  const sig = bytesToHex(await keyPair.sign(signalTranscript(unsigned)))
  return { v: 1, ...unsigned, sig }
}

/** An opened signal: its verified sender, its session and its payload. */
export interface OpenedSignal {
  readonly from: Identifier
  readonly session: string
  readonly data: SignalPayload
}

/** What a {@link SignalOpener} takes. */
export interface SignalOpenerOptions {
  /** The addressee: signals sealed for anyone else are refused. */
  readonly localId: Identifier
  /** Whether only identifiers derived from their keys are accepted (no pinning). @default false */
  readonly selfCertifyingOnly?: boolean
  /** Oldest accepted signal, in milliseconds. @default 60000 */
  readonly maxAgeMs?: number
  /** Latest accepted timestamp ahead of this clock, in milliseconds. @default 30000 */
  readonly maxSkewMs?: number
  /** Nonces remembered (and identifiers pinned, in a table of its own) at most. @default 8192 */
  readonly maxEntries?: number
  /** The table of pins to share (a manager's, with its hellos). @default a table of its own */
  readonly pins?: IdentityPins
  /** The clock. @default Date.now */
  readonly now?: () => number
}

/** The addressee's side: checks sealed signals and remembers their nonces; see the module. */
export class SignalOpener {
  readonly #localHex: string
  readonly #selfCertifyingOnly: boolean
  #pins: IdentityPins
  readonly #replay: ReplayGuard
  #verifications = 0

  constructor(options: SignalOpenerOptions) {
    this.#localHex = options.localId.toHex()
    this.#selfCertifyingOnly = options.selfCertifyingOnly ?? false
    const maxEntries = options.maxEntries ?? 8192
    this.#pins = options.pins ?? new IdentityPins(maxEntries)
    this.#replay = new ReplayGuard({
      maxAgeMs: options.maxAgeMs ?? 60_000,
      maxSkewMs: options.maxSkewMs ?? 30_000,
      maxEntries,
      ...(options.now === undefined ? {} : { now: options.now }),
    })
  }

  /** Signatures verified so far (the costly step; the checks that need no key run before it). */
  get verifications(): number {
    return this.#verifications
  }

  /** Opens `input` (a parsed JSON value), or says why it is refused. Never throws. */
  async open(input: unknown): Promise<OpenedSignal | SignalRefusal> {
    const parsed = v.safeParse(SealedSignalSchema, input)
    if (!parsed.success) return 'malformed'
    const s = parsed.output
    // the stateless checks first: a misaddressed or stale flood costs no signature verification
    if (s.to !== this.#localHex) return 'misaddressed'
    if (!this.#replay.fresh(s.ts)) return 'stale'
    let data: unknown
    try {
      data = JSON.parse(s.data)
    } catch {
      return 'malformed'
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'malformed'
    const publicKey = hexToBytes(s.pk)
    const signature = hexToBytes(s.sig)
    if (publicKey === undefined || signature === undefined) return 'malformed'
    this.#verifications++
    if (!(await verifySignature(publicKey, signalTranscript(s), signature))) return 'signature'
    const from = Identifier.fromHex(s.from)
    if (!isSelfCertifying(from, publicKey)) {
      if (this.#selfCertifyingOnly) return 'binding'
      const pinned = this.#pins.get(s.from)
      if (pinned !== undefined && pinned !== s.pk) return 'binding'
    }
    // only a verified signal spends its nonce: nobody else can burn the sender's (the window is checked again:
    // the clock moved during the verification)
    const fresh = this.#replay.check(s.ts, s.nonce)
    if (fresh !== undefined) return fresh
    this.#pins.pin(s.from, s.pk)
    return { from, session: s.session, data: data as SignalPayload }
  }

  /**
   * Pins in `pins` from now on (the manager's table, which its hellos use too), instead of the table it had: one
   * key per identifier whichever way the key was first proven. The pins of the table it had are not carried over.
   */
  usePins(pins: IdentityPins): void {
    this.#pins = pins
  }

  /** Forgets the nonces (at stop); the pins stay. */
  clear(): void {
    this.#replay.clear()
  }
}
