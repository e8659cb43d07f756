import { channel, generateKeyPair, Identifier, InvalidOptionsError } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { PeerLimitExceededError } from '../src/errors.js'
import { FRAME_LAST, FRAME_MORE, Reassembler } from '../src/framing.js'
import { InboundBudget } from '../src/inbound-budget.js'
import { createWebRtcConnectionManager } from '../src/manager.js'
import { implementations } from './helpers.js'

const CH = channel('unit')

function frame(flag: number, size: number, fill = 0): Uint8Array {
  const out = new Uint8Array(1 + size).fill(fill)
  out[0] = flag
  return out
}

function budget(overrides: Partial<ConstructorParameters<typeof InboundBudget>[0]> = {}) {
  const violations: PeerLimitExceededError[] = []
  const b = new InboundBudget({
    maxInboundBytes: 1000,
    maxMessageSize: 800,
    minFrameSize: 11,
    reassemblyTimeoutMs: 60_000,
    onViolation: (err) => violations.push(err),
    ...overrides,
  })
  return { b, violations }
}

describe('reassembly within a budget', () => {
  it('holds an unfinished message in one buffer whose capacity is reserved first, and gives it back when done', () => {
    const { b, violations } = budget()
    const r = b.reassembler()
    expect(b.check(r, CH, r.push(frame(FRAME_MORE, 100, 1)))).toBe(true)
    expect(r.held).toBe(100)
    expect(b.check(r, CH, r.push(frame(FRAME_MORE, 100, 2)))).toBe(true)
    expect(r.held).toBe(200)
    expect(b.held).toBe(200)
    const last = r.push(frame(FRAME_LAST, 5, 3))
    expect(b.check(r, CH, last)).toBe(true)
    expect(
      last.kind === 'message' && [last.bytes.length, last.bytes[0], last.bytes[100], last.bytes[204]],
    ).toEqual([205, 1, 2, 3])
    expect(b.held).toBe(0)
    expect(violations).toEqual([])
    b.stop()
  })

  it('refuses memory past maxInboundBytes over all channels (inbound-bytes) and drops what it held', () => {
    const { b, violations } = budget()
    const [x, y] = [b.reassembler(), b.reassembler()]
    expect(b.check(x, CH, x.push(frame(FRAME_MORE, 600)))).toBe(true)
    expect(b.check(y, CH, y.push(frame(FRAME_MORE, 300)))).toBe(true)
    expect(b.held).toBe(900)
    const over = y.push(frame(FRAME_MORE, 300))
    expect(over.kind).toBe('over-budget')
    expect(b.check(y, CH, over)).toBe(false)
    expect(violations.map((v) => v.limit)).toEqual(['inbound-bytes'])
    expect(b.held).toBe(0)
  })

  it('refuses a chunk that more chunks follow below the floor (frame-size); a short last chunk is fine', () => {
    const { b, violations } = budget()
    const r = b.reassembler()
    expect(b.check(r, CH, r.push(frame(FRAME_MORE, 10)))).toBe(true)
    expect(b.check(r, CH, r.push(frame(FRAME_LAST, 1)))).toBe(true)
    const runt = r.push(frame(FRAME_MORE, 9))
    expect(runt).toEqual({ kind: 'runt', size: 9 })
    expect(b.check(r, CH, runt)).toBe(false)
    expect(violations.map((v) => v.limit)).toEqual(['frame-size'])
  })

  it('closes on an unfinished message that gets no chunk for reassemblyTimeoutMs (reassembly-timeout)', async () => {
    let report!: (err: PeerLimitExceededError) => void
    const reported = new Promise<PeerLimitExceededError>((resolve) => {
      report = resolve
    })
    const { b } = budget({ reassemblyTimeoutMs: 50, onViolation: (err) => report(err) })
    const r = b.reassembler()
    const started = performance.now()
    b.check(r, CH, r.push(frame(FRAME_MORE, 20)))
    const err = await reported
    expect(err).toBeInstanceOf(PeerLimitExceededError)
    expect(err.limit).toBe('reassembly-timeout')
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    expect(b.held).toBe(0)
  })

  it('still takes the old single-number constructor', () => {
    const r = new Reassembler(4)
    expect(r.push(frame(FRAME_MORE, 3)).kind).toBe('partial')
    expect(r.push(frame(FRAME_LAST, 2))).toEqual({ kind: 'oversize', size: 5 })
  })
})

describe('per-peer limit options', () => {
  it('validates them: maxInboundBytes at least maxMessageSize, chunkSize at least minFrameSize', async () => {
    const base = {
      localId: Identifier.random(),
      keyPair: await generateKeyPair(),
      signaling: { url: 'http://127.0.0.1:1', room: 'r' },
      wrtc: implementations.wrtc(),
    }
    const bad = [
      { maxMessageSize: 1000, maxInboundBytes: 999 },
      { minFrameSize: 4096, chunkSize: 2048 },
      { minFrameSize: 1 },
      { reassemblyTimeoutMs: 0 },
      { maxRemoteChannels: 0 },
      { channelAckTimeoutMs: -1 },
    ]
    for (const options of bad) {
      expect(() => createWebRtcConnectionManager({ ...base, ...options }), JSON.stringify(options)).toThrow(
        InvalidOptionsError,
      )
    }
    expect(() =>
      createWebRtcConnectionManager({
        ...base,
        maxMessageSize: 1000,
        maxInboundBytes: 1000,
        minFrameSize: 2,
      }),
    ).not.toThrow()
  })
})
