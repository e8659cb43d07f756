import { describe, expect, it } from 'vitest'
import { TagStore } from '../src/budget/tags.js'
import { InvalidOptionsError } from '../src/errors.js'

function clock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => (t += ms) }
}

describe('TagStore', () => {
  it('values a peer at the sum of its tag values, and an untagged peer at 0', () => {
    const tags = new TagStore()
    tags.set('p', 'neighbour', { value: 60 })
    tags.set('p', 'search', { value: 15 })
    expect(tags.value('p')).toBe(75)
    expect(tags.value('q')).toBe(0)
    expect(tags.names('p')).toEqual(['neighbour', 'search'])
  })

  it('replaces a tag of the same name instead of adding to it', () => {
    const tags = new TagStore()
    tags.set('p', 'neighbour', { value: 60, protect: true })
    tags.set('p', 'neighbour', { value: 10 })
    expect(tags.value('p')).toBe(10)
    expect(tags.isProtected('p')).toBe(false)
    expect(tags.get('p')).toEqual([{ name: 'neighbour', value: 10, protect: false }])
  })

  it('protects a peer while any of its tags protects', () => {
    const tags = new TagStore()
    tags.set('p', 'a', { protect: true })
    tags.set('p', 'b', { value: 3 })
    expect(tags.isProtected('p')).toBe(true)
    expect(tags.delete('p', 'a')).toBe(true)
    expect(tags.isProtected('p')).toBe(false)
    expect(tags.delete('p', 'a')).toBe(false)
  })

  it('forgets a peer whose last tag is removed', () => {
    const tags = new TagStore()
    tags.set('p', 'a', { value: 1 })
    expect(tags.size).toBe(1)
    tags.delete('p', 'a')
    expect(tags.size).toBe(0)
    expect(tags.get('p')).toEqual([])
  })

  it('drops a tag once its time to live has passed, and reports the next expiry', () => {
    const c = clock()
    const tags = new TagStore(c.now)
    tags.set('p', 'short', { value: 5, ttlMs: 100, protect: true })
    tags.set('p', 'long', { value: 7, ttlMs: 300 })
    tags.set('p', 'forever', { value: 1 })
    expect(tags.nextExpiry('p')).toBe(1_100)
    expect(tags.get('p').find((t) => t.name === 'short')?.expiresAt).toBe(1_100)
    c.advance(99)
    expect(tags.value('p')).toBe(13)
    c.advance(1)
    expect(tags.value('p')).toBe(8)
    expect(tags.isProtected('p')).toBe(false)
    expect(tags.nextExpiry('p')).toBe(1_300)
    c.advance(200)
    expect(tags.names('p')).toEqual(['forever'])
    expect(tags.nextExpiry('p')).toBeUndefined()
  })

  it('does not report an expired tag as removed', () => {
    const c = clock()
    const tags = new TagStore(c.now)
    tags.set('p', 'a', { ttlMs: 10 })
    c.advance(10)
    expect(tags.delete('p', 'a')).toBe(false)
    expect(tags.size).toBe(0)
  })

  it.each([
    ['an empty name', '', {}],
    ['a name over 64 characters', 'x'.repeat(65), {}],
    ['a reserved name', '__proto__', {}],
    ['a value over 100', 'a', { value: 101 }],
    ['a negative value', 'a', { value: -1 }],
    ['a fractional value', 'a', { value: 1.5 }],
    ['a time to live of 0', 'a', { ttlMs: 0 }],
    ['a time to live that is not a number', 'a', { ttlMs: Number.NaN }],
    ['a protect flag that is not a boolean', 'a', { protect: 'yes' }],
  ])('rejects %s with InvalidOptionsError', (_what, name, options) => {
    const tags = new TagStore()
    expect(() => tags.set('p', name, options as never)).toThrow(InvalidOptionsError)
    expect(tags.size).toBe(0)
  })
})
