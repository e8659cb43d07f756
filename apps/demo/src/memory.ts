/**
 * The `memory` transport (development only, `?transport=memory`): every node of the tab on one in-tab
 * `MemoryHub`; the hub's registered ids are the room. No other tab sees these nodes.
 *
 * @module
 */
import { type Identifier, MemoryHub } from '@skipmesh/core'
import type { NodeTransport, TabTransport } from './transport.js'

/** A tab transport over one in-tab hub (5 ms latency, so routes take visible time). */
export function memoryTabTransport(): TabTransport {
  const hub = new MemoryHub({ latency: 5 })
  const ids = new Set<string>()
  return {
    kind: 'memory',
    async node(localId: Identifier): Promise<NodeTransport> {
      const cm = hub.connectionManager(localId)
      const hex = localId.toHex()
      ids.add(hex)
      cm.done().then(() => ids.delete(hex))
      return {
        cm,
        room: () => {
          const rivals = [...ids].filter((id) => id !== hex)
          return { self: hex, rivals, ask: rivals.sort() }
        },
        onPeerLeft: () => () => {},
        onSignaling: () => () => {},
      }
    },
    stop: async () => {},
  }
}
