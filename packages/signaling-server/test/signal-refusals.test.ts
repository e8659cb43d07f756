/**
 * Refusal-only signals (the protocol's `signalRefusals`): a `signal` emitted without an ack callback is relayed
 * with no answer, and refused with a `signal-refused` push to its sender.
 */
import { Identifier } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { collect, connect, joinAs, nextEvent, type Peer, startServer } from './helpers.js'

/** Emits `signal` with `payload` and no ack callback. */
function emitUnacked(peer: Peer, payload: unknown): void {
  ;(peer.socket.emit as (ev: string, ...args: unknown[]) => unknown).call(peer.socket, 'signal', payload)
}

/** Resolves once the server handled every request `peer` sent before (a socket's requests run in order). */
async function drained(peer: Peer): Promise<void> {
  const res = await peer.socket.timeout(5000).emitWithAck('list-peers', {})
  expect(res.ok).toBe(true)
}

describe('signals sent without an ack', () => {
  it('announces in the join answer that it pushes refusals', async () => {
    const server = await startServer()
    const socket = await connect(server.url)
    const res = await socket
      .timeout(5000)
      .emitWithAck('join', { room: 'lobby', id: Identifier.random().toHex(), publicKey: 'ab'.repeat(32) })
    expect(res).toMatchObject({ ok: true, signalRefusals: true })
  })

  it('relays a valid one and answers nothing', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const refusals = collect(a.socket, 'signal-refused')
    const got = nextEvent(b.socket, 'signal', (s) => s.session === 'quiet')
    emitUnacked(a, { to: b.id, session: 'quiet', data: { n: 1 } })
    expect(await got).toMatchObject({ from: a.id, session: 'quiet', data: { n: 1 } })
    await drained(a)
    expect(refusals).toEqual([])
  })

  it('pushes the refusal of one to a peer not in the room, with its to and session, and counts it', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const missing = Identifier.random().toHex()
    const refused = nextEvent(a.socket, 'signal-refused')
    emitUnacked(a, { to: missing, session: 's-1', data: { n: 1 } })
    const event = await refused
    expect(event).toMatchObject({ to: missing, session: 's-1', error: { code: 'unknown-peer' } })
    expect(event.data).toBeUndefined()
    expect(await server.metrics()).toMatch(/skipmesh_signal_rejections_total\{reason="unknown-peer"\} 1\b/)
  })

  it('pushes invalid-payload for a malformed one, echoing no field it did not get', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'lobby')
    const refused = nextEvent(a.socket, 'signal-refused')
    emitUnacked(a, { session: 'x'.repeat(65), data: [] })
    expect(await refused).toMatchObject({ to: '', session: '', error: { code: 'invalid-payload' } })
  })

  it('pushes rate-limited with the data, so that the sender can send it again', async () => {
    // join and authenticate spend 2 points each
    const server = await startServer({ rateLimit: { points: 3, durationMs: 60_000, strikes: 100 } })
    const a = await joinAs(server.url, 'lobby')
    const b = await joinAs(server.url, 'lobby')
    const received = collect(b.socket, 'signal')
    const refusals = collect(a.socket, 'signal-refused')
    const first = nextEvent(b.socket, 'signal')
    const second = nextEvent(a.socket, 'signal-refused')
    emitUnacked(a, { to: b.id, session: 's', data: { n: 0 } })
    emitUnacked(a, { to: b.id, session: 's', data: { n: 1 } })
    expect(await second).toMatchObject({
      to: b.id,
      session: 's',
      error: { code: 'rate-limited' },
      data: { n: 1 },
    })
    expect((await first).data).toEqual({ n: 0 })
    expect(refusals).toHaveLength(1)
    expect(received.map((s) => s.data.n)).toEqual([0])
  })
})
