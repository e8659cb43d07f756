/**
 * The `memory` transport (development only, `?transport=memory`): every node of the tab on one in-tab
 * `MemoryHub`.
 *
 * @module
 */
import type { Identifier } from '@skipmesh/core'
import type { MemoryTransport, Transport } from './transport.js'

/** A connection manager on the tab's hub; the hub's registered ids are the room. */
export function memoryTransport(localId: Identifier, t: MemoryTransport): Transport {
  const cm = t.hub.connectionManager(localId)
  const hex = localId.toHex()
  t.ids.add(hex)
  cm.done().then(() => t.ids.delete(hex))
  return {
    cm,
    peers: () => [...t.ids].filter((id) => id !== hex),
    onPeerLeft: () => () => {},
    onSignaling: () => () => {},
  }
}
