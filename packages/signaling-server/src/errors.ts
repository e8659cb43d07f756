/**
 * Errors of `@skipmesh/signaling-server`: one named class per condition. A bad option is core's
 * `InvalidOptionsError`. Protocol-level refusals are not thrown: they travel to the client as an ack with a
 * {@link SignalErrorCode}.
 *
 * @module
 */
import { SkipmeshError } from '@skipmesh/core'

export type { SignalErrorCode } from '@skipmesh/signaling-protocol'

/** The server could not start listening (port in use, permission denied, bad host). */
export class ListenError extends SkipmeshError {
  override name = 'ListenError'
}

/** The Redis server given as `redis` could not be reached when the signaling server started. */
export class RedisUnavailableError extends SkipmeshError {
  override name = 'RedisUnavailableError'
}
