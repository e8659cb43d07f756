import { type AbortOptions, raceSignal, throwIfAborted } from '../abort.js'
import type { Channel } from '../channel.js'
import type { Connection, ConnectionManager } from '../connection.js'
import {
  ComponentNotStartedError,
  ConduitClosedError,
  ConduitError,
  ConnectionFailedError,
  InvalidMessageError,
  MessageTooLargeError,
  SendFailedError,
} from '../errors.js'
import type { Identifier } from '../identifier.js'
import { isForbiddenKey } from '../internal/keys.js'
import type { Codec, Message, MessageEnvelope, RpcHeader } from '../message.js'
import type { ChannelMetrics } from '../metrics.js'
import type { SendResult } from '../network.js'

/** The network's state as the send path sees it. */
export type NetworkState = 'new' | 'starting' | 'ready' | 'stopping' | 'stopped'

/** What the send path needs from its network. */
export interface OutboundInit {
  readonly manager: ConnectionManager
  readonly codec: Codec
  readonly localId: Identifier
  /** The clock stamped into envelopes. */
  readonly now: () => number
  state(): NetworkState
  ready(): Promise<void>
  /** The cached connection to the peer with this hex id, if one is known. */
  cached(hex: string): Connection | undefined
  /**
   * Hands bytes sent to the local identifier to the local receive path (after a macrotask turn).
   * @throws {SendFailedError} when they do not decode.
   */
  loopback(channel: Channel, bytes: Uint8Array): void
}

/** Who is sending: a conduit (or the network answering a request) on one channel, with its counters. */
export interface Sender {
  readonly channel: Channel
  /** The channel's counters, bumped exactly once per destination of every send. */
  readonly metrics: ChannelMetrics
  /** Whether this sender may no longer send (its conduit was closed, or the network stopped). */
  isClosed(): boolean
}

/**
 * The one send path of a {@link DefaultNetwork}: every conduit send, every destination of a broadcast, every
 * request and every reply passes through {@link Outbound.send} or {@link Outbound.broadcast}, and each
 * destination's outcome is counted in exactly one place ({@link Outbound.#counted}).
 */
export class Outbound {
  readonly #init: OutboundInit

  constructor(init: OutboundInit) {
    this.#init = init
  }

  /**
   * Sends `message` to `dest`. Never throws synchronously: every failure is a rejection with a
   * {@link ConduitError}. The common case (no signal, an open cached connection) adds one promise to the
   * transport's.
   */
  send(
    sender: Sender,
    dest: Identifier,
    message: Message,
    options?: AbortOptions,
    rpc?: RpcHeader,
  ): Promise<void> {
    let bytes: Uint8Array
    try {
      bytes = this.#prepare(sender, message, options?.signal, rpc)
    } catch (err) {
      return this.#counted(sender, Promise.reject(err), 0, dest)
    }
    return this.#counted(sender, this.#route(sender, dest, bytes, options?.signal), bytes.length, dest)
  }

  /** Encodes once, sends to every destination concurrently; one result per destination, in order. Never rejects. */
  broadcast(
    sender: Sender,
    dests: readonly Identifier[],
    message: Message,
    options: AbortOptions = {},
  ): Promise<SendResult[]> {
    let bytes: Uint8Array | undefined
    let failure: unknown
    try {
      bytes = this.#prepare(sender, message, options.signal, undefined)
    } catch (err) {
      failure = err
    }
    return Promise.all(
      dests.map((destination) => {
        const attempt =
          bytes === undefined
            ? Promise.reject(failure)
            : this.#route(sender, destination, bytes, options.signal)
        return this.#counted(sender, attempt, bytes?.length ?? 0, destination).then(
          (): SendResult => ({ destination, ok: true }),
          (error: Error): SendResult => ({ destination, ok: false, error }),
        )
      }),
    )
  }

  /** Counts one destination's outcome; the only place the sent and failed counters change. */
  #counted(sender: Sender, attempt: Promise<void>, size: number, dest: Identifier): Promise<void> {
    const metrics = sender.metrics
    return attempt.then(
      () => {
        metrics.messagesSent++
        metrics.bytesSent += size
      },
      (err: unknown) => {
        metrics.sendFailures++
        throw sendError(err, dest)
      },
    )
  }

  #prepare(sender: Sender, message: Message, signal: AbortSignal | undefined, rpc: RpcHeader | undefined) {
    throwIfAborted(signal)
    checkOpen(sender)
    checkMessage(message)
    const envelope: MessageEnvelope = {
      channel: sender.channel,
      sender: this.#init.localId,
      payload: message.payload,
      metadata: message.metadata,
      timestamp: this.#init.now(),
    }
    if (rpc !== undefined) envelope.rpc = rpc
    const codec = this.#init.codec
    let bytes: Uint8Array
    try {
      bytes = codec.encode(envelope)
    } catch (err) {
      if (err instanceof InvalidMessageError) throw err
      throw new SendFailedError('the message could not be encoded', { cause: err })
    }
    const limit = Math.min(
      this.#init.manager.maxMessageSize,
      codec.maxEnvelopeSize ?? Number.POSITIVE_INFINITY,
    )
    if (bytes.length > limit) {
      throw new MessageTooLargeError(
        `encoded envelope of ${bytes.length} bytes exceeds the maximum of ${limit}`,
      )
    }
    return bytes
  }

  /** Hands the bytes to the transport: straight to an open cached connection, else the general way. */
  #route(
    sender: Sender,
    dest: Identifier,
    bytes: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (signal === undefined && this.#init.state() === 'ready') {
      const conn = this.#init.cached(dest.toHex())
      if (conn !== undefined && conn.status === 'open') return conn.send(sender.channel, bytes)
    }
    return this.#routeSlow(sender, dest, bytes, signal)
  }

  /** The general way: waits for readiness, loops back, connects, honours the signal. */
  async #routeSlow(
    sender: Sender,
    dest: Identifier,
    bytes: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const init = this.#init
    if (init.state() === 'starting') {
      try {
        await raceSignal(init.ready(), signal)
      } catch (err) {
        if (err instanceof ConduitError) throw err
        throw new ConduitClosedError('the network stopped before it was ready', { cause: err })
      }
    }
    checkOpen(sender)
    if (init.state() !== 'ready') {
      throw new ConnectionFailedError('the network is not started', {
        cause: new ComponentNotStartedError('not started'),
      })
    }
    if (dest.equals(init.localId)) {
      await Promise.resolve()
      checkOpen(sender)
      init.loopback(sender.channel, bytes)
      return
    }
    let conn = init.cached(dest.toHex())
    if (conn === undefined || conn.status !== 'open') conn = await this.#connect(dest, signal)
    checkOpen(sender)
    await raceSignal(
      signal === undefined ? conn.send(sender.channel, bytes) : conn.send(sender.channel, bytes, { signal }),
      signal,
    )
  }

  async #connect(dest: Identifier, signal: AbortSignal | undefined): Promise<Connection> {
    try {
      return await raceSignal(
        this.#init.manager.connect(dest, signal === undefined ? {} : { signal }),
        signal,
      )
    } catch (err) {
      if (err instanceof ConduitError) throw err
      const state = this.#init.state()
      if (state === 'stopping' || state === 'stopped') {
        throw new ConduitClosedError('the network stopped', { cause: err })
      }
      throw new ConnectionFailedError(`could not connect to ${dest.toHex()}`, { cause: err })
    }
  }
}

function checkOpen(sender: Sender): void {
  if (sender.isClosed()) throw new ConduitClosedError(`the conduit of ${sender.channel} is closed`)
}

/** A transport's send failure as the conduit reports it: `ConduitError`s as they are, others wrapped. */
function sendError(err: unknown, dest: Identifier): ConduitError {
  if (err instanceof ConduitError) return err
  return new SendFailedError(`could not send to ${dest.toHex()}`, { cause: err })
}

/** Rejects locally what every receiving codec would reject, so the sender learns of it. */
function checkMessage(message: Message): void {
  if (typeof message !== 'object' || message === null)
    throw new InvalidMessageError('message must be an object')
  if (!(message.payload instanceof Uint8Array)) throw new InvalidMessageError('payload must be a Uint8Array')
  const metadata: unknown = message.metadata
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new InvalidMessageError('metadata must be an object of strings')
  }
  for (const k in metadata) {
    if (!Object.hasOwn(metadata, k)) continue
    if (isForbiddenKey(k)) throw new InvalidMessageError(`metadata key ${k} is not allowed`)
    if (typeof (metadata as Record<string, unknown>)[k] !== 'string')
      throw new InvalidMessageError(`metadata value of ${k.slice(0, 32)} is not a string`)
  }
}
