/**
 * Peer authentication in the control channel's hello: each side proves that it holds the key of the identifier it
 * connects as, over this connection's DTLS fingerprints, and checks the remote's proof and its identifier↔key
 * binding. The signaling server is not trusted with identity: it only relays.
 *
 * The transcript each side signs (Ed25519) names the signer's role, both identifiers and the DTLS certificate
 * fingerprints of both descriptions that this peer connection negotiated (as js-libp2p's webrtc-direct puts both
 * fingerprints in its Noise prologue). The DTLS stack makes sure the remote endpoint holds the certificate of the
 * remote description's fingerprint; the signature makes sure the key holder negotiated that description. A server or
 * relay that swapped descriptions to sit in the middle terminates DTLS with its own certificates, so the proofs it
 * can forward name fingerprints that are not this side's: refused.
 *
 * The binding: an identifier derived from the key (`Identifier.fromPublicKey`, self-certifying) is accepted for that
 * key; any other identifier is pinned to the first key proven for it ({@link IdentityPins}) and refused with
 * another key afterwards. Every identifier proven once (self-certifying too) is refused without a proof afterwards.
 * The manager's table is shared with the signed signals its signaling opens (`Signaling.useIdentityPins`), so
 * a key pinned by a signal is the one a hello must prove, and the other way round.
 *
 * @module
 */
import { type Identifier, isSelfCertifying, type KeyPair, verifySignature } from '@skipmesh/core'
import { bytesToHex, hexToBytes } from '@skipmesh/core/internal'
import { PeerAuthenticationError } from './errors.js'
import { IdentityPins } from './identity-pins.js'

/** Domain separation of the hello transcript (versioned with it). */
export const HELLO_TRANSCRIPT_DOMAIN = 'skipmesh/hello/1'

/**
 * What a remote must prove (the `peerAuthentication` option):
 * - `'optional'`: a signed hello is always verified; an unsigned one (a peer without a key pair) is accepted unless
 *   its identifier is pinned to a key.
 * - `'required'`: every hello must be signed.
 * - `'self-certifying'`: every hello must be signed, with the key the identifier is derived from.
 */
export type PeerAuthenticationPolicy = 'optional' | 'required' | 'self-certifying'

/** The proof in a signed hello: the sender's raw Ed25519 public key and its signature, both hex. */
export interface HelloProof {
  readonly pk: string
  readonly sig: string
}

/** One connection as its side sees it: the transcript's inputs. */
export interface HelloContext {
  readonly localId: Identifier
  readonly remoteId: Identifier
  /** Whether this side is the WebRTC initiator. */
  readonly initiator: boolean
  /** The normalized DTLS fingerprints of this side's and of the remote's description ({@link sdpFingerprints}). */
  readonly fingerprints: { readonly local: string; readonly remote: string }
}

/**
 * The DTLS certificate fingerprints of an SDP, normalized (hash function lower case, hex upper case, each once,
 * sorted, comma-separated) so that both sides read the same string from the same description; `''` without any.
 */
export function sdpFingerprints(sdp: string | undefined): string {
  const out = new Set<string>()
  for (const m of (sdp ?? '').matchAll(/^a=fingerprint:\s*(\S+)\s+([0-9A-Fa-f:]+)\s*$/gm)) {
    out.add(`${m[1]!.toLowerCase()} ${m[2]!.toUpperCase()}`)
  }
  return [...out].sort().join(',')
}

/** The bytes the `signer` of a hello signs for connection `ctx` (seen from either side: the same bytes). */
export function helloTranscript(signer: 'initiator' | 'responder', ctx: HelloContext): Uint8Array {
  const local = { id: ctx.localId.toHex(), fp: ctx.fingerprints.local }
  const remote = { id: ctx.remoteId.toHex(), fp: ctx.fingerprints.remote }
  const [i, r] = ctx.initiator ? [local, remote] : [remote, local]
  return new TextEncoder().encode(JSON.stringify([HELLO_TRANSCRIPT_DOMAIN, signer, i.id, r.id, i.fp, r.fp]))
}

/** What a {@link PeerAuthenticator} takes. */
export interface PeerAuthenticatorOptions {
  /** This side's key pair: its hellos are signed; without it they are not. */
  readonly keyPair?: KeyPair | undefined
  readonly policy: PeerAuthenticationPolicy
  /** Pins kept (least recently confirmed evicted first), in a table of its own. @default 4096 */
  readonly maxPins?: number
  /** The table of pins to use (shared); `maxPins` is then ignored. @default a table of its own */
  readonly pins?: IdentityPins
}

/** A manager's peer authentication: its proof for each hello, and the checks of the remotes'; see the module. */
export class PeerAuthenticator {
  readonly #keyPair: KeyPair | undefined
  readonly #policy: PeerAuthenticationPolicy
  readonly #pins: IdentityPins

  constructor(options: PeerAuthenticatorOptions) {
    this.#keyPair = options.keyPair
    this.#policy = options.policy
    this.#pins = options.pins ?? new IdentityPins(options.maxPins)
  }

  /** The table of pins it checks and fills. */
  get pins(): IdentityPins {
    return this.#pins
  }

  /** Identifiers pinned to a key now. */
  get pinned(): number {
    return this.#pins.size
  }

  /** This side's proof for the hello of connection `ctx`; `undefined` without a key pair. */
  async prove(ctx: HelloContext): Promise<HelloProof | undefined> {
    const keyPair = this.#keyPair
    if (keyPair === undefined) return undefined
    const sig = await keyPair.sign(helloTranscript(ctx.initiator ? 'initiator' : 'responder', ctx))
    return { pk: bytesToHex(keyPair.publicKey), sig: bytesToHex(sig) }
  }

  /**
   * Checks the remote's hello `proof` on connection `ctx` (signature over this side's view of the connection, then
   * the identifier↔key binding) and pins the key of a plain identifier on success.
   * @throws {PeerAuthenticationError} when the remote does not prove it owns `ctx.remoteId`.
   */
  async verify(ctx: HelloContext, proof: HelloProof | undefined): Promise<void> {
    const id = ctx.remoteId.toHex()
    if (proof === undefined) {
      if (this.#policy !== 'optional') {
        throw new PeerAuthenticationError('unsigned', `${id} sent no identity proof (${this.#policy})`)
      }
      if (this.#pins.get(id) !== undefined) {
        throw new PeerAuthenticationError('unsigned', `${id} is known with a key and sent no identity proof`)
      }
      return
    }
    const publicKey = hexToBytes(proof.pk)
    const signature = hexToBytes(proof.sig)
    const signer = ctx.initiator ? 'responder' : 'initiator'
    if (
      publicKey === undefined ||
      signature === undefined ||
      !(await verifySignature(publicKey, helloTranscript(signer, ctx), signature))
    ) {
      throw new PeerAuthenticationError(
        'signature',
        `the identity proof of ${id} does not verify over this connection's DTLS fingerprints (this side's ` +
          `${ctx.fingerprints.local || 'none'}, the remote's ${ctx.fingerprints.remote || 'none'})`,
      )
    }
    const key = bytesToHex(publicKey)
    // the key an identifier is derived from owns it, even over a key pinned for it before
    if (!isSelfCertifying(ctx.remoteId, publicKey)) {
      if (this.#policy === 'self-certifying') {
        throw new PeerAuthenticationError('not-self-certifying', `${id} is not derived from its key`)
      }
      const pinned = this.#pins.get(id)
      if (pinned !== undefined && pinned !== key) {
        throw new PeerAuthenticationError('key-mismatch', `${id} is pinned to another key than ${key}`)
      }
    }
    this.#pins.pin(id, key)
  }
}
