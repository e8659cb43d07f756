import { AbortError } from '@skipmesh/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { cutWhenStalled } from '../src/join.js'

describe("the demo's join cut", () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('cuts an attempt that linked no level for the stall time, with an AbortError', () => {
    const cut = cutWhenStalled(() => 0, 20_000, 1_000)
    vi.advanceTimersByTime(19_000)
    expect(cut.signal.aborted).toBe(false)
    vi.advanceTimersByTime(1_000)
    expect(cut.signal.aborted).toBe(true)
    expect(cut.signal.reason).toBeInstanceOf(AbortError)
    cut.stop()
  })

  it('never cuts an attempt that links a new level within each stall time, however long it runs', () => {
    let levels = 0
    const cut = cutWhenStalled(() => levels, 20_000, 1_000)
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(15_000)
      levels++
    }
    vi.advanceTimersByTime(19_000)
    expect(cut.signal.aborted).toBe(false)
    cut.stop()
  })

  it('counts the stall from the last level linked, not from the start of the attempt', () => {
    let levels = 1
    const cut = cutWhenStalled(() => levels, 20_000, 1_000)
    vi.advanceTimersByTime(10_000)
    levels = 3
    vi.advanceTimersByTime(15_000)
    expect(cut.signal.aborted).toBe(false)
    vi.advanceTimersByTime(10_000)
    expect(cut.signal.aborted).toBe(true)
    cut.stop()
  })

  it('leaves no timer behind once stopped', () => {
    const cut = cutWhenStalled(() => 0, 20_000, 1_000)
    cut.stop()
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(60_000)
    expect(cut.signal.aborted).toBe(false)
  })
})
