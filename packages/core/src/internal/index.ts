/**
 * @packageDocumentation
 * `@skipmesh/core/internal`: the small helpers every skipmesh package shares (hex, deferreds, task
 * scheduling, abortable sleep, nonces, a seedable PRNG, the pending-request table, option checks, forbidden keys). Internal to
 * skipmesh: not part of the public API and not covered by semver.
 */

export { type Deferred, deferred, nextTask, sleep, yieldTask } from './async.js'
export { randomNonce } from './nonce.js'
export { bytesToHex, hexToBytes } from './hex.js'
export { FORBIDDEN_KEYS, isForbiddenKey } from './keys.js'
export { checkNumber, type NumberBounds, numberOption } from './options.js'
export { type PendingOptions, PendingRequests } from './pending.js'
export { mulberry32 } from './random.js'
