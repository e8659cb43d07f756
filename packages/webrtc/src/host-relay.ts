/**
 * The overlay relay of a WebRTC host: carries the host's own sealed signals (host-level dials, one per pair of hosts)
 * over the overlay relays of its nodes (e.g. each node's skip-graph signaler), to a node of the target host, and hands
 * the bytes relayed to any of its nodes to the host's overlay signaling (the seal names the host, so a signal meant
 * for a node is refused there, and the other way round).
 *
 * @module
 */
import {
  type AbortOptions,
  ConnectionFailedError,
  type Identifier,
  throwIfAborted,
  type Unsubscribe,
} from '@skipmesh/core'
import type { SignalRelay } from './signaling.js'

type DeliverHandler = (bytes: Uint8Array) => void | Promise<void>

/** Nodes of the target host a signal is tried towards, at most. */
const TARGETS_PER_SIGNAL = 3

/** A {@link SignalRelay} between hosts over the relays of their nodes; see the module. */
export class HostSignalRelay implements SignalRelay {
  readonly #nodesOf: (host: Identifier) => Identifier[]
  readonly #relays = new Map<string, { relay: SignalRelay; off: Unsubscribe | undefined }>()
  #handler: DeliverHandler | undefined

  /** `nodesOf(host)`: the node ids known to be on `host` (its directory's). */
  constructor(nodesOf: (host: Identifier) => Identifier[]) {
    this.#nodesOf = nodesOf
  }

  /** Whether a node relay is attached. */
  get size(): number {
    return this.#relays.size
  }

  /**
   * Carries the host's signals over `relay`, the overlay relay of its node `node`, and takes what is relayed to that
   * node, until the returned function is called.
   */
  add(node: Identifier, relay: SignalRelay): Unsubscribe {
    const hex = node.toHex()
    this.#relays.get(hex)?.off?.()
    const entry = { relay, off: this.#subscribe(relay) }
    this.#relays.set(hex, entry)
    return () => {
      if (this.#relays.get(hex) !== entry) return
      entry.off?.()
      this.#relays.delete(hex)
    }
  }

  /**
   * Carries `bytes` to host `to`: towards a few of its nodes, each over the relays of this host's nodes in turn,
   * until one takes them.
   * @throws {ConnectionFailedError} when no node of `to` is known, or every route failed.
   * @throws {AbortError} when `options.signal` aborts.
   */
  async relay(to: Identifier, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    const targets = this.#nodesOf(to).slice(0, TARGETS_PER_SIGNAL)
    if (targets.length === 0) throw new ConnectionFailedError(`no node of host ${to.toHex()} is known`)
    const errors: unknown[] = []
    for (const target of targets) {
      for (const { relay } of [...this.#relays.values()]) {
        throwIfAborted(options.signal)
        try {
          await relay.relay(target, bytes, options)
          return
        } catch (err) {
          throwIfAborted(options.signal)
          errors.push(err)
        }
      }
    }
    throw new ConnectionFailedError(`no overlay route to host ${to.toHex()}`, {
      cause: new AggregateError(errors),
    })
  }

  onDeliver(handler: DeliverHandler): Unsubscribe {
    this.#handler = handler
    for (const entry of this.#relays.values()) {
      entry.off?.()
      entry.off = this.#subscribe(entry.relay)
    }
    return () => {
      if (this.#handler !== handler) return
      this.#handler = undefined
      for (const entry of this.#relays.values()) {
        entry.off?.()
        entry.off = undefined
      }
    }
  }

  #subscribe(relay: SignalRelay): Unsubscribe | undefined {
    const handler = this.#handler
    return handler === undefined ? undefined : relay.onDeliver(handler)
  }
}
