/**
 * @packageDocumentation
 * `@skipmesh/skipgraph`: skip-graph nodes (Aspnes & Shah) on the skipmesh network layer. A node joins through
 * any member, searches by identifier in O(log n) hops, and leaves gracefully; joins and leaves are safe under
 * concurrency (per-level transactions with try-locks, see the README). It uses only core's `Network`,
 * `Conduit` and `MessageProcessor`, so the same code runs over `MemoryHub` and WebRTC.
 *
 * @example
 * ```ts
 * import { createNetwork, Identifier, MemoryHub } from '@skipmesh/core'
 * import { createSkipGraphNode } from '@skipmesh/skipgraph'
 *
 * const hub = new MemoryHub()
 * async function makeNode() {
 *   const network = createNetwork({ connectionManager: hub.connectionManager(Identifier.random()) })
 *   network.start()
 *   await network.ready()
 *   const node = createSkipGraphNode({ network })
 *   node.start()
 *   await node.ready()
 *   return node
 * }
 * const first = await makeNode()
 * await first.join()
 * const second = await makeNode()
 * await second.join(first.identity.id)
 * const { result, found, hops } = await second.searchById(first.identity.id)
 * ```
 */

export * from './errors.js'
export {
  type Identity,
  LookupTable,
  type LookupTableLevel,
  type LookupTableSnapshot,
  MAX_LEVEL,
  type NeighborEntry,
  type Side,
  sharesPrefix,
} from './lookup-table.js'
export type {
  ConnectionTagger,
  MergeEvent,
  MergeOutcome,
  NeighborChange,
  NodeStatus,
  SearchHopEvent,
  SearchHopRecord,
  SearchOptions,
  SearchResult,
  SkipGraphMetrics,
  SkipGraphNode,
  SkipGraphNodeEvents,
  SkipGraphNodeOptions,
} from './contract.js'
export { NEIGHBOR_TAG, NEIGHBOR_TAG_VALUE } from './connection-tags.js'
export { createSkipGraphNode } from './node.js'
export { type KindName, MAX_HOPS } from './wire.js'
export {
  createSkipGraphSignaler,
  MAX_SIGNAL_BYTES,
  nextSignalHop,
  SIGNAL_CHANNEL,
  SkipGraphSignaler,
  type SkipGraphSignalerMetrics,
  type SkipGraphSignalerOptions,
} from './signaler.js'
