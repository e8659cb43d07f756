/**
 * The errors `@skipmesh/skipgraph` rejects with: one class per condition, each with its `name` set, so callers
 * and tests branch on the class or on `.name`, never on message text. Network failures surface as core's
 * {@link @skipmesh/core#ConduitError} subclasses; aborts as core's `AbortError`.
 *
 * @module
 */
import { SkipmeshError } from '@skipmesh/core'

/** Base class of every skip-graph error. */
export class SkipGraphError extends SkipmeshError {
  override name = 'SkipGraphError'
}

/** A search got no answer within its timeout (`searchTimeoutMs` or the call's `timeoutMs`). */
export class SearchTimeoutError extends SkipGraphError {
  override name = 'SearchTimeoutError'
}

/**
 * A search could not be completed because a neighbour on its path was unreachable (crashed without leaving)
 * and no route around it could give an exact answer.
 */
export class SearchFailedError extends SkipGraphError {
  override name = 'SearchFailedError'
}

/**
 * A request of the join, leave or repair protocol (lock, read, apply) got no answer within `requestTimeoutMs`;
 * its `cause` is core's `RequestTimeoutError`.
 */
export class RequestTimeoutError extends SkipGraphError {
  override name = 'RequestTimeoutError'
}

/** `join()` gave up after `maxAttempts` conflicting or failed attempts at one level. */
export class JoinFailedError extends SkipGraphError {
  override name = 'JoinFailedError'
}

/** `leave()` gave up after `maxAttempts` conflicting or failed attempts. */
export class LeaveFailedError extends SkipGraphError {
  override name = 'LeaveFailedError'
}

/** The operation needs a node that has joined (`searchById`, `leave`), and this one has not. */
export class NotJoinedError extends SkipGraphError {
  override name = 'NotJoinedError'
}

/** `join()` was called on a node that is already joining, joined, leaving or gone. */
export class AlreadyJoinedError extends SkipGraphError {
  override name = 'AlreadyJoinedError'
}

/** Another node of the graph already has this node's identifier. */
export class DuplicateIdentifierError extends SkipGraphError {
  override name = 'DuplicateIdentifierError'
}

/** The given identity does not match the network (its `id` must equal `network.localId`). */
export class InvalidIdentityError extends SkipGraphError {
  override name = 'InvalidIdentityError'
}

/** The node stopped while the operation was pending. */
export class NodeStoppedError extends SkipGraphError {
  override name = 'NodeStoppedError'
}
