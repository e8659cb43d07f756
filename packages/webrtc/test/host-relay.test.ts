import {
  ConnectionFailedError,
  createMultiplexer,
  createStaticDirectory,
  Identifier,
  MemoryHub,
  type Unsubscribe,
} from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { openSource, watchOpens } from '../src/host-opens.js'
import { HostSignalRelay } from '../src/host-relay.js'
import type { SignalRelay } from '../src/signaling.js'

/** A node's relay that reaches only `reachable` and records what it carried. */
class NodeRelay implements SignalRelay {
  readonly carried: string[] = []
  handler: ((bytes: Uint8Array) => void | Promise<void>) | undefined
  constructor(readonly reachable: ReadonlySet<string>) {}

  async relay(to: Identifier): Promise<void> {
    if (!this.reachable.has(to.toHex())) throw new ConnectionFailedError(`no route to ${to.toHex()}`)
    this.carried.push(to.toHex())
  }

  onDeliver(handler: (bytes: Uint8Array) => void | Promise<void>): Unsubscribe {
    this.handler = handler
    return () => {
      if (this.handler === handler) this.handler = undefined
    }
  }
}

describe('host signal relay', () => {
  const host = Identifier.random()
  const [n1, n2, n3] = [Identifier.random(), Identifier.random(), Identifier.random()]

  it("carries a host's signal to a node of the target host over the first local node relay that has a route", async () => {
    const relay = new HostSignalRelay((h) => (h.equals(host) ? [n1, n2] : []))
    const noRoute = new NodeRelay(new Set())
    const toN2 = new NodeRelay(new Set([n2.toHex()]))
    relay.add(Identifier.random(), noRoute)
    relay.add(Identifier.random(), toN2)
    await relay.relay(host, new Uint8Array([1]))
    expect(toN2.carried).toEqual([n2.toHex()])
  })

  it('fails with ConnectionFailedError when no node of the target host is known, or none can be reached', async () => {
    const relay = new HostSignalRelay((h) => (h.equals(host) ? [n3] : []))
    relay.add(Identifier.random(), new NodeRelay(new Set([n1.toHex()])))
    await expect(relay.relay(Identifier.random(), new Uint8Array([1]))).rejects.toBeInstanceOf(
      ConnectionFailedError,
    )
    await expect(relay.relay(host, new Uint8Array([1]))).rejects.toBeInstanceOf(ConnectionFailedError)
  })

  it('hands what any of its node relays delivers to its handler, also for a relay added later, until removed', async () => {
    const relay = new HostSignalRelay(() => [])
    const early = new NodeRelay(new Set())
    relay.add(Identifier.random(), early)
    const got: number[] = []
    const off = relay.onDeliver((bytes) => void got.push(bytes[0]!))
    const late = new NodeRelay(new Set())
    const removeLate = relay.add(Identifier.random(), late)
    await early.handler?.(new Uint8Array([1]))
    await late.handler?.(new Uint8Array([2]))
    expect(got).toEqual([1, 2])
    removeLate()
    expect(late.handler).toBeUndefined()
    off()
    expect(early.handler).toBeUndefined()
  })

  it('learns, from the opens a real multiplexer sends, which host each source node is on, before that host checks it', async () => {
    const hub = new MemoryHub()
    const [hostA, hostB] = [Identifier.random(), Identifier.random()]
    const directory = createStaticDirectory()
    const managerB = hub.connectionManager(hostB)
    const learned: string[] = []
    const stopWatching = watchOpens(managerB, (node, from) => {
      // the directory has not been asked yet: bound here, the multiplexer's check below finds it
      learned.push(`${node.toHex()}@${from.toHex()}`)
      directory.bind(node, from)
    })
    const muxA = createMultiplexer({ host: hub.connectionManager(hostA), directory })
    const muxB = createMultiplexer({ host: managerB, directory })
    try {
      muxA.start()
      muxB.start()
      await Promise.all([muxA.ready(), muxB.ready()])
      const a = muxA.node(Identifier.random())
      const b = muxB.node(Identifier.random())
      directory.bind(b.localId, hostB)
      a.start()
      b.start()
      await Promise.all([a.ready(), b.ready()])
      const conn = await a.connect(b.localId, { signal: AbortSignal.timeout(10_000) })
      expect(conn.remoteId.equals(b.localId)).toBe(true)
      expect(learned).toEqual([`${a.localId.toHex()}@${hostA.toHex()}`])
      expect(muxB.metrics().rejectedFrames).toBe(0)
      expect(openSource(new Uint8Array(65))).toBeUndefined()
    } finally {
      stopWatching()
      await Promise.all([muxA.stop(), muxB.stop()])
    }
  })
})
