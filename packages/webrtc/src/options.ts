/**
 * The options of `createWebRtcConnectionManager`, their defaults and their validation; and the one place that
 * chooses the peer transport implementation.
 *
 * @module
 */
import { Identifier, InvalidOptionsError, type KeyPair } from '@skipmesh/core'
import type { ConnectionLimits } from './connection.js'
import { createNativePeerTransport } from './peer-native.js'
import type { PeerTransportFactory } from './peer-transport.js'
import type { Signaling } from './signaling.js'
import { SignalingClient, type SignalingClientOptions } from './signaling-client.js'
import { checkNumber } from '@skipmesh/core/internal'
import { resolveWrtc, type WrtcImplementation } from './wrtc.js'
import { type PeerAuthenticationPolicy, PeerAuthenticator } from './peer-auth.js'
import { DEFAULT_SIGNAL_HOLD_MS } from './signal-outbox.js'

/** The peer transport every connection uses: perfect negotiation over the standard API (swap it here). */
export const DEFAULT_PEER_TRANSPORT: PeerTransportFactory = createNativePeerTransport

/** The `RTCConfiguration` when none is given: two public STUN servers. */
export const DEFAULT_RTC_CONFIGURATION: RTCConfiguration = {
  iceServers: [{ urls: ['stun:stun.l.google.com:19302', 'stun:global.stun.twilio.com:3478'] }],
}

/** Options of `createWebRtcConnectionManager`. */
export interface WebRtcConnectionManagerOptions {
  /** This peer's identifier; also its id in the signaling room. */
  readonly localId: Identifier
  /**
   * The Ed25519 key pair (core `generateKeyPair()`) that proves ownership of `localId` to the signaling server.
   * Required when `signaling` is options (the manager builds its `SignalingClient`).
   */
  readonly keyPair?: KeyPair
  /**
   * The signaling: either the server and room, plus any other {@link SignalingClientOptions} (`path`,
   * `ackTimeoutMs`, `joinTimeoutMs`, `reconnectDelayMs`, `reconnectDelayMaxMs`, `socketOptions`), from which the
   * manager builds a `SignalingClient`; or a {@link Signaling} implementation. Either way the manager starts and
   * stops it.
   */
  readonly signaling: Omit<SignalingClientOptions, 'localId' | 'keyPair'> | Signaling
  /**
   * `RTCConfiguration` of every peer connection (`iceServers`, `iceTransportPolicy`, …). Unless it names its own
   * `iceServers`, the ICE servers the signaling service issued (TURN with time-limited credentials, from a
   * signaling server configured with `turn`) are added to them.
   * @default `{ iceServers: [{ urls: ['stun:stun.l.google.com:19302', 'stun:global.stun.twilio.com:3478'] }] }`
   */
  readonly rtc?: RTCConfiguration
  /**
   * A WebRTC implementation: an object with an `RTCPeerConnection` class (the other fields are not used). Required
   * where there is no global `RTCPeerConnection`; in Node: `@roamhq/wrtc`, or `node-datachannel/polyfill` itself
   * (`nodeDatachannelWrtc(polyfill)` works too, and is no longer needed).
   * @default the platform's globals
   */
  readonly wrtc?: WrtcImplementation
  /**
   * A dial that has not produced an open connection within this many milliseconds fails with
   * `ConnectionFailedError`; its peer connection is destroyed.
   * @default 15000
   */
  readonly connectTimeoutMs?: number
  /**
   * How long an attempt holds its outgoing negotiation signals so that they leave together, in milliseconds: a batch
   * leaves this long after its first signal. A browser reports its description and then each ICE candidate in a
   * task of its own, a millisecond or two apart; held, the description and the candidates gathered with it cost the
   * signaling one relayed signal instead of one per candidate (candidates that wait for a STUN or TURN round trip
   * follow in later signals). Each side's setup takes this much longer. `0`: what one microtask produced leaves at
   * the end of it. Less than `connectTimeoutMs`. Opt-in: see {@link DEFAULT_SIGNAL_HOLD_MS} for why the default is 0.
   * @default 0
   */
  readonly signalHoldMs?: number
  /** A ping goes out on the control channel of every connection this often (milliseconds). @default 2000 */
  readonly heartbeatIntervalMs?: number
  /**
   * A connection that received nothing (data, ping or pong) for this many milliseconds is closed with
   * `HeartbeatTimeoutError`. A dead peer is detected within `heartbeatTimeoutMs + heartbeatIntervalMs`, one
   * interval more when this side's timers fire late: a tick more than two intervals after the previous one
   * (a frozen or sleeping tab resuming, throttled timers, a long task) gives no verdict, because what the
   * remote sent meanwhile may still be queued; it pings, and the next tick judges. So a tab frozen for less
   * than the remote's `heartbeatTimeoutMs` keeps its connections when it resumes. (Chrome's intensive
   * background throttling, one timer wake-up a minute, does not apply to pages that use WebRTC; normal
   * background throttling, one wake-up a second, is far inside the default interval.)
   * @default 6000
   */
  readonly heartbeatTimeoutMs?: number
  /**
   * How long a graceful close waits for the remote's half of the close handshake (milliseconds), counted from
   * the moment everything queued before `close()` has been handed to the transport; the flush before it is
   * bounded by the heartbeat instead, so a large backlog is delivered rather than cut off. @default 5000
   */
  readonly closeTimeoutMs?: number
  /**
   * Largest payload one `Connection.send` accepts, and the reassembly cap of incoming messages, in bytes.
   * @default 16777216 (16 MiB)
   */
  readonly maxMessageSize?: number
  /**
   * Largest data-channel message (one chunk plus one framing byte), in bytes; capped by the link's
   * `sctp.maxMessageSize`, or 65536 when the implementation does not report one.
   * @default 262144 (256 KiB)
   */
  readonly chunkSize?: number
  /** `send` waits while a data channel has more than this many bytes buffered. @default 1048576 (1 MiB) */
  readonly highWaterMark?: number
  /** A waiting `send` resumes once the data channel's buffer is at or below this many bytes. @default 262144 (256 KiB) */
  readonly lowWaterMark?: number
  /** Data channels (skipmesh channels in use) per connection. @default 256 */
  readonly maxChannels?: number
  /**
   * Bytes of memory the unfinished chunked messages of one remote may hold, over all its channels (each channel is
   * capped by `maxMessageSize` as well). A remote that needs more is closed with `PeerLimitExceededError`
   * (`'inbound-bytes'`). At least `maxMessageSize`.
   * @default twice `maxMessageSize` (33554432, 32 MiB, with its default)
   */
  readonly maxInboundBytes?: number
  /**
   * An unfinished chunked message that gets no further chunk for this many milliseconds closes its connection with
   * `PeerLimitExceededError` (`'reassembly-timeout'`).
   * @default 30000
   */
  readonly reassemblyTimeoutMs?: number
  /**
   * Channels the remote may open on one connection; one more closes it with `PeerLimitExceededError`
   * (`'remote-channels'`).
   * @default 128
   */
  readonly maxRemoteChannels?: number
  /**
   * The frame-size floor, in bytes: a connection whose link carries only smaller data-channel messages (a tiny
   * `a=max-message-size`), or whose remote sends a chunk that more chunks follow in a smaller frame, is closed with
   * `PeerLimitExceededError` (`'frame-size'`). `chunkSize` must be at least this.
   * @default 1024
   */
  readonly minFrameSize?: number
  /**
   * A channel this side opened that the remote has not acknowledged within this many milliseconds closes its
   * connection with `PeerLimitExceededError` (`'channel-ack-timeout'`): sends on it, `close()` and the manager's
   * `stop()` never wait longer for it.
   * @default 10000
   */
  readonly channelAckTimeoutMs?: number
  /**
   * Attempts that remotes started (an offer under a new session, or a dial request this side answers with an
   * offer) that may be connecting at once, over all remotes; an offer or dial request beyond it is dropped and
   * counted in `inboundSessionsRefused` (the remote's dial times out and may retry). Bounds the
   * `RTCPeerConnection`s a flood of offers from many identities makes this side hold.
   * @default 64
   */
  readonly maxPendingInbound?: number
  /**
   * Attempts one remote may start per `connectTimeoutMs` (a token bucket that refills continuously; an attempt
   * that opens gives its token back). A remote that sends offer after offer under new sessions gets no
   * `RTCPeerConnection` past it: its offers are dropped and counted in `inboundSessionsRefused`.
   * @default 8
   */
  readonly maxInboundSessionsPerRemote?: number
  /**
   * What a remote must prove in the connection's hello (see the README's "Identity"). With `keyPair` set, this
   * side's hellos are signed over the connection's DTLS fingerprints, and a signed hello from a remote is always
   * checked: its identifier must be derived from its key (`Identifier.fromPublicKey`) or, for any other
   * identifier, be the key first seen for it (pinned per manager, 4,096 identifiers). A remote that fails closes
   * the attempt with `PeerAuthenticationError`, counted in `peerAuthFailures`.
   * - `'optional'`: a remote without a key pair (unsigned hello) is accepted, unless its identifier is pinned.
   * - `'required'`: every remote must sign.
   * - `'self-certifying'`: every remote must sign, and its identifier must be derived from its key.
   * @default 'optional'
   */
  readonly peerAuthentication?: PeerAuthenticationPolicy
}

/** The validated options with their defaults. @internal */
export interface ResolvedOptions {
  readonly localId: Identifier
  readonly signaling: Signaling
  readonly wrtc: WrtcImplementation
  readonly rtc: RTCConfiguration
  /** Whether the signaling service's issued ICE servers are added (the app named no `rtc.iceServers`). */
  readonly issuedIceServers: boolean
  readonly peerTransport: PeerTransportFactory
  readonly connectTimeoutMs: number
  /** How long an attempt's outbox holds a batch (`signalHoldMs`). */
  readonly signalHoldMs: number
  readonly limits: ConnectionLimits
  /** `maxPendingInbound` and `maxInboundSessionsPerRemote`. */
  readonly inbound: { readonly maxPending: number; readonly perRemote: number }
  /** The manager's peer authentication: `keyPair`, `peerAuthentication` and the manager's one table of pins. */
  readonly authenticator: PeerAuthenticator
}

function isSignaling(x: WebRtcConnectionManagerOptions['signaling']): x is Signaling {
  const s = x as Partial<Signaling>
  return typeof s.start === 'function' && typeof s.signal === 'function' && typeof s.on === 'function'
}

/**
 * Validates `options` and fills in the defaults; builds the `SignalingClient` when `signaling` is options.
 * @throws {InvalidOptionsError} when an option is missing or out of range.
 * @throws {WebRtcUnavailableError} when no `wrtc` is given and there is no global `RTCPeerConnection`.
 */
export function resolveOptions(options: WebRtcConnectionManagerOptions): ResolvedOptions {
  if (!(options.localId instanceof Identifier)) throw new InvalidOptionsError('localId must be an Identifier')
  if (options.signaling === undefined) throw new InvalidOptionsError('signaling { url, room } is required')
  const wrtc = resolveWrtc(options.wrtc)
  const num = (name: string, value: number | undefined, fallback: number, min: number): number =>
    checkNumber(name, value ?? fallback, { min })
  const connectTimeoutMs = num('connectTimeoutMs', options.connectTimeoutMs, 15_000, 1)
  const signalHoldMs = num('signalHoldMs', options.signalHoldMs, DEFAULT_SIGNAL_HOLD_MS, 0)
  if (signalHoldMs >= connectTimeoutMs) {
    throw new InvalidOptionsError('signalHoldMs must be less than connectTimeoutMs')
  }
  const heartbeatIntervalMs = num('heartbeatIntervalMs', options.heartbeatIntervalMs, 2_000, 1)
  const heartbeatTimeoutMs = num('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 6_000, 1)
  if (heartbeatTimeoutMs <= heartbeatIntervalMs) {
    throw new InvalidOptionsError('heartbeatTimeoutMs must be larger than heartbeatIntervalMs')
  }
  const highWaterMark = num('highWaterMark', options.highWaterMark, 1024 * 1024, 1)
  const lowWaterMark = num('lowWaterMark', options.lowWaterMark, 256 * 1024, 0)
  if (lowWaterMark > highWaterMark)
    throw new InvalidOptionsError('lowWaterMark must not exceed highWaterMark')
  const maxMessageSize = num('maxMessageSize', options.maxMessageSize, 16 * 1024 * 1024, 0)
  const minFrameSize = num('minFrameSize', options.minFrameSize, 1024, 2)
  const limits: ConnectionLimits = {
    maxMessageSize,
    chunkSize: num('chunkSize', options.chunkSize, 256 * 1024, minFrameSize),
    highWaterMark,
    lowWaterMark,
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    closeTimeoutMs: num('closeTimeoutMs', options.closeTimeoutMs, 5_000, 1),
    maxChannels: num('maxChannels', options.maxChannels, 256, 1),
    maxInboundBytes: num('maxInboundBytes', options.maxInboundBytes, 2 * maxMessageSize, maxMessageSize),
    reassemblyTimeoutMs: num('reassemblyTimeoutMs', options.reassemblyTimeoutMs, 30_000, 1),
    maxRemoteChannels: num('maxRemoteChannels', options.maxRemoteChannels, 128, 1),
    minFrameSize,
    channelAckTimeoutMs: num('channelAckTimeoutMs', options.channelAckTimeoutMs, 10_000, 1),
  }
  let signaling: Signaling
  if (isSignaling(options.signaling)) {
    signaling = options.signaling
  } else {
    if (options.keyPair === undefined)
      throw new InvalidOptionsError('keyPair is required with signaling options')
    signaling = new SignalingClient({
      ...options.signaling,
      localId: options.localId,
      keyPair: options.keyPair,
    })
  }
  return {
    localId: options.localId,
    signaling,
    wrtc,
    rtc: options.rtc ?? DEFAULT_RTC_CONFIGURATION,
    issuedIceServers: options.rtc?.iceServers === undefined,
    peerTransport: DEFAULT_PEER_TRANSPORT,
    connectTimeoutMs,
    signalHoldMs,
    limits,
    inbound: {
      maxPending: checkNumber('maxPendingInbound', options.maxPendingInbound ?? 64, {
        min: 1,
        integer: true,
      }),
      perRemote: checkNumber('maxInboundSessionsPerRemote', options.maxInboundSessionsPerRemote ?? 8, {
        min: 1,
        integer: true,
      }),
    },
    authenticator: new PeerAuthenticator({
      keyPair: options.keyPair,
      policy: peerAuthenticationPolicy(options.peerAuthentication),
    }),
  }
}

const POLICIES: readonly PeerAuthenticationPolicy[] = ['optional', 'required', 'self-certifying']

function peerAuthenticationPolicy(value: PeerAuthenticationPolicy | undefined): PeerAuthenticationPolicy {
  if (value === undefined) return 'optional'
  if (!POLICIES.includes(value))
    throw new InvalidOptionsError(`peerAuthentication must be one of ${POLICIES.join(', ')}`)
  return value
}
