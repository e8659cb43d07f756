import {
  type Channel,
  ConnectionFailedError,
  channel,
  generateKeyPair,
  Identifier,
  MessageTooLargeError,
} from '@skipmesh/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createSignalingClient } from '../src/signaling-client.js'
import {
  closeWatcher,
  collectMessages,
  connectedPair,
  countingWrtc,
  implementations,
  managerFactory,
  nextConnection,
  sha256,
  useSignalingServer,
} from './helpers.js'

const fixture = useSignalingServer()

/**
 * Data-heavy cases run on node-datachannel (no data-path stalls seen); connection-heavy cases (glare, cycles,
 * timeouts) on @roamhq/wrtc (fast, failure-free connection setup). See docs/DECISIONS.md.
 */
const DATA = (process.env.SKIPMESH_DATA_WRTC ?? 'node-datachannel') as keyof typeof implementations
const SETUP = (process.env.SKIPMESH_SETUP_WRTC ?? 'wrtc') as keyof typeof implementations

let factory: ReturnType<typeof managerFactory>
afterEach(async () => {
  await factory?.stopAll()
})

const BULK: Channel = channel('bulk')

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed | 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

describe(`failure modes (data: ${DATA}, connection set-up: ${SETUP})`, () => {
  it('resolves glare ×50 with exactly one RTCPeerConnection per pair and no error', async () => {
    const impl = countingWrtc(implementations[SETUP]())
    factory = managerFactory(fixture.server, impl)
    const a = await factory.make()
    const b = await factory.make()
    for (let i = 0; i < 50; i++) {
      const createdBefore = [a.metrics().peerConnectionsCreated, b.metrics().peerConnectionsCreated]
      const [ab, ba, ab2, ba2] = await Promise.all([
        a.connect(b.localId),
        b.connect(a.localId),
        a.connect(b.localId),
        b.connect(a.localId),
      ])
      expect(ab2).toBe(ab)
      expect(ba2).toBe(ba)
      expect(ab.session).toBe(ba.session)
      expect(a.metrics().peerConnectionsCreated - createdBefore[0]!).toBe(1)
      expect(b.metrics().peerConnectionsCreated - createdBefore[1]!).toBe(1)
      expect(impl.open()).toBe(2)
      expect(a.connections()).toEqual([ab])
      expect(b.connections()).toEqual([ba])
      const closedAtB = closeWatcher(ba)
      await ab.close()
      expect(await closedAtB.closed).toBeUndefined()
    }
    expect(impl.created()).toBe(100)
    for (const m of [a, b]) {
      expect(m.metrics().dialsFailed).toBe(0)
      expect(m.metrics().protocolErrors).toBe(0)
      expect(m.metrics().peerConnectionsLive).toBe(0)
    }
  })

  it('delivers payloads of 0 B, 16 KiB±1, 256 KiB±1, 1 MiB and 16 MiB with equal SHA-256', async () => {
    factory = managerFactory(fixture.server, implementations[DATA]())
    const { ab, ba } = await connectedPair(factory)
    const sizes = [0, 16383, 16384, 16385, 262143, 262144, 262145, 1 << 20, 16 << 20]
    const payloads = sizes.map((s, i) => pattern(s, i + 1))
    const expected = await Promise.all(payloads.map(sha256))
    const inbox = collectMessages(ba, sizes.length)
    for (const p of payloads) await ab.send(BULK, p)
    const got = await inbox.done
    expect(got.map((m) => m.bytes.length)).toEqual(sizes)
    expect(await Promise.all(got.map((m) => sha256(m.bytes)))).toEqual(expected)
    expect(ab.status).toBe('open')
  })

  it('rejects a message over maxMessageSize with MessageTooLargeError before sending anything', async () => {
    factory = managerFactory(fixture.server, implementations[DATA](), undefined, {
      maxMessageSize: 64 * 1024,
    })
    const { ab, ba } = await connectedPair(factory)
    const inbox = collectMessages(ba, 1)
    await expect(ab.send(BULK, new Uint8Array(64 * 1024 + 1))).rejects.toBeInstanceOf(MessageTooLargeError)
    await ab.send(BULK, new Uint8Array([7]))
    const [only] = await inbox.done
    expect([...only!.bytes]).toEqual([7])
    expect(ab.status).toBe('open')
  })

  it('refuses to send more than the remote accepts (its hello announces its maxMessageSize)', async () => {
    factory = managerFactory(fixture.server, implementations[DATA]())
    const a = await factory.make()
    const b = await factory.make(undefined, { maxMessageSize: 1000 })
    const incoming = nextConnection(b)
    const ab = await a.connect(b.localId)
    await incoming
    await expect(ab.send(BULK, new Uint8Array(1001))).rejects.toBeInstanceOf(MessageTooLargeError)
    await expect(ab.send(BULK, new Uint8Array(1000))).resolves.toBeUndefined()
  })

  it('delivers 20,000 × 16 KiB sends made without awaiting, in order, with no exception and the channel open', async () => {
    const count = 20_000
    // the payloads are made before the connection exists: allocating 320 MB can block the event loop for seconds
    // on a loaded machine, and both peers share this event loop (their heartbeats would starve)
    const payloads = Array.from({ length: count }, (_, i) => {
      const bytes = new Uint8Array(16 * 1024)
      new DataView(bytes.buffer).setUint32(0, i)
      return bytes
    })
    factory = managerFactory(fixture.server, implementations[DATA]())
    const { ab, ba } = await connectedPair(factory)
    // checked on arrival (not retained): in order, complete
    let next = 0
    let misordered = 0
    const all = new Promise<void>((resolve) => {
      ba.on('message', (_ch, bytes) => {
        if (bytes.length !== 16 * 1024 || new DataView(bytes.buffer, bytes.byteOffset).getUint32(0) !== next)
          misordered++
        if (++next === count) resolve()
      })
    })
    const sends = payloads.map((bytes) => ab.send(BULK, bytes))
    const results = await Promise.allSettled(sends)
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    await all
    expect(next).toBe(count)
    expect(misordered).toBe(0)
    expect(ab.status).toBe('open')
    expect(ba.status).toBe('open')
  }, 150_000)

  it('delivers all 5,000 messages sent right before close()', async () => {
    factory = managerFactory(fixture.server, implementations[DATA]())
    const { ab, ba } = await connectedPair(factory)
    const count = 5_000
    const inbox = collectMessages(ba, count)
    const atA = closeWatcher(ab)
    const atB = closeWatcher(ba)
    const sends: Array<Promise<void>> = []
    for (let i = 0; i < count; i++) {
      const bytes = new Uint8Array(1024)
      new DataView(bytes.buffer).setUint32(0, i)
      sends.push(ab.send(i % 2 === 0 ? BULK : channel('other'), bytes))
    }
    const closing = ab.close()
    await Promise.all(sends)
    await closing
    expect(await atA.closed).toBeUndefined()
    expect(await atB.closed).toBeUndefined()
    const got = await inbox.done
    expect(got.length).toBe(count)
    expect(atA.count()).toBe(1)
    expect(atB.count()).toBe(1)
  })

  it('delivers a backlog that takes longer to flush than closeTimeoutMs (the timeout bounds only the handshake)', async () => {
    factory = managerFactory(fixture.server, implementations[DATA]())
    // 4,000 × 16 KiB = 64 MiB cannot be flushed in 500 ms (measured ≤ 55 MiB/s here), so a close timer counted
    // from close() would cut it off; 500 ms is ample for the handshake after the flush
    const { ab, ba } = await connectedPair(factory, { closeTimeoutMs: 500 })
    const count = 4_000
    const inbox = collectMessages(ba, count)
    const atA = closeWatcher(ab)
    const sends: Array<Promise<void>> = []
    for (let i = 0; i < count; i++) {
      const bytes = new Uint8Array(16 * 1024)
      new DataView(bytes.buffer).setUint32(0, i)
      sends.push(ab.send(BULK, bytes))
    }
    const closing = ab.close()
    const outcomes = await Promise.allSettled(sends)
    await closing
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([])
    const got = await inbox.done
    expect(got.length).toBe(count)
    expect(got.map((m) => new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint32(0))).toEqual(
      Array.from({ length: count }, (_, i) => i),
    )
    expect(atA.count()).toBe(1)
  })

  it('runs 100 connect/close cycles, back to zero live connections each time', async () => {
    const impl = countingWrtc(implementations[SETUP]())
    factory = managerFactory(fixture.server, impl)
    const a = await factory.make()
    const b = await factory.make()
    for (let i = 0; i < 100; i++) {
      const incoming = nextConnection(b)
      const ab = await a.connect(b.localId)
      const ba = await incoming
      const atA = closeWatcher(ab)
      const atB = closeWatcher(ba)
      await ab.send(BULK, new Uint8Array([i & 0xff]))
      await (i % 2 === 0 ? ab : ba).close()
      expect(await atA.closed).toBeUndefined()
      expect(await atB.closed).toBeUndefined()
      expect(a.connections()).toEqual([])
      expect(b.connections()).toEqual([])
      expect(a.metrics().connectionsActive).toBe(0)
      expect(b.metrics().connectionsActive).toBe(0)
      expect(impl.open()).toBe(0)
    }
    expect(a.metrics().connectionsOpened).toBe(100)
    expect(a.metrics().connectionsClosed).toBe(100)
    expect(impl.created()).toBe(200)
  })

  for (const deaf of ['lower', 'higher'] as const) {
    it(`fails a dial to a silent peer (${deaf} id) with ConnectionFailedError after connectTimeoutMs, freeing it, and the next connect dials afresh`, async () => {
      const impl = countingWrtc(implementations[SETUP]())
      factory = managerFactory(fixture.server, impl)
      const a = await factory.make(undefined, { connectTimeoutMs: 800 })
      // a peer that joins the room but never answers a signal
      const silentId = Identifier.fromHex(deaf === 'lower' ? '00'.repeat(31) + '01' : 'ff'.repeat(32))
      const silent = createSignalingClient({
        url: fixture.server.url,
        room: factory.room,
        localId: silentId,
        keyPair: await generateKeyPair(),
      })
      silent.start()
      await silent.ready()
      try {
        const started = performance.now()
        const err = await a.connect(silentId).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(ConnectionFailedError)
        expect(performance.now() - started).toBeGreaterThanOrEqual(700)
        expect(a.metrics().peerConnectionsLive).toBe(0)
        expect(impl.open()).toBe(0)
        expect(a.connections()).toEqual([])
        expect(a.metrics().dialsFailed).toBe(1)
        const b = await factory.make()
        const ab = await a.connect(b.localId)
        expect(ab.status).toBe('open')
      } finally {
        await silent.stop()
      }
    })
  }
})

for (const name of ['wrtc', 'node-datachannel'] as const) {
  describe(`channels opened late (${name})`, () => {
    it('loses no message on a channel the remote has not created yet', async () => {
      factory = managerFactory(fixture.server, implementations[name]())
      const { ab, ba } = await connectedPair(factory)
      const channels = [channel('late-1'), channel('late-2'), channel('late-3')]
      const perChannel = 200
      const inbox = collectMessages(ba, channels.length * perChannel)
      const sends: Array<Promise<void>> = []
      // no await: every first message goes out while the remote has not even heard of the channel
      for (let i = 0; i < perChannel; i++) {
        for (const ch of channels) sends.push(ab.send(ch, new Uint8Array([i & 0xff, i >> 8])))
      }
      await Promise.all(sends)
      const got = await inbox.done
      for (const ch of channels) {
        const seq = got.filter((m) => m.channel === ch).map((m) => m.bytes[0]! | (m.bytes[1]! << 8))
        expect(seq).toEqual(Array.from({ length: perChannel }, (_, i) => i))
      }
      expect(ab.status).toBe('open')
    })

    it('loses no message when both sides open the same channels at once', async () => {
      factory = managerFactory(fixture.server, implementations[name]())
      const { a, b, ab, ba } = await connectedPair(factory)
      const channels = [channel('both-1'), channel('both-2')]
      const perChannel = 100
      const atA = collectMessages(ab, channels.length * perChannel)
      const atB = collectMessages(ba, channels.length * perChannel)
      const sends: Array<Promise<void>> = []
      for (let i = 0; i < perChannel; i++) {
        for (const ch of channels) {
          sends.push(ab.send(ch, new Uint8Array([1, i])), ba.send(ch, new Uint8Array([2, i])))
        }
      }
      await Promise.all(sends)
      const [gotA, gotB] = await Promise.all([atA.done, atB.done])
      for (const ch of channels) {
        expect(gotB.filter((m) => m.channel === ch).map((m) => m.bytes[1])).toEqual(
          Array.from({ length: perChannel }, (_, i) => i),
        )
        expect(gotA.filter((m) => m.channel === ch).map((m) => m.bytes[1])).toEqual(
          Array.from({ length: perChannel }, (_, i) => i),
        )
      }
      expect(a.metrics().protocolErrors + b.metrics().protocolErrors).toBe(0)
      expect([ab.status, ba.status]).toEqual(['open', 'open'])
    })
  })
}
