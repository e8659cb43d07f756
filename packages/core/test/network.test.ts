import { describe, expect, it } from 'vitest'
import { type Channel, channel, Channel as Channels } from '../src/channel.js'
import { createMsgpackCodec } from '../src/codec.js'
import { createNetwork } from '../src/default-network.js'
import {
  AbortError,
  ComponentNotStartedError,
  ConduitClosedError,
  ConnectionFailedError,
  InvalidChannelError,
  InvalidIdentifierError,
  InvalidMessageError,
  MessageTooLargeError,
  MetadataLimitError,
  PeerNotFoundError,
  ProcessorAlreadyRegisteredError,
  SendFailedError,
} from '../src/errors.js'
import type { Connection, ConnectionManager, ConnectionManagerEvents } from '../src/connection.js'
import { Emitter, type Unsubscribe } from '../src/events.js'
import { Identifier } from '../src/identifier.js'
import { AbstractComponent, ComponentManager, createRootContext } from '../src/lifecycle.js'
import { MemoryHub } from '../src/memory/hub.js'
import type { Codec, Message, MessageEnvelope } from '../src/message.js'
import { idOf, msg, RecordingProcessor, startNetworks, stopAll } from './helpers.js'
import { mp } from './msgpack-writer.js'

const noop = { processIncomingMessage: () => {} }

/** A peer that speaks the transport directly, bypassing any Network, connected to `victim`. */
async function rawPeer(hub: MemoryHub, id: Identifier, victim: Identifier) {
  const attacker = hub.connectionManager(id)
  attacker.start()
  await attacker.ready()
  return { attacker, conn: await attacker.connect(victim) }
}

describe('processor registration', () => {
  it('returns a conduit for the registered channel', async () => {
    const hub = new MemoryHub()
    const [a] = await startNetworks(hub, [idOf(1)])
    const conduit = await a!.register(Channels.Consensus, noop)
    expect(conduit.channel).toBe('consensus')
    expect(a!.metrics().channels.consensus).toBeDefined()
    await a!.stop()
  })

  it('rejects a second processor for the same channel with ProcessorAlreadyRegisteredError', async () => {
    const hub = new MemoryHub()
    const [a] = await startNetworks(hub, [idOf(1)])
    await a!.register(Channels.Test, noop)
    await expect(a!.register(Channels.Test, noop)).rejects.toBeInstanceOf(ProcessorAlreadyRegisteredError)
    await a!.register(Channels.Consensus, noop) // another channel is fine
    await a!.stop()
  })

  it('frees the channel when its conduit closes, so it can be registered again', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const first = new RecordingProcessor()
    const conduit = await b!.register(Channels.Test, first)
    await conduit.close()
    await conduit.close() // idempotent
    const second = new RecordingProcessor()
    await b!.register(Channels.Test, second)
    const sender = await a!.register(Channels.Test, noop)
    await sender.send(idOf(2), msg('after re-register'))
    await second.waitFor(1)
    expect(first.received).toHaveLength(0)
    expect(second.texts()).toEqual(['after re-register'])
    await stopAll([a!, b!])
  })

  it('rejects an invalid channel name and registration on a stopped network', async () => {
    const hub = new MemoryHub()
    const [a] = await startNetworks(hub, [idOf(1)])
    await expect(a!.register('Not Valid' as Channel, noop)).rejects.toBeInstanceOf(InvalidChannelError)
    await a!.stop()
    await expect(a!.register(Channels.Test, noop)).rejects.toBeInstanceOf(ComponentNotStartedError)
  })

  it('rejects a localId option that differs from the connection manager’s', () => {
    const hub = new MemoryHub()
    expect(() =>
      createNetwork({ connectionManager: hub.connectionManager(idOf(1)), localId: idOf(2) }),
    ).toThrow(InvalidIdentifierError)
    const n = createNetwork({ connectionManager: hub.connectionManager(idOf(3)), localId: idOf(3) })
    expect(n.localId.equals(idOf(3))).toBe(true)
  })
})

describe('routing', () => {
  it('routes each message only to the processor of its channel, across 5 channels', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const channels = [
      Channels.Test,
      Channels.Consensus,
      Channels.SyncCommittee,
      Channels.PushTransactions,
      Channels.RequestTransactions,
    ]
    const processors = new Map<Channel, RecordingProcessor>()
    const conduits = []
    for (const ch of channels) {
      const p = new RecordingProcessor()
      processors.set(ch, p)
      await b!.register(ch, p)
      conduits.push(await a!.register(ch, noop))
    }
    // interleave: 4 messages per channel, channel by channel in round-robin
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        conduits.map((c) => c.send(idOf(2), msg(`${c.channel}#${round}`, { round: String(round) }))),
      )
    }
    for (const [ch, p] of processors) {
      await p.waitFor(4)
      expect(p.texts()).toEqual([0, 1, 2, 3].map((r) => `${ch}#${r}`))
      expect(p.received.every((r) => r.channel === ch && r.origin.equals(idOf(1)))).toBe(true)
      expect(p.received.map((r) => r.message.metadata.round)).toEqual(['0', '1', '2', '3'])
    }
    const m = b!.metrics()
    expect(m.total.messagesReceived).toBe(20)
    for (const ch of channels) expect(m.channels[ch]!.messagesReceived).toBe(4)
    await stopAll([a!, b!])
  })

  it('delivers to the local processor when the destination is the local identifier', async () => {
    const hub = new MemoryHub()
    const [a] = await startNetworks(hub, [idOf(1)])
    const p = new RecordingProcessor()
    const conduit = await a!.register(Channels.Test, p)
    const payload = new TextEncoder().encode('to myself')
    await conduit.send(idOf(1), { payload, metadata: { via: 'loopback' } })
    payload.fill(0)
    await p.waitFor(1)
    expect(p.texts()).toEqual(['to myself'])
    expect(p.received[0]!.origin.equals(idOf(1))).toBe(true)
    expect(p.received[0]!.message.metadata).toEqual({ via: 'loopback' })
    expect(a!.metrics().connections.opened).toBe(0)
    expect(a!.metrics().total.messagesSent).toBe(1)
    await a!.stop()
  })

  it('hands the processor the connection’s remote identifier as origin and a payload it may keep', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const p = new RecordingProcessor()
    await b!.register(Channels.Test, p)
    const conduit = await a!.register(Channels.Test, noop)
    const payload = new TextEncoder().encode('first')
    await conduit.send(idOf(2), { payload, metadata: {} })
    payload.set(new TextEncoder().encode('XXXXX'))
    await conduit.send(idOf(2), { payload, metadata: {} })
    await p.waitFor(2)
    const [conn] = b!.connectionManager.connections()
    // the same instance every time: no Identifier is made per message
    expect(p.received[0]!.origin).toBe(conn!.remoteId)
    expect(p.received[1]!.origin).toBe(conn!.remoteId)
    expect(p.texts()).toEqual(['first', 'XXXXX'])
    await stopAll([a!, b!])
  })

  it('gives a local processor its own copy of a looped-back message, not a view of the sent bytes', async () => {
    const inner = createMsgpackCodec()
    const encoded: Uint8Array[] = []
    const decoded: Uint8Array[] = []
    const codec: Codec = {
      encode: (e) => {
        const bytes = inner.encode(e)
        encoded.push(bytes)
        return bytes
      },
      decode: (bytes, hints) => {
        decoded.push(bytes)
        return inner.decode(bytes, hints)
      },
    }
    const hub = new MemoryHub()
    const [a] = await startNetworks(hub, [idOf(1)], { codec })
    const p = new RecordingProcessor()
    const conduit = await a!.register(Channels.Test, p)
    await conduit.send(idOf(1), msg('mine'))
    await p.waitFor(1)
    expect(encoded).toHaveLength(1)
    expect(decoded).toHaveLength(1)
    expect(decoded[0]).not.toBe(encoded[0])
    expect(p.received[0]!.message.payload.buffer).not.toBe(encoded[0]!.buffer)
    expect(p.received[0]!.origin).toBe(a!.localId)
    await a!.stop()
  })

  it('broadcasts concurrently with one result per destination, in order, never rejecting', async () => {
    const hub = new MemoryHub()
    const [a, b, c] = await startNetworks(hub, [idOf(1), idOf(2), idOf(3)])
    const pb = new RecordingProcessor()
    const pc = new RecordingProcessor()
    await b!.register(Channels.Test, pb)
    await c!.register(Channels.Test, pc)
    const conduit = await a!.register(Channels.Test, noop)
    const unknown = idOf(99)
    const results = await conduit.broadcast([idOf(2), unknown, idOf(3)], msg('all'))
    expect(results.map((r) => [r.destination.toHex(), r.ok])).toEqual([
      [idOf(2).toHex(), true],
      [unknown.toHex(), false],
      [idOf(3).toHex(), true],
    ])
    expect(results[1]!.error).toBeInstanceOf(PeerNotFoundError)
    await pb.waitFor(1)
    await pc.waitFor(1)
    expect(a!.metrics().channels.test).toMatchObject({ messagesSent: 2, sendFailures: 1 })
    await conduit.close()
    const closed = await conduit.broadcast([idOf(2), idOf(3)], msg('late'))
    expect(closed.every((r) => !r.ok && r.error instanceof ConduitClosedError)).toBe(true)
    await stopAll([a!, b!, c!])
  })
})

describe('connection establishment and reuse', () => {
  it('opens one connection on the first send and reuses it for later sends, both directions', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const pa = new RecordingProcessor()
    const pb = new RecordingProcessor()
    const ca = await a!.register(Channels.Test, pa)
    const cb = await b!.register(Channels.Test, pb)
    expect(a!.metrics().connections).toEqual({ opened: 0, closed: 0, active: 0 })
    for (let i = 0; i < 5; i++) await ca.send(idOf(2), msg(`a${i}`))
    for (let i = 0; i < 5; i++) await cb.send(idOf(1), msg(`b${i}`))
    await pb.waitFor(5)
    await pa.waitFor(5)
    expect(a!.metrics().connections).toEqual({ opened: 1, closed: 0, active: 1 })
    expect(b!.metrics().connections).toEqual({ opened: 1, closed: 0, active: 1 })
    expect(a!.connectionManager.connections()).toHaveLength(1)
    expect(b!.connectionManager.connections()).toHaveLength(1)
    await stopAll([a!, b!])
  })

  it('counts a closed connection and dials a fresh one on the next send', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const pb = new RecordingProcessor()
    await b!.register(Channels.Test, pb)
    const ca = await a!.register(Channels.Test, noop)
    await ca.send(idOf(2), msg('one'))
    await a!.connectionManager.connections()[0]!.close()
    expect(a!.metrics().connections).toEqual({ opened: 1, closed: 1, active: 0 })
    expect(b!.metrics().connections).toEqual({ opened: 1, closed: 1, active: 0 })
    await ca.send(idOf(2), msg('two'))
    await pb.waitFor(2)
    expect(pb.texts()).toEqual(['one', 'two'])
    expect(a!.metrics().connections).toEqual({ opened: 2, closed: 1, active: 1 })
    await stopAll([a!, b!])
  })

  it('stops its connection manager when it stops, closing connections on both sides', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    await b!.register(Channels.Test, noop)
    const ca = await a!.register(Channels.Test, noop)
    await ca.send(idOf(2), msg('x'))
    await a!.stop()
    expect(a!.connectionManager.connections()).toHaveLength(0)
    expect(b!.connectionManager.connections()).toHaveLength(0)
    expect(b!.metrics().connections).toEqual({ opened: 1, closed: 1, active: 0 })
    await b!.stop()
  })
})

describe('error handling', () => {
  it('rejects a send to an unknown destination with PeerNotFoundError, a ConnectionFailedError', async () => {
    const hub = new MemoryHub()
    const [a] = await startNetworks(hub, [idOf(1)])
    const conduit = await a!.register(Channels.Test, noop)
    const err = await conduit.send(idOf(42), msg('anyone?')).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PeerNotFoundError)
    expect(err).toBeInstanceOf(ConnectionFailedError)
    expect(a!.metrics().channels.test).toMatchObject({ sendFailures: 1, messagesSent: 0 })
    await a!.stop()
  })

  it('rejects sends on a closed conduit and after the network stopped with ConduitClosedError', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    await b!.register(Channels.Test, noop)
    const closed = await a!.register(Channels.Test, noop)
    const other = await a!.register(Channels.Consensus, noop)
    await closed.close()
    await expect(closed.send(idOf(2), msg('x'))).rejects.toBeInstanceOf(ConduitClosedError)
    await a!.stop()
    await expect(other.send(idOf(2), msg('x'))).rejects.toBeInstanceOf(ConduitClosedError)
    await b!.stop()
  })

  it('rejects with AbortError when the signal aborts, before or during the send', async () => {
    const hub = new MemoryHub({ latency: 10_000 }) // connecting takes "forever"
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const conduit = await a!.register(Channels.Test, noop)
    await expect(conduit.send(idOf(2), msg('x'), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortError,
    )
    const controller = new AbortController()
    const pending = conduit.send(idOf(2), msg('x'), { signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toBeInstanceOf(AbortError)
    expect(a!.metrics().channels.test!.sendFailures).toBe(2)
    await stopAll([a!, b!])
  })

  it('counts a throwing and a rejecting processor, reports them to the hook, and keeps every channel working', async () => {
    const hub = new MemoryHub()
    const reported: Array<{ err: unknown; channel: Channel; origin: string }> = []
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)], {
      onProcessorError: (err, ch, origin) => reported.push({ err, channel: ch, origin: origin.toHex() }),
    })
    const throwing = channel('throws')
    const rejecting = channel('rejects')
    const healthy = new RecordingProcessor()
    let thrown = 0
    await b!.register(throwing, {
      processIncomingMessage: () => {
        thrown++
        throw new Error('sync bug')
      },
    })
    const rejected: Array<() => void> = []
    const allRejected = new Promise<void>((resolve) => rejected.push(resolve))
    let rejections = 0
    await b!.register(rejecting, {
      processIncomingMessage: async () => {
        rejections++
        if (rejections === 2) queueMicrotask(() => rejected[0]!())
        throw new Error('async bug')
      },
    })
    await b!.register(Channels.Test, healthy)
    const ct = await a!.register(throwing, noop)
    const cr = await a!.register(rejecting, noop)
    const ch = await a!.register(Channels.Test, noop)
    await ct.send(idOf(2), msg('t1'))
    await cr.send(idOf(2), msg('r1'))
    await ch.send(idOf(2), msg('h1'))
    await ct.send(idOf(2), msg('t2'))
    await cr.send(idOf(2), msg('r2'))
    await ch.send(idOf(2), msg('h2'))
    await healthy.waitFor(2)
    await allRejected
    expect(healthy.texts()).toEqual(['h1', 'h2'])
    expect(thrown).toBe(2)
    const m = b!.metrics()
    expect(m.channels.throws!.processorErrors).toBe(2)
    expect(m.channels.rejects!.processorErrors).toBe(2)
    expect(m.channels.test!.processorErrors).toBe(0)
    expect(m.total.processorErrors).toBe(4)
    expect(reported).toHaveLength(4)
    expect(reported.every((r) => r.err instanceof Error && r.origin === idOf(1).toHex())).toBe(true)
    expect(reported.map((r) => r.channel).sort()).toEqual(['rejects', 'rejects', 'throws', 'throws'])
    expect(b!.state).toBe('ready')
    await stopAll([a!, b!])
  })

  it('survives an onProcessorError hook that itself throws', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)], {
      onProcessorError: () => {
        throw new Error('hook bug')
      },
    })
    const after = new RecordingProcessor()
    let calls = 0
    await b!.register(Channels.Test, {
      processIncomingMessage: (c, o, m) => {
        calls++
        if (calls === 1) throw new Error('first fails')
        after.processIncomingMessage(c, o, m)
      },
    })
    const conduit = await a!.register(Channels.Test, noop)
    await conduit.send(idOf(2), msg('boom'))
    await conduit.send(idOf(2), msg('fine'))
    await after.waitFor(1)
    expect(after.texts()).toEqual(['fine'])
    expect(b!.metrics().channels.test!.processorErrors).toBe(1)
    await stopAll([a!, b!])
  })

  const codecs: Array<[string, () => Codec]> = [
    ['the default codec', () => createMsgpackCodec()],
    [
      'a codec that ignores decode hints',
      () => {
        const inner = createMsgpackCodec()
        return { encode: (e) => inner.encode(e), decode: (bytes) => inner.decode(bytes) }
      },
    ],
  ]
  it.each(codecs)(
    'counts and drops malformed, spoofed and unregistered envelopes injected by a raw peer, with %s',
    async (_, makeCodec) => {
      const hub = new MemoryHub()
      const [victim] = await startNetworks(hub, [idOf(1)], { codec: makeCodec() })
      const p = new RecordingProcessor()
      await victim!.register(Channels.Test, p)
      // the attacker speaks the transport directly, bypassing any Network
      const { attacker, conn } = await rawPeer(hub, idOf(66), idOf(1))
      const codec = createMsgpackCodec()
      const envelope = (over: Partial<MessageEnvelope>): Uint8Array =>
        codec.encode({
          channel: Channels.Test,
          sender: idOf(66),
          payload: new TextEncoder().encode('evil'),
          metadata: {},
          timestamp: Date.now(),
          ...over,
        })
      await conn.send(Channels.Test, Uint8Array.of(0xc1, 0x00)) // junk
      await conn.send(Channels.Test, new Uint8Array(0)) // empty
      await conn.send(
        Channels.Test,
        Uint8Array.of(0x81, 0xa9, ...new TextEncoder().encode('__proto__'), 0xc0),
      )
      await conn.send(Channels.Test, envelope({ sender: idOf(1) })) // claims to be the victim itself
      await conn.send(Channels.Test, envelope({ sender: idOf(2) })) // claims to be someone else
      await conn.send(Channels.Test, envelope({ channel: Channels.Consensus })) // channel differs from transport's
      await conn.send(Channels.Consensus, envelope({ channel: Channels.Consensus })) // nobody registered it
      await conn.send(Channels.Test, envelope({ payload: new TextEncoder().encode('legit') })) // a valid one
      await p.waitFor(1)
      expect(p.texts()).toEqual(['legit'])
      expect(p.received[0]!.origin.equals(idOf(66))).toBe(true)
      expect(p.received[0]!.channel).toBe(Channels.Test)
      const m = victim!.metrics()
      expect(m.decodeFailures).toBe(3)
      expect(m.spoofedEnvelopes).toBe(3)
      expect(m.droppedUnregistered).toBe(1)
      expect(m.total.messagesReceived).toBe(1)
      expect(victim!.state).toBe('ready')
      await stopAll([victim!, attacker])
    },
  )

  it('drops a raw peer envelope whose metadata declares a million entries, and keeps serving', async () => {
    const hub = new MemoryHub()
    const [victim] = await startNetworks(hub, [idOf(1)])
    const p = new RecordingProcessor()
    await victim!.register(Channels.Test, p)
    const { attacker, conn } = await rawPeer(hub, idOf(66), idOf(1))
    const n = 1_000_000
    const body = new Uint8Array(4 * n)
    for (let i = 0; i < body.length; i += 4) body.set([0xa1, 0x61, 0xa1, 0x62], i)
    const flood = mp.map([
      ['c', mp.str(Channels.Test)],
      ['s', mp.bin(idOf(66).bytes)],
      ['p', mp.bin(new Uint8Array(0))],
      ['m', mp.concat([mp.raw(0xdf, 0, 0x0f, 0x42, 0x40), body])], // map 32 of 1,000,000 entries
      ['t', mp.f64(Date.now())],
    ])
    await conn.send(Channels.Test, flood)
    const legit = createMsgpackCodec().encode({
      channel: Channels.Test,
      sender: idOf(66),
      payload: new TextEncoder().encode('legit'),
      metadata: {},
      timestamp: Date.now(),
    })
    await conn.send(Channels.Test, legit)
    await p.waitFor(1)
    expect(p.texts()).toEqual(['legit'])
    expect(victim!.metrics().decodeFailures).toBe(1)
    await stopAll([victim!, attacker])
  })

  it('rejects an oversize message with MessageTooLargeError before connecting or sending anything', async () => {
    const hub = new MemoryHub({ maxMessageSize: 1024 })
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const p = new RecordingProcessor()
    await b!.register(Channels.Test, p)
    const conduit = await a!.register(Channels.Test, noop)
    await expect(
      conduit.send(idOf(2), { payload: new Uint8Array(1024), metadata: {} }),
    ).rejects.toBeInstanceOf(MessageTooLargeError)
    expect(a!.metrics().connections.opened).toBe(0)
    expect(a!.metrics().channels.test).toMatchObject({ messagesSent: 0, bytesSent: 0, sendFailures: 1 })
    // the codec's own limit applies too
    const small = createNetwork({
      connectionManager: hub.connectionManager(idOf(3)),
      codec: createMsgpackCodec({ maxEnvelopeSize: 200 }),
    })
    small.start()
    await small.ready()
    const sc = await small.register(Channels.Test, noop)
    await expect(sc.send(idOf(2), { payload: new Uint8Array(300), metadata: {} })).rejects.toBeInstanceOf(
      MessageTooLargeError,
    )
    await sc.send(idOf(2), { payload: new Uint8Array(100), metadata: {} })
    await p.waitFor(1)
    expect(p.received[0]!.message.payload.length).toBe(100)
    await stopAll([a!, b!, small])
  })
})

describe('message validation', () => {
  it('rejects a malformed message locally with InvalidMessageError, a SendFailedError', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const conduit = await a!.register(Channels.Test, noop)
    const bad = [
      { payload: 'text', metadata: {} },
      { payload: new Uint8Array(1), metadata: { n: 1 } },
      { payload: new Uint8Array(1), metadata: JSON.parse('{"__proto__": "x"}') },
      { payload: new Uint8Array(1), metadata: null },
    ] as unknown as Message[]
    for (const message of bad) {
      const err = await conduit.send(idOf(2), message).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidMessageError)
      expect(err).toBeInstanceOf(SendFailedError)
    }
    expect(a!.metrics().connections.opened).toBe(0)
    await stopAll([a!, b!])
  })

  it('rejects metadata beyond the codec limits at the sender with MetadataLimitError, sending nothing', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const conduit = await a!.register(Channels.Test, noop)
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))
    for (const metadata of [many, { ['k'.repeat(257)]: 'v' }, { k: 'é'.repeat(2049) }]) {
      const err = await conduit
        .send(idOf(2), { payload: new Uint8Array(1), metadata })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MetadataLimitError)
      expect(err).toBeInstanceOf(InvalidMessageError)
    }
    expect(a!.metrics().connections.opened).toBe(0)
    await stopAll([a!, b!])
  })
})

describe('concurrent sending', () => {
  it('delivers 10,000 concurrent sends from 10 nodes exactly once, in per-channel order, with matching metrics', async () => {
    const hub = new MemoryHub({ seed: 3, latency: { min: 0, max: 2 } })
    const n = 10
    const perNode = 1000
    const ids = Array.from({ length: n }, (_, i) => idOf(i + 1))
    const networks = await startNetworks(hub, ids)
    const channels = [channel('c0'), channel('c1'), channel('c2')]
    // received[dest][channel] = list of "sender:seq" strings
    const received = ids.map(() => new Map<string, string[]>(channels.map((c) => [c, []])))
    let total = 0
    let resolveAll!: () => void
    const allArrived = new Promise<void>((resolve) => {
      resolveAll = resolve
    })
    const conduits = await Promise.all(
      networks.map(async (net, d) =>
        Promise.all(
          channels.map((ch) =>
            net.register(ch, {
              processIncomingMessage: (c, origin, m) => {
                const view = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength)
                received[d]!.get(c)!.push(`${origin.toHex()}:${view.getUint32(0)}`)
                if (++total === n * perNode) resolveAll()
              },
            }),
          ),
        ),
      ),
    )
    // deterministic traffic pattern: node s sends its k-th message to (s + 1 + k % (n-1)) % n on channel k % 3
    const sends: Array<Promise<void>> = []
    const expected = ids.map(() => new Map<string, string[]>(channels.map((c) => [c, []])))
    const sentBy = ids.map(() => 0)
    for (let k = 0; k < perNode; k++) {
      for (let s = 0; s < n; s++) {
        const d = (s + 1 + (k % (n - 1))) % n
        const ch = k % 3
        const payload = new Uint8Array(8)
        new DataView(payload.buffer).setUint32(0, k)
        expected[d]!.get(channels[ch]!)!.push(`${ids[s]!.toHex()}:${k}`)
        sentBy[s]!++
        sends.push(conduits[s]![ch]!.send(ids[d]!, { payload, metadata: {} }))
      }
    }
    await Promise.all(sends)
    await allArrived
    for (let d = 0; d < n; d++) {
      for (const ch of channels) {
        const got = received[d]!.get(ch)!
        const want = expected[d]!.get(ch)!
        // exactly once: same multiset
        expect([...got].sort()).toEqual([...want].sort())
        // per sender and channel, arrival order equals send order
        for (const sender of ids) {
          const prefix = `${sender.toHex()}:`
          expect(got.filter((x) => x.startsWith(prefix))).toEqual(want.filter((x) => x.startsWith(prefix)))
        }
      }
    }
    let sentTotal = 0
    let bytesSent = 0
    let receivedTotal = 0
    let bytesReceived = 0
    for (const [i, net] of networks.entries()) {
      const m = net.metrics()
      expect(m.total.messagesSent).toBe(sentBy[i])
      expect(m.total.sendFailures).toBe(0)
      expect(m.total.messagesReceived).toBe([...received[i]!.values()].reduce((x, l) => x + l.length, 0))
      expect(m.decodeFailures + m.spoofedEnvelopes + m.droppedUnregistered).toBe(0)
      sentTotal += m.total.messagesSent
      receivedTotal += m.total.messagesReceived
      bytesSent += m.total.bytesSent
      bytesReceived += m.total.bytesReceived
    }
    expect(sentTotal).toBe(n * perNode)
    expect(receivedTotal).toBe(n * perNode)
    expect(bytesReceived).toBe(bytesSent)
    await stopAll(networks)
  })
})

class FailingManager extends AbstractComponent implements ConnectionManager {
  readonly localId = idOf(7)
  readonly maxMessageSize = 1024
  readonly #events = new Emitter<ConnectionManagerEvents>()
  stopped = false
  on<E extends keyof ConnectionManagerEvents>(event: E, handler: ConnectionManagerEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }
  protected async onStart(): Promise<void> {
    throw new Error('cannot open the transport')
  }
  protected async onStop(): Promise<void> {
    this.stopped = true
  }
  async connect(): Promise<Connection> {
    throw new ConnectionFailedError('never')
  }
  connections(): Connection[] {
    return []
  }
}

describe('network lifecycle', () => {
  it('surfaces its connection manager’s failed start once at the root and stops', async () => {
    const manager = new FailingManager()
    const net = createNetwork({ connectionManager: manager })
    const root = createRootContext()
    const tree = new ComponentManager([net])
    tree.start(root)
    await expect(tree.ready()).rejects.toBeInstanceOf(Error)
    const err = await root.irrecoverable()
    expect(err.message).toBe('cannot open the transport')
    await net.done()
    await tree.done()
    expect(manager.stopped).toBe(true)
  })
})

describe('network before start', () => {
  it('fails a send on a network that was never started with ConnectionFailedError', async () => {
    const hub = new MemoryHub()
    const net = createNetwork({ connectionManager: hub.connectionManager(Identifier.random()) })
    const conduit = await net.register(Channels.Test, noop)
    await expect(conduit.send(idOf(2), msg('x'))).rejects.toBeInstanceOf(ConnectionFailedError)
  })
})
