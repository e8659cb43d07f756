/**
 * A dial whose time runs out while it still waits for its first move (`begin`) rejects with
 * `ConnectionFailedError` once, and leaves no unhandled rejection behind.
 */
import { ConnectionFailedError, Identifier } from '@skipmesh/core'
import { deferred } from '@skipmesh/core/internal'
import { afterEach, expect, it, vi } from 'vitest'
import { Dialer } from '../src/dialer.js'

const unhandled: unknown[] = []
const record = (reason: unknown): void => void unhandled.push(reason)
afterEach(() => {
  vi.useRealTimers()
  process.off('unhandledRejection', record)
  unhandled.length = 0
})

it('a dial that times out while its first move is pending rejects once, with no unhandled rejection', async () => {
  process.on('unhandledRejection', record)
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  const begun = deferred<void>()
  const released = deferred<void>()
  const dialer = new Dialer({
    connectTimeoutMs: 20,
    isReady: () => true,
    begin: async () => {
      begun.resolve()
      await released.promise
    },
    onDialFailed: () => {},
  })
  const slot = dialer.slot(Identifier.random())
  const dial = dialer.connect(slot, undefined)
  const outcome = dial.then(
    () => undefined,
    (e: unknown) => e,
  )
  await begun.promise
  // the dial's time runs out while `begin` still waits; the next turn of the event loop would report an
  // unhandled rejection of the dial's waiter
  vi.advanceTimersByTime(20)
  await new Promise<void>((resolve) => setImmediate(resolve))
  expect(unhandled).toEqual([])
  released.resolve()
  expect(await outcome).toBeInstanceOf(ConnectionFailedError)
  expect(unhandled).toEqual([])
})
