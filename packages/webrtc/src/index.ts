/**
 * @packageDocumentation
 * `@skipmesh/webrtc`: the skipmesh `ConnectionManager` over WebRTC data channels, for browsers and Node. One
 * `RTCPeerConnection` per remote peer, one ordered and reliable negotiated data channel per skipmesh `Channel`,
 * peers found and authenticated through the skipmesh signaling server.
 *
 * @example
 * ```ts
 * import { Channel, createNetwork, generateKeyPair, Identifier } from '@skipmesh/core'
 * import { createWebRtcConnectionManager } from '@skipmesh/webrtc'
 *
 * const connectionManager = createWebRtcConnectionManager({
 *   localId: Identifier.random(),
 *   keyPair: await generateKeyPair(),
 *   signaling: { url: 'https://signal.example', room: 'demo' },
 *   rtc: { iceServers: [{ urls: 'stun:stun.l.google.com:19302' }] },
 *   // in Node: wrtc: nodeDatachannelWrtc(await import('node-datachannel/polyfill')),
 * })
 * const network = createNetwork({ connectionManager })
 * network.start()
 * await network.ready()
 * const conduit = await network.register(Channel.Test, { processIncomingMessage: (ch, from, msg) => {} })
 * for (const peer of connectionManager.peers()) {
 *   await conduit.send(peer, { payload: new TextEncoder().encode('hello'), metadata: {} })
 * }
 * ```
 */

export {
  type ConnectionLimits,
  type ConnectionPhase,
  DEFAULT_LINK_MESSAGE_SIZE,
  WebRtcConnection,
} from './connection.js'
export * from './errors.js'
export {
  createWebRtcConnectionManager,
  WebRtcConnectionManager,
  type WebRtcConnectionManagerEvents,
  type WebRtcConnectionManagerOptions,
  type WebRtcMetrics,
} from './manager.js'
export { type NodeDatachannelPolyfill, nodeDatachannelWrtc } from './node-datachannel-adapter.js'
export type {
  Signaling,
  SignalingEvents,
  SignalPayload,
  SignalRelay,
  SignalRouteMetrics,
} from './signaling.js'
export {
  createOverlaySignaling,
  OverlaySignaling,
  type OverlaySignalingOptions,
} from './overlay-signaling.js'
export {
  CompositeSignaling,
  type CompositeSignalingOptions,
  createCompositeSignaling,
} from './composite-signaling.js'
export { IdentityPins } from './identity-pins.js'
export {
  type OpenedSignal,
  type SealedSignal,
  SIGNAL_TRANSCRIPT_DOMAIN,
  SignalOpener,
  type SignalRefusal,
  sealSignal,
  signalTranscript,
} from './signed-signals.js'
export {
  createSignalingClient,
  SignalingClient,
  type SignalingClientEvents,
  type SignalingClientOptions,
} from './signaling-client.js'
export { type RTCPeerConnectionConstructor, resolveWrtc, type WrtcImplementation } from './wrtc.js'
export { createWebRtcHost, WebRtcHost, type WebRtcHostMetrics, type WebRtcHostOptions } from './host.js'
export { createSignalingDirectory, type SignalingHostDirectory } from './host-directory.js'
