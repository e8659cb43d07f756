/**
 * Deprecated entry point `@skipmesh/signaling-server/protocol`: the protocol now lives in
 * `@skipmesh/signaling-protocol` (browser-safe, valibot only). This module re-exports it, plus what used to sit
 * beside it, for clients that have not switched yet.
 *
 * @deprecated import from `@skipmesh/signaling-protocol` (hex helpers: `@skipmesh/core/internal`).
 * @module
 */
export * from '@skipmesh/signaling-protocol'
export { bytesToHex } from '@skipmesh/core/internal'
export type { InterServerEvents, SocketData } from './context.js'
