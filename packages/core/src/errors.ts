/**
 * Every error skipmesh throws is a named class from this module (one per condition), so callers and tests
 * can branch on the class or on `.name`, never on message text.
 *
 * @module
 */

/** Base class of every skipmesh error. */
export class SkipmeshError extends Error {
  override name = 'SkipmeshError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** An identifier given as hex or bytes is malformed (wrong length or not hex). */
export class InvalidIdentifierError extends SkipmeshError {
  override name = 'InvalidIdentifierError'
}

/** A second processor was registered for a channel that already has one. Fatal in the Go contract. */
export class ProcessorAlreadyRegisteredError extends SkipmeshError {
  override name = 'ProcessorAlreadyRegisteredError'
}

/** `start()` was called on a component that had already been started. A programming error. */
export class ComponentAlreadyStartedError extends SkipmeshError {
  override name = 'ComponentAlreadyStartedError'
}

/** An operation needs a started (and ready) component, and this one is not started or already stopped. */
export class ComponentNotStartedError extends SkipmeshError {
  override name = 'ComponentNotStartedError'
}

/** The component stopped before it became ready; `ready()` rejects with it. */
export class ComponentStoppedError extends SkipmeshError {
  override name = 'ComponentStoppedError'
}

/** An option passed to a factory or constructor is missing, of the wrong type or out of range. */
export class InvalidOptionsError extends SkipmeshError {
  override name = 'InvalidOptionsError'
}

/** Wraps a non-Error value passed to `throwIrrecoverable`. */
export class IrrecoverableError extends SkipmeshError {
  override name = 'IrrecoverableError'
}

/**
 * Base class of the errors a network operation (`Conduit.send`, `ConnectionManager.connect`,
 * `Connection.send`) rejects with. All of them are benign: they never stop the node.
 */
export class ConduitError extends SkipmeshError {
  override name = 'ConduitError'
}

/** The operation was aborted through its `AbortSignal`. */
export class AbortError extends ConduitError {
  override name = 'AbortError'
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options)
  }
}

/**
 * A channel name is not 1–64 characters of `[a-z0-9._-]`. A {@link ConduitError}, so that a send on a bad
 * channel rejects with this same class on every transport.
 */
export class InvalidChannelError extends ConduitError {
  override name = 'InvalidChannelError'
}

/** No connection to the destination could be established (unknown peer, timeout, partition, refused). */
export class ConnectionFailedError extends ConduitError {
  override name = 'ConnectionFailedError'
}

/** The remote peer is not known to the transport (not registered, not in the room). */
export class PeerNotFoundError extends ConnectionFailedError {
  override name = 'PeerNotFoundError'
}

/** A connection existed but the bytes could not be handed to it. */
export class SendFailedError extends ConduitError {
  override name = 'SendFailedError'
}

/** `Connection.send` was called on a connection that is closing or closed. */
export class ConnectionClosedError extends SendFailedError {
  override name = 'ConnectionClosedError'
}

/** The message (or its encoded envelope) exceeds the transport's maximum message size; nothing was sent. */
export class MessageTooLargeError extends ConduitError {
  override name = 'MessageTooLargeError'
}

/** The conduit was closed (or its network stopped); it no longer sends. */
export class ConduitClosedError extends ConduitError {
  override name = 'ConduitClosedError'
}

/** A transport already has a live endpoint with this identifier (e.g. a second `MemoryHub.connectionManager(id)`). */
export class DuplicatePeerError extends SkipmeshError {
  override name = 'DuplicatePeerError'
}

/** A message handed to `Conduit.send` is not a `Message` (payload not a Uint8Array, metadata values not strings, a forbidden metadata key); nothing was sent. */
export class InvalidMessageError extends SendFailedError {
  override name = 'InvalidMessageError'
}

/**
 * A message's metadata exceeds the codec's limits (entry count, key or value length in UTF-8 bytes); nothing was
 * sent. Thrown by the codec's `encode`, so the sender learns it before any byte leaves.
 */
export class MetadataLimitError extends InvalidMessageError {
  override name = 'MetadataLimitError'
}

/** No reply to a `Conduit.request` arrived within its timeout. */
export class RequestTimeoutError extends ConduitError {
  override name = 'RequestTimeoutError'
}

/**
 * The remote processor could not answer a `Conduit.request`: its channel has no processor, the processor has
 * no `processRequest`, or `processRequest` threw or rejected. Carries the remote error's name, never its
 * stack or message.
 */
export class RemoteRequestError extends ConduitError {
  override name = 'RemoteRequestError'
  /** The `name` of the error the remote reported (e.g. `'NoRequestHandler'`, `'TypeError'`). */
  readonly remoteName: string
  constructor(remoteName: string, message?: string, options?: { cause?: unknown }) {
    super(message ?? `the remote failed to answer: ${remoteName}`, options)
    this.remoteName = remoteName
  }
}

/** Too many requests are waiting for their replies (the table of pending requests is bounded). */
export class TooManyPendingRequestsError extends ConduitError {
  override name = 'TooManyPendingRequestsError'
}
