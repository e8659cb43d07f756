/**
 * @packageDocumentation
 * `@skipmesh/core`: the transport-agnostic network layer. Contracts (`Network`, `Conduit`,
 * `MessageProcessor`, `ConnectionManager`, `Connection`, `Component`), value types (`Identifier`,
 * `MembershipVector`, `Channel`, `Message`), typed errors, the default `Network` over any
 * `ConnectionManager`, and an in-memory transport (`MemoryHub`) for tests.
 *
 * @example
 * ```ts
 * import { MemoryHub, Identifier, Channel, createNetwork } from '@skipmesh/core'
 *
 * const hub = new MemoryHub()
 * const [a, b] = [Identifier.random(), Identifier.random()]
 * const na = createNetwork({ connectionManager: hub.connectionManager(a) })
 * const nb = createNetwork({ connectionManager: hub.connectionManager(b) })
 * na.start(); nb.start()
 * await Promise.all([na.ready(), nb.ready()])
 * await nb.register(Channel.Test, {
 *   processIncomingMessage: (channel, origin, msg) => console.log(channel, origin.toHex(), msg.payload),
 * })
 * const conduit = await na.register(Channel.Test, { processIncomingMessage: () => {} })
 * await conduit.send(b, { payload: new TextEncoder().encode('hello'), metadata: {} })
 * ```
 */

export * from './abort.js'
export * from './budget/index.js'
export * from './channel.js'
export * from './codec.js'
export * from './connection.js'
export * from './default-network.js'
export * from './errors.js'
export * from './events.js'
export * from './identifier.js'
export * from './keys.js'
export * from './lifecycle.js'
export * from './memory/hub.js'
export * from './message.js'
export * from './metrics.js'
export * from './mux/index.js'
export * from './network.js'
