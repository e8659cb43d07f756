import { describe, expect, it } from 'vitest'
import { HopTimes } from '../src/search-hops.js'

describe("a hop's first wait", () => {
  it('is the hop timeout while no answer at its level took longer than half of it', () => {
    const t = new HopTimes(1000)
    expect(t.firstWait(3, 10_000)).toBe(1000)
    t.answered(3, 400)
    t.answered(3, 500)
    expect(t.firstWait(3, 10_000)).toBe(1000)
  })

  it('grows to twice the mean answer time of the hops sent at the same level, and only at that level', () => {
    const t = new HopTimes(1000)
    t.answered(4, 1500)
    expect(t.firstWait(4, 60_000)).toBe(3000)
    expect(t.firstWait(3, 60_000)).toBe(1000)
    expect(t.firstWait(5, 60_000)).toBe(1000)
    // a running mean: one fast answer lowers it by an eighth of the difference
    t.answered(4, 700)
    expect(t.firstWait(4, 60_000)).toBe(2 * (1500 + (700 - 1500) / 8))
  })

  it('is at most eight hop timeouts and half the time left, never below the hop timeout', () => {
    const t = new HopTimes(1000)
    t.answered(2, 60_000)
    expect(t.firstWait(2, 1_000_000)).toBe(8000)
    expect(t.firstWait(2, 5000)).toBe(2500)
    expect(t.firstWait(2, 1500)).toBe(1000)
  })

  it('keeps the levels above 31 together, and a search started through an introducer (level 255) with them', () => {
    const t = new HopTimes(100)
    t.answered(255, 400)
    expect(t.firstWait(40, 60_000)).toBe(800)
    expect(t.firstWait(31, 60_000)).toBe(800)
    expect(t.firstWait(30, 60_000)).toBe(100)
  })
})
