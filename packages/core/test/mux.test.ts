import { describe, expect, it } from 'vitest'
import { createConnectionBudget } from '../src/budget/index.js'
import { Channel, channel } from '../src/channel.js'
import type { Connection, ConnectionManager } from '../src/connection.js'
import { createNetwork, type DefaultNetwork } from '../src/default-network.js'
import {
  ConnectionFailedError,
  DuplicatePeerError,
  InvalidOptionsError,
  PeerNotFoundError,
} from '../src/errors.js'
import { deferred } from '../src/internal/async.js'
import { Identifier } from '../src/identifier.js'
import { MemoryHub } from '../src/memory/hub.js'
import {
  createMultiplexer,
  createStaticDirectory,
  HostLinkClosedError,
  MUX_CHANNEL,
  type Multiplexer,
} from '../src/mux/index.js'
import { encodeControl, encodeData, FrameKind } from '../src/mux/frame.js'
import { decodeText, msg, RecordingProcessor, stopAll, text } from './helpers.js'
import { startHosts, startNode } from './mux-helpers.js'

const TIMEOUT = 10_000

/** Resolves with the next connection `manager` announces (subscribe before dialling). */
function nextConnection(manager: ConnectionManager): Promise<Connection> {
  return new Promise((resolve) => {
    const off = manager.on('connection', (c) => {
      off()
      resolve(c)
    })
  })
}

/** Resolves when every connection in `conns` has closed, with their close reasons. */
function allClosed(conns: Connection[]): Promise<Array<Error | undefined>> {
  return Promise.all(
    conns.map((c) =>
      c.status === 'closed'
        ? Promise.resolve(undefined)
        : new Promise<Error | undefined>((resolve) => c.on('close', resolve)),
    ),
  )
}

/** Resolves once `predicate` holds, checked after each macrotask; rejects when `signal` aborts. */
async function until(predicate: () => boolean, signal = AbortSignal.timeout(TIMEOUT)): Promise<void> {
  while (!predicate()) {
    signal.throwIfAborted()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

describe('multiplexer', () => {
  it('delivers between two nodes of one host in memory, without a host connection', async () => {
    const { hosts, directory } = await startHosts(1)
    const [host] = hosts
    const a = await startNode(host!, directory)
    const b = await startNode(host!, directory)
    try {
      const incoming = nextConnection(b)
      const ab = await a.connect(b.localId, { signal: AbortSignal.timeout(TIMEOUT) })
      const ba = await incoming
      const got: string[] = []
      const arrived = new Promise<void>((resolve) =>
        ba.on('message', (ch, bytes) => {
          got.push(`${ch}:${decodeText.decode(bytes)}`)
          if (got.length === 2) resolve()
        }),
      )
      const payload = text.encode('one')
      await ab.send(Channel.Test, payload)
      payload.fill(0) // copied on send
      await ab.send(Channel.Test, text.encode('two'))
      await arrived
      expect(got).toEqual(['test:one', 'test:two'])
      expect(host!.host.connections()).toHaveLength(0)
      expect(host!.metrics()).toMatchObject({ nodes: 2, hostLinks: 0, framesOut: 0 })
      expect(host!.metrics().virtualLinks).toMatchObject({ open: 2, local: 2, opened: 2 })
    } finally {
      await stopAll(hosts)
    }
  })

  it('carries every node pair of two hosts over exactly one host connection per host pair', async () => {
    const { hosts, directory } = await startHosts(3)
    const hostConnections = hosts.map(() => 0)
    for (const [i, h] of hosts.entries()) {
      h.host.on('connection', () => {
        hostConnections[i]!++
      })
    }
    const networks: DefaultNetwork[] = []
    const processors: RecordingProcessor[] = []
    try {
      for (const h of hosts) {
        for (let k = 0; k < 4; k++) {
          const id = Identifier.random()
          directory.bind(id, h.hostId)
          const n = createNetwork({ connectionManager: h.node(id) })
          networks.push(n)
        }
      }
      for (const n of networks) n.start()
      await Promise.all(networks.map((n) => n.ready()))
      const conduits = await Promise.all(
        networks.map((n) => {
          const p = new RecordingProcessor()
          processors.push(p)
          return n.register(Channel.Test, p)
        }),
      )
      const sends: Array<Promise<void>> = []
      for (const [i, c] of conduits.entries()) {
        for (const [j, n] of networks.entries()) {
          if (i !== j) sends.push(c.send(n.localId, msg(`${i}->${j}`)))
        }
      }
      await Promise.all(sends)
      await Promise.all(processors.map((p) => p.waitFor(networks.length - 1, AbortSignal.timeout(TIMEOUT))))
      for (const [j, p] of processors.entries()) {
        const expected = networks.map((_, i) => `${i}->${j}`).filter((_, i) => i !== j)
        expect(p.texts().sort()).toEqual(expected.sort())
      }
      // each host has one connection to each other host, and never made another
      for (const [i, h] of hosts.entries()) {
        expect(h.host.connections()).toHaveLength(hosts.length - 1)
        expect(hostConnections[i]).toBe(hosts.length - 1)
        expect(h.metrics().hostLinks).toBe(hosts.length - 1)
        // 4 nodes × 11 peers each, 3 of them local
        expect(h.metrics().virtualLinks).toMatchObject({ open: 44, local: 12 })
        expect(h.metrics().rejectedFrames).toBe(0)
      }
    } finally {
      await stopAll(networks)
      await stopAll(hosts)
    }
  })

  it('runs 4 hosts of 64 nodes each over 3 host connections per host', async () => {
    const { hosts, directory } = await startHosts(4)
    const networks: DefaultNetwork[] = []
    try {
      for (const h of hosts) {
        for (let k = 0; k < 64; k++) {
          const id = Identifier.random()
          directory.bind(id, h.hostId)
          networks.push(createNetwork({ connectionManager: h.node(id) }))
        }
      }
      for (const n of networks) n.start()
      await Promise.all(networks.map((n) => n.ready()))
      const processors = networks.map(() => new RecordingProcessor())
      const conduits = await Promise.all(networks.map((n, i) => n.register(Channel.Test, processors[i]!)))
      // each node sends to 8 others, picked by a fixed stride so every node also receives 8
      const expected = networks.map(() => 0)
      const sends: Array<Promise<void>> = []
      for (const [i, c] of conduits.entries()) {
        for (let k = 1; k <= 8; k++) {
          const j = (i + k * 37) % networks.length
          expected[j]!++
          sends.push(c.send(networks[j]!.localId, msg(`${i}`)))
        }
      }
      await Promise.all(sends)
      await Promise.all(processors.map((p, j) => p.waitFor(expected[j]!, AbortSignal.timeout(TIMEOUT))))
      for (const h of hosts) {
        expect(h.host.connections()).toHaveLength(3)
        expect(h.metrics()).toMatchObject({ nodes: 64, hostLinks: 3, rejectedFrames: 0 })
      }
    } finally {
      await stopAll(networks)
      await stopAll(hosts)
    }
  })

  it('answers requests between nodes of different hosts and of one host', async () => {
    const { hosts, directory } = await startHosts(2)
    const ids = [Identifier.random(), Identifier.random(), Identifier.random()]
    directory.bind(ids[0]!, hosts[0]!.hostId)
    directory.bind(ids[1]!, hosts[0]!.hostId)
    directory.bind(ids[2]!, hosts[1]!.hostId)
    const networks = [
      createNetwork({ connectionManager: hosts[0]!.node(ids[0]!) }),
      createNetwork({ connectionManager: hosts[0]!.node(ids[1]!) }),
      createNetwork({ connectionManager: hosts[1]!.node(ids[2]!) }),
    ]
    try {
      for (const n of networks) n.start()
      await Promise.all(networks.map((n) => n.ready()))
      const ch = channel('echo')
      const conduits = await Promise.all(
        networks.map((n) =>
          n.register(ch, {
            processIncomingMessage: () => {},
            processRequest: (_c, origin, m) =>
              msg(
                `${n.localId.toHex().slice(0, 4)} got ${decodeText.decode(m.payload)} from ${origin.toHex().slice(0, 4)}`,
              ),
          }),
        ),
      )
      const remote = await conduits[0]!.request(ids[2]!, msg('hi'), { timeoutMs: TIMEOUT })
      const local = await conduits[0]!.request(ids[1]!, msg('hey'), { timeoutMs: TIMEOUT })
      const back = await conduits[2]!.request(ids[1]!, msg('yo'), { timeoutMs: TIMEOUT })
      const short = (i: number): string => ids[i]!.toHex().slice(0, 4)
      expect(decodeText.decode(remote.payload)).toBe(`${short(2)} got hi from ${short(0)}`)
      expect(decodeText.decode(local.payload)).toBe(`${short(1)} got hey from ${short(0)}`)
      expect(decodeText.decode(back.payload)).toBe(`${short(1)} got yo from ${short(2)}`)
    } finally {
      await stopAll(networks)
      await stopAll(hosts)
    }
  })

  it('closes every virtual connection riding a host connection when that host connection fails', async () => {
    const { hub, hosts, directory } = await startHosts(2)
    const a1 = await startNode(hosts[0]!, directory)
    const a2 = await startNode(hosts[0]!, directory)
    const b1 = await startNode(hosts[1]!, directory)
    const b2 = await startNode(hosts[1]!, directory)
    try {
      const signal = AbortSignal.timeout(TIMEOUT)
      const remote = await Promise.all([
        a1.connect(b1.localId, { signal }),
        a1.connect(b2.localId, { signal }),
        a2.connect(b1.localId, { signal }),
        b2.connect(a2.localId, { signal }),
      ])
      const local = await a1.connect(a2.localId, { signal })
      const farSides = [...b1.connections(), ...b2.connections()]
      expect(farSides).toHaveLength(4)
      const closing = allClosed([...remote, ...farSides])
      hub.partition([hosts[0]!.hostId], [hosts[1]!.hostId])
      const reasons = await closing
      for (const r of reasons) expect(r).toBeInstanceOf(HostLinkClosedError)
      expect(local.status).toBe('open')
      expect(a1.connections()).toEqual([local])
      expect(hosts[0]!.metrics().hostLinks).toBe(0)
      // after the partition heals, nodes dial again over a new host connection
      hub.heal()
      const again = await a1.connect(b1.localId, { signal })
      expect(again.status).toBe('open')
      expect(hosts[0]!.host.connections()).toHaveLength(1)
    } finally {
      await stopAll(hosts)
    }
  })

  it('closes the virtual connections of a node that stops, and only those', async () => {
    const { hosts, directory } = await startHosts(2)
    const a = await startNode(hosts[0]!, directory)
    const b1 = await startNode(hosts[1]!, directory)
    const b2 = await startNode(hosts[1]!, directory)
    try {
      const signal = AbortSignal.timeout(TIMEOUT)
      const ab1 = await a.connect(b1.localId, { signal })
      const ab2 = await a.connect(b2.localId, { signal })
      const closed = allClosed([ab1])
      await b1.stop()
      expect(await closed).toEqual([undefined]) // a graceful remote close carries no reason
      expect(ab2.status).toBe('open')
      await expect(a.connect(b1.localId, { signal })).rejects.toBeInstanceOf(PeerNotFoundError)
    } finally {
      await stopAll(hosts)
    }
  })

  it('rejects frames whose source the directory does not bind to the sending host, or whose link rides another host connection', async () => {
    const { hub, hosts, directory } = await startHosts(2)
    const [h1, h2] = hosts
    const victim = await startNode(h1!, directory)
    const honest = await startNode(h2!, directory)
    const rogue = hub.connectionManager(Identifier.random())
    rogue.start()
    await rogue.ready()
    try {
      const signal = AbortSignal.timeout(TIMEOUT)
      // an honest link from h2's node to the victim
      const atVictim = nextConnection(victim)
      await honest.connect(victim.localId, { signal })
      const link = await atVictim
      const heard: string[] = []
      link.on('message', (_ch, bytes) => heard.push(decodeText.decode(bytes)))
      const announced: Connection[] = []
      victim.on('connection', (c) => announced.push(c))

      // the rogue host claims to be honest's node, and another node it is not bound to
      const toVictim = await rogue.connect(h1!.hostId, { signal })
      const stranger = Identifier.random()
      directory.bind(stranger, h2!.hostId)
      await toVictim.send(MUX_CHANNEL, encodeControl(FrameKind.Open, honest.localId, victim.localId))
      await toVictim.send(MUX_CHANNEL, encodeControl(FrameKind.Open, stranger, victim.localId))
      await toVictim.send(
        MUX_CHANNEL,
        encodeData(honest.localId, victim.localId, Channel.Test, text.encode('forged')),
      )
      await toVictim.send(MUX_CHANNEL, encodeControl(FrameKind.Close, honest.localId, victim.localId))
      // a destination not hosted there, and bytes that are no frame
      await toVictim.send(
        MUX_CHANNEL,
        encodeData(honest.localId, Identifier.random(), Channel.Test, text.encode('x')),
      )
      await toVictim.send(MUX_CHANNEL, new Uint8Array([9, 9, 9]))
      await until(() => h1!.metrics().rejectedFrames >= 6)

      // the honest link still works and never saw the forged bytes
      await honest.connections()[0]!.send(Channel.Test, text.encode('genuine'), { signal })
      await until(() => heard.length === 1)
      expect(heard).toEqual(['genuine'])
      expect(link.status).toBe('open')
      expect(announced).toEqual([])
      expect(h1!.metrics().rejectedFrames).toBe(6)
    } finally {
      await rogue.stop()
      await stopAll(hosts)
    }
  })

  it('closes the host connection of a host that floods frames while its open is being verified', async () => {
    const hub = new MemoryHub()
    const directory = createStaticDirectory()
    const verdict = deferred<Identifier>()
    const suspect = Identifier.random()
    const host = createMultiplexer({
      host: hub.connectionManager(Identifier.random()),
      directory: {
        resolve: (node, options) =>
          node.equals(suspect) ? verdict.promise : directory.resolve(node, options),
      },
      maxBacklog: 10,
    })
    host.start()
    await host.ready()
    const victim = await startNode(host, directory)
    const rogue = hub.connectionManager(Identifier.random())
    rogue.start()
    await rogue.ready()
    try {
      const link = await rogue.connect(host.hostId, { signal: AbortSignal.timeout(TIMEOUT) })
      const closed = new Promise<void>((resolve) => link.on('close', () => resolve()))
      await link.send(MUX_CHANNEL, encodeControl(FrameKind.Open, suspect, victim.localId))
      for (let i = 0; i < 11; i++) {
        await link.send(MUX_CHANNEL, encodeData(suspect, victim.localId, Channel.Test, text.encode(`${i}`)))
      }
      await closed
      expect(victim.connections()).toEqual([])
      verdict.resolve(rogue.localId) // too late: the link is gone
      expect(host.metrics().hostLinks).toBe(0)
    } finally {
      await rogue.stop()
      await host.stop()
    }
  })

  it('holds only the frames of a link whose open is being verified; other links of the host connection go on', async () => {
    const { hosts, directory } = await startHosts(2)
    const [h1, h2] = hosts as [Multiplexer, Multiplexer]
    const slow = await startNode(h2, directory)
    const quick = await startNode(h2, directory)
    const target = await startNode(h1, directory)
    // h1 asks the directory about `slow` and gets no answer until the test gives it
    const verdict = deferred<void>()
    const resolve = directory.resolve.bind(directory)
    directory.resolve = async (node, options) => {
      if (node.equals(slow.localId)) await verdict.promise
      return resolve(node, options)
    }
    try {
      const signal = AbortSignal.timeout(TIMEOUT)
      const slowDial = slow.connect(target.localId, { signal })
      const quickLink = await quick.connect(target.localId, { signal })
      const atTarget = target.connections().find((c) => c.remoteId.equals(quick.localId))!
      const got = new Promise<string>((r) =>
        atTarget.on('message', (_ch, bytes) => r(decodeText.decode(bytes))),
      )
      await quickLink.send(Channel.Test, text.encode('not held'), { signal })
      expect(await got).toBe('not held')
      expect(target.connections()).toHaveLength(1)
      verdict.resolve()
      expect((await slowDial).status).toBe('open')
      expect(target.connections()).toHaveLength(2)
    } finally {
      await stopAll(hosts)
    }
  })

  it('fails the close of a link whose remote never finishes the close handshake, within openTimeoutMs', async () => {
    const hub = new MemoryHub()
    const directory = createStaticDirectory()
    const host = createMultiplexer({
      host: hub.connectionManager(Identifier.random()),
      directory,
      openTimeoutMs: 300,
    })
    host.start()
    await host.ready()
    const victim = await startNode(host, directory)
    const rogue = hub.connectionManager(Identifier.random())
    rogue.start()
    await rogue.ready()
    const mute = Identifier.random()
    directory.bind(mute, rogue.localId)
    try {
      const link = await rogue.connect(host.hostId, { signal: AbortSignal.timeout(TIMEOUT) })
      const announced = nextConnection(victim)
      await link.send(MUX_CHANNEL, encodeControl(FrameKind.Open, mute, victim.localId))
      const conn = await announced
      const reasons = allClosed([conn])
      await conn.close({ signal: AbortSignal.timeout(TIMEOUT) })
      const [reason] = await reasons
      expect(reason).toBeInstanceOf(ConnectionFailedError)
      expect(conn.status).toBe('closed')
    } finally {
      await rogue.stop()
      await host.stop()
    }
  })

  it('fails a connect with PeerNotFoundError when the directory is stale and the host does not have the node', async () => {
    const { hosts, directory } = await startHosts(2)
    const a = await startNode(hosts[0]!, directory)
    const ghost = Identifier.random()
    directory.bind(ghost, hosts[1]!.hostId)
    try {
      await expect(a.connect(ghost, { signal: AbortSignal.timeout(TIMEOUT) })).rejects.toBeInstanceOf(
        PeerNotFoundError,
      )
      await expect(
        a.connect(Identifier.random(), { signal: AbortSignal.timeout(TIMEOUT) }),
      ).rejects.toBeInstanceOf(PeerNotFoundError)
    } finally {
      await stopAll(hosts)
    }
  })

  it('keeps node-level managers within a connection budget', async () => {
    const { hosts, directory } = await startHosts(2)
    const id = Identifier.random()
    directory.bind(id, hosts[0]!.hostId)
    const budget = createConnectionBudget(hosts[0]!.node(id), { maxConnections: 2, idleTimeoutMs: 0 })
    budget.start()
    await budget.ready()
    const peers = await Promise.all([0, 1, 2, 3].map(() => startNode(hosts[1]!, directory)))
    try {
      const signal = AbortSignal.timeout(TIMEOUT)
      for (const p of peers) await budget.connect(p.localId, { signal })
      await until(() => budget.connections().length <= 2)
      // the pruned links closed on the far side too, and the host connection stayed up
      await until(() => peers.reduce((n, p) => n + p.connections().length, 0) === 2)
      expect(budget.metrics().prunedOverBudget).toBe(2)
      expect(hosts[0]!.host.connections()).toHaveLength(1)
    } finally {
      await budget.stop()
      await stopAll(hosts)
    }
  })

  it('refuses bad options and a second live manager for one node id', async () => {
    const hub = new MemoryHub()
    const directory = createStaticDirectory()
    const host = hub.connectionManager(Identifier.random())
    expect(() => createMultiplexer({ host, directory: {} as never })).toThrow(InvalidOptionsError)
    expect(() => createMultiplexer({ host: undefined as never, directory })).toThrow(InvalidOptionsError)
    expect(() => createMultiplexer({ host, directory, openTimeoutMs: 0 })).toThrow(InvalidOptionsError)
    expect(() => createMultiplexer({ host, directory, maxBacklog: 1.5 })).toThrow(InvalidOptionsError)
    const mux = createMultiplexer({ host, directory })
    const id = Identifier.random()
    mux.node(id)
    expect(() => mux.node(id)).toThrow(DuplicatePeerError)
    await mux.stop()
  })
})
