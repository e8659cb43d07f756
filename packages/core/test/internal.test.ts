import { describe, expect, it } from 'vitest'
import { AbortError, InvalidOptionsError, TooManyPendingRequestsError } from '../src/errors.js'
import {
  bytesToHex,
  checkNumber,
  deferred,
  hexToBytes,
  isForbiddenKey,
  nextTask,
  numberOption,
  PendingRequests,
  randomNonce,
  sleep,
} from '../src/internal/index.js'

describe('internal helpers', () => {
  it('hex round-trips every byte value and refuses what is not hex', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    expect(hexToBytes(bytesToHex(all))).toEqual(all)
    expect(hexToBytes('0xABcd')).toEqual(Uint8Array.of(0xab, 0xcd))
    expect(hexToBytes('abc')).toEqual(Uint8Array.of(0x0a, 0xbc))
    for (const bad of ['zz', '0x0g', 'a b', '-1']) expect(hexToBytes(bad)).toBeUndefined()
  })

  it('makes 128-bit nonces that do not repeat', () => {
    const nonces = new Set(Array.from({ length: 10_000 }, () => randomNonce()))
    expect(nonces.size).toBe(10_000)
    for (const n of nonces) expect(n).toMatch(/^[0-9a-f]{32}$/)
  })

  it('random nonces of every size are fresh, of the asked length, across refills of the entropy cache', () => {
    // 16-byte nonces cross many 4 KiB refills; odd sizes straddle a refill; a size over the cache is drawn directly
    const sizes = [1, 7, 16, 32, 33, 4096, 5000]
    const seen = new Set<string>()
    for (let i = 0; i < 2_000; i++) {
      const bytes = sizes[i % sizes.length]!
      const n = randomNonce(bytes)
      expect(n).toHaveLength(bytes * 2)
      expect(n).toMatch(/^[0-9a-f]*$/)
      if (bytes >= 16) seen.add(n)
    }
    expect(seen.size).toBe(2_000 - 2 * Math.ceil(2_000 / 7))
    // no run of the cache's bytes is handed out twice: a 4 KiB nonce is not all zeros (the cleared pool)
    expect(randomNonce(4096)).not.toMatch(/^0+$/)
  })

  it('sleeps, and rejects with AbortError when aborted before or during the sleep', async () => {
    await sleep(1)
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(AbortError)
    const controller = new AbortController()
    const slept = sleep(60_000, controller.signal)
    controller.abort()
    await expect(slept).rejects.toBeInstanceOf(AbortError)
  })

  it('runs a task later, after the current microtasks', async () => {
    const order: string[] = []
    const done = deferred<void>()
    nextTask(() => {
      order.push('task')
      done.resolve()
    })
    queueMicrotask(() => order.push('microtask'))
    await done.promise
    expect(order).toEqual(['microtask', 'task'])
  })

  it('checks numeric options with InvalidOptionsError naming the option', () => {
    expect(checkNumber('n', 3, { min: 1, integer: true })).toBe(3)
    expect(numberOption('n', undefined, 7)).toBe(7)
    for (const bad of [0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3', undefined]) {
      expect(() => checkNumber('limit', bad, { min: 1, max: 10, integer: true })).toThrow(InvalidOptionsError)
    }
    expect(() => checkNumber('limit', 0, { min: 1 })).toThrow(/limit must be a number >= 1, got 0/)
  })

  it('names the forbidden keys once', () => {
    expect(['__proto__', 'constructor', 'prototype'].every(isForbiddenKey)).toBe(true)
    expect(isForbiddenKey('proto')).toBe(false)
  })

  it('settles, fails, times out and aborts pending requests, each leaving the table exactly once', async () => {
    const table = new PendingRequests<string, { to: string }>({ max: 3 })
    const timedOut: string[] = []
    const open = (nonce: string, timeoutMs: number, signal?: AbortSignal) =>
      table.open(
        nonce,
        { timeoutMs, signal, onTimeout: () => new Error('late'), onTimedOut: () => timedOut.push(nonce) },
        { to: nonce },
      )
    const a = open('a', 60_000)
    const b = open('b', 60_000)
    const controller = new AbortController()
    const c = open('c', 60_000, controller.signal)
    expect(() => open('d', 1)).toThrow(TooManyPendingRequestsError)
    expect(table.context('b')).toEqual({ to: 'b' })
    expect(table.settle('a', 'A')).toBe(true)
    expect(table.settle('a', 'again')).toBe(false)
    expect(table.fail('b', new RangeError('no'))).toBe(true)
    controller.abort()
    await expect(a).resolves.toBe('A')
    await expect(b).rejects.toBeInstanceOf(RangeError)
    await expect(c).rejects.toBeInstanceOf(AbortError)
    expect(table.size).toBe(0)
    const d = open('d', 1)
    await expect(d).rejects.toThrow('late')
    expect(timedOut).toEqual(['d'])
    const e = open('e', 60_000)
    table.failAll(new Error('stopped'))
    await expect(e).rejects.toThrow('stopped')
    expect(table.size).toBe(0)
    await expect(open('f', 10, AbortSignal.abort())).rejects.toBeInstanceOf(AbortError)
    expect(table.size).toBe(0)
  })
})
