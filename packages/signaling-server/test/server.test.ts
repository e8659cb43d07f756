import { Identifier } from '@skipmesh/core'
import { MemoryRegistry, type Registry } from '../src/registry.js'
import { describe, expect, it } from 'vitest'
import { bytesToHex, deferred } from '@skipmesh/core/internal'
import { challengeBytes } from '@skipmesh/signaling-protocol'
import { assertRelays, collect, connect, disconnected, joinAs, nextEvent, startServer } from './helpers.js'

describe('join and discovery', () => {
  it('lists the peers already in the room, sorted and without the joiner', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const c = await joinAs(server.url, 'lobby')
    expect(a.page.peers).toEqual([])
    expect(b.page.peers).toEqual([a.id])
    expect(c.page.peers).toEqual([a.id, b.id].sort())
    expect(c.page.nextCursor).toBeUndefined()
  })

  it('pages through a room larger than one page with list-peers', async () => {
    const server = await startServer({ pageSize: 3 })
    const others = []
    for (let i = 0; i < 7; i++) others.push(await joinAs(server.url, 'big'))
    const me = await joinAs(server.url, 'big')
    const seen = [...me.page.peers]
    expect(me.page.peers).toHaveLength(3)
    let cursor = me.page.nextCursor
    while (cursor !== undefined) {
      const res = await me.socket.timeout(5000).emitWithAck('list-peers', { cursor })
      if (!res.ok) throw new Error(res.error.code)
      expect(res.peers.length).toBeLessThanOrEqual(3)
      seen.push(...res.peers)
      cursor = res.nextCursor
    }
    expect(seen).toEqual(others.map((p) => p.id).sort())
  })

  it('returns the first page again from list-peers without a cursor', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const res = await b.socket.timeout(5000).emitWithAck('list-peers', {})
    expect(res).toEqual({ ok: true, peers: [a.id] })
  })

  it('announces peer-joined and peer-left to the others in the room', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const joined = nextEvent(a.socket, 'peer-joined')
    const b = await joinAs(server.url, 'lobby')
    expect(await joined).toEqual({ id: b.id })

    const leftByLeave = nextEvent(a.socket, 'peer-left')
    expect(await b.socket.timeout(5000).emitWithAck('leave', {})).toEqual({ ok: true })
    expect(await leftByLeave).toEqual({ id: b.id })

    const c = await joinAs(server.url, 'lobby')
    const leftByDisconnect = nextEvent(a.socket, 'peer-left')
    c.socket.disconnect()
    expect(await leftByDisconnect).toEqual({ id: c.id })
  })

  it('lets a socket join again after leave', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'one')
    await a.socket.timeout(5000).emitWithAck('leave', {})
    const again = await joinAs(server.url, 'two', { socket: a.socket, keys: a.keys, id: a.id })
    expect(again.page.peers).toEqual([])
  })

  it('refuses a second join on the same socket with already-joined', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const res = await a.socket
      .timeout(5000)
      .emitWithAck('join', { room: 'other', id: a.id, publicKey: bytesToHex(a.keys.publicKey) })
    expect(res.ok === false && res.error.code).toBe('already-joined')
  })

  it('refuses signal and list-peers before authentication with not-joined', async () => {
    const server = await startServer()
    const socket = await connect(server.url)
    const sig = await socket
      .timeout(5000)
      .emitWithAck('signal', { to: 'a'.repeat(64), session: 's', data: {} })
    expect(sig.ok === false && sig.error.code).toBe('not-joined')
    const list = await socket.timeout(5000).emitWithAck('list-peers', {})
    expect(list.ok === false && list.error.code).toBe('not-joined')
    const auth = await socket.timeout(5000).emitWithAck('authenticate', { signature: 'ab'.repeat(64) })
    expect(auth.ok === false && auth.error.code).toBe('not-joined')
  })

  it('refuses a signature made by another key with bad-signature', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const socket = await connect(server.url)
    const id = Identifier.random().toHex()
    const joined = await socket
      .timeout(5000)
      .emitWithAck('join', { room: 'lobby', id, publicKey: bytesToHex(a.keys.publicKey) })
    if (!joined.ok) throw new Error(joined.error.code)
    const other = await (await import('@skipmesh/core')).generateKeyPair()
    const signature = await other.sign(challengeBytes('lobby', id, joined.challenge))
    const auth = await socket.timeout(5000).emitWithAck('authenticate', { signature: bytesToHex(signature) })
    expect(auth.ok === false && auth.error.code).toBe('bad-signature')
  })

  it('refuses joins beyond maxPeersPerRoom with room-full', async () => {
    const server = await startServer({ maxPeersPerRoom: 2 })
    await joinAs(server.url, 'small')
    await joinAs(server.url, 'small')
    await expect(joinAs(server.url, 'small')).rejects.toMatchObject({ code: 'room-full' })
    await joinAs(server.url, 'other-room')
  })

  it('disconnects a socket that does not authenticate within authTimeoutMs', async () => {
    const server = await startServer({ authTimeoutMs: 200 })
    const socket = await connect(server.url)
    expect(await disconnected(socket)).toBe('io server disconnect')
  })
})

describe('relay', () => {
  it('relays signals both ways with from stamped from the authenticated identity', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const atB = nextEvent(b.socket, 'signal')
    expect(
      await a.socket
        .timeout(5000)
        .emitWithAck('signal', { to: b.id, session: 's1', data: { type: 'offer', sdp: 'v=0' } }),
    ).toEqual({ ok: true })
    expect(await atB).toEqual({ from: a.id, session: 's1', data: { type: 'offer', sdp: 'v=0' } })
    const atA = nextEvent(a.socket, 'signal')
    const candidate = {
      candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMLineIndex: 0, sdpMid: '0' },
    }
    await b.socket.timeout(5000).emitWithAck('signal', { to: a.id, session: 's1', data: candidate })
    expect(await atA).toEqual({ from: b.id, session: 's1', data: candidate })
  })

  it('keeps the order of the signals of one sender', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const received = collect(b.socket, 'signal')
    const last = nextEvent(b.socket, 'signal', (s) => s.data.n === 49)
    for (let n = 0; n < 50; n++) a.socket.emit('signal', { to: b.id, session: 's', data: { n } }, () => {})
    await last
    expect(received.map((s) => s.data.n)).toEqual([...Array(50).keys()])
  })

  it('relays and acknowledges a signal only after the request its socket sent before it, still running', async () => {
    // list-peers waits on the gate; the gate opens when the signal reaches the server (before its dispatch, so
    // without the ordering the signal would be relayed and acknowledged while list-peers still waits)
    const gate = deferred<void>()
    let gated = false
    class SlowList extends MemoryRegistry {
      override async list(room: string, options: { after?: string; limit: number; exclude?: string }) {
        if (gated) await gate.promise
        return super.list(room, options)
      }
    }
    const server = await startServer({ registry: new SlowList({ graceMs: 30_000 }) })
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    server.io
      .of('/')
      .sockets.get(a.socket.id ?? '')
      ?.onAny((event) => {
        if (event === 'signal') gate.resolve()
      })
    const order: string[] = []
    const atB = nextEvent(b.socket, 'signal')
    gated = true
    const listed = a.socket
      .timeout(5000)
      .emitWithAck('list-peers', {})
      .then((res) => order.push(`listed:${res.ok}`))
    const signalled = a.socket
      .timeout(5000)
      .emitWithAck('signal', { to: b.id, session: 's', data: { n: 1 } })
      .then((res) => order.push(`signalled:${res.ok}`))
    await Promise.all([listed, signalled])
    expect(order).toEqual(['listed:true', 'signalled:true'])
    expect(await atB).toEqual({ from: a.id, session: 's', data: { n: 1 } })
  })

  it('isolates rooms: a peer neither sees nor can signal a peer of another room', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'room-a')
    const aEvents = collect(a.socket, 'peer-joined')
    const b = await joinAs(server.url, 'room-b')
    expect(b.page.peers).toEqual([])
    const bSignals = collect(b.socket, 'signal')
    const res = await a.socket.timeout(5000).emitWithAck('signal', { to: b.id, session: 's', data: {} })
    expect(res.ok === false && res.error.code).toBe('unknown-peer')
    // a third peer in room-a proves events flow, and none of them came from room-b
    const a2 = await joinAs(server.url, 'room-a')
    await assertRelays(a2, a)
    expect(aEvents).toEqual([{ id: a2.id }])
    expect(bSignals).toEqual([])
  })
})

describe('housekeeping', () => {
  it('releases and announces a registration whose release was lost', async () => {
    // a store that loses the first release (as during a Redis outage)
    const store = new MemoryRegistry({ graceMs: 30_000 })
    let lose = true
    const registry: Registry = {
      claim: (c, max) => store.claim(c, max),
      owner: (room, id) => store.owner(room, id),
      isLive: (room, id) => store.isLive(room, id),
      list: (room, o) => store.list(room, o),
      count: (room) => store.count(room),
      heartbeat: () => store.heartbeat(),
      retire: (i) => store.retire(i),
      held: (i) => store.held(i),
      release: async (room, id, socketId) => {
        if (lose) {
          lose = false
          throw new Error('store unreachable')
        }
        return store.release(room, id, socketId)
      },
    }
    const server = await startServer({ registry, heartbeatIntervalMs: 20, reconcileIntervalMs: 20 })
    const watcher = await joinAs(server.url, 'lobby')
    const ghost = await joinAs(server.url, 'lobby')
    const left = nextEvent(watcher.socket, 'peer-left')
    ghost.socket.disconnect()
    expect(await left).toEqual({ id: ghost.id })
    const res = await watcher.socket.timeout(5000).emitWithAck('list-peers', {})
    expect(res).toEqual({ ok: true, peers: [] })
  })
})

describe('startup', () => {
  it('refuses out-of-range options with InvalidOptionsError', async () => {
    await expect(startServer({ pageSize: 1000 })).rejects.toMatchObject({ name: 'InvalidOptionsError' })
    await expect(startServer({ port: -1 })).rejects.toMatchObject({ name: 'InvalidOptionsError' })
    await expect(startServer({ heartbeatIntervalMs: 1000, instanceTtlMs: 500 })).rejects.toMatchObject({
      name: 'InvalidOptionsError',
    })
    await expect(startServer({ origins: ['not a url'] })).rejects.toMatchObject({
      name: 'InvalidOptionsError',
    })
  })

  it('fails with ListenError when the port is taken', async () => {
    const first = await startServer()
    await expect(startServer({ port: first.port })).rejects.toMatchObject({ name: 'ListenError' })
  })

  it('rejects with AbortError when aborted before it starts', async () => {
    await expect(startServer({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
  })
})
