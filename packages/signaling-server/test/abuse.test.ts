import { generateKeyPair, Identifier } from '@skipmesh/core'
import { describe, expect, it, vi } from 'vitest'
import { WebSocket } from 'ws'
import { bytesToHex } from '@skipmesh/core/internal'
import type { ClientToServerEvents } from '@skipmesh/signaling-protocol'
import {
  assertRelays,
  collect,
  connect,
  disconnected,
  joinAs,
  nextEvent,
  type Peer,
  startServer,
} from './helpers.js'

describe('identity', () => {
  it('ignores a client-supplied from and stamps the authenticated id', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const c = await joinAs(server.url, 'lobby')
    const got = nextEvent(b.socket, 'signal')
    const spoofed = { to: b.id, from: c.id, session: 's', data: { type: 'offer', sdp: 'x' } }
    expect(await a.socket.timeout(5000).emitWithAck('signal', spoofed)).toEqual({ ok: true })
    expect((await got).from).toBe(a.id)
  })

  it('refuses signals to an unknown id, to itself and to a peer of another room', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const foreign = await joinAs(server.url, 'elsewhere')
    const foreignSignals = collect(foreign.socket, 'signal')
    for (const to of [Identifier.random().toHex(), a.id, foreign.id]) {
      const res = await a.socket.timeout(5000).emitWithAck('signal', { to, session: 's', data: {} })
      expect(res.ok === false && res.error.code).toBe('unknown-peer')
    }
    const b = await joinAs(server.url, 'lobby')
    await assertRelays(a, b)
    expect(foreignSignals).toEqual([])
  })

  it('refuses to let another key claim a registered id', async () => {
    const server = await startServer()
    const owner = await joinAs(server.url, 'lobby')
    await expect(joinAs(server.url, 'lobby', { id: owner.id })).rejects.toMatchObject({ code: 'id-taken' })
    const b = await joinAs(server.url, 'lobby')
    await assertRelays(b, owner)
  })

  it('lets the same key replace a stale socket, which is disconnected, and re-announces the peer', async () => {
    const server = await startServer()
    const watcher = await joinAs(server.url, 'lobby')
    const first = await joinAs(server.url, 'lobby')
    const events: string[] = []
    watcher.socket.on('peer-left', ({ id }) => id === first.id && events.push('left'))
    watcher.socket.on('peer-joined', ({ id }) => id === first.id && events.push('joined'))
    const rejoined = nextEvent(watcher.socket, 'peer-joined', ({ id }) => id === first.id)
    const oldGone = disconnected(first.socket)
    const second = await joinAs(server.url, 'lobby', { id: first.id, keys: first.keys })
    expect(await oldGone).toBe('io server disconnect')
    await rejoined
    expect(events).toEqual(['left', 'joined'])
    await assertRelays(watcher, second)
  })

  it('keeps an id for its key during the grace period after a disconnect', async () => {
    const server = await startServer({ graceMs: 60_000 })
    const watcher = await joinAs(server.url, 'lobby')
    const owner = await joinAs(server.url, 'lobby')
    const left = nextEvent(watcher.socket, 'peer-left')
    owner.socket.disconnect()
    await left
    await expect(joinAs(server.url, 'lobby', { id: owner.id })).rejects.toMatchObject({ code: 'id-taken' })
    const back = await joinAs(server.url, 'lobby', { id: owner.id, keys: owner.keys })
    expect(back.page.peers).toEqual([watcher.id])
  })
})

const ID = 'a'.repeat(64)
const huge = 'x'.repeat(50_000)
function nested(depth: number): unknown {
  let x: unknown = { leaf: 1 }
  for (let i = 0; i < depth; i++) x = { x }
  return x
}

const malformed: Record<keyof ClientToServerEvents, unknown[]> = {
  join: [
    undefined,
    null,
    42,
    'room',
    [],
    {},
    { room: 'lobby', id: ID },
    { room: 42, id: ID, publicKey: ID },
    { room: 'bad room!', id: ID, publicKey: ID },
    { room: huge, id: ID, publicKey: ID },
    { room: 'lobby', id: ID.toUpperCase(), publicKey: ID },
    { room: 'lobby', id: `${ID}00`, publicKey: ID },
    { room: 'lobby', id: ID, publicKey: { nested: nested(50) } },
    { room: ['lobby'], id: ID, publicKey: ID },
    Buffer.from('binary'),
    { room: Buffer.from('lobby'), id: ID, publicKey: ID },
  ],
  authenticate: [
    undefined,
    null,
    7,
    'sig',
    [],
    {},
    { signature: 'zz' },
    { signature: huge },
    { signature: nested(30) },
    Buffer.alloc(64),
    { signature: Buffer.alloc(64) },
  ],
  'list-peers': [
    null,
    7,
    'x',
    [1],
    { cursor: 'nope' },
    { cursor: huge },
    { cursor: nested(30) },
    Buffer.alloc(8),
  ],
  signal: [
    undefined,
    null,
    1,
    'signal',
    [],
    {},
    { to: ID, session: 's' },
    { to: ID, data: {} },
    { to: 1, session: 's', data: {} },
    { to: ID, session: '', data: {} },
    { to: ID, session: huge, data: {} },
    { to: ID, session: 's', data: 'sdp' },
    { to: ID, session: 's', data: [1, 2] },
    { to: ID, session: 's', data: null },
    { to: ID, session: 's', data: nested(50) },
    { to: ID, session: 's', data: { blob: Buffer.alloc(16) } },
    { to: ID, session: 's', data: { a: huge, b: huge.slice(0, 12_000) } },
    Buffer.from('x'),
  ],
  leave: [null, 3, 'bye', [1], Buffer.from('x')],
  'add-identity': [
    undefined,
    null,
    {},
    { id: ID },
    { id: 'nope', publicKey: ID },
    { id: ID, publicKey: huge },
    { id: ID, publicKey: Buffer.alloc(32) },
    Buffer.from('x'),
  ],
  'prove-identity': [
    undefined,
    null,
    { id: ID },
    { id: ID, signature: 'zz' },
    { id: nested(30), signature: ID + ID },
    Buffer.alloc(64),
  ],
  'remove-identity': [undefined, null, {}, { id: 7 }, { id: huge }, Buffer.from('x')],
  resolve: [undefined, null, {}, { ids: [] }, { ids: [ID.toUpperCase()] }, { ids: ID }, Buffer.from('x')],
  'ice-servers': [null, 3, 'x', [1], Buffer.from('x')],
}

describe('malformed input', () => {
  it.each(Object.keys(malformed) as (keyof ClientToServerEvents)[])(
    'answers every malformed %s payload with invalid-payload and keeps serving others',
    async (event) => {
      const server = await startServer({ rateLimit: { points: 1000 } })
      const a = await joinAs(server.url, 'lobby')
      const b = await joinAs(server.url, 'lobby')
      const attacker = await joinAs(server.url, 'lobby')
      const fresh = await connect(server.url)
      for (const payload of malformed[event]) {
        // authenticated socket for signal/list-peers/leave, an unjoined one for join/authenticate
        const socket = event === 'join' || event === 'authenticate' ? fresh : attacker.socket
        const emit = socket.timeout(5000).emitWithAck as (ev: string, ...args: unknown[]) => Promise<unknown>
        const res = (await (payload === undefined
          ? emit.call(socket, event)
          : emit.call(socket, event, payload))) as {
          ok: boolean
          error?: { code: string }
        }
        expect({ payload: String(payload).slice(0, 40), code: res.error?.code }).toEqual({
          payload: String(payload).slice(0, 40),
          code: 'invalid-payload',
        })
      }
      // too many arguments, and an unknown event
      const emit = attacker.socket.timeout(5000).emitWithAck as (
        ev: string,
        ...args: unknown[]
      ) => Promise<unknown>
      expect(await emit.call(attacker.socket, event, {}, {})).toMatchObject({
        ok: false,
        error: { code: 'invalid-payload' },
      })
      expect(await emit.call(attacker.socket, 'no-such-event', {})).toMatchObject({
        ok: false,
        error: { code: 'invalid-payload' },
      })
      await assertRelays(a, b)
      await assertRelays(b, a)
    },
  )

  it('survives events without an ack callback', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const send = a.socket.emit as (ev: string, ...args: unknown[]) => unknown
    send.call(a.socket, 'signal', { to: b.id, session: 'no-ack', data: {} })
    send.call(a.socket, 'signal', 'junk')
    send.call(a.socket, 'join', { room: 'x' })
    send.call(a.socket, 'leave')
    send.call(a.socket, 'unknown')
    const c = await joinAs(server.url, 'lobby')
    await assertRelays(c, b)
  })

  it('closes a connection that sends malformed Socket.IO packets and keeps serving others', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const wsUrl = `${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`
    const outcomes: string[] = []
    for (const garbage of [
      '42[',
      '42{"join":1}',
      '4zzz',
      '451-["join",{"_placeholder":true,"num":99}]',
      '9',
      '',
    ]) {
      const ws = new WebSocket(wsUrl)
      const outcome = new Promise<string>((resolve) => {
        ws.once('close', () => resolve('closed'))
        // the ack of our well-formed probe (id 0): the server ignored the garbage and still answers correctly
        ws.on('message', (m) => {
          const text = String(m)
          if (text.startsWith('430'))
            resolve(text.includes('"code":"invalid-payload"') ? 'answered' : `bad ${text}`)
        })
      })
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve())
        ws.once('error', reject)
      })
      ws.send('40')
      ws.send(garbage)
      ws.send('420["join",{"room":"lobby"}]')
      outcomes.push(await outcome)
      ws.close()
    }
    expect(outcomes.every((o) => o === 'closed' || o === 'answered')).toBe(true)
    expect(outcomes).toContain('closed')
    await assertRelays(a, b)
  })

  it('drops a connection that stops answering pings', async () => {
    const server = await startServer({ pingIntervalMs: 50, pingTimeoutMs: 50 })
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`)
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
    ws.once('open', () => ws.send('40')) // connect, then never answer the server's pings
    await closed
    expect(await server.metrics()).toMatch(/^skipmesh_signal_connected_sockets 0$/m)
  })

  it('closes the socket of an oversize packet and keeps serving others', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const gone = disconnected(a.socket)
    a.socket.emit('signal', { to: b.id, session: 's', data: { sdp: 'x'.repeat(100_000) } }, () => {})
    expect(await gone).toBe('transport close')
    const c = await joinAs(server.url, 'lobby')
    await assertRelays(c, b)
  })
})

describe('flooding', () => {
  it('refuses requests beyond the budget with rate-limited and relays the ones within it', async () => {
    const server = await startServer({ rateLimit: { points: 8, strikes: 100 } })
    const a = await joinAs(server.url, 'lobby') // 2 points: join, authenticate
    const b = await joinAs(server.url, 'lobby')
    const received = collect(b.socket, 'signal')
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, n) =>
        a.socket.timeout(5000).emitWithAck('signal', { to: b.id, session: 's', data: { n } }),
      ),
    )
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual([
      ...Array<string>(6).fill('ok'),
      ...Array<string>(4).fill('rate-limited'),
    ])
    await assertRelays(b, a)
    expect(received.map((s) => s.data.n)).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('throttles a socket that floods 10,000 signals, then disconnects it; others are unaffected', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const flooder = await joinAs(server.url, 'lobby')
    const received = collect(a.socket, 'signal')
    const codes = new Map<string, number>()
    const gone = disconnected(flooder.socket, 20_000)
    for (let i = 0; i < 10_000; i++) {
      flooder.socket.emit('signal', { to: a.id, session: 'flood', data: { i } }, (res) => {
        const code = res.ok ? 'ok' : res.error.code
        codes.set(code, (codes.get(code) ?? 0) + 1)
      })
    }
    expect(await gone).toBe('io server disconnect')
    expect(codes.get('rate-limited') ?? 0).toBeGreaterThan(0)
    // default budget: 200 per second, 50 refusals: far fewer than 10,000 got through
    expect(codes.get('ok') ?? 0).toBeLessThanOrEqual(400)
    await assertRelays(b, a)
    expect(received.filter((s) => s.from === flooder.id).length).toBe(codes.get('ok') ?? 0)
    const metrics = await server.metrics()
    expect(metrics).toMatch(/skipmesh_signal_rejections_total\{reason="flood-disconnect"\} 1/)
  })
})

describe('replies are paid by the peer that opened the session (issue 13, attack 9)', () => {
  /** A long window: the budget does not refill during the test, whatever the load. */
  const rateLimit = { points: 50, durationMs: 60_000, strikes: 1_000 }

  /** Sends `signal`s one after the other from `peer`; resolves with each ack's code ('ok' when relayed). */
  async function send(peer: Peer, signals: Array<{ to: string; session: string }>): Promise<string[]> {
    const codes: string[] = []
    for (const { to, session } of signals) {
      const res = await peer.socket.timeout(5000).emitWithAck('signal', { to, session, data: { type: 'x' } })
      codes.push(res.ok ? 'ok' : res.error.code)
    }
    return codes
  }

  it('lets a victim answer a flood of offers and keep signalling an honest peer; the flooder is refused and counted', async () => {
    const server = await startServer({ rateLimit })
    const attacker = await joinAs(server.url, 'lobby') // 2 points: join, authenticate
    const victim = await joinAs(server.url, 'lobby')
    const honest = await joinAs(server.url, 'lobby')
    // the victim answers every offer with two signals (a description and a candidate batch)
    const replies: Array<Promise<string[]>> = []
    victim.socket.on('signal', ({ from, session }) => {
      if (from === attacker.id)
        replies.push(
          send(victim, [
            { to: from, session },
            { to: from, session },
          ]),
        )
    })
    const flood = 200
    const codes = await Promise.all(
      Array.from({ length: flood }, (_, i) =>
        attacker.socket
          .timeout(10_000)
          .emitWithAck('signal', { to: victim.id, session: `offer-${i}`, data: { type: 'offer' } })
          .then((res) => (res.ok ? 'ok' : res.error.code)),
      ),
    )
    const relayed = rateLimit.points - 2
    expect(codes.filter((c) => c === 'ok').length).toBe(relayed)
    expect(codes.filter((c) => c === 'rate-limited').length).toBe(flood - relayed)
    // every offer relayed was answered, and no answer was refused
    await vi.waitFor(() => expect(replies.length).toBe(relayed), { timeout: 10_000 })
    expect((await Promise.all(replies)).flat()).toEqual(Array<string>(2 * relayed).fill('ok'))
    // the victim's own budget is untouched: all of it is left for honest peers
    const toHonest = Array.from({ length: relayed + 1 }, (_, i) => ({ to: honest.id, session: `h-${i}` }))
    expect(await send(victim, toHonest)).toEqual([...Array<string>(relayed).fill('ok'), 'rate-limited'])
    await assertRelays(honest, victim)
    expect(await server.metrics()).toMatch(
      new RegExp(`skipmesh_signal_rejections_total\\{reason="rate-limited"\\} ${flood - relayed + 1}\\b`),
    )
  })

  it('charges replies beyond the credit, to another peer, or under a session nobody opened, to the sender', async () => {
    const server = await startServer({ rateLimit })
    const opener = await joinAs(server.url, 'lobby')
    const replier = await joinAs(server.url, 'lobby')
    const other = await joinAs(server.url, 'lobby')
    // one signal under session a: two replies are free, the third costs a point
    const gotA = nextEvent(replier.socket, 'signal', (s) => s.session === 'a')
    expect(await send(opener, [{ to: replier.id, session: 'a' }])).toEqual(['ok'])
    await gotA
    // ten signals under session b: the credit is capped at 16 replies, the 17th costs a point
    const gotB = new Promise<void>((resolve) => {
      let n = 0
      replier.socket.on('signal', ({ session }) => session === 'b' && ++n === 10 && resolve())
    })
    expect(await send(opener, Array(10).fill({ to: replier.id, session: 'b' }))).toEqual(Array(10).fill('ok'))
    await gotB
    const charged = [
      ...Array(3).fill({ to: opener.id, session: 'a' }),
      ...Array(17).fill({ to: opener.id, session: 'b' }),
      { to: opener.id, session: 'nobody-opened' },
      { to: other.id, session: 'a' },
    ]
    expect(await send(replier, charged)).toEqual(Array(charged.length).fill('ok'))
    // 2 points for joining, 4 charged above: 44 left
    const left = rateLimit.points - 2 - 4
    const rest = Array.from({ length: left + 1 }, (_, i) => ({ to: other.id, session: `r-${i}` }))
    expect(await send(replier, rest)).toEqual([...Array<string>(left).fill('ok'), 'rate-limited'])
  })
})

describe('origin allow-list', () => {
  it.each(['polling', 'websocket'] as const)(
    'refuses a foreign Origin over %s and admits an allowed one',
    async (transport) => {
      const server = await startServer({ origins: ['http://good.example'] })
      await expect(
        connect(server.url, { transports: [transport], extraHeaders: { origin: 'http://evil.example' } }),
      ).rejects.toThrow()
      const ok = await connect(server.url, {
        transports: [transport],
        extraHeaders: { origin: 'http://good.example' },
      })
      const keys = await generateKeyPair()
      await joinAs(server.url, 'lobby', { socket: ok, keys })
      expect(await server.metrics()).toMatch(/skipmesh_signal_rejections_total\{reason="origin"\} 1/)
    },
  )

  it('admits requests without Origin unless requireOrigin is set', async () => {
    const open = await startServer({ origins: ['http://good.example'] })
    await connect(open.url)
    const strict = await startServer({ origins: ['http://good.example'], requireOrigin: true })
    await expect(connect(strict.url)).rejects.toThrow()
  })

  it('refuses the WebSocket upgrade itself for a foreign Origin', async () => {
    const server = await startServer({ origins: ['http://good.example'] })
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, {
      origin: 'http://evil.example',
    })
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.once('open', () => resolve(101))
    })
    expect(status).toBe(400)
  })
})

describe('public key binding', () => {
  it('accepts only 32-byte keys and 64-byte signatures as hex', async () => {
    const server = await startServer()
    const socket = await connect(server.url)
    const res = await socket.timeout(5000).emitWithAck('join', {
      room: 'lobby',
      id: Identifier.random().toHex(),
      publicKey: bytesToHex(new Uint8Array(31)),
    })
    expect(res.ok === false && res.error.code).toBe('invalid-payload')
  })
})
