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
  /**
   * The most connections each node keeps (core's connection budget: the skip graph's neighbours are protected
   * beyond it, the least valuable others closed, idle ones after 30 s), or `null` for no budget.
   */
  maxConnections: number | null
}

/**
 * Each `per-node` node's connection budget unless `?budget=` says otherwise (each of its connections is an
 * RTCPeerConnection): 2·log2 n + 4 at n = 64 (the issue-12 target's mean at that size). A node's table neighbours
 * are protected and kept beyond it: about 2·log2 n of them. The `shared` host's nodes have no budget by default:
 * their links are virtual (the tab has one RTCPeerConnection per other tab), and at 4 × 64 a budget of 16 made the
 * joins slower (36 → 53 s) and searches too (6.8 → 9.8 ms per hop; `docs/DECISIONS.md`).
 */
export const DEFAULT_MAX_CONNECTIONS = 16

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
 * - `?budget=N` (each node's connection budget: at most N connections, its table neighbours protected beyond
 *   it, idle others closed after 30 s; default {@link DEFAULT_MAX_CONNECTIONS} on `per-node`, none on `shared` and
 *   `memory`) or `?budget=off` (no budget: a node keeps every connection it opened);
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
  const budget = params.get('budget')
  const maxConnections =
    budget === 'off'
      ? null
      : budget !== null && /^[1-9]\d{0,5}$/.test(budget)
        ? Number(budget)
        : transport === 'per-node'
          ? DEFAULT_MAX_CONNECTIONS
          : null
  return { signalingUrl, room, nodes, iceServers, transport, maxConnections }
}
