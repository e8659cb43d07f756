import type { AbortOptions } from '../abort.js'
import type { Channel } from '../channel.js'
import type { Identifier } from '../identifier.js'
import type { Message } from '../message.js'
import type { ChannelMetrics } from '../metrics.js'
import type { Conduit, RequestOptions, SendResult } from '../network.js'
import type { Outbound, Sender } from './outbound.js'
import type { Requests } from './requests.js'

/** What a conduit sends through: its network's send path and request exchange. */
export interface ConduitInit {
  readonly channel: Channel
  readonly metrics: ChannelMetrics
  readonly outbound: Outbound
  readonly requests: Requests
  /** Whether the network no longer sends (stopping or stopped). */
  readonly networkStopped: () => boolean
  /** Removes the registration (only if it is still this conduit's). */
  readonly unregister: (conduit: DefaultConduit) => void
}

/** The conduit of one registered channel of a `DefaultNetwork`: a {@link Sender} on its channel. */
export class DefaultConduit implements Conduit, Sender {
  readonly channel: Channel
  /** The channel's counters (the network's own object). */
  readonly metrics: ChannelMetrics
  readonly #init: ConduitInit
  #closed = false

  constructor(init: ConduitInit) {
    this.#init = init
    this.channel = init.channel
    this.metrics = init.metrics
  }

  isClosed(): boolean {
    return this.#closed || this.#init.networkStopped()
  }

  send(destination: Identifier, message: Message, options?: AbortOptions): Promise<void> {
    return this.#init.outbound.send(this, destination, message, options)
  }

  async broadcast(
    destinations: readonly Identifier[],
    message: Message,
    options: AbortOptions = {},
  ): Promise<SendResult[]> {
    return this.#init.outbound.broadcast(this, [...destinations], message, options)
  }

  request(destination: Identifier, message: Message, options?: RequestOptions): Promise<Message> {
    return this.#init.requests.request(this, destination, message, options)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#init.unregister(this)
  }

  /** Called by the network when it stops. */
  markClosed(): void {
    this.#closed = true
  }
}
