import type { TransportKind } from './transport.js'

/** What the page was asked to do, from its URL and build-time environment. */
export interface DemoConfig {
  /** Socket.IO URL of the signaling server. */
  signalingUrl: string
  /** The room every node joins. */
  room: string
  /** How many nodes this tab starts with. */
  nodes: number
  /** ICE servers given to every RTCPeerConnection. */
  iceServers: RTCIceServer[]
  /**
   * `shared`: the tab's nodes on one WebRTC host (one RTCPeerConnection per other tab); `per-node`: every node its
   * own WebRTC connection manager (one RTCPeerConnection per pair of nodes); `memory`: this tab's nodes on an
   * in-tab hub (development aid; no other tab sees them).
   */
  transport: TransportKind
}

/** The most nodes `?nodes=` starts in one tab. */
export const MAX_NODES = 128

const DEFAULT_STUN: RTCIceServer[] = [{ urls: 'stun:stun.l.google.com:19302' }]

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]' || hostname === '::1'
}

/**
 * Reads the configuration:
 * - `?signal=URL` or `VITE_SIGNALING_URL`, else the page's own origin (the signaling server serves the demo);
 * - `?room=NAME` (default `skipmesh-demo`);
 * - `?nodes=N` (default 1, at most {@link MAX_NODES});
 * - `?transport=shared` (the tab's nodes on one WebRTC host, one RTCPeerConnection per other tab),
 *   `per-node` (the default, also `webrtc`: every node its own WebRTC manager, one RTCPeerConnection per pair of
 *   nodes; the default until the frozen-tab e2e case holds on the shared host, see DECISIONS) or
 *   `memory` (this tab's nodes on an in-tab `MemoryHub`, a development aid);
 * - `?ice=none` (no ICE servers) or `?ice=stun:host:port`; on a loopback origin the default is none, since
 *   host candidates are enough there and public STUN may be unreachable.
 */
export function readConfig(location: Location): DemoConfig {
  const params = new URLSearchParams(location.search)
  const env = import.meta.env.VITE_SIGNALING_URL as string | undefined
  const signalingUrl = params.get('signal') ?? (env !== undefined && env !== '' ? env : location.origin)
  const room = params.get('room') ?? 'skipmesh-demo'
  const requested = Number.parseInt(params.get('nodes') ?? '1', 10)
  const nodes = Number.isFinite(requested) ? Math.min(MAX_NODES, Math.max(0, requested)) : 1
  const ice = params.get('ice')
  let iceServers: RTCIceServer[]
  if (ice === 'none') iceServers = []
  else if (ice !== null && ice !== '') iceServers = [{ urls: ice }]
  else iceServers = isLoopback(location.hostname) ? [] : DEFAULT_STUN
  const asked = params.get('transport')
  const transport: TransportKind = asked === 'memory' ? 'memory' : asked === 'shared' ? 'shared' : 'per-node'
  return { signalingUrl, room, nodes, iceServers, transport }
}
