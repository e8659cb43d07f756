/**
 * Adapts `node-datachannel/polyfill`. skipmesh's own peer transport drives the raw polyfill too (`wrtc: ndc`),
 * but only the adapted one takes TURN credentials as browsers do: the polyfill writes `username` and `credential`
 * into a `turn:user:pass@host` URL that libdatachannel parses, so a TURN REST username (`<expiry>:<id>`) or a
 * base64 credential (`+`, `/`, `=`) breaks it and no relay candidate is gathered. The adapted class
 * percent-encodes both (libdatachannel decodes them). It also fixes, for code that writes to descriptions
 * (simple-peer did): the polyfill's `createOffer`/`createAnswer` resolve to
 * `RTCSessionDescription` instances whose `sdp` is a getter; simple-peer assigns to `offer.sdp` (trickle filtering)
 * and fails with "Cannot set property sdp". The adapted class returns plain `{ type, sdp }` objects instead, and holds
 * remote ICE candidates that arrive before the local description (libdatachannel throws "Got a remote candidate
 * without ICE transport" for them) until the local description is set.
 * This module never imports `node-datachannel`: the caller passes the polyfill module in.
 *
 * @module
 */
import type { RTCPeerConnectionConstructor, WrtcImplementation } from './wrtc.js'

/** The part of `node-datachannel/polyfill` the adapter needs (pass the module namespace itself). */
export interface NodeDatachannelPolyfill {
  readonly RTCPeerConnection: unknown
  readonly RTCSessionDescription: unknown
  readonly RTCIceCandidate: unknown
}

const ICE_RETRIES = 40
const ICE_RETRY_MS = 25

function hasSdp(description: RTCSessionDescriptionInit | null | undefined): boolean {
  return typeof description?.sdp === 'string' && description.sdp.length > 0
}

/** `configuration` with every ICE server's `username` and `credential` percent-encoded (see the module note). */
function encodeIceCredentials(configuration: RTCConfiguration): RTCConfiguration {
  const servers = configuration.iceServers
  if (servers === undefined) return configuration
  return {
    ...configuration,
    iceServers: servers.map((server) => {
      const out: RTCIceServer = { ...server }
      if (typeof server.username === 'string') out.username = encodeURIComponent(server.username)
      if (typeof server.credential === 'string') out.credential = encodeURIComponent(server.credential)
      return out
    }),
  }
}

function plain(description: RTCSessionDescriptionInit): RTCSessionDescriptionInit {
  const out: RTCSessionDescriptionInit = { type: description.type }
  if (description.sdp !== undefined) out.sdp = description.sdp
  return out
}

/**
 * A {@link WrtcImplementation} over `node-datachannel/polyfill`.
 * @example
 * ```ts
 * import * as ndc from 'node-datachannel/polyfill'
 * createWebRtcConnectionManager({ ..., wrtc: nodeDatachannelWrtc(ndc) })
 * ```
 */
export function nodeDatachannelWrtc(polyfill: NodeDatachannelPolyfill): WrtcImplementation {
  const Base = polyfill.RTCPeerConnection as new (
    configuration?: RTCConfiguration,
  ) => {
    createOffer(options?: RTCOfferOptions): Promise<RTCSessionDescriptionInit>
    createAnswer(options?: RTCAnswerOptions): Promise<RTCSessionDescriptionInit>
    setLocalDescription(description?: RTCSessionDescriptionInit): Promise<void>
    addIceCandidate(candidate?: RTCIceCandidateInit | null): Promise<void>
    get localDescription(): RTCSessionDescriptionInit | null
  }
  class AdaptedRTCPeerConnection extends Base {
    constructor(configuration?: RTCConfiguration) {
      super(configuration === undefined ? undefined : encodeIceCredentials(configuration))
    }

    #early: Array<{
      candidate: RTCIceCandidateInit | null | undefined
      resolve: () => void
      reject: (e: unknown) => void
    }> = []

    override async createOffer(options?: RTCOfferOptions): Promise<RTCSessionDescriptionInit> {
      return plain(await super.createOffer(options))
    }

    override async createAnswer(options?: RTCAnswerOptions): Promise<RTCSessionDescriptionInit> {
      return plain(await super.createAnswer(options))
    }

    // libdatachannel creates its ICE transport with the local description and throws "Got a remote candidate
    // without ICE transport" for candidates added before: hold them until then
    override async setLocalDescription(description?: RTCSessionDescriptionInit): Promise<void> {
      await super.setLocalDescription(description)
      for (const c of this.#early.splice(0)) super.addIceCandidate(c.candidate).then(c.resolve, c.reject)
    }

    override async addIceCandidate(candidate?: RTCIceCandidateInit | null): Promise<void> {
      if (!hasSdp(super.localDescription)) {
        return new Promise((resolve, reject) => this.#early.push({ candidate, resolve, reject }))
      }
      // libdatachannel stores its ICE transport from a worker thread: under CPU contention a candidate can still
      // arrive first ("without ICE transport"); retry for a bounded time
      for (let attempt = 0; ; attempt++) {
        try {
          return await super.addIceCandidate(candidate)
        } catch (err) {
          if (attempt >= ICE_RETRIES || !String((err as Error)?.message).includes('without ICE transport'))
            throw err
          await new Promise((resolve) => setTimeout(resolve, ICE_RETRY_MS))
        }
      }
    }
  }
  return {
    RTCPeerConnection: AdaptedRTCPeerConnection as unknown as RTCPeerConnectionConstructor,
    RTCSessionDescription: polyfill.RTCSessionDescription,
    RTCIceCandidate: polyfill.RTCIceCandidate,
  }
}
