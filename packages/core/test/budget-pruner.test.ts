import { describe, expect, it } from 'vitest'
import { nextIdleDeadline, type PruneCandidate, selectIdle, selectOverBudget } from '../src/budget/pruner.js'

interface Named extends PruneCandidate {
  name: string
}

function c(name: string, over: Partial<PruneCandidate> = {}): Named {
  return { name, value: 0, protected: false, inFlight: 0, lastActive: 0, openedAt: 0, fresh: false, ...over }
}

const names = (xs: Named[]): string[] => xs.map((x) => x.name)
const policy = { idleTimeoutMs: 100, idleValueThreshold: 1 }

describe('selectOverBudget', () => {
  it('prunes nothing within the budget', () => {
    expect(selectOverBudget([c('a'), c('b')], 2)).toEqual({ prune: [], shortfall: 0 })
  })

  it('prunes the lowest values first', () => {
    const all = [
      c('v50', { value: 50 }),
      c('v0', { value: 0 }),
      c('v10', { value: 10 }),
      c('v100', { value: 100 }),
    ]
    expect(names(selectOverBudget(all, 2).prune)).toEqual(['v0', 'v10'])
  })

  it('among equal values prunes the least recently active, then the oldest', () => {
    const all = [
      c('recent', { lastActive: 30 }),
      c('stale-new', { lastActive: 10, openedAt: 5 }),
      c('stale-old', { lastActive: 10, openedAt: 1 }),
      c('valued-stale', { value: 1, lastActive: 0 }),
    ]
    expect(names(selectOverBudget(all, 1).prune)).toEqual(['stale-old', 'stale-new', 'recent'])
  })

  it('never prunes a protected, busy or fresh connection, and reports the shortfall', () => {
    const all = [
      c('protected', { protected: true }),
      c('busy', { inFlight: 1 }),
      c('fresh', { fresh: true }),
      c('valued', { value: 90, lastActive: 99 }),
    ]
    expect(selectOverBudget(all, 1)).toEqual({ prune: [all[3]], shortfall: 2 })
  })
})

describe('selectIdle', () => {
  it('closes only unprotected, unbusy connections below the value threshold idle for idleTimeoutMs', () => {
    const all = [
      c('idle', { lastActive: 0 }),
      c('just-active', { lastActive: 1 }),
      c('valued', { value: 1 }),
      c('protected', { protected: true }),
      c('busy', { inFlight: 2 }),
    ]
    expect(names(selectIdle(all, 100, policy))).toEqual(['idle'])
  })

  it('closes nothing when idle closing is disabled', () => {
    expect(selectIdle([c('idle')], 1e9, { ...policy, idleTimeoutMs: 0 })).toEqual([])
  })

  it('honours a higher value threshold', () => {
    const all = [c('v5', { value: 5 }), c('v20', { value: 20 })]
    expect(names(selectIdle(all, 100, { ...policy, idleValueThreshold: 10 }))).toEqual(['v5'])
  })
})

describe('nextIdleDeadline', () => {
  it('is the earliest lastActive + idleTimeoutMs of the idle-closable connections', () => {
    const all = [
      c('a', { lastActive: 40 }),
      c('b', { lastActive: 20 }),
      c('valued', { value: 3, lastActive: 0 }),
    ]
    expect(nextIdleDeadline(all, 50, policy)).toBe(120)
  })

  it('counts a busy connection as active now, so a long send does not spin the timer', () => {
    expect(nextIdleDeadline([c('busy', { inFlight: 1, lastActive: 0 })], 500, policy)).toBe(600)
  })

  it('is undefined when nothing can close for idleness', () => {
    expect(nextIdleDeadline([c('p', { protected: true })], 0, policy)).toBeUndefined()
    expect(nextIdleDeadline([c('a')], 0, { ...policy, idleTimeoutMs: 0 })).toBeUndefined()
  })
})
