import { generateKeyPair, Identifier, InvalidOptionsError } from '@skipmesh/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createWebRtcConnectionManager } from '../src/manager.js'
import type { PeerSignal } from '../src/peer-transport.js'
import { SignalOutbox } from '../src/signal-outbox.js'
import { createSignalingClient } from '../src/signaling-client.js'
import { MAX_SIGNAL_BATCH } from '../src/signals.js'
import { implementations, useSignalingServer } from './helpers.js'
import { interceptedSignaling } from './identity-helpers.js'

const offer: PeerSignal = { type: 'offer', sdp: 'v=0' }
const answer: PeerSignal = { type: 'answer', sdp: 'v=0' }
const candidate = (n: number): PeerSignal => ({
  type: 'candidate',
  candidate: {
    candidate: `candidate:${n} 1 udp 1 127.0.0.1 ${5000 + n} typ host`,
    sdpMid: '0',
    sdpMLineIndex: 0,
  },
})

/** The hold the outbox's unit tests give it (the default is 0: opt-in). */
const HOLD_MS = 10

describe('SignalOutbox', () => {
  beforeEach(() => void vi.useFakeTimers())
  afterEach(() => void vi.useRealTimers())

  /** An outbox and the batches it sent. */
  function outbox(holdMs = HOLD_MS): { outbox: SignalOutbox; batches: PeerSignal[][] } {
    const batches: PeerSignal[][] = []
    return { outbox: new SignalOutbox((b) => batches.push(b), holdMs), batches }
  }

  it('sends the description and the candidates gathered within the hold as one signal', () => {
    const { outbox: o, batches } = outbox()
    o.push(offer)
    vi.advanceTimersByTime(HOLD_MS - 1)
    o.push(candidate(1))
    o.push(candidate(2))
    expect(batches).toEqual([])
    vi.advanceTimersByTime(1)
    expect(batches).toEqual([[offer, candidate(1), candidate(2)]])
  })

  it('holds candidates reported before the description until it comes, and puts the description first', () => {
    const { outbox: o, batches } = outbox()
    o.push(candidate(1))
    vi.advanceTimersByTime(HOLD_MS * 5)
    expect(batches).toEqual([])
    o.push(offer)
    vi.advanceTimersByTime(HOLD_MS)
    expect(batches).toEqual([[offer, candidate(1)]])
  })

  it('sends a candidate reported after a batch left in the next batch, one hold later', () => {
    const { outbox: o, batches } = outbox()
    o.push(offer)
    vi.advanceTimersByTime(HOLD_MS)
    o.push(candidate(3))
    vi.advanceTimersByTime(HOLD_MS - 1)
    expect(batches).toEqual([[offer]])
    vi.advanceTimersByTime(1)
    expect(batches).toEqual([[offer], [candidate(3)]])
  })

  it('splits a long batch at the batch limit, the description in the first', () => {
    const { outbox: o, batches } = outbox()
    o.push(offer)
    for (let i = 0; i < MAX_SIGNAL_BATCH + 1; i++) o.push(candidate(i))
    vi.advanceTimersByTime(HOLD_MS)
    expect(batches.map((b) => b.length)).toEqual([MAX_SIGNAL_BATCH, 2])
    expect(batches[0]?.[0]).toEqual(offer)
  })

  it('takes the hold it is given', () => {
    const { outbox: o, batches } = outbox(50)
    o.push(offer)
    vi.advanceTimersByTime(49)
    o.push(candidate(1))
    expect(batches).toEqual([])
    vi.advanceTimersByTime(1)
    expect(batches).toEqual([[offer, candidate(1)]])
  })

  it('by default (a hold of 0), sends what one microtask produced, before any timer', async () => {
    const batches: PeerSignal[][] = []
    const o = new SignalOutbox((b) => batches.push(b))
    o.push(offer)
    o.push(candidate(1))
    expect(batches).toEqual([])
    await Promise.resolve()
    expect(batches).toEqual([[offer, candidate(1)]])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('never holds an answer: it leaves at the end of its microtask with the candidates gathered so far', async () => {
    // the answerer's ICE agent starts its checks once the answer is set, and the offerer's knows nothing of them
    // until the answer arrives: a held answer widened that window to the hold (libdatachannel lost dials in it)
    const { outbox: o, batches } = outbox()
    o.push(candidate(1))
    o.push(answer)
    o.push(candidate(2))
    expect(batches).toEqual([])
    await Promise.resolve()
    expect(batches).toEqual([[answer, candidate(1), candidate(2)]])
    expect(vi.getTimerCount()).toBe(0)
    // the answerer's later candidates are held as any
    o.push(candidate(3))
    o.push(candidate(4))
    await Promise.resolve()
    expect(batches).toHaveLength(1)
    vi.advanceTimersByTime(HOLD_MS)
    expect(batches).toEqual([
      [answer, candidate(1), candidate(2)],
      [candidate(3), candidate(4)],
    ])
  })

  it('sends candidates it holds at once when an answer comes (a renegotiation), the answer first', async () => {
    const { outbox: o, batches } = outbox()
    o.push(offer)
    vi.advanceTimersByTime(HOLD_MS)
    o.push(candidate(1))
    vi.advanceTimersByTime(HOLD_MS - 1)
    o.push(answer)
    await Promise.resolve()
    expect(batches).toEqual([[offer], [answer, candidate(1)]])
    vi.advanceTimersByTime(HOLD_MS * 2)
    expect(batches).toHaveLength(2)
  })

  it('drops what it holds when closed, and everything pushed after', async () => {
    const held = outbox()
    held.outbox.push(offer)
    held.outbox.close()
    held.outbox.push(candidate(1))
    vi.advanceTimersByTime(HOLD_MS * 2)
    expect(held.batches).toEqual([])
    expect(vi.getTimerCount()).toBe(0)
    const microtask = outbox(0)
    microtask.outbox.push(offer)
    microtask.outbox.close()
    await Promise.resolve()
    expect(microtask.batches).toEqual([])
  })
})

describe('the manager’s signal hold (signalHoldMs)', () => {
  const fixture = useSignalingServer()

  it('refuses a negative hold, or one as long as the dial timeout', async () => {
    const keyPair = await generateKeyPair()
    const make = (signalHoldMs: number) => () =>
      createWebRtcConnectionManager({
        localId: Identifier.random(),
        keyPair,
        signaling: { url: 'http://127.0.0.1:1', room: 'r' },
        wrtc: implementations.wrtc(),
        connectTimeoutMs: 1_000,
        signalHoldMs,
      })
    expect(make(-1)).toThrow(InvalidOptionsError)
    expect(make(1_000)).toThrow(InvalidOptionsError)
    expect(make(Number.NaN)).toThrow(InvalidOptionsError)
    expect(make(0)).not.toThrow()
    expect(make(999)).not.toThrow()
  })

  it('sends the first batch of a dial no sooner than the hold after it began, description first', async () => {
    const MANAGER_HOLD_MS = 200
    const f = fixture.managers(implementations.wrtc())
    const ids = [Identifier.random(), Identifier.random()].sort((x, y) => x.compare(y))
    const sent: Array<{ atMs: number; batch: PeerSignal[] }> = []
    let dialedAt = Number.NaN
    const keyPair = await generateKeyPair()
    const client = createSignalingClient({ url: fixture.server.url, room: f.room, localId: ids[0]!, keyPair })
    const { signaling } = interceptedSignaling(client, {
      outgoing: (_to, _session, data) => {
        if (Array.isArray(data.batch))
          sent.push({ atMs: performance.now() - dialedAt, batch: data.batch as PeerSignal[] })
        return data
      },
    })
    const a = await f.make(ids[0], { keyPair, signaling, signalHoldMs: MANAGER_HOLD_MS })
    const b = await f.make(ids[1], { signalHoldMs: MANAGER_HOLD_MS })
    dialedAt = performance.now()
    const conn = await a.connect(b.localId, { signal: AbortSignal.timeout(15_000) })
    expect(conn.phase).toBe('open')
    expect(sent[0]?.batch[0]?.type).toBe('offer')
    // a timer never fires early (1 ms for the clock's rounding)
    expect(sent[0]?.atMs).toBeGreaterThanOrEqual(MANAGER_HOLD_MS - 1)
    // every batch after the first carries only candidates
    expect(sent.slice(1).flatMap((s) => s.batch.map((x) => x.type))).not.toContain('offer')
  })
})
