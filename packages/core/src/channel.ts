import { InvalidChannelError } from './errors.js'

declare const channelBrand: unique symbol

/** The name of an isolated stream of messages; each channel has exactly one processor on a node. */
export type Channel = string & { readonly [channelBrand]: true }

const CHANNEL_NAME = /^[a-z0-9._-]{1,64}$/

/** Whether `name` is a valid channel name: 1–64 characters of `[a-z0-9._-]`. */
export function isChannel(name: unknown): name is Channel {
  return typeof name === 'string' && CHANNEL_NAME.test(name)
}

/**
 * Makes a user channel.
 * @throws {InvalidChannelError} when `name` is not 1–64 characters of `[a-z0-9._-]`.
 */
export function channel(name: string): Channel {
  if (!isChannel(name))
    throw new InvalidChannelError(`invalid channel name: ${JSON.stringify(String(name).slice(0, 80))}`)
  return name
}

/** The well-known channels of the original request. */
export const Channel = {
  Test: channel('test'),
  Consensus: channel('consensus'),
  SyncCommittee: channel('sync-committee'),
  PushTransactions: channel('push-transactions'),
  RequestTransactions: channel('request-transactions'),
} as const
