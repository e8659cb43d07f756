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

/** Node ids learned from host links, at most (oldest forgotten first). */
const MAX_LEARNED = 4096

/** A {@link HostDirectory} backed by the signaling server, which binds every id to its key and its host. */
export interface SignalingHostDirectory extends HostDirectory {
  /**
   * `node` opened a virtual link over the authenticated host connection of `host`: resolves `node` to `host` from now
   * on whenever the server cannot say otherwise (it is unreachable, or does not know `node`). Neither a binding the
   * server gave nor one learned before is replaced this way (trust on first use).
   */
  learn(node: Identifier, host: Identifier): void
  /** The node ids known to be carried by `host` (the server's bindings first, then those learned from links). */
  nodesOf(host: Identifier): Identifier[]
  /** Stops following the client's events. */
  close(): void
}

/**
 * The directory of a WebRTC host. Answers from what the server told it: hosts announced with
 * `peer-joined { id, host }`, and hosts fetched with `resolve` — for the whole room each time the client
 * (re-)joins, and for ids still unknown when asked, batched: every miss of one turn of the event loop goes in
 * one request. A cached host is dropped when its id leaves the room or the client joins again. Without the server
 * (not joined, or it does not know the id), it answers from the host links: a node whose virtual link arrived over
 * the connection of a host is taken to be on that host ({@link SignalingHostDirectory.learn}), so nodes that are
 * linked already resolve with no server.
 * @throws {PeerNotFoundError} from `resolve` when neither the server nor a host link knows `node`.
 */
export function createSignalingDirectory(client: SignalingClient): SignalingHostDirectory {
  /** The server's bindings. */
  const hosts = new Map<string, Identifier>()
  /** Bindings learned from host links (trusted only where the server has none). */
  const learned = new Map<string, { node: Identifier; host: Identifier }>()
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
      const fromLink = learned.get(hex)?.host
      if (!client.authenticated && fromLink !== undefined) return fromLink
      try {
        await raceSignal(fetchOne(hex), options.signal)
      } catch (err) {
        if (fromLink === undefined || options.signal?.aborted === true) throw err
      }
      const host = hosts.get(hex) ?? fromLink
      if (host === undefined) throw new PeerNotFoundError(`${hex} is not in room ${client.room}`)
      return host
    },
    learn(node, host) {
      const hex = node.toHex()
      // the first host wins: another host claiming a node already linked through one cannot take it over
      if (hosts.has(hex) || learned.has(hex)) return
      learned.set(hex, { node, host })
      if (learned.size > MAX_LEARNED) {
        const oldest = learned.keys().next().value
        if (oldest !== undefined) learned.delete(oldest)
      }
    },
    nodesOf(host) {
      const out = new Map<string, Identifier>()
      const self = host.toHex()
      for (const [hex, h] of hosts) if (hex !== self && h.equals(host)) out.set(hex, Identifier.fromHex(hex))
      for (const [hex, l] of learned) if (l.host.equals(host) && !hosts.has(hex)) out.set(hex, l.node)
      return [...out.values()]
    },
    close() {
      for (const off of offs) off()
    },
  }
}
