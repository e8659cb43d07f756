import { describe, expect, it } from 'vitest'
import {
  type CloseInfo,
  type Connection,
  ConnectionClosedError,
  channel,
  Identifier,
  MemoryHub,
} from '../src/index.js'

const CH = channel('delivery')

async function connectedPair(hub: MemoryHub) {
  const a = hub.connectionManager(Identifier.random())
  const b = hub.connectionManager(Identifier.random())
  a.start()
  b.start()
  await Promise.all([a.ready(), b.ready()])
  const incoming = new Promise<Connection>((resolve) => {
    b.on('connection', resolve)
  })
  const ab = await a.connect(b.localId)
  const ba = await incoming
  return { a, b, ab, ba }
}

describe('MemoryHub delivery contract (no silent loss)', () => {
  it('a partition closes both sides with a reason that counts each side’s resolved sends it lost', async () => {
    const hub = new MemoryHub({ manual: true })
    const { a, b, ab, ba } = await connectedPair(hub)
    const closes: Array<{ side: string; reason: Error | undefined; info: CloseInfo | undefined }> = []
    ab.on('close', (reason, info) => closes.push({ side: 'a', reason, info }))
    ba.on('close', (reason, info) => closes.push({ side: 'b', reason, info }))
    for (let i = 0; i < 3; i++) await ab.send(CH, Uint8Array.of(i))
    for (let i = 0; i < 2; i++) await ba.send(CH, Uint8Array.of(i))
    hub.partition([a.localId], [b.localId])
    expect(closes.map((c) => [c.side, c.info?.undeliveredSends])).toEqual([
      ['b', 2],
      ['a', 3],
    ])
    expect(closes.every((c) => c.reason instanceof Error)).toBe(true)
    // what was lost is not delivered later either
    expect(await hub.deliverAll()).toBe(0)
    await Promise.all([a.stop(), b.stop()])
  })

  it('a graceful close delivers what both sides sent, and a send from a listener during the close rejects', async () => {
    const hub = new MemoryHub({ manual: true })
    const { a, b, ab, ba } = await connectedPair(hub)
    const atB: number[] = []
    const answers: Array<Promise<unknown>> = []
    ba.on('message', (_ch, bytes) => {
      atB.push(bytes[0]!)
      // answering a message delivered by the close: the send must reject, not resolve and vanish
      answers.push(ba.send(CH, Uint8Array.of(99)).catch((err: unknown) => err))
    })
    const reasons: unknown[] = []
    ba.on('close', (reason) => reasons.push(reason))
    for (let i = 0; i < 3; i++) await ab.send(CH, Uint8Array.of(i))
    await ab.close()
    expect(atB).toEqual([0, 1, 2])
    expect(reasons).toEqual([undefined])
    for (const answer of await Promise.all(answers)) expect(answer).toBeInstanceOf(ConnectionClosedError)
    await Promise.all([a.stop(), b.stop()])
  })
})
