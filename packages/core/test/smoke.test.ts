import { describe, expect, it } from 'vitest'
import { Channel } from '../src/channel.js'
import { MemoryHub } from '../src/memory/hub.js'
import { idOf, msg, RecordingProcessor, startNetworks, stopAll } from './helpers.js'

describe('default network over the memory hub', () => {
  it('delivers a message from one node to the processor of another', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const pb = new RecordingProcessor()
    await b!.register(Channel.Test, pb)
    const conduit = await a!.register(Channel.Test, new RecordingProcessor())
    await conduit.send(idOf(2), msg('hello', { k: 'v' }))
    await pb.waitFor(1)
    expect(pb.texts()).toEqual(['hello'])
    expect(pb.received[0]!.origin.equals(idOf(1))).toBe(true)
    expect(pb.received[0]!.message.metadata).toEqual({ k: 'v' })
    await stopAll([a!, b!])
  })
})
