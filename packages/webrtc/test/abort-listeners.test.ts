/**
 * Abort listeners on one long-lived signal (issue 10): every operation that takes `options.signal` listens to it
 * only while it is pending, so after any number of operations the signal's listener count is back where it was.
 * Many operations pending at once on one signal legitimately hold one listener each (or one per layer that races
 * the signal) until they settle; that is what Node's "MaxListenersExceededWarning" counts, not a leak.
 */
import { getEventListeners, setMaxListeners } from 'node:events'
import { Channel, createNetwork, generateKeyPair, Identifier, type Message } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { createWebRtcConnectionManager } from '../src/manager.js'
import { connectedPair, implementations, nextConnection, useSignalingServer } from './helpers.js'

const fixture = useSignalingServer()

/**
 * A long-lived signal that counts the abort listeners added to it and the most it held at once. Its limit is
 * raised: the concurrent cases below hold many listeners at once on purpose.
 */
function watchedSignal(): {
  signal: AbortSignal
  added: () => number
  live: () => number
  peak: () => number
} {
  const signal = new AbortController().signal
  setMaxListeners(1_000, signal)
  const live = (): number => getEventListeners(signal, 'abort').length
  let added = 0
  let peak = 0
  const add = signal.addEventListener.bind(signal)
  signal.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>) => {
    add(...args)
    if (args[0] === 'abort') {
      added++
      peak = Math.max(peak, live())
    }
  }
  return { signal, added: () => added, live, peak: () => peak }
}

const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(7)

describe('abort listeners on a long-lived signal', () => {
  it('connect, send (small, large, sequential, concurrent) and close remove every listener they added once settled', {
    timeout: 120_000,
  }, async () => {
    const factory = fixture.managers(implementations['node-datachannel']())
    const { a, b, ab } = await connectedPair(factory)
    const watched = watchedSignal()
    const { signal } = watched
    const baseline = watched.live()
    for (let i = 0; i < 50; i++) await a.connect(b.localId, { signal })
    await Promise.all(Array.from({ length: 50 }, () => a.connect(b.localId, { signal })))
    expect(watched.live()).toBe(baseline)
    for (let i = 0; i < 50; i++) await ab.send(Channel.Test, bytes(10), { signal })
    for (let i = 0; i < 50; i++) await ab.send(Channel.Test, bytes(10_000), { signal })
    expect(watched.live()).toBe(baseline)
    await Promise.all(Array.from({ length: 500 }, () => ab.send(Channel.Test, bytes(1_000), { signal })))
    await Promise.all(Array.from({ length: 40 }, () => ab.send(Channel.Test, bytes(100_000), { signal })))
    expect(watched.live()).toBe(baseline)
    await ab.close({ signal })
    expect(watched.live()).toBe(baseline)
    // the operations did listen (a large send waits for its first chunk): the count went up and came back
    expect(watched.added()).toBeGreaterThanOrEqual(50)
    expect(watched.peak()).toBeGreaterThan(baseline)
  })

  it('requests and sends through a network remove every listener once settled, after many at once', {
    timeout: 120_000,
  }, async () => {
    const factory = fixture.managers(implementations['node-datachannel']())
    const make = async () =>
      createWebRtcConnectionManager({
        localId: Identifier.random(),
        keyPair: await generateKeyPair(),
        signaling: { url: fixture.server.url, room: factory.room },
        rtc: { iceServers: [] },
        wrtc: implementations['node-datachannel'](),
      })
    const [c, d] = [await make(), await make()]
    const [nc, nd] = [createNetwork({ connectionManager: c }), createNetwork({ connectionManager: d })]
    try {
      nc.start()
      nd.start()
      await Promise.all([nc.ready(), nd.ready()])
      const echo = {
        processIncomingMessage(): void {},
        processRequest: (_ch: Channel, _origin: Identifier, m: Message): Message => m,
      }
      await nd.register(Channel.Test, echo)
      const conduit = await nc.register(Channel.Test, echo)
      const watched = watchedSignal()
      const { signal } = watched
      const baseline = watched.live()
      const message = (): Message => ({ payload: bytes(10), metadata: {} })
      // 50 at once while the connection is still to be dialled: each waits on the signal in every layer
      const incoming = nextConnection(d)
      await Promise.all(Array.from({ length: 50 }, () => conduit.request(d.localId, message(), { signal })))
      await incoming
      expect(watched.live()).toBe(baseline)
      expect(watched.peak()).toBeGreaterThanOrEqual(50)
      for (let i = 0; i < 50; i++) await conduit.send(d.localId, message(), { signal })
      for (let i = 0; i < 50; i++) await conduit.request(d.localId, message(), { signal })
      await Promise.all(Array.from({ length: 50 }, () => conduit.request(d.localId, message(), { signal })))
      expect(watched.live()).toBe(baseline)
    } finally {
      await Promise.all([nc.stop(), nd.stop()])
    }
  })
})
