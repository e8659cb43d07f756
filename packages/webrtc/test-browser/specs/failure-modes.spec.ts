import type { Page } from '@playwright/test'
import { expect, test } from '../fixtures.js'

/**
 * Failure modes where Chromium differs from Node: its 256 KiB SCTP message limit, its data-channel send
 * buffer, a renderer that disappears, channels created while traffic flows.
 */

const WAIT = 30_000
const KiB = 1024
const MiB = 1024 * KiB

interface Pair {
  a: Page
  b: Page
  idA: string
  idB: string
}

async function pair(
  openPeer: () => Promise<Page>,
  url: string,
  room: string,
  tuning: Record<string, number> = {},
): Promise<Pair> {
  const [a, b] = [await openPeer(), await openPeer()]
  const start = (p: Page) =>
    p.evaluate(([u, r, t]) => window.harness.mesh.start('n', { url: u, room: r, tuning: t }), [
      url,
      room,
      tuning,
    ] as const)
  return { a, b, idA: await start(a), idB: await start(b) }
}

test.describe('failure modes in Chromium', () => {
  test('payloads of 0 B, 16 KiB±1, 256 KiB±1, 1 MiB and 16 MiB arrive byte-identical (SHA-256)', async ({
    openPeer,
    signalUrl,
    room,
  }) => {
    test.setTimeout(120_000)
    // a 16 MiB payload plus its envelope (channel, sender, timestamp) must fit the transport's maximum
    const { a, b, idB } = await pair(openPeer, signalUrl, room, { maxMessageSize: 16 * MiB + 4 * KiB })
    const sizes = [
      0,
      16 * KiB - 1,
      16 * KiB,
      16 * KiB + 1,
      256 * KiB - 1,
      256 * KiB,
      256 * KiB + 1,
      MiB,
      16 * MiB,
    ]
    await b.evaluate(() => window.harness.mesh.register('n', 'sizes'))
    await a.evaluate(() => window.harness.mesh.register('n', 'sizes'))
    const sent: string[] = []
    for (const [i, size] of sizes.entries()) {
      sent.push(
        await a.evaluate(([to, s, seed]) => window.harness.mesh.send('n', 'sizes', to, { size: s, seed }), [
          idB,
          size,
          i + 1,
        ] as const),
      )
    }
    await b.evaluate(([n, w]) => window.harness.mesh.waitFor('n', 'sizes', n, w), [
      sizes.length,
      WAIT,
    ] as const)
    const got = await b.evaluate(() => window.harness.mesh.received('n', 'sizes'))
    expect(got.map((r) => r.size)).toEqual(sizes)
    expect(got.map((r) => r.sha256)).toEqual(sent)
  })

  test('a message over maxMessageSize is refused with MessageTooLargeError and the connection stays usable', async ({
    openPeer,
    signalUrl,
    room,
  }) => {
    const { a, b, idB } = await pair(openPeer, signalUrl, room, { maxMessageSize: MiB })
    await b.evaluate(() => window.harness.mesh.register('n', 'sizes'))
    await a.evaluate(() => window.harness.mesh.register('n', 'sizes'))
    const refused = await a.evaluate(([to, size]) => window.harness.mesh.trySend('n', 'sizes', to, size), [
      idB,
      2 * MiB,
    ] as const)
    expect(refused?.name).toBe('MessageTooLargeError')
    const ok = await a.evaluate(([to]) => window.harness.mesh.trySend('n', 'sizes', to, 1000), [idB] as const)
    expect(ok).toBeNull()
    await b.evaluate((w) => window.harness.mesh.waitFor('n', 'sizes', 1, w), WAIT)
    expect((await b.evaluate(() => window.harness.mesh.received('n', 'sizes'))).map((r) => r.size)).toEqual([
      1000,
    ])
  })

  test('20,000 × 16 KiB sends without awaiting are all delivered in order and the channel stays open', async ({
    openPeer,
    signalUrl,
    room,
  }) => {
    test.setTimeout(150_000)
    const { a, b, idA, idB } = await pair(openPeer, signalUrl, room)
    await b.evaluate(() => window.harness.mesh.register('n', 'flood', { hash: false }))
    await a.evaluate(() => window.harness.mesh.register('n', 'flood', { hash: false }))
    const count = 20_000
    const delivered = b.evaluate(([n, w]) => window.harness.mesh.waitFor('n', 'flood', n, w), [
      count,
      120_000,
    ] as const)
    const errors = await a.evaluate(([to, n, size]) => window.harness.mesh.burst('n', 'flood', to, n, size), [
      idB,
      count,
      16 * KiB,
    ] as const)
    expect(errors).toEqual([])
    await delivered
    expect(await b.evaluate(() => window.harness.mesh.summary('n', 'flood'))).toEqual({
      count,
      inOrder: true,
      origins: { [idA]: count },
    })
    expect(await a.evaluate(() => window.harness.mesh.connections('n'))).toEqual([
      { remote: idB, status: 'open' },
    ])
    expect(await a.evaluate(() => window.harness.mesh.closes('n'))).toEqual([])
    expect(await b.evaluate(() => window.harness.mesh.closes('n'))).toEqual([])
  })

  test('a graceful close right after 5,000 × 1 KiB Connection sends still delivers all 5,000, in order', async ({
    openPeer,
    signalUrl,
    room,
  }) => {
    const { a, b, idA, idB } = await pair(openPeer, signalUrl, room)
    await b.evaluate(() => window.harness.mesh.register('n', 'drain', { hash: false }))
    await a.evaluate(() => window.harness.mesh.register('n', 'drain', { hash: false }))
    // open the connection and the channel first, so that the close races only the queued sends
    await a.evaluate(([to]) => window.harness.mesh.send('n', 'drain', to, { size: 4, seq: 0 }), [
      idB,
    ] as const)
    await b.evaluate((w) => window.harness.mesh.waitFor('n', 'drain', 1, w), WAIT)
    const count = 5000
    const errors = await a.evaluate(
      ([to, n, size]) => window.harness.mesh.sendThenClose('n', 'drain', to, n, size),
      [idB, count, KiB] as const,
    )
    const closesAtA = await a.evaluate(() => window.harness.mesh.closes('n'))
    expect({ rejected: errors.length, closesAtA }).toEqual({
      rejected: 0,
      closesAtA: [{ remote: idB, reason: null, at: expect.any(Number) }],
    })
    await b.evaluate(([n, w]) => window.harness.mesh.waitFor('n', 'drain', n, w), [count + 1, WAIT] as const)
    const received = await b.evaluate(() => window.harness.mesh.received('n', 'drain'))
    expect(received.map((r) => r.seq)).toEqual([0, ...Array.from({ length: count }, (_, i) => i)])
    expect(new Set(received.map((r) => r.origin))).toEqual(new Set([idA]))
    const closes = await b.evaluate(() => window.harness.mesh.closes('n'))
    expect(closes.map((c) => [c.remote, c.reason])).toEqual([[idA, null]])
  })

  test('a browser context closed mid-traffic closes the connection exactly once, within the heartbeat bound', async ({
    openPeer,
    signalUrl,
    room,
  }, testInfo) => {
    const heartbeat = { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 2000, connectTimeoutMs: 5000 }
    const { a, b, idB } = await pair(openPeer, signalUrl, room, heartbeat)
    await b.evaluate(() => window.harness.mesh.register('n', 'stream', { hash: false }))
    await a.evaluate(() => window.harness.mesh.register('n', 'stream', { hash: false }))
    const burst = a.evaluate(([to, size]) => window.harness.mesh.burst('n', 'stream', to, 4000, size), [
      idB,
      16 * KiB,
    ] as const)
    await b.evaluate((w) => window.harness.mesh.waitFor('n', 'stream', 100, w), WAIT)
    const closedAt = a.evaluate(([from, w]) => window.harness.mesh.waitClose('n', from, w), [
      idB,
      WAIT,
    ] as const)
    const t0 = await a.evaluate(() => performance.timeOrigin + performance.now())
    await b.context().close()
    const close = await closedAt
    // every send settles (the ones after the loss reject with typed, benign errors)
    const errors = await burst
    expect(errors.length).toBeGreaterThan(0)
    expect(new Set(errors).size).toBeLessThanOrEqual(4)
    for (const name of new Set(errors)) {
      expect([
        'ConnectionClosedError',
        'SendFailedError',
        'ConnectionFailedError',
        'PeerNotFoundError',
      ]).toContain(name)
    }
    const bound = heartbeat.heartbeatTimeoutMs + heartbeat.heartbeatIntervalMs + 1500
    testInfo.annotations.push({
      type: 'close',
      description: `${close.reason} after ${Math.round(close.at - t0)} ms (bound ${bound} ms); ${errors.length} sends rejected`,
    })
    expect(close.at - t0).toBeLessThanOrEqual(bound)
    expect(close.reason).not.toBeNull()
    const closes = await a.evaluate(() => window.harness.mesh.closes('n'))
    expect(closes.filter((c) => c.remote === idB)).toHaveLength(1)
    expect(await a.evaluate(() => window.harness.mesh.connections('n'))).toEqual([])
  })

  test('messages on channels first used while traffic flows, from both sides at once, are none lost', async ({
    openPeer,
    signalUrl,
    room,
  }) => {
    const { a, b, idA, idB } = await pair(openPeer, signalUrl, room)
    const channels = ['early', 'late-a', 'late-b', 'late-both']
    for (const p of [a, b]) {
      await p.evaluate(async (chs) => {
        for (const ch of chs) await window.harness.mesh.register('n', ch, { hash: false })
      }, channels)
    }
    // the connection exists and carries traffic on 'early' before any late channel is used
    await a.evaluate(([to]) => window.harness.mesh.send('n', 'early', to, { size: 8, seq: 0 }), [
      idB,
    ] as const)
    await b.evaluate((w) => window.harness.mesh.waitFor('n', 'early', 1, w), WAIT)
    const n = 300
    const [errorsA, errorsB] = await Promise.all([
      a.evaluate(
        ([to, k]) =>
          Promise.all([
            window.harness.mesh.burst('n', 'late-a', to, k, 4096),
            window.harness.mesh.burst('n', 'late-both', to, k, 4096),
          ]),
        [idB, n] as const,
      ),
      b.evaluate(
        ([to, k]) =>
          Promise.all([
            window.harness.mesh.burst('n', 'late-b', to, k, 4096),
            window.harness.mesh.burst('n', 'late-both', to, k, 4096),
          ]),
        [idA, n] as const,
      ),
    ])
    expect([...errorsA, ...errorsB]).toEqual([[], [], [], []])
    const expectAll = async (p: Page, chs: string[], origin: string) => {
      for (const ch of chs) {
        await p.evaluate(([c, k, w]) => window.harness.mesh.waitFor('n', c, k, w), [ch, n, WAIT] as const)
        expect(await p.evaluate((c) => window.harness.mesh.summary('n', c), ch)).toEqual({
          count: n,
          inOrder: true,
          origins: { [origin]: n },
        })
      }
    }
    await expectAll(b, ['late-a', 'late-both'], idA)
    await expectAll(a, ['late-b', 'late-both'], idB)
  })
})
