/**
 * The demo's own errors (the packages' errors keep their names and pass through).
 *
 * @module
 */

/** A node did not answer a `describe` request with a valid lookup table (or was not reachable). */
export class DescribeFailedError extends Error {
  override name = 'DescribeFailedError'
}

/** `search` or `removeNode` named a node that this tab does not host. */
export class NotLocalNodeError extends Error {
  override name = 'NotLocalNodeError'
}

/** A describe relay was asked to forward to a node that is neither its neighbour nor connected to it. */
export class NotConnectedError extends Error {
  override name = 'NotConnectedError'
}
