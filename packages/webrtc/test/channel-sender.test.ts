import { yieldTask } from '@skipmesh/core/internal'
import { describe, expect, it } from 'vitest'
import { ChannelSender } from '../src/channel-sender.js'
import { FRAME_BATCH, FRAME_LAST, FRAME_MORE, Reassembler } from '../src/framing.js'

/** A data channel that records what is sent and whose buffer the test drains. */
class FakeDataChannel extends EventTarget {
  readyState: RTCDataChannelState = 'open'
  bufferedAmount = 0
  readonly frames: Uint8Array[] = []

  send(frame: Uint8Array): void {
    this.frames.push(frame)
    this.bufferedAmount += frame.length
  }

  drain(): void {
    this.bufferedAmount = 0
    this.dispatchEvent(new Event('bufferedamountlow'))
  }
}

function sender(
  dc: FakeDataChannel,
  limits: { high?: number; low?: number; frameSize?: number } = {},
): ChannelSender {
  const s = new ChannelSender(dc as unknown as RTCDataChannel, {
    name: 'test',
    highWaterMark: limits.high ?? 1024 * 1024,
    lowWaterMark: limits.low ?? 256 * 1024,
    frameSize: () => limits.frameSize ?? 64 * 1024,
    isClosed: () => false,
    onTransportError: (what) => {
      throw new Error(what)
    },
  })
  s.markReady()
  return s
}

async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  for (let i = 0; i < 3; i++) await yieldTask()
  return done
}

describe('ChannelSender', () => {
  it('sends the small messages of one task as one batch frame, in order, resolving them at once', async () => {
    const dc = new FakeDataChannel()
    const s = sender(dc)
    const sends = [Uint8Array.of(1), Uint8Array.of(2, 2), Uint8Array.of(3, 3, 3)].map((m) =>
      s.send(m, undefined),
    )
    expect(dc.frames).toHaveLength(0)
    await Promise.all(sends)
    await yieldTask()
    expect(dc.frames).toHaveLength(1)
    expect(dc.frames[0]![0]).toBe(FRAME_BATCH)
    const out = new Reassembler(100).push(dc.frames[0]!)
    expect(out.kind === 'batch' && out.messages.map((m) => [...m])).toEqual([[1], [2, 2], [3, 3, 3]])
    expect(s.sentFrames).toBe(1)
  })

  it('holds a large send while the buffer is above the high-water mark and sends it in chunks once drained', async () => {
    const dc = new FakeDataChannel()
    dc.bufferedAmount = 5000
    const s = sender(dc, { high: 4096, low: 1024, frameSize: 1024 })
    const message = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff)
    const sent = s.send(message, undefined)
    expect(await settled(sent)).toBe(false)
    expect(dc.frames).toHaveLength(0)
    dc.drain()
    await sent
    expect(dc.frames.map((f) => f[0])).toEqual([FRAME_MORE, FRAME_MORE, FRAME_LAST])
    expect(dc.frames.every((f) => f.length <= 1024)).toBe(true)
    const r = new Reassembler(3000)
    const results = dc.frames.map((f) => r.push(f))
    const last = results.at(-1)!
    expect(last.kind === 'message' && [...last.bytes]).toEqual([...message])
  })

  it('drops a queued send whose signal aborts before its first chunk, rejecting it with AbortError', async () => {
    const dc = new FakeDataChannel()
    dc.bufferedAmount = 5000
    const s = sender(dc, { high: 4096, low: 1024, frameSize: 1024 })
    const controller = new AbortController()
    const aborted = s.send(new Uint8Array(3000), controller.signal)
    const kept = s.send(
      Uint8Array.from({ length: 2500 }, () => 7),
      undefined,
    )
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })
    dc.drain()
    await kept
    expect(dc.frames.reduce((n, f) => n + f.length - 1, 0)).toBe(2500)
  })

  it('rejects the sends it has not resolved when it fails, and reports itself empty', async () => {
    const dc = new FakeDataChannel()
    dc.bufferedAmount = 5000
    const s = sender(dc, { high: 4096, low: 1024, frameSize: 1024 })
    const pending = s.send(new Uint8Array(3000), undefined)
    const empty = s.whenEmpty()
    const err = new Error('closed')
    s.fail(err)
    await expect(pending).rejects.toBe(err)
    await expect(empty).resolves.toBeUndefined()
  })
})
