/**
 * Prometheus metrics of one server instance, in their own prom-client `Registry` (never the module-global one, so
 * several servers in one process do not collide).
 *
 * @module
 */
import type { SignalErrorCode } from '@skipmesh/signaling-protocol'
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'

/**
 * Why the server refused something, as counted in `skipmesh_signal_rejections_total{reason}`: every protocol error
 * code, plus refusals that never reach a handler (a foreign `Origin`, a flooding socket, no authentication in time).
 */
export type RejectionReason = SignalErrorCode | 'origin' | 'flood-disconnect' | 'auth-timeout'

/** The metrics a server updates. */
export interface ServerMetrics {
  /** The registry to expose at `GET /metrics`. */
  readonly registry: Registry
  readonly joins: Counter
  /** Every signal relayed, wherever its addressee is connected. */
  readonly signalsRelayed: Counter
  /** The signals of {@link signalsRelayed} whose addressee is on another instance (published through Redis). */
  readonly signalsRelayedRemote: Counter
  readonly rejections: Counter<'reason'>
  readonly peersReleasedByDeadInstance: Counter
}

/** Creates the metrics of one server instance; `sample` reads live values at scrape time. */
export function createServerMetrics(options: {
  sample: () => { sockets: number; peers: number; rooms: number }
  defaultMetrics: boolean
}): ServerMetrics {
  const registry = new Registry()
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry })
  const sample = options.sample
  new Gauge({
    name: 'skipmesh_signal_connected_sockets',
    help: 'Socket.IO sockets connected to this instance.',
    registers: [registry],
    collect() {
      this.set(sample().sockets)
    },
  })
  new Gauge({
    name: 'skipmesh_signal_peers',
    help: 'Authenticated peers connected to this instance.',
    registers: [registry],
    collect() {
      this.set(sample().peers)
    },
  })
  new Gauge({
    name: 'skipmesh_signal_rooms',
    help: 'Rooms with at least one authenticated peer on this instance.',
    registers: [registry],
    collect() {
      this.set(sample().rooms)
    },
  })
  const joins = new Counter({
    name: 'skipmesh_signal_joins_total',
    help: 'Successful joins (authenticated registrations).',
    registers: [registry],
  })
  const signalsRelayed = new Counter({
    name: 'skipmesh_signal_signals_relayed_total',
    help: 'Signals relayed to their destination.',
    registers: [registry],
  })
  const signalsRelayedRemote = new Counter({
    name: 'skipmesh_signal_signals_relayed_remote_total',
    help: 'Signals relayed to a peer connected to another instance (through the Redis adapter).',
    registers: [registry],
  })
  const rejections = new Counter({
    name: 'skipmesh_signal_rejections_total',
    help: 'Refused requests and connections, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  const peersReleasedByDeadInstance = new Counter({
    name: 'skipmesh_signal_dead_instance_releases_total',
    help: 'Registrations of dead server instances released by this instance.',
    registers: [registry],
  })
  return { registry, joins, signalsRelayed, signalsRelayedRemote, rejections, peersReleasedByDeadInstance }
}
