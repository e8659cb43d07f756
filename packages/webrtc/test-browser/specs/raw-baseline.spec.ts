import { expect, test } from '../fixtures.js'
import { connectRaw, bareTransportHandshake } from '../pages.mjs'

test.describe('raw baseline (no skipmesh code but the bare peer transport)', () => {
  test('a plain RTCDataChannel links two browser contexts and delivers every message', async ({
    openPeer,
  }) => {
    const [a, b] = [await openPeer(), await openPeer()]
    await connectRaw(a, b, 'raw')
    // the sink answers DONE only after it counted every DATA message, and echoes each PING
    const bulk = await a.evaluate(() => window.harness.raw.bulk('raw', 64 * 1024, 64))
    expect(bulk).toMatchObject({ bytes: 64 * 64 * 1024, messages: 64 })
    const small = await a.evaluate(() => window.harness.raw.bulk('raw', 100, 2000))
    expect(small.messages).toBe(2000)
    const rtt = await a.evaluate(() => window.harness.raw.rtt('raw', 100, 20))
    expect(rtt).toHaveLength(20)
  })

  test('a bare peer-transport handshake between two browser contexts delivers its first message', async ({
    openPeer,
  }) => {
    const [a, b] = [await openPeer(), await openPeer()]
    const ms = await bareTransportHandshake(a, b, 'bare')
    expect(ms).toBeGreaterThan(0)
  })
})
