/**
 * Messaging: sends protocol messages on the node's conduit, counted per kind; requests with timeouts that a
 * reply from the addressed peer settles; the per-node counters.
 *
 * @module
 */
import {
  type Conduit,
  ConduitClosedError,
  ConnectionFailedError,
  type Identifier,
  InvalidMessageError,
  SendFailedError,
} from '@skipmesh/core'
import { PendingRequests, randomNonce } from '@skipmesh/core/internal'
import type { SkipGraphMetrics } from './contract.js'
import { RequestTimeoutError } from './errors.js'
import { encodeWire, Kind, type KindName, type WireMessage } from './wire.js'

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
    searchesStarted: 0,
    searchesAnswered: 0,
    searchesFailed: 0,
    searchesTimedOut: 0,
    searchesForwarded: 0,
    transactions: 0,
    conflicts: 0,
    deadNeighbors: 0,
    repairs: 0,
    locksBroken: 0,
  }
}

/** Whether a send failure says the peer is gone (not a local or a message problem). */
export function isDeadSignal(err: unknown): boolean {
  return (
    (err instanceof ConnectionFailedError || err instanceof SendFailedError) &&
    !(err instanceof InvalidMessageError)
  )
}

/** Requests one node may have waiting for their reply at once. */
const MAX_PENDING_REQUESTS = 4096

export interface MessengerInit {
  readonly metrics: SkipGraphMetrics
  /** How long a request waits for its reply. */
  readonly requestTimeoutMs: number
  /** A send to `id` failed with a sign that the peer is gone. */
  readonly onDeadPeer: (id: Identifier) => void
}

export class Messenger {
  readonly #init: MessengerInit
  #conduit: Conduit | undefined
  /** Requests waiting for their reply, each with the peer it went to and the kind of reply it expects. */
  readonly #rpcs = new PendingRequests<WireMessage, { from: string; kind: number }>({
    max: MAX_PENDING_REQUESTS,
  })
  /** The nonces of the requests waiting, by peer. */
  readonly #byPeer = new Map<string, Set<string>>()

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
    const metrics = this.#init.metrics
    metrics.messagesSent++
    metrics.sentByKind[KIND_NAME_BY_CODE.get(msg.kind)!]++
    return conduit.send(dest, { payload: encodeWire(msg), metadata: {} }).catch((err: unknown) => {
      metrics.sendFailures++
      if (isDeadSignal(err)) this.#init.onDeadPeer(dest)
      throw err
    })
  }

  /**
   * Sends the request `build(rpc)` to `dest` and resolves with its reply of kind `replyKind`.
   * @throws {RequestTimeoutError} when no reply came within `requestTimeoutMs`.
   * @throws {AbortError} when `signal` aborts.
   * @throws {ConduitError} (core) when the send failed or `dest` was found unreachable meanwhile.
   */
  async request(
    dest: Identifier,
    replyKind: number,
    build: (rpc: string) => WireMessage,
    signal: AbortSignal | undefined,
  ): Promise<WireMessage> {
    const rpc = randomNonce()
    const hex = dest.toHex()
    const timeoutMs = this.#init.requestTimeoutMs
    const reply = this.#rpcs.open(
      rpc,
      {
        timeoutMs,
        signal,
        onTimeout: () => new RequestTimeoutError(`no reply from ${hex} within ${timeoutMs} ms`),
      },
      { from: hex, kind: replyKind },
    )
    let toPeer = this.#byPeer.get(hex)
    if (toPeer === undefined) {
      toPeer = new Set()
      this.#byPeer.set(hex, toPeer)
    }
    toPeer.add(rpc)
    this.send(dest, build(rpc)).catch((err: unknown) => this.#rpcs.fail(rpc, err))
    try {
      return await reply
    } finally {
      toPeer.delete(rpc)
      if (toPeer.size === 0 && this.#byPeer.get(hex) === toPeer) this.#byPeer.delete(hex)
    }
  }

  /** Settles the request a reply answers; false when it is unsolicited (unknown nonce, wrong sender or kind). */
  settle(origin: Identifier, msg: WireMessage & { rpc: string }): boolean {
    const p = this.#rpcs.context(msg.rpc)
    if (p === undefined || p.from !== origin.toHex() || p.kind !== msg.kind) return false
    return this.#rpcs.settle(msg.rpc, msg)
  }

  /** Fails the pending requests to the peer `hex` (found unreachable). */
  failPeer(hex: string): void {
    for (const rpc of [...(this.#byPeer.get(hex) ?? [])]) {
      this.#rpcs.fail(rpc, new ConnectionFailedError(`${hex} is unreachable`))
    }
  }

  /** Fails every pending request with `err`. */
  failAll(err: Error): void {
    this.#rpcs.failAll(err)
  }

  async close(): Promise<void> {
    await this.#conduit?.close()
  }
}
