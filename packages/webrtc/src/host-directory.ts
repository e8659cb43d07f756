import {
  type AbortOptions,
  type HostDirectory,
  Identifier,
  PeerNotFoundError,
  raceSignal,
  type Unsubscribe,
} from '@skipmesh/core'
import { type Deferred, deferred } from '@skipmesh/core/internal'
import { ackSchema, MAX_PEERS_PAGE, ResolveResponseSchema } from '@skipmesh/signaling-protocol'
import { SignalingRejectedError } from './errors.js'
import type { SignalingClient } from './signaling-client.js'

const ResolveAckSchema = ackSchema(ResolveResponseSchema)

/** A {@link HostDirectory} backed by the signaling server, which binds every id to its key and its host. */
export interface SignalingHostDirectory extends HostDirectory {
  /** Stops following the client's events. */
  close(): void
}

/**
 * The directory of a WebRTC host. Answers from what the server told it: hosts announced with
 * `peer-joined { id, host }`, and hosts fetched with `resolve` — for the whole room each time the client
 * (re-)joins, and for ids still unknown when asked, batched: every miss of one turn of the event loop goes in
 * one request. A cached host is dropped when its id leaves the room or the client joins again.
 * @throws {PeerNotFoundError} from `resolve` when the server knows no live `node` in the room.
 */
export function createSignalingDirectory(client: SignalingClient): SignalingHostDirectory {
  const hosts = new Map<string, Identifier>()
  let batch: Map<string, Deferred<void>> | undefined

  const fetchHosts = async (ids: readonly string[]): Promise<void> => {
    for (let i = 0; i < ids.length; i += MAX_PEERS_PAGE) {
      const res = await client.request('resolve', { ids: ids.slice(i, i + MAX_PEERS_PAGE) }, ResolveAckSchema)
      if (!res.ok) throw new SignalingRejectedError(res.error.code, res.error.message)
      for (const [id, host] of Object.entries(res.hosts)) hosts.set(id, Identifier.fromHex(host))
    }
  }
  const flush = (): void => {
    const pending = batch
    batch = undefined
    if (pending === undefined) return
    fetchHosts([...pending.keys()]).then(
      () => {
        for (const d of pending.values()) d.resolve()
      },
      (err: unknown) => {
        for (const d of pending.values()) d.reject(err)
      },
    )
  }
  const fetchOne = (hex: string): Promise<void> => {
    if (batch === undefined) {
      batch = new Map()
      queueMicrotask(flush)
    }
    let waiting = batch.get(hex)
    if (waiting === undefined) {
      waiting = deferred<void>()
      batch.set(hex, waiting)
    }
    return waiting.promise
  }

  const offs: Unsubscribe[] = [
    client.on('peer:host', (id, host) => {
      hosts.set(id.toHex(), host)
    }),
    client.on('peer:left', (id) => {
      hosts.delete(id.toHex())
    }),
    client.on('authenticated', (peers) => {
      hosts.clear()
      // best effort: a miss later asks again
      fetchHosts(peers.map((p) => p.toHex())).catch(() => {})
    }),
  ]
  return {
    async resolve(node: Identifier, options: AbortOptions = {}): Promise<Identifier> {
      const hex = node.toHex()
      const cached = hosts.get(hex)
      if (cached !== undefined) return cached
      await raceSignal(fetchOne(hex), options.signal)
      const host = hosts.get(hex)
      if (host === undefined) throw new PeerNotFoundError(`${hex} is not in room ${client.room}`)
      return host
    },
    close() {
      for (const off of offs) off()
    },
  }
}
