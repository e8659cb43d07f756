import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Heartbeat } from '../src/heartbeat.js'

/** A heartbeat with a 100 ms interval and a 300 ms timeout, counting its pings and verdicts. */
function heartbeat() {
  let pings = 0
  let silent = 0
  const hb = new Heartbeat({
    intervalMs: 100,
    timeoutMs: 300,
    ping: () => {
      pings++
    },
    onSilent: () => {
      silent++
    },
  })
  return { hb, pings: () => pings, silent: () => silent }
}

/** This side's event loop stops for `ms` (a frozen page): the clock moves on, no timer fires. */
function stall(ms: number): void {
  vi.setSystemTime(Date.now() + ms)
}

describe('heartbeat', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('pings every interval and reports silence once nothing arrived for the timeout', () => {
    const { hb, pings, silent } = heartbeat()
    hb.start()
    vi.advanceTimersByTime(300)
    expect(pings()).toBe(3)
    expect(silent()).toBe(0)
    vi.advanceTimersByTime(100)
    expect(silent()).toBe(1)
    vi.advanceTimersByTime(1000)
    expect(silent()).toBe(1) // stopped after its verdict
  })

  it('keeps a connection whose remote keeps talking', () => {
    const { hb, silent } = heartbeat()
    hb.start()
    for (let i = 0; i < 50; i++) {
      vi.advanceTimersByTime(100)
      hb.touch()
    }
    expect(silent()).toBe(0)
    hb.stop()
  })

  it('gives no verdict on the first tick after this side stalled, and keeps a remote that answers then', () => {
    const { hb, pings, silent } = heartbeat()
    hb.start()
    vi.advanceTimersByTime(100)
    stall(30_000) // frozen for 30 s: nothing could arrive, nothing was judged
    vi.advanceTimersByTime(100)
    expect(silent()).toBe(0)
    expect(pings()).toBe(2) // the excused tick still pings
    hb.touch() // the live remote's answer, processed after the excused tick
    vi.advanceTimersByTime(100)
    expect(silent()).toBe(0)
    hb.stop()
  })

  it('reports a remote that stays silent after the stall on the next tick', () => {
    const { hb, silent } = heartbeat()
    hb.start()
    stall(30_000)
    vi.advanceTimersByTime(100)
    expect(silent()).toBe(0)
    vi.advanceTimersByTime(100)
    expect(silent()).toBe(1)
  })

  it('still reaches a verdict when every tick is late (throttled timers), one tick later', () => {
    const { hb, silent } = heartbeat()
    hb.start()
    stall(60_000)
    vi.advanceTimersByTime(100) // late: excused
    expect(silent()).toBe(0)
    stall(60_000)
    vi.advanceTimersByTime(100) // late again, but the previous one was excused: judged
    expect(silent()).toBe(1)
  })
})
