import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { IceRestartPolicy, type IceRestartInit } from '../src/ice-restart.js'

const timings = { graceMs: 1_000, retryMs: 3_000, maxAttempts: 3, giveUpMs: 30_000 }

function policy(init: Partial<IceRestartInit> & { canRestart?: boolean } = {}) {
  const calls = { restarts: 0, giveUps: [] as string[] }
  const { canRestart = true, ...rest } = init
  const p = new IceRestartPolicy({
    ...timings,
    restart: () => {
      calls.restarts++
      return canRestart
    },
    onGiveUp: (why) => calls.giveUps.push(why),
    ...rest,
  })
  return { p, calls }
}

describe('the ICE restart policy', () => {
  beforeEach(() => void vi.useFakeTimers())
  afterEach(() => void vi.useRealTimers())

  it('waits the grace time on disconnected, and restarts nothing when ICE recovers by itself', () => {
    const { p, calls } = policy()
    p.onIceState('disconnected')
    vi.advanceTimersByTime(999)
    p.onIceState('connected')
    vi.advanceTimersByTime(60_000)
    expect(calls).toEqual({ restarts: 0, giveUps: [] })
  })

  it('restarts after the grace time, then every retry time while ICE is down, at most maxAttempts times', () => {
    const { p, calls } = policy()
    p.onIceState('disconnected')
    vi.advanceTimersByTime(1_000)
    expect(calls.restarts).toBe(1)
    p.onIceState('checking')
    vi.advanceTimersByTime(3_000)
    expect(calls.restarts).toBe(2)
    vi.advanceTimersByTime(20_000)
    expect(calls.restarts).toBe(3)
    p.stop()
  })

  it('restarts at once on failed, and counts a new outage afresh once ICE is back', () => {
    const { p, calls } = policy()
    p.onIceState('failed')
    expect(calls.restarts).toBe(1)
    p.onIceState('completed')
    vi.advanceTimersByTime(60_000)
    p.onIceState('failed')
    expect(calls.restarts).toBe(2)
    expect(calls.giveUps).toEqual([])
    p.stop()
  })

  it('gives up once an outage lasts giveUpMs, whatever the attempts', () => {
    const { p, calls } = policy()
    p.onIceState('disconnected')
    vi.advanceTimersByTime(29_999)
    expect(calls.giveUps).toEqual([])
    vi.advanceTimersByTime(1)
    expect(calls.giveUps).toHaveLength(1)
    vi.advanceTimersByTime(60_000)
    expect(calls.giveUps).toHaveLength(1)
  })

  it('gives up at once on failed when the stack cannot restart ICE', () => {
    const { p, calls } = policy({ canRestart: false })
    p.onIceState('disconnected')
    vi.advanceTimersByTime(1_000)
    expect(calls).toEqual({ restarts: 1, giveUps: [] })
    p.onIceState('failed')
    expect(calls.giveUps).toHaveLength(1)
    expect(calls.restarts).toBe(1)
  })

  it('on the side that makes no offers, waits for the remote restart, bounded by giveUpMs', () => {
    const calls: string[] = []
    const p = new IceRestartPolicy({ ...timings, onGiveUp: (why) => calls.push(why) })
    p.onIceState('failed')
    vi.advanceTimersByTime(29_999)
    expect(calls).toEqual([])
    p.onIceState('connected')
    vi.advanceTimersByTime(60_000)
    expect(calls).toEqual([])
    p.onIceState('failed')
    vi.advanceTimersByTime(30_000)
    expect(calls).toHaveLength(1)
  })

  it('restarts at once when the connection suspects the path, at most once per retry time', () => {
    const { p, calls } = policy()
    p.suspect()
    expect(calls.restarts).toBe(1)
    p.suspect()
    vi.advanceTimersByTime(2_999)
    p.suspect()
    expect(calls.restarts).toBe(1)
    vi.advanceTimersByTime(1)
    p.suspect()
    expect(calls.restarts).toBe(2)
    // ICE never reported the path down: the retry timer restarts nothing by itself
    vi.advanceTimersByTime(60_000)
    expect(calls).toEqual({ restarts: 2, giveUps: [] })
    p.stop()
  })

  it('makes no suspected restart on the side that makes no offers', () => {
    const calls: string[] = []
    const p = new IceRestartPolicy({ ...timings, onGiveUp: (why) => calls.push(why) })
    p.suspect()
    vi.advanceTimersByTime(60_000)
    expect(calls).toEqual([])
  })

  it('does nothing once stopped', () => {
    const { p, calls } = policy()
    p.onIceState('disconnected')
    p.stop()
    p.onIceState('failed')
    vi.advanceTimersByTime(60_000)
    expect(calls).toEqual({ restarts: 0, giveUps: [] })
  })
})
