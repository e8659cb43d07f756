/**
 * What one peer connection's ICE did, as this side saw it: whether the offer/answer exchange completed, whether ICE
 * ever connected, which candidate types were gathered and received. The peer transport feeds it; a connection
 * that fails while connecting reads it to tell "ICE never connected" (a TURN server is needed, or the configured
 * one failed: {@link IceConnectionFailedError}) from "the signaling never completed".
 *
 * @module
 */
import { type IceCandidateType, IceConnectionFailedError, type IceFacts } from './errors.js'

const CANDIDATE_TYPES: ReadonlySet<string> = new Set(['host', 'srflx', 'prflx', 'relay'])

/** The type of an `a=candidate` / `candidate:` line (`typ relay`), `undefined` when it names none. */
export function candidateType(candidate: string): IceCandidateType | undefined {
  const m = /\btyp\s+(\w+)/.exec(candidate)
  const type = m?.[1]
  return type !== undefined && CANDIDATE_TYPES.has(type) ? (type as IceCandidateType) : undefined
}

/** Records one peer connection's ICE progress; see the module comment. */
export class IceFactsRecorder {
  readonly #iceServers: number
  readonly #policy: RTCIceTransportPolicy
  readonly #local = new Set<IceCandidateType>()
  readonly #remote = new Set<IceCandidateType>()
  #exchanged = false
  #connected = false
  #iceState: RTCIceConnectionState = 'new'

  constructor(config: RTCConfiguration) {
    this.#iceServers = config.iceServers?.length ?? 0
    this.#policy = config.iceTransportPolicy ?? 'all'
  }

  /** A candidate this side gathered. */
  localCandidate(candidate: string): void {
    const type = candidateType(candidate)
    if (type !== undefined) this.#local.add(type)
  }

  /** A candidate the remote signalled. */
  remoteCandidate(candidate: string): void {
    const type = candidateType(candidate)
    if (type !== undefined) this.#remote.add(type)
  }

  /** Both descriptions are set (`local`, `remote`: their SDP, whose `a=candidate` lines count too). */
  exchanged(local: string | undefined, remote: string | undefined): void {
    this.#exchanged = true
    for (const line of (local ?? '').match(/^a=candidate:.*$/gm) ?? []) this.localCandidate(line)
    for (const line of (remote ?? '').match(/^a=candidate:.*$/gm) ?? []) this.remoteCandidate(line)
  }

  /** The ICE connection state changed. */
  iceState(state: RTCIceConnectionState): void {
    this.#iceState = state
    if (state === 'connected' || state === 'completed') this.#connected = true
  }

  /** The peer connection is up (whatever its ICE state says): ICE connected. */
  connected(): void {
    this.#connected = true
  }

  /** A snapshot. */
  facts(): IceFacts {
    return {
      exchanged: this.#exchanged,
      connected: this.#connected,
      iceState: this.#iceState,
      localCandidateTypes: [...this.#local],
      remoteCandidateTypes: [...this.#remote],
      relayGathered: this.#local.has('relay'),
      iceServers: this.#iceServers,
      iceTransportPolicy: this.#policy,
    }
  }
}

/** The likely cause, in a sentence, of an ICE failure with `facts`. */
function likelyCause(facts: IceFacts): string {
  if (facts.iceTransportPolicy === 'relay' && !facts.relayGathered) {
    return facts.iceServers === 0
      ? 'relay-only with no ICE servers: configure a TURN server'
      : 'relay-only and no relay candidate was gathered: the TURN server is unreachable or refused the credentials (expired?)'
  }
  if (facts.localCandidateTypes.length === 0) return 'no local candidate was gathered'
  if (facts.remoteCandidateTypes.length === 0) return 'the remote signalled no candidate'
  if (!facts.relayGathered)
    return 'no candidate pair worked and no TURN relay was gathered: a TURN server is needed'
  return 'no candidate pair worked, even through the TURN relay'
}

/**
 * The error of a connection attempt that ended with `reason` while connecting: an {@link IceConnectionFailedError}
 * when the offer/answer exchange completed and ICE never connected, otherwise `reason` itself. Only a plain
 * `ConnectionFailedError` (a timeout, ICE `failed`, the remote abandoning) is explained so: a signaling error, a
 * missing peer or a local close stays what it is.
 */
export function explainConnectFailure(reason: Error, facts: IceFacts | undefined): Error {
  if (reason.name !== 'ConnectionFailedError' || facts === undefined) return reason
  if (!facts.exchanged || facts.connected) return reason
  const seen = (types: readonly string[]) => (types.length === 0 ? 'none' : types.join(', '))
  return new IceConnectionFailedError(
    `the offer/answer exchange completed but ICE never connected (${likelyCause(facts)}; local candidates: ${seen(
      facts.localCandidateTypes,
    )}; remote candidates: ${seen(facts.remoteCandidateTypes)}; ICE servers: ${facts.iceServers}; policy ${
      facts.iceTransportPolicy
    }; ICE ${facts.iceState})`,
    facts,
    { cause: reason },
  )
}
