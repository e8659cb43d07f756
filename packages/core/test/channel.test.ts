import { describe, expect, it } from 'vitest'
import { Channel, channel, isChannel } from '../src/channel.js'
import { InvalidChannelError } from '../src/errors.js'

describe('channels', () => {
  it('offers the well-known channels of the original request', () => {
    expect([
      Channel.Test,
      Channel.Consensus,
      Channel.SyncCommittee,
      Channel.PushTransactions,
      Channel.RequestTransactions,
    ]).toEqual(['test', 'consensus', 'sync-committee', 'push-transactions', 'request-transactions'])
  })

  it('accepts 1–64 characters of [a-z0-9._-]', () => {
    for (const name of ['a', 'skipgraph.search', 'v1_2-3', 'x'.repeat(64), '0']) {
      expect(channel(name)).toBe(name)
      expect(isChannel(name)).toBe(true)
    }
  })

  it('rejects empty, too long, upper-case and other characters', () => {
    for (const name of ['', 'x'.repeat(65), 'Test', 'a b', 'a/b', 'ä', 'a\n', '__proto__!']) {
      expect(() => channel(name)).toThrow(InvalidChannelError)
      expect(isChannel(name)).toBe(false)
    }
  })

  it('rejects non-strings', () => {
    expect(isChannel(5)).toBe(false)
    expect(isChannel(undefined)).toBe(false)
    expect(() => channel(null as unknown as string)).toThrow(InvalidChannelError)
  })
})
