import { describe, expect, it } from 'vitest'
import { FixedWindows } from '../src/rate-limit.js'

describe('FixedWindows (the per-socket budget)', () => {
  it('opens a window with the first point, refuses the points beyond the budget with the time left, and opens a new one after it ends', () => {
    const w = new FixedWindows(3, 1_000)
    expect([w.spend('a', 0), w.spend('a', 10), w.spend('a', 20)]).toEqual([0, 0, 0])
    expect(w.spend('a', 400)).toBe(600)
    expect(w.spend('a', 999)).toBe(1)
    // another key has its own window
    expect(w.spend('b', 999)).toBe(0)
    // the window of a ended at 1,000: a new one opens with the next point
    expect([w.spend('a', 1_000), w.spend('a', 1_500), w.spend('a', 1_999)]).toEqual([0, 0, 0])
    expect(w.spend('a', 1_999)).toBe(1)
  })

  it('forgets a key: its next point opens a fresh window', () => {
    const w = new FixedWindows(1, 1_000)
    expect(w.spend('a', 0)).toBe(0)
    expect(w.spend('a', 1)).toBe(999)
    w.delete('a')
    expect(w.spend('a', 2)).toBe(0)
  })
})
