import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Channel, channel, Channel as Channels } from '../src/channel.js'
import type { Connection } from '../src/connection.js'
import {
  ComponentNotStartedError,
  ConnectionFailedError,
  DuplicatePeerError,
  MessageTooLargeError,
  PeerNotFoundError,
} from '../src/errors.js'
import type { Identifier } from '../src/identifier.js'
import { type MemoryConnectionManager, MemoryHub, type MemoryHubOptions } from '../src/memory/hub.js'
import { idOf, msg, RecordingProcessor, startNetworks, stopAll } from './helpers.js'

const X = channel('x')
const Y = channel('y')

async function started(hub: MemoryHub, ...ids: Identifier[]): Promise<MemoryConnectionManager[]> {
  const managers = ids.map((id) => hub.connectionManager(id))
  for (const m of managers) m.start()
  await Promise.all(managers.map((m) => m.ready()))
  return managers
}

/** Connects a to b and returns both ends. */
async function link(
  a: MemoryConnectionManager,
  b: MemoryConnectionManager,
): Promise<[Connection, Connection]> {
  let incoming: Connection | undefined
  const off = b.on('connection', (c) => {
    if (c.remoteId.equals(a.localId)) incoming = c
  })
  const ab = await a.connect(b.localId)
  off()
  if (incoming === undefined) throw new Error('no incoming connection announced')
  return [ab, incoming]
}

function record(conn: Connection, into: string[], label = ''): void {
  conn.on('message', (ch, bytes) => into.push(`${label}${ch}:${bytes[0]}`))
}

afterEach(() => {
  vi.useRealTimers()
})

describe('memory hub latency', () => {
  /** Runs one scenario under fake timers; returns the arrival log with times relative to the start. */
  async function schedule(seed: number): Promise<string[]> {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const hub = new MemoryHub({ seed, latency: { min: 5, max: 50 } })
    const [a, b, c] = await started(hub, idOf(1), idOf(2), idOf(3))
    const t0 = Date.now()
    const log: string[] = []
    for (const m of [b!, c!]) {
      m.on('connection', (conn) =>
        conn.on('message', (ch, bytes) =>
          log.push(`${Date.now() - t0}ms ${m.localId.toHex().slice(-1)} ${ch}:${bytes[0]}`),
        ),
      )
    }
    const dials = Promise.all([a!.connect(idOf(2)), a!.connect(idOf(3))])
    await vi.runAllTimersAsync()
    const [ab, ac] = await dials
    for (let i = 0; i < 40; i++) {
      await (i % 2 === 0 ? ab : ac).send(i % 4 < 2 ? X : Y, Uint8Array.of(i))
    }
    await vi.runAllTimersAsync()
    await stopAll([a!, b!, c!])
    vi.useRealTimers()
    return log
  }

  it('draws latency from the seed: the same seed gives the same delivery schedule', async () => {
    const first = await schedule(42)
    const again = await schedule(42)
    const other = await schedule(43)
    expect(first).toHaveLength(40)
    expect(again).toEqual(first)
    expect(other).not.toEqual(first)
  })

  it('delays every message by at least the minimum latency and keeps per-channel order', async () => {
    const log = await schedule(7)
    const times = log.map((l) => Number.parseInt(l, 10))
    // connecting took one drawn latency too, so every arrival is at least min after t0
    expect(Math.min(...times)).toBeGreaterThanOrEqual(5)
    for (const node of ['2', '3']) {
      for (const ch of ['x', 'y']) {
        const seqs = log
          .map((l) => l.split(' '))
          .filter(([, n, m]) => n === node && m!.startsWith(`${ch}:`))
          .map(([, , m]) => Number(m!.split(':')[1]))
        expect(seqs).toEqual([...seqs].sort((p, q) => p - q))
        expect(seqs).toHaveLength(10)
      }
    }
    // the latency is random: arrivals across channels are not simply in send order
    const all = log.map((l) => Number(l.split(':')[1]))
    expect(all).not.toEqual([...all].sort((p, q) => p - q))
  })
})

describe('memory hub drops', () => {
  async function survivors(options: MemoryHubOptions): Promise<number[]> {
    const hub = new MemoryHub({ manual: true, ...options })
    const [a, b] = await started(hub, idOf(1), idOf(2))
    const [ab, ba] = await link(a!, b!)
    const got: number[] = []
    ba.on('message', (_ch, bytes) => got.push(new DataView(bytes.buffer, bytes.byteOffset).getUint16(0)))
    for (let i = 0; i < 1000; i++) {
      const bytes = new Uint8Array(2)
      new DataView(bytes.buffer).setUint16(0, i)
      await ab.send(X, bytes)
    }
    const delivered = await hub.deliverAll()
    expect(delivered).toBe(got.length)
    await stopAll([a!, b!])
    return got
  }

  it('silently loses about dropRate of the messages, deterministically per seed, keeping order', async () => {
    const first = await survivors({ seed: 9, dropRate: 0.3 })
    expect(first.length).toBeGreaterThan(620)
    expect(first.length).toBeLessThan(780)
    expect(first).toEqual([...first].sort((p, q) => p - q))
    expect(await survivors({ seed: 9, dropRate: 0.3 })).toEqual(first)
    expect(await survivors({ seed: 10, dropRate: 0.3 })).not.toEqual(first)
    expect(await survivors({ seed: 9 })).toHaveLength(1000)
  })

  it('changes the loss rate while running with setDropRate, and refuses a rate outside [0, 1]', async () => {
    const hub = new MemoryHub({ manual: true, dropRate: 1 })
    const [a, b] = await started(hub, idOf(1), idOf(2))
    const [ab, ba] = await link(a!, b!)
    let got = 0
    ba.on('message', () => got++)
    for (let i = 0; i < 100; i++) await ab.send(X, new Uint8Array(1))
    expect(await hub.deliverAll()).toBe(0)
    hub.setDropRate(0)
    for (let i = 0; i < 100; i++) await ab.send(X, new Uint8Array(1))
    expect(await hub.deliverAll()).toBe(100)
    expect(got).toBe(100)
    expect(() => hub.setDropRate(1.5)).toThrow(RangeError)
    expect(() => hub.setDropRate(Number.NaN)).toThrow(RangeError)
    await stopAll([a!, b!])
  })
})

describe('memory hub partitions', () => {
  it('closes connections across a partition, refuses connects across it, and heals', async () => {
    const hub = new MemoryHub()
    const [a, b, c] = await started(hub, idOf(1), idOf(2), idOf(3))
    const [ab, ba] = await link(a!, b!)
    const [ac] = await link(a!, c!)
    const reasons: Array<Error | undefined> = []
    ab.on('close', (r) => reasons.push(r))
    ba.on('close', (r) => reasons.push(r))
    hub.partition([idOf(1)], [idOf(2)])
    expect(reasons).toHaveLength(2)
    expect(reasons.every((r) => r instanceof ConnectionFailedError)).toBe(true)
    expect(ab.status).toBe('closed')
    expect(ac.status).toBe('open')
    const fromA = await a!.connect(idOf(2)).catch((e: unknown) => e)
    const fromB = await b!.connect(idOf(1)).catch((e: unknown) => e)
    for (const err of [fromA, fromB]) {
      expect(err).toBeInstanceOf(ConnectionFailedError)
      expect(err).not.toBeInstanceOf(PeerNotFoundError)
    }
    expect((await b!.connect(idOf(3))).status).toBe('open') // b–c is not partitioned
    hub.heal()
    const [ab2, ba2] = await link(a!, b!)
    const got: string[] = []
    record(ba2, got)
    const arrived = new Promise<void>((resolve) => ba2.on('message', () => resolve()))
    await ab2.send(X, Uint8Array.of(1))
    await arrived
    expect(got).toEqual(['x:1'])
    await stopAll([a!, b!, c!])
  })

  it('makes conduit sends across a partition fail with ConnectionFailedError', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    await b!.register(Channels.Test, { processIncomingMessage: () => {} })
    const conduit = await a!.register(Channels.Test, { processIncomingMessage: () => {} })
    hub.partition([idOf(2)], [idOf(1)])
    await expect(conduit.send(idOf(2), msg('x'))).rejects.toBeInstanceOf(ConnectionFailedError)
    hub.heal()
    await conduit.send(idOf(2), msg('x'))
    await stopAll([a!, b!])
  })
})

describe('memory hub manual delivery', () => {
  it('delivers nothing until asked', async () => {
    const hub = new MemoryHub({ manual: true })
    const [a, b] = await started(hub, idOf(1), idOf(2))
    const [ab, ba] = await link(a!, b!)
    const got: string[] = []
    record(ba, got)
    await ab.send(X, Uint8Array.of(1))
    await ab.send(Y, Uint8Array.of(2))
    expect(hub.pendingCount).toBe(2)
    expect(hub.deliverSome(() => false)).toBe(0)
    expect(got).toEqual([])
    expect(await hub.deliverAll()).toBe(2)
    expect(got).toEqual(['x:1', 'y:2'])
    expect(hub.pendingCount).toBe(0)
    await stopAll([a!, b!])
  })

  it('deliverSome delivers matching messages in order and never one before an earlier one on its channel', async () => {
    const hub = new MemoryHub({ manual: true })
    const [a, b] = await started(hub, idOf(1), idOf(2))
    const [ab, ba] = await link(a!, b!)
    const got: string[] = []
    record(ba, got)
    for (const [ch, n] of [
      [X, 1],
      [Y, 2],
      [X, 3],
      [Y, 4],
      [X, 5],
    ] as Array<[Channel, number]>) {
      await ab.send(ch, Uint8Array.of(n))
    }
    expect(hub.deliverSome((m) => m.channel === Y)).toBe(2)
    expect(got).toEqual(['y:2', 'y:4'])
    // x:3 is held back by the undelivered x:1
    expect(hub.deliverSome((m) => m.bytes[0] === 3)).toBe(0)
    expect(hub.deliverSome((m) => m.bytes[0] === 1 || m.bytes[0] === 3)).toBe(2)
    expect(got).toEqual(['y:2', 'y:4', 'x:1', 'x:3'])
    const seen: Array<[string, string, string]> = []
    expect(
      hub.deliverSome((m) => {
        seen.push([m.from.toHex().slice(-1), m.to.toHex().slice(-1), m.channel])
        return true
      }),
    ).toBe(1)
    expect(seen).toEqual([['1', '2', 'x']])
    expect(got).toEqual(['y:2', 'y:4', 'x:1', 'x:3', 'x:5'])
    await stopAll([a!, b!])
  })

  it('deliverAll keeps delivering what processors send during delivery until quiescent', async () => {
    const hub = new MemoryHub({ manual: true })
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const hops: string[] = []
    const bounce = (self: typeof a, other: Identifier) => {
      let conduit: Awaited<ReturnType<NonNullable<typeof a>['register']>> | undefined
      return {
        async init() {
          conduit = await self!.register(Channels.Test, {
            processIncomingMessage: async (_c, _o, m) => {
              const n = Number(new TextDecoder().decode(m.payload))
              hops.push(`${self!.localId.toHex().slice(-1)}<-${n}`)
              if (n < 6) await conduit!.send(other, msg(String(n + 1)))
            },
          })
          return conduit
        },
      }
    }
    const ca = await bounce(a, idOf(2)).init()
    await bounce(b, idOf(1)).init()
    await ca.send(idOf(2), msg('1'))
    expect(hops).toEqual([])
    expect(await hub.deliverAll()).toBe(6)
    expect(hops).toEqual(['2<-1', '1<-2', '2<-3', '1<-4', '2<-5', '1<-6'])
    await stopAll([a!, b!])
  })

  it('replays the same interleaving for the same sends and predicates', async () => {
    async function run(): Promise<string[]> {
      const hub = new MemoryHub({ manual: true })
      const [a, b, c] = await started(hub, idOf(1), idOf(2), idOf(3))
      const [ab, ba] = await link(a!, b!)
      const [cb, bc] = await link(c!, b!)
      const got: string[] = []
      record(ba, got, 'a>')
      record(bc, got, 'c>')
      for (let i = 0; i < 12; i++) await (i % 3 === 0 ? cb : ab).send(i % 2 === 0 ? X : Y, Uint8Array.of(i))
      hub.deliverSome((m) => m.from.equals(idOf(3)))
      hub.deliverSome((m) => m.bytes[0]! % 4 === 1)
      await hub.deliverAll()
      await stopAll([a!, b!, c!])
      return got
    }
    const first = await run()
    expect(first).toHaveLength(12)
    expect(await run()).toEqual(first)
  })

  it('copies sent bytes, so the sender may reuse its buffer', async () => {
    const hub = new MemoryHub({ manual: true })
    const [a, b] = await started(hub, idOf(1), idOf(2))
    const [ab, ba] = await link(a!, b!)
    const got: string[] = []
    record(ba, got)
    const buffer = Uint8Array.of(7)
    await ab.send(X, buffer)
    buffer[0] = 9
    await hub.deliverAll()
    expect(got).toEqual(['x:7'])
    await stopAll([a!, b!])
  })
})

describe('memory connection managers', () => {
  it('closes both sides exactly once when a manager stops, and the stopped peer becomes unknown', async () => {
    const hub = new MemoryHub()
    const [a, b] = await started(hub, idOf(1), idOf(2))
    const [ab, ba] = await link(a!, b!)
    let closes = 0
    ab.on('close', () => closes++)
    ba.on('close', () => closes++)
    await a!.stop()
    await a!.stop()
    expect(closes).toBe(2)
    expect(b!.connections()).toHaveLength(0)
    await expect(b!.connect(idOf(1))).rejects.toBeInstanceOf(PeerNotFoundError)
    await expect(a!.connect(idOf(2))).rejects.toBeInstanceOf(ComponentNotStartedError)
    await b!.stop()
  })

  it('delivers what was already sent before a graceful close', async () => {
    const hub = new MemoryHub({ latency: 20 })
    const [a, b] = await started(hub, idOf(1), idOf(2))
    const [ab, ba] = await link(a!, b!)
    const events: string[] = []
    record(ba, events)
    ba.on('close', () => events.push('close'))
    await ab.send(X, Uint8Array.of(1))
    await ab.send(Y, Uint8Array.of(2))
    await ab.close()
    expect(events).toEqual(['x:1', 'y:2', 'close'])
    await stopAll([a!, b!])
  })

  it('refuses a second live manager for one identifier, but allows one after the first stopped', async () => {
    const hub = new MemoryHub()
    const first = hub.connectionManager(idOf(1))
    expect(() => hub.connectionManager(idOf(1))).toThrow(DuplicatePeerError)
    await first.stop()
    expect(hub.connectionManager(idOf(1)).localId.equals(idOf(1))).toBe(true)
  })

  it('rejects connecting to itself, before start, and oversize sends with typed errors', async () => {
    const hub = new MemoryHub({ maxMessageSize: 10 })
    const idle = hub.connectionManager(idOf(5))
    await expect(idle.connect(idOf(1))).rejects.toBeInstanceOf(ComponentNotStartedError)
    const [a, b] = await started(hub, idOf(1), idOf(2))
    await expect(a!.connect(idOf(1))).rejects.toBeInstanceOf(ConnectionFailedError)
    const ab = await a!.connect(idOf(2))
    await expect(ab.send(X, new Uint8Array(11))).rejects.toBeInstanceOf(MessageTooLargeError)
    await ab.send(X, new Uint8Array(10))
    expect(a!.maxMessageSize).toBe(10)
    await stopAll([a!, b!])
  })

  it('defaults maxMessageSize to 16 MiB + 64 KiB', () => {
    expect(new MemoryHub().connectionManager(idOf(1)).maxMessageSize).toBe(16 * 1024 * 1024 + 64 * 1024)
  })

  it('keeps hubs independent: a peer on one hub is unknown on another', async () => {
    const [one, two] = [new MemoryHub(), new MemoryHub()]
    const [a] = await started(one, idOf(1))
    const [b] = await started(two, idOf(2))
    await expect(a!.connect(idOf(2))).rejects.toBeInstanceOf(PeerNotFoundError)
    await stopAll([a!, b!])
  })

  it('shares one dial between concurrent connects from both sides under latency', async () => {
    const hub = new MemoryHub({ latency: { min: 1, max: 5 }, seed: 5 })
    const [a, b] = await started(hub, idOf(1), idOf(2))
    const announced: Connection[] = []
    a!.on('connection', (c) => announced.push(c))
    b!.on('connection', (c) => announced.push(c))
    const [x, y, z] = await Promise.all([a!.connect(idOf(2)), b!.connect(idOf(1)), a!.connect(idOf(2))])
    expect(x).toBe(z)
    expect(announced).toHaveLength(2)
    expect(announced).toContain(x)
    expect(announced).toContain(y)
    await stopAll([a!, b!])
  })
})

describe('RecordingProcessor helper', () => {
  it('rejects its wait when the signal aborts first', async () => {
    const p = new RecordingProcessor()
    await expect(p.waitFor(1, AbortSignal.abort())).rejects.toThrow()
  })
})
