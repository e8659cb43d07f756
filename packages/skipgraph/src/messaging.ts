/**
 * Messaging: sends protocol messages on the node's conduit, counted per kind; requests to one peer over core's
 * `Conduit.request` (its timeout, nonces and reply matching), failed at once when the peer is found unreachable;
 * the per-node counters.
 *
 * @module
 */
import {
  AbortError,
  type Conduit,
  ConduitClosedError,
  ConnectionFailedError,
  RequestTimeoutError as CoreRequestTimeoutError,
  type Identifier,
  InvalidMessageError,
  type Message,
  RemoteRequestError,
  SendFailedError,
} from '@skipmesh/core'
import { type Deferred, deferred } from '@skipmesh/core/internal'
import type { SkipGraphMetrics } from './contract.js'
import { RequestTimeoutError } from './errors.js'
import type { MvCheck } from './mv-check.js'
import { decodeWire, encodeWire } from './wire-codec.js'
import {
  type ApplyAckMsg,
  Kind,
  type KindName,
  type LockReplyMsg,
  type ReplyTo,
  type RequestMsg,
  isReplyTo,
  type SearchFailMsg,
  type SearchResultMsg,
  type WireMessage,
} from './wire.js'

const KIND_NAMES = Object.keys(Kind) as KindName[]
const KIND_NAME_BY_CODE = new Map<number, KindName>(KIND_NAMES.map((k) => [Kind[k], k]))

/** Counters at zero. */
export function emptyMetrics(): SkipGraphMetrics {
  const sentByKind = {} as Record<KindName, number>
  for (const k of KIND_NAMES) sentByKind[k] = 0
  return {
    messagesSent: 0,
    sentByKind,
    sendFailures: 0,
    messagesReceived: 0,
    malformedDropped: 0,
    unexpectedDropped: 0,
    rejectedApplies: 0,
    entriesRefused: 0,
    searchesStarted: 0,
    searchesAnswered: 0,
    searchesFailed: 0,
    searchesTimedOut: 0,
    searchesForwarded: 0,
    searchRetries: 0,
    transactions: 0,
    conflicts: 0,
    deadNeighbors: 0,
    repairs: 0,
    locksBroken: 0,
    locksLapsed: 0,
    walksCut: 0,
    splitLists: 0,
    mergeChecks: 0,
    graphsDetected: 0,
    merges: 0,
    rejoins: 0,
  }
}

/** Carries the error a request was cut off with (peer unreachable, node stopped). */
class Cut {
  constructor(readonly reason: Error) {}
}

/** Whether a send failure says the peer is gone (not a local or a message problem). */
export function isDeadSignal(err: unknown): boolean {
  return (
    (err instanceof ConnectionFailedError || err instanceof SendFailedError) &&
    !(err instanceof InvalidMessageError)
  )
}

export interface MessengerInit {
  readonly metrics: SkipGraphMetrics
  /** How long a request waits for its reply. */
  readonly requestTimeoutMs: number
  /** A reply came from `id` (it is alive). */
  readonly onReply: (id: Identifier) => void
  /** A send to `id` failed with a sign that the peer is gone. */
  readonly onDeadPeer: (id: Identifier) => void
  /** Checks the membership vectors of lock and read replies (one naming a vector not derived is dropped). */
  readonly mvCheck: MvCheck
}

export class Messenger {
  readonly #init: MessengerInit
  #conduit: Conduit | undefined
  /** The requests waiting for their reply, by peer: rejecting one fails it. */
  readonly #requests = new Map<string, Set<Deferred<never>>>()

  constructor(init: MessengerInit) {
    this.#init = init
  }

  /** Uses `conduit` from now on (set on start). */
  attach(conduit: Conduit): void {
    this.#conduit = conduit
  }

  send(dest: Identifier, msg: WireMessage): Promise<void> {
    const conduit = this.#conduit
    if (conduit === undefined) return Promise.reject(new ConduitClosedError('skip-graph node not started'))
    this.#count(msg)
    return conduit.send(dest, { payload: encodeWire(msg), metadata: {} }).catch((err: unknown) => {
      this.#sendFailed(dest, err)
      throw err
    })
  }

  /**
   * Sends `msg` as a core request to `dest` and resolves with its reply, or `undefined` when the reply is
   * malformed, of the wrong kind, or names a membership vector not derived from its identifier (counted and
   * dropped).
   * @throws {RequestTimeoutError} when no reply came within `timeoutMs` (default `requestTimeoutMs`).
   * @throws {AbortError} when `signal` aborts.
   * @throws {ConduitError} (core) when the request could not be sent or the remote could not answer, or
   *   `ConnectionFailedError` when `dest` was found unreachable meanwhile.
   * @throws {NodeStoppedError} when the node stopped meanwhile.
   */
  async request<M extends RequestMsg>(
    dest: Identifier,
    msg: M,
    signal: AbortSignal | undefined,
    requestTimeoutMs = this.#init.requestTimeoutMs,
  ): Promise<ReplyTo<M> | undefined> {
    const conduit = this.#conduit
    if (conduit === undefined) throw new ConduitClosedError('skip-graph node not started')
    const { metrics } = this.#init
    this.#count(msg)
    const hex = dest.toHex()
    // rejected by failPeer / failAll with the error the request fails with (the request itself then ends at
    // its timeout, in core); the caller's signal goes to core, whose fast path takes requests without one
    const cut = deferred<never>()
    let toPeer = this.#requests.get(hex)
    if (toPeer === undefined) {
      toPeer = new Set()
      this.#requests.set(hex, toPeer)
    }
    toPeer.add(cut)
    const request = conduit.request(
      dest,
      { payload: encodeWire(msg), metadata: {} },
      signal === undefined ? { timeoutMs: requestTimeoutMs } : { signal, timeoutMs: requestTimeoutMs },
    )
    let reply: Message
    try {
      reply = await Promise.race([request, cut.promise])
    } catch (err) {
      if (err instanceof CoreRequestTimeoutError) {
        throw new RequestTimeoutError(`no reply from ${hex} within ${requestTimeoutMs} ms`, { cause: err })
      }
      if (!(err instanceof RemoteRequestError || err instanceof AbortError || err instanceof Cut)) {
        this.#sendFailed(dest, err)
      }
      throw err instanceof Cut ? err.reason : err
    } finally {
      toPeer.delete(cut)
      if (toPeer.size === 0 && this.#requests.get(hex) === toPeer) this.#requests.delete(hex)
      request.catch(() => {}) // cut off: it ends in core
    }
    metrics.messagesReceived++
    this.#init.onReply(dest)
    const decoded = decodeWire(reply.payload)
    if (!decoded.ok) {
      metrics.malformedDropped++
      return undefined
    }
    if (!isReplyTo(msg, decoded.msg)) {
      metrics.unexpectedDropped++
      return undefined
    }
    const answer: WireMessage = decoded.msg
    if (answer.kind === Kind.LockReply && !this.#init.mvCheck.reply(dest, answer)) return undefined
    return decoded.msg
  }

  /** The reply `msg` as a core message, counted as sent. */
  reply(msg: LockReplyMsg | ApplyAckMsg | SearchResultMsg | SearchFailMsg): Message {
    this.#count(msg)
    return { payload: encodeWire(msg), metadata: {} }
  }

  /** Fails the pending requests to the peer `hex` (found unreachable). */
  failPeer(hex: string): void {
    const cut = new Cut(new ConnectionFailedError(`${hex} is unreachable`))
    for (const d of [...(this.#requests.get(hex) ?? [])]) d.reject(cut)
  }

  /** Fails every pending request with `err`. */
  failAll(err: Error): void {
    const cut = new Cut(err)
    for (const toPeer of [...this.#requests.values()]) for (const d of [...toPeer]) d.reject(cut)
  }

  #count(msg: WireMessage): void {
    this.#init.metrics.messagesSent++
    this.#init.metrics.sentByKind[KIND_NAME_BY_CODE.get(msg.kind)!]++
  }

  #sendFailed(dest: Identifier, err: unknown): void {
    this.#init.metrics.sendFailures++
    if (isDeadSignal(err)) this.#init.onDeadPeer(dest)
  }

  async close(): Promise<void> {
    await this.#conduit?.close()
  }
}
