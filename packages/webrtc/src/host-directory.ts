import {
  type AbortOptions,
  type HostDirectory,
  Identifier,
  PeerNotFoundError,
  type Unsubscribe,
} from '@skipmesh/core'
import { ackSchema, ResolveResponseSchema } from '@skipmesh/signaling-protocol'
import { SignalingRejectedError } from './errors.js'
import type { SignalingClient } from './signaling-client.js'

const ResolveAckSchema = ackSchema(ResolveResponseSchema)

/** A {@link HostDirectory} backed by the signaling server, which binds every id to its key and its host. */
export interface SignalingHostDirectory extends HostDirectory {
  /** Stops following the client's events. */
  close(): void
}

/**
 * The directory of a WebRTC host: answers from what the server announced (`peer-joined { id, host }`), else asks
 * it (`resolve`). A cached answer is dropped when its id leaves the room or the client joins again.
 * @throws {PeerNotFoundError} from `resolve` when the server knows no live `node` in the room.
 */
export function createSignalingDirectory(client: SignalingClient): SignalingHostDirectory {
  const hosts = new Map<string, Identifier>()
  const offs: Unsubscribe[] = [
    client.on('peer:host', (id, host) => {
      hosts.set(id.toHex(), host)
    }),
    client.on('peer:left', (id) => {
      hosts.delete(id.toHex())
    }),
    client.on('authenticated', () => hosts.clear()),
  ]
  return {
    async resolve(node: Identifier, options: AbortOptions = {}): Promise<Identifier> {
      const cached = hosts.get(node.toHex())
      if (cached !== undefined) return cached
      const res = await client.request('resolve', { id: node.toHex() }, ResolveAckSchema, options)
      if (!res.ok) {
        if (res.error.code === 'unknown-peer')
          throw new PeerNotFoundError(`${node.toHex()} is not in room ${client.room}`)
        throw new SignalingRejectedError(res.error.code, res.error.message)
      }
      return Identifier.fromHex(res.host)
    },
    close() {
      for (const off of offs) off()
    },
  }
}
