import {
  type Channel,
  channel,
  createNetwork,
  type DefaultNetwork,
  generateKeyPair,
  Identifier,
  type Message,
} from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { createWebRtcConnectionManager, type WebRtcConnectionManager } from '../src/manager.js'
import { implementations, useSignalingServer } from './helpers.js'

const fixture = useSignalingServer()

interface Received {
  channel: Channel
  origin: string
  payload: Uint8Array
  metadata: Record<string, string>
}

async function nodes(count: number, impl: keyof typeof implementations) {
  const room = `net-${Math.random().toString(36).slice(2)}`
  const made: Array<{ network: DefaultNetwork; manager: WebRtcConnectionManager }> = []
  for (let i = 0; i < count; i++) {
    const manager = createWebRtcConnectionManager({
      localId: Identifier.random(),
      keyPair: await generateKeyPair(),
      signaling: { url: fixture.server.url, room },
      rtc: { iceServers: [] },
      wrtc: implementations[impl](),
    })
    const network = createNetwork({ connectionManager: manager })
    network.start()
    made.push({ network, manager })
  }
  await Promise.all(made.map((n) => n.network.ready()))
  return { made, stop: () => Promise.all(made.map((n) => n.network.stop())) }
}

function inbox(): {
  received: Received[]
  processor: { processIncomingMessage(ch: Channel, o: Identifier, m: Message): void }
  waitFor(n: number): Promise<void>
} {
  const received: Received[] = []
  const waiters: Array<{ n: number; resolve: () => void }> = []
  return {
    received,
    processor: {
      processIncomingMessage(ch, origin, message) {
        received.push({
          channel: ch,
          origin: origin.toHex(),
          payload: message.payload,
          metadata: message.metadata,
        })
        for (let i = waiters.length - 1; i >= 0; i--)
          if (received.length >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve()
      },
    },
    waitFor(n) {
      if (received.length >= n) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${received.length} of ${n} messages arrived within 30 s`)),
          30_000,
        )
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer)
            resolve()
          },
        })
      })
    },
  }
}

describe('DefaultNetwork over WebRTC (node-datachannel)', () => {
  it('routes each message only to the processor of its channel, with the authenticated origin', async () => {
    const { made, stop } = await nodes(3, 'node-datachannel')
    try {
      const [a, b, c] = made as [(typeof made)[0], (typeof made)[0], (typeof made)[0]]
      const chX = channel('route-x')
      const chY = channel('route-y')
      const atBX = inbox()
      const atBY = inbox()
      const atCX = inbox()
      await b.network.register(chX, atBX.processor)
      await b.network.register(chY, atBY.processor)
      await c.network.register(chX, atCX.processor)
      const aX = await a.network.register(chX, inbox().processor)
      const aY = await a.network.register(chY, inbox().processor)
      const text = new TextEncoder()
      await aX.send(b.manager.localId, { payload: text.encode('x to b'), metadata: { k: 'v' } })
      await aY.send(b.manager.localId, { payload: text.encode('y to b'), metadata: {} })
      await aX.send(c.manager.localId, { payload: text.encode('x to c'), metadata: {} })
      await Promise.all([atBX.waitFor(1), atBY.waitFor(1), atCX.waitFor(1)])
      expect(atBX.received.map((r) => new TextDecoder().decode(r.payload))).toEqual(['x to b'])
      expect(atBX.received[0]!.metadata).toEqual({ k: 'v' })
      expect(atBY.received.map((r) => new TextDecoder().decode(r.payload))).toEqual(['y to b'])
      expect(atCX.received.map((r) => new TextDecoder().decode(r.payload))).toEqual(['x to c'])
      for (const r of [...atBX.received, ...atBY.received, ...atCX.received])
        expect(r.origin).toBe(a.manager.localId.toHex())
      expect(b.network.metrics().spoofedEnvelopes).toBe(0)
      expect(b.network.metrics().decodeFailures).toBe(0)
    } catch (err) {
      // what the transport saw, for a failure on a loaded machine
      throw new Error(`${String(err)}; managers: ${JSON.stringify(made.map((n) => n.manager.metrics()))}`, {
        cause: err,
      })
    } finally {
      await stop()
    }
  })

  it('delivers 3 nodes × 2 channels × 300 concurrent sends, per sender and channel in order', async () => {
    const { made, stop } = await nodes(3, 'node-datachannel')
    try {
      const chans = [channel('conc-a'), channel('conc-b')]
      const inboxes = made.map(() => chans.map(() => inbox()))
      const conduits = await Promise.all(
        made.map(async (n, i) =>
          Promise.all(chans.map((ch, k) => n.network.register(ch, inboxes[i]![k]!.processor))),
        ),
      )
      const perPair = 300
      const sends: Array<Promise<unknown>> = []
      for (const [i, n] of made.entries()) {
        const others = made.filter((_, j) => j !== i).map((o) => o.manager.localId)
        for (let s = 0; s < perPair; s++) {
          for (const [k] of chans.entries()) {
            const payload = new Uint8Array(4)
            new DataView(payload.buffer).setUint32(0, s)
            sends.push(conduits[i]![k]!.broadcast(others, { payload, metadata: {} }))
          }
        }
        void n
      }
      const results = (await Promise.all(sends)).flat() as Array<{ ok: boolean }>
      expect(results.filter((r) => !r.ok)).toEqual([])
      // every node receives perPair messages per channel from each of the 2 others
      await Promise.all(inboxes.flat().map((ib) => ib.waitFor(2 * perPair)))
      for (const [i, perChannel] of inboxes.entries()) {
        for (const ib of perChannel) {
          for (const [j, sender] of made.entries()) {
            if (j === i) continue
            const seq = ib.received
              .filter((r) => r.origin === sender.manager.localId.toHex())
              .map((r) => new DataView(r.payload.buffer, r.payload.byteOffset).getUint32(0))
            expect(seq).toEqual(Array.from({ length: perPair }, (_, s) => s))
          }
        }
      }
      for (const n of made) expect(n.manager.connections().length).toBe(2)
    } catch (err) {
      // what the transport saw, for a failure on a loaded machine
      throw new Error(`${String(err)}; managers: ${JSON.stringify(made.map((n) => n.manager.metrics()))}`, {
        cause: err,
      })
    } finally {
      await stop()
    }
  })
})
