/**
 * The tab's network counters: each node's `Network` metrics summed per channel.
 *
 * @module
 */
import type { NetworkMetrics } from '@skipmesh/core'

/** Per-channel counters summed over this tab's nodes. */
export interface TabMetrics {
  channels: Record<string, NetworkMetrics['total']>
  total: NetworkMetrics['total']
  connections: NetworkMetrics['connections']
  decodeFailures: number
  /** `demo.graph` frames that failed validation. */
  badFrames: number
}

function zero(): NetworkMetrics['total'] {
  return {
    messagesSent: 0,
    bytesSent: 0,
    messagesReceived: 0,
    bytesReceived: 0,
    sendFailures: 0,
    processorErrors: 0,
  }
}

function add(into: NetworkMetrics['total'], from: NetworkMetrics['total']): void {
  into.messagesSent += from.messagesSent
  into.bytesSent += from.bytesSent
  into.messagesReceived += from.messagesReceived
  into.bytesReceived += from.bytesReceived
  into.sendFailures += from.sendFailures
  into.processorErrors += from.processorErrors
}

/** Sums the metrics of `networks`; `badFrames` is the tab's own count of invalid describe frames. */
export function sumMetrics(networks: Iterable<NetworkMetrics>, badFrames: number): TabMetrics {
  const out: TabMetrics = {
    channels: {},
    total: zero(),
    connections: { opened: 0, closed: 0, active: 0 },
    decodeFailures: 0,
    badFrames,
  }
  for (const m of networks) {
    for (const [name, c] of Object.entries(m.channels)) {
      out.channels[name] ??= zero()
      add(out.channels[name], c)
    }
    add(out.total, m.total)
    out.connections.opened += m.connections.opened
    out.connections.closed += m.connections.closed
    out.connections.active += m.connections.active
    out.decodeFailures += m.decodeFailures
  }
  return out
}
