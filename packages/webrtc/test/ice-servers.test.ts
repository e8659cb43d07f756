import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type ExpiringIceServer, IssuedIceServers } from '../src/ice-servers.js'

function entry(expiresAt: number, username = 'u'): ExpiringIceServer {
  return { urls: ['turn:t.example'], username, credential: 'c', expiresAt }
}

describe('issued ICE servers', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('renews the credential after 80 % of its lifetime, and serves only valid ones', async () => {
    const answers = [[entry(Date.now() + 100_000, 'first')], [entry(Date.now() + 200_000, 'second')]]
    let asked = 0
    const issued = new IssuedIceServers({ fetch: async () => answers[Math.min(asked++, 1)] })
    await issued.refresh()
    expect(issued.current().map((s) => s.username)).toEqual(['first'])
    expect(issued.current()[0]).toEqual({ urls: ['turn:t.example'], username: 'first', credential: 'c' })
    await vi.advanceTimersByTimeAsync(79_000)
    expect(asked).toBe(1)
    await vi.advanceTimersByTimeAsync(2_000)
    expect(asked).toBe(2)
    expect(issued.current().map((s) => s.username)).toEqual(['second'])
    issued.stop()
  })

  it('keeps what it has and asks again soon when the service cannot answer; stops asking a service without TURN', async () => {
    let answer: ExpiringIceServer[] | undefined = [entry(Date.now() + 100_000)]
    let asked = 0
    const issued = new IssuedIceServers({
      fetch: async () => {
        asked++
        return answer
      },
    })
    await issued.refresh()
    answer = undefined
    await vi.advanceTimersByTimeAsync(81_000) // renewal fails: keep the valid one, retry in 10 s
    expect(asked).toBe(2)
    expect(issued.current()).toHaveLength(1)
    answer = []
    await vi.advanceTimersByTimeAsync(10_000)
    expect(asked).toBe(3)
    expect(issued.current()).toEqual([])
    await vi.advanceTimersByTimeAsync(3_600_000)
    expect(asked).toBe(3)
    issued.stop()
  })

  it('drops a credential once it expired', async () => {
    const issued = new IssuedIceServers({ fetch: async () => undefined })
    const expiring = new IssuedIceServers({ fetch: async () => [entry(Date.now() + 5_000)] })
    await expiring.refresh()
    expect(expiring.current()).toHaveLength(1)
    expiring.stop()
    vi.advanceTimersByTime(6_000)
    expect(expiring.current()).toEqual([])
    expect(issued.current()).toEqual([])
  })
})
