/**
 * What a host learns from the virtual links other hosts open to it: the node id that opened each one is carried by
 * the host whose authenticated connection the open arrived on. The multiplexer asks its directory whether the source
 * of an incoming open is on the sending host; without the signaling server, that answer can only come from here.
 *
 * @module
 */
import {
  type Connection,
  type ConnectionManager,
  IDENTIFIER_LENGTH,
  Identifier,
  MUX_CHANNEL,
} from '@skipmesh/core'

/**
 * The multiplexer's open frame (`@skipmesh/core`'s `mux/frame.ts`): kind byte 1, then the source and the destination
 * node id, nothing after.
 */
const OPEN_KIND = 1
const OPEN_LENGTH = 1 + 2 * IDENTIFIER_LENGTH

/** The source node of `bytes` when they are a multiplexer open frame. */
export function openSource(bytes: Uint8Array): Identifier | undefined {
  if (bytes.length !== OPEN_LENGTH || bytes[0] !== OPEN_KIND) return undefined
  return Identifier.fromBytes(bytes.subarray(1, 1 + IDENTIFIER_LENGTH))
}

/**
 * Calls `learn(node, host)` for every virtual-link open that arrives on a connection of `manager` (the host-level
 * manager), before the multiplexer handles it: subscribe before the multiplexer starts, so this listener of each
 * connection runs first. Returns the function that stops watching new connections.
 */
export function watchOpens(
  manager: ConnectionManager,
  learn: (node: Identifier, host: Identifier) => void,
): () => void {
  return manager.on('connection', (conn: Connection) => {
    conn.on('message', (channel, bytes) => {
      if (channel !== MUX_CHANNEL) return
      const source = openSource(bytes)
      if (source !== undefined) learn(source, conn.remoteId)
    })
  })
}
