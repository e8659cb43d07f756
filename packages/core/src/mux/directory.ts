import type { AbortOptions } from '../abort.js'
import { throwIfAborted } from '../abort.js'
import { PeerNotFoundError } from '../errors.js'
import type { Identifier } from '../identifier.js'
import type { HostDirectory } from './contract.js'

/** A {@link HostDirectory} kept in memory by its owner: for tests, examples and a single process. */
export interface StaticHostDirectory extends HostDirectory {
  /** Binds `node` to `host` (replacing an earlier binding). */
  bind(node: Identifier, host: Identifier): void
  /** Removes `node`'s binding; true when there was one. */
  unbind(node: Identifier): boolean
}

/**
 * A directory that knows what {@link StaticHostDirectory.bind} told it.
 * @example
 * ```ts
 * const directory = createStaticDirectory()
 * directory.bind(nodeId, hostId)
 * const mux = createMultiplexer({ host: hub.connectionManager(hostId), directory })
 * ```
 */
export function createStaticDirectory(): StaticHostDirectory {
  const hosts = new Map<string, Identifier>()
  return {
    bind(node, host) {
      hosts.set(node.toHex(), host)
    },
    unbind(node) {
      return hosts.delete(node.toHex())
    },
    async resolve(node: Identifier, options: AbortOptions = {}) {
      throwIfAborted(options.signal)
      const host = hosts.get(node.toHex())
      if (host === undefined) throw new PeerNotFoundError(`no host is bound to ${node.toHex()}`)
      return host
    },
  }
}
