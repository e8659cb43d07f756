/**
 * @packageDocumentation
 * `@skipmesh/signaling-server`: a Socket.IO server through which skipmesh peers find each other in rooms and
 * exchange WebRTC offers, answers and ICE candidates. Peers prove they own their identifier (Ed25519
 * challenge/response); signals are relayed only within a room with `from` stamped by the server; every payload
 * is validated; sockets are rate-limited; several instances scale out over Redis. The wire protocol lives in
 * `@skipmesh/signaling-protocol` (browser-safe; `@skipmesh/signaling-server/protocol` re-exports it).
 *
 * @example
 * ```ts
 * import { createSignalingServer } from '@skipmesh/signaling-server'
 *
 * const server = await createSignalingServer({ port: 8787, origins: ['https://app.example'] })
 * console.log(`signaling on ${server.url}`) // clients: io(server.url)
 * process.on('SIGTERM', () => void server.close())
 * ```
 */

export { InvalidOptionsError } from '@skipmesh/core'
export type { InterServerEvents, SignalingIo, SocketData } from './context.js'
export * from './errors.js'
export { createJsonLogger, type LogFields, type Logger, type LogLevel, silentLogger } from './logger.js'
export type { RejectionReason } from './metrics.js'
export type {
  Claim,
  ClaimResult,
  HeartbeatResult,
  HeldRegistration,
  OrphanedRegistration,
  Owner,
  Registry,
  RegistryPage,
} from './registry.js'
export { MemoryRegistry } from './registry.js'
export { RedisRegistry, type RedisCommander, type RedisRegistryOptions } from './redis-registry.js'
export type { RateLimitOptions, SignalingServerOptions } from './options.js'
export { createSignalingServer, type SignalingServer } from './server.js'
export {
  DEFAULT_TURN_TTL_SECONDS,
  issueTurnCredentials,
  type ResolvedTurnOptions,
  resolveTurnOptions,
  type TurnCredentials,
  type TurnOptions,
} from './turn.js'
