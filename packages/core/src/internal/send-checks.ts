import { type AbortOptions, throwIfAborted } from '../abort.js'
import { type Channel, isChannel } from '../channel.js'
import {
  ConnectionClosedError,
  InvalidChannelError,
  MessageTooLargeError,
  SendFailedError,
} from '../errors.js'
import type { Identifier } from '../identifier.js'

/**
 * The checks every in-process `Connection.send` makes before it hands bytes on (MemoryHub's connections and the
 * multiplexer's virtual ones), in the contract's order.
 * @throws {AbortError} · {@link ConnectionClosedError} · {@link InvalidChannelError} · {@link SendFailedError}
 *   (not bytes) · {@link MessageTooLargeError}
 */
export function checkSend(
  connection: { readonly status: 'open' | 'closing' | 'closed'; readonly remoteId: Identifier },
  channel: Channel,
  bytes: Uint8Array,
  maxMessageSize: number,
  options: AbortOptions,
): void {
  throwIfAborted(options.signal)
  if (connection.status !== 'open')
    throw new ConnectionClosedError(`connection to ${connection.remoteId.toHex()} is closed`)
  if (!isChannel(channel)) throw new InvalidChannelError('invalid channel name')
  if (!(bytes instanceof Uint8Array)) throw new SendFailedError('bytes must be a Uint8Array')
  if (bytes.length > maxMessageSize)
    throw new MessageTooLargeError(`${bytes.length} bytes exceed the maximum of ${maxMessageSize}`)
}
