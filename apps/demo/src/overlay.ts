/**
 * Signaling through the overlay for the `per-node` transport: the relays that carry a node's sealed WebRTC signals
 * (`@skipmesh/webrtc`'s overlay signaling) without the signaling server. To a node of this tab they go in memory; to
 * any other node, over the node's skip-graph signaler (`@skipmesh/skipgraph`), which routes them over connections
 * that already exist. So a node added to a tab whose nodes are in the graph needs no server at all: its first
 * connection (to a node of its own tab, its introducer) is signalled in memory, and every later one through the
 * graph.
 *
 * @module
 */
import {
  ConnectionFailedError,
  type ConnectionManager,
  type Identifier,
  type Network,
  type Unsubscribe,
} from '@skipmesh/core'
import { type SkipGraphSignaler, createSkipGraphSignaler } from '@skipmesh/skipgraph'
import type { OverlaySignaling, SignalRelay, SignalRouteMetrics } from '@skipmesh/webrtc'
import type { SignalRoutes } from './transport.js'

type DeliverHandler = (bytes: Uint8Array) => void | Promise<void>

/** One node's place in the tab's relays. */
interface Member {
  handler: DeliverHandler | undefined
  signaler: SkipGraphSignaler | undefined
  offSignaler: Unsubscribe | undefined
  joined: boolean
}

/** The overlay side of one node's transport, driven by `node.ts`. */
export interface NodeOverlay {
  /** Starts carrying the node's signals through the graph, over its started `network`. */
  start(network: Network, cm: ConnectionManager): Promise<void>
  /** The node joined the graph: a node added to the tab from now on may start without the server. */
  joined(): void
  /** Stops the node's signaler and forgets the node. */
  stop(): Promise<void>
}

/** The signal relays of this tab's nodes (one per tab). */
export class TabSignalRelays {
  readonly #members = new Map<string, Member>()

  /** Whether a node of this tab is in the graph (a new node can then signal without the server). */
  anyJoined(): boolean {
    for (const m of this.#members.values()) if (m.joined && m.signaler !== undefined) return true
    return false
  }

  /**
   * Adds node `id` (its overlay signaling `signaling`) to the tab: attaches its relay at once when a node of this
   * tab is in the graph (`early`: the node can signal without the server from its start), else once its own
   * signaler starts (before that, the node has no route the server does not give it: with no relay attached, its
   * overlay never stands in for a server it cannot reach, so a tab that cannot reach the server never starts a
   * graph of its own). Returns the node's overlay hooks.
   */
  member(id: Identifier, signaling: OverlaySignaling): { overlay: NodeOverlay; early: boolean } {
    const hex = id.toHex()
    const m: Member = { handler: undefined, signaler: undefined, offSignaler: undefined, joined: false }
    this.#members.set(hex, m)
    const relay: SignalRelay = {
      relay: async (to, bytes, options) => {
        const local = to.equals(id) ? undefined : this.#members.get(to.toHex())?.handler
        if (local !== undefined) {
          try {
            await local(bytes)
          } catch (err) {
            throw new ConnectionFailedError(`${to.toHex()} refused the signal`, { cause: err })
          }
          return
        }
        if (m.signaler === undefined) throw new ConnectionFailedError('no overlay route yet')
        await m.signaler.relay(to, bytes, options)
      },
      onDeliver: (handler) => {
        m.handler = handler
        m.offSignaler?.()
        m.offSignaler = m.signaler?.onDeliver(handler)
        return () => {
          if (m.handler !== handler) return
          m.handler = undefined
          m.offSignaler?.()
          m.offSignaler = undefined
        }
      },
    }
    const early = this.anyJoined()
    if (early) signaling.attach(relay)
    const overlay: NodeOverlay = {
      start: async (network, cm) => {
        const signaler = createSkipGraphSignaler({
          network,
          openConnections: () => cm.connections().map((c) => c.remoteId),
        })
        signaler.start()
        await signaler.ready()
        m.signaler = signaler
        if (m.handler !== undefined) m.offSignaler = signaler.onDeliver(m.handler)
        if (!early) signaling.attach(relay)
      },
      joined: () => {
        m.joined = true
      },
      stop: async () => {
        if (this.#members.get(hex) === m) this.#members.delete(hex)
        m.offSignaler?.()
        m.offSignaler = undefined
        const signaler = m.signaler
        m.signaler = undefined
        await signaler?.stop()
      },
    }
    return { overlay, early }
  }
}

/** A WebRTC manager's route counters (`metrics()`) as the demo shows them. */
export function signalRoutes(m: SignalRouteMetrics): SignalRoutes {
  return {
    serverSent: m.serverSignalsSent,
    serverReceived: m.serverSignalsReceived,
    overlaySent: m.overlaySignalsSent,
    overlayReceived: m.overlaySignalsReceived,
    fallbacks: m.overlayFallbacks,
    refused: m.signedSignalsRefused,
  }
}
