import { ConnectionFailedError, SkipmeshError } from '../errors.js'

/** The host connection a virtual connection rode closed or failed; the `close` reason of its virtual connections. */
export class HostLinkClosedError extends ConnectionFailedError {
  override name = 'HostLinkClosedError'
}

/**
 * A remote host sent more frames than `maxBacklog` while one of its links was being verified; its host
 * connection is closed with this reason.
 */
export class MuxBacklogOverflowError extends SkipmeshError {
  override name = 'MuxBacklogOverflowError'
}
