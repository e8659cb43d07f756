import type { Channel } from '../channel.js'
import {
  ConduitClosedError,
  InvalidMessageError,
  InvalidOptionsError,
  MessageTooLargeError,
  RemoteRequestError,
  RequestTimeoutError,
} from '../errors.js'
import type { Identifier } from '../identifier.js'
import { randomNonce } from '../internal/nonce.js'
import { PendingRequests } from '../internal/pending.js'
import type { Message, MessageEnvelope } from '../message.js'
import type { RequestMetrics } from '../metrics.js'
import type { MessageProcessor, RequestOptions } from '../network.js'
import type { Outbound, Sender } from './outbound.js'

/** Default of `DefaultNetworkOptions.requestTimeoutMs`. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
/** Default of `DefaultNetworkOptions.maxPendingRequests`. */
export const DEFAULT_MAX_PENDING_REQUESTS = 8_192

/** What the request/response exchange needs from its network. */
export interface RequestsInit {
  readonly outbound: Outbound
  /** Timeout of a request that names none. */
  readonly timeoutMs: number
  /** Bound of the table of requests waiting for replies. */
  readonly maxPending: number
  /** Reports a `processRequest` that threw or rejected (the network counts it as a processor error). */
  readonly processorFailed: (err: unknown, channel: Channel, origin: Identifier) => void
}

/** Whom a waiting request went to: only that peer, on that channel, may answer it. */
interface Addressee {
  readonly peer: Identifier
  readonly channel: Channel
}

/** Error names travel as the error reply's payload: short identifiers only, anything else is `'Error'`. */
const ERROR_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/
const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()

/**
 * Request/response over a network's one send path: requests carry an unpredictable nonce, replies are
 * matched by it and accepted only from the peer and channel the request went to; the table of waiting
 * requests is bounded, and every entry leaves it (replied, failed, timed out, aborted, or the network
 * stopped).
 */
export class Requests {
  readonly #init: RequestsInit
  readonly #pending: PendingRequests<Message, Addressee>
  readonly metrics: RequestMetrics = {
    sent: 0,
    replied: 0,
    timedOut: 0,
    failedRemotely: 0,
    lateReplies: 0,
    misdirectedReplies: 0,
    answered: 0,
  }

  constructor(init: RequestsInit) {
    this.#init = init
    this.#pending = new PendingRequests({ max: init.maxPending })
  }

  /** Requests waiting for their replies now. */
  get waiting(): number {
    return this.#pending.size
  }

  /** Sends a request and resolves with the reply; see `Conduit.request`. Never throws synchronously. */
  request(
    sender: Sender,
    dest: Identifier,
    message: Message,
    options: RequestOptions = {},
  ): Promise<Message> {
    const timeoutMs = options.timeoutMs ?? this.#init.timeoutMs
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      return Promise.reject(new InvalidOptionsError(`timeoutMs must be a positive number, got ${timeoutMs}`))
    }
    const nonce = randomNonce(16)
    const signal = options.signal
    let answer: Promise<Message>
    try {
      answer = this.#pending.open(
        nonce,
        {
          timeoutMs,
          signal,
          onTimeout: () => new RequestTimeoutError(`no reply from ${dest.toHex()} within ${timeoutMs} ms`),
          onTimedOut: () => this.metrics.timedOut++,
        },
        { peer: dest, channel: sender.channel },
      )
    } catch (err) {
      return Promise.reject(err)
    }
    this.#init.outbound
      .send(sender, dest, message, signal === undefined ? undefined : { signal }, { kind: 'request', nonce })
      .then(
        () => this.metrics.sent++,
        (err: unknown) => this.#pending.fail(nonce, err),
      )
    return answer
  }

  /**
   * Handles an arriving envelope that carries a request header: answers a request through `processor`
   * (undefined when the channel has none), or settles the waiting request a reply or error belongs to.
   * `replier` sends on the envelope's channel.
   */
  receive(
    envelope: MessageEnvelope,
    origin: Identifier,
    processor: MessageProcessor | undefined,
    replier: Sender,
  ): void {
    const rpc = envelope.rpc!
    if (rpc.kind === 'request') {
      this.#answer(envelope, origin, processor, replier)
      return
    }
    const addressee = this.#pending.context(rpc.nonce)
    if (addressee === undefined) {
      this.metrics.lateReplies++
      return
    }
    if (addressee.channel !== envelope.channel || !addressee.peer.equals(origin)) {
      this.metrics.misdirectedReplies++
      return
    }
    if (rpc.kind === 'reply') {
      this.metrics.replied++
      this.#pending.settle(rpc.nonce, { payload: envelope.payload, metadata: envelope.metadata })
      return
    }
    this.metrics.failedRemotely++
    const name = utf8Decoder.decode(envelope.payload)
    this.#pending.fail(rpc.nonce, new RemoteRequestError(ERROR_NAME.test(name) ? name : 'Error'))
  }

  /** Fails every waiting request (the network stopped). */
  stop(): void {
    this.#pending.failAll(new ConduitClosedError('the network stopped'))
  }

  #answer(
    envelope: MessageEnvelope,
    origin: Identifier,
    processor: MessageProcessor | undefined,
    replier: Sender,
  ): void {
    const nonce = envelope.rpc!.nonce
    const channel = envelope.channel
    const fail = (name: string): void => {
      this.#init.outbound
        .send(replier, origin, { payload: utf8.encode(name), metadata: {} }, undefined, {
          kind: 'error',
          nonce,
        })
        .catch(() => {}) // counted by the send path; the requester times out
    }
    const handler = processor?.processRequest
    if (processor === undefined || handler === undefined) {
      fail(processor === undefined ? 'NoProcessor' : 'NoRequestHandler')
      return
    }
    let reply: Message | Promise<Message>
    try {
      reply = handler.call(processor, channel, origin, {
        payload: envelope.payload,
        metadata: envelope.metadata,
      })
    } catch (err) {
      this.#init.processorFailed(err, channel, origin)
      fail(errorName(err))
      return
    }
    Promise.resolve(reply).then(
      (message) => {
        this.metrics.answered++
        this.#init.outbound
          .send(replier, origin, message, undefined, { kind: 'reply', nonce })
          .catch((err) => {
            // the reply itself is unsendable (malformed or too large): tell the requester why
            if (err instanceof InvalidMessageError || err instanceof MessageTooLargeError) fail(err.name)
          })
      },
      (err: unknown) => {
        this.#init.processorFailed(err, channel, origin)
        fail(errorName(err))
      },
    )
  }
}

function errorName(err: unknown): string {
  const name = err instanceof Error ? err.name : undefined
  return typeof name === 'string' && ERROR_NAME.test(name) ? name : 'Error'
}
