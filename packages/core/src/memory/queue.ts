import type { Channel } from '../channel.js'
import type { Identifier } from '../identifier.js'
import type { MemoryConnection } from './endpoint.js'

/** A message in flight, as shown to a {@link MemoryHub.deliverSome} predicate. */
export interface PendingMessage {
  readonly from: Identifier
  readonly to: Identifier
  readonly channel: Channel
  readonly bytes: Uint8Array
}

/** @internal a message in flight. */
export interface Entry extends PendingMessage {
  readonly seq: number
  readonly queue: Queue
  readonly target: MemoryConnection
  delivered: boolean
}

/** @internal The messages in flight on one direction of one link and one channel, oldest first (from `head` on). */
export interface Queue {
  items: Entry[]
  /** Index of the oldest undelivered entry in `items`. */
  head: number
  /** Delivery time of the last message put in this queue (to keep order under random latency). */
  lastAt: number
}
