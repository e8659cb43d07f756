import { AbortError } from '@skipmesh/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { cutWhenStalled, JoinCoordinator, type JoinHost } from '../src/join.js'
import type { LocalNode } from '../src/node.js'

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

/** A node of the tab whose joins the test ends: `finish()` ends the one running, joined. */
function fakeNode(hex: string): LocalNode & { joins: number; finish(): void } {
  let end: (() => void) | undefined
  const node = {
    hex,
    joined: false,
    bootstrapping: false,
    joins: 0,
    table: () => [],
    join(): Promise<void> {
      node.joins++
      return new Promise<void>((resolve) => {
        end = () => {
          node.joined = true
          resolve()
        }
      })
    },
    finish(): void {
      end?.()
    },
  }
  return node as unknown as LocalNode & { joins: number; finish(): void }
}

describe("the demo's join waves", () => {
  it('runs 8 joins of a tab at once until more of its nodes joined, then one per joined node', async () => {
    const nodes = Array.from({ length: 30 }, (_, i) => fakeNode(i.toString(16).padStart(2, '0')))
    const host: JoinHost = {
      localNodes: () => nodes,
      conduitOf: () => undefined,
      joinedRemotes: () => ['ff'],
      remember: () => {},
      isGone: () => false,
      countBadFrame: () => {},
      log: () => {},
    }
    const coordinator = new JoinCoordinator(host)
    const all = Promise.all(nodes.map((n) => coordinator.join(n, undefined)))
    const running = (): Array<ReturnType<typeof fakeNode>> => nodes.filter((n) => n.joins > 0 && !n.joined)
    await vi.waitFor(() => expect(running()).toHaveLength(8))
    for (const n of running()) n.finish()
    // 8 joined: 8 at once
    await vi.waitFor(() => expect(nodes.filter((n) => n.joined)).toHaveLength(8))
    await vi.waitFor(() => expect(running()).toHaveLength(8))
    for (const n of running()) n.finish()
    // 16 joined: the 14 left at once
    await vi.waitFor(() => expect(running()).toHaveLength(14))
    for (const n of running()) n.finish()
    await all
    expect(nodes.every((n) => n.joined && n.joins === 1)).toBe(true)
  })
})
