/**
 * The signaling client's acks against a server that pushes refusals (`signalRefusals`): the first signal of a
 * session is acknowledged, the later ones of it are not and hear only of a refusal.
 */
import { Identifier, PeerNotFoundError } from '@skipmesh/core'
import { createSignalingServer, type SignalingServer, silentLogger } from '@skipmesh/signaling-server'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { SignalingClient } from '../src/signaling-client.js'
import type { SignalPayload } from '../src/signaling.js'
import { useSignalingServer } from './helpers.js'

const fixture = useSignalingServer()
const extraServers: SignalingServer[] = []
afterEach(async () => {
  // the clients first: a server closed under them would be reconnected to
  await fixture.stopAll()
  await Promise.all(extraServers.splice(0).map((s) => s.close()))
})

/** Whether each `signal` the server received from now on came with an ack callback, in arrival order. */
function watchAcks(server: SignalingServer): boolean[] {
  const acked: boolean[] = []
  server.io.on('connection', (socket) => {
    socket.onAny((event: string, ...args: unknown[]) => {
      if (event === 'signal') acked.push(typeof args[args.length - 1] === 'function')
    })
  })
  return acked
}

/** A started client of `room` on `server` with `options`, stopped after the test. */
function client(
  server: SignalingServer,
  room: string,
  options: { ackEverySignal?: boolean } = {},
): Promise<SignalingClient> {
  return fixture.client(room, undefined, server, options)
}

/** Resolves with the first `count` signals `c` receives. */
function received(
  c: SignalingClient,
  count: number,
): Promise<Array<{ session: string; data: SignalPayload }>> {
  const out: Array<{ session: string; data: SignalPayload }> = []
  return new Promise((resolve) => {
    c.on('signal', (_from, session, data) => {
      out.push({ session, data })
      if (out.length === count) resolve(out)
    })
  })
}

describe('the signaling client’s acks', () => {
  it('asks for an ack on the first signal to a peer under a session only', async () => {
    const room = `acks-${Math.random().toString(36).slice(2)}`
    const acked = watchAcks(fixture.server)
    const a = await client(fixture.server, room)
    const b = await client(fixture.server, room)
    const atB = received(b, 5)
    await a.signal(b.localId, 's1', { n: 1 })
    await a.signal(b.localId, 's1', { n: 2 })
    await a.signal(b.localId, 's2', { n: 3 })
    await a.signal(b.localId, 's1', { n: 4 })
    await a.signal(b.localId, 's2', { n: 5 })
    expect((await atB).map((s) => [s.session, s.data.n])).toEqual([
      ['s1', 1],
      ['s1', 2],
      ['s2', 3],
      ['s1', 4],
      ['s2', 5],
    ])
    expect(acked).toEqual([true, false, true, false, false])
    expect(a.refusedSignals).toBe(0)
  })

  it('asks for an ack on every signal with ackEverySignal', async () => {
    const room = `acks-${Math.random().toString(36).slice(2)}`
    const acked = watchAcks(fixture.server)
    const a = await client(fixture.server, room, { ackEverySignal: true })
    const b = await client(fixture.server, room)
    const atB = received(b, 3)
    for (let n = 0; n < 3; n++) await a.signal(b.localId, 's', { n })
    expect(await atB).toHaveLength(3)
    expect(acked).toEqual([true, true, true])
  })

  it('fails the first signal to a peer not in the room, and counts the refusal of a later one (the peer left)', async () => {
    const room = `acks-${Math.random().toString(36).slice(2)}`
    const a = await client(fixture.server, room)
    const b = await client(fixture.server, room)
    await expect(a.signal(Identifier.random(), 's', { n: 0 })).rejects.toBeInstanceOf(PeerNotFoundError)
    await a.signal(b.localId, 's', { n: 1 })
    const left = new Promise<void>((resolve) => a.on('peer:left', () => resolve()))
    await b.stop()
    await left
    // sent without an ack: it resolves, and its refusal is counted when it comes
    await a.signal(b.localId, 's', { n: 2 })
    await vi.waitFor(() => expect(a.refusedSignals).toBe(1), { timeout: 10_000 })
  })

  it('sends a signal refused as rate-limited again, acknowledged, until it is relayed', async () => {
    const server = await createSignalingServer({
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger,
      // join, authenticate and the ICE servers' request spend 3 points
      rateLimit: { points: 6, durationMs: 300, strikes: 1_000 },
    })
    extraServers.push(server)
    const room = 'acks-rate'
    const a = await client(server, room)
    const b = await client(server, room)
    const count = 12
    const atB = received(b, count)
    for (let n = 0; n < count; n++) await a.signal(b.localId, 's', { n })
    const got = await atB
    expect(got.map((s) => s.data.n).sort((x, y) => Number(x) - Number(y))).toEqual(
      Array.from({ length: count }, (_, n) => n),
    )
    expect(a.refusedSignals).toBeGreaterThan(0)
  })
})
