import type { ConnectionManager } from '../src/connection.js'
import { Identifier } from '../src/identifier.js'
import { MemoryHub, type MemoryHubOptions } from '../src/memory/hub.js'
import {
  createMultiplexer,
  createStaticDirectory,
  type Multiplexer,
  type StaticHostDirectory,
} from '../src/mux/index.js'
import type { ConnectionManagerFixture } from '../src/testing/fixture.js'
import { stopAll } from './helpers.js'

/** `hosts` started multiplexers on one MemoryHub sharing one static directory. */
export async function startHosts(
  count: number,
  options: MemoryHubOptions = {},
): Promise<{ hub: MemoryHub; directory: StaticHostDirectory; hosts: Multiplexer[] }> {
  const hub = new MemoryHub(options)
  const directory = createStaticDirectory()
  const hosts: Multiplexer[] = []
  for (let i = 0; i < count; i++) {
    hosts.push(createMultiplexer({ host: hub.connectionManager(Identifier.random()), directory }))
  }
  for (const h of hosts) h.start()
  await Promise.all(hosts.map((h) => h.ready()))
  return { hub, directory, hosts }
}

/** A started node-level manager for `id` on `host`, bound in `directory`. */
export async function startNode(
  host: Multiplexer,
  directory: StaticHostDirectory,
  id: Identifier = Identifier.random(),
): Promise<ConnectionManager> {
  directory.bind(id, host.hostId)
  const node = host.node(id)
  node.start()
  await node.ready()
  return node
}

/**
 * A compliance fixture whose managers are node-level managers of `hostCount` multiplexers on a MemoryHub,
 * handed out round robin: with one host every pair is in memory, with more hosts consecutive nodes sit on
 * different hosts.
 */
export function muxFixture(
  hostCount: number,
  options: MemoryHubOptions = {},
  wrap: (m: ConnectionManager) => ConnectionManager = (m) => m,
): ConnectionManagerFixture {
  let setup: ReturnType<typeof startHosts> | undefined
  const managers: ConnectionManager[] = []
  let next = 0
  return {
    async create(id) {
      setup ??= startHosts(hostCount, options)
      const { hosts, directory } = await setup
      const host = hosts[next++ % hosts.length]!
      directory.bind(id, host.hostId)
      const m = wrap(host.node(id))
      managers.push(m)
      m.start()
      await m.ready()
      return m
    },
    unknownId: () => Identifier.random(),
    async teardown() {
      await stopAll(managers)
      if (setup !== undefined) await stopAll((await setup).hosts)
    },
  }
}
