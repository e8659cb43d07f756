/**
 * Helpers of the ICE and relay tests: a WebRTC implementation that keeps its peer connections, waiting on a
 * condition, numbered messages across an outage, and the checks after one.
 */
import { Channel } from '@skipmesh/core'
import { expect } from 'vitest'
import type { WebRtcConnection } from '../src/connection.js'
import { HeartbeatTimeoutError } from '../src/errors.js'
import type { WebRtcConnectionManager } from '../src/manager.js'
import type { RTCPeerConnectionConstructor, WrtcImplementation } from '../src/wrtc.js'
import { type closeWatcher, collectMessages } from './helpers.js'

/** Wraps an implementation so that the test can read the stats and configuration of every RTCPeerConnection it made. */
export function recordingWrtc(impl: WrtcImplementation): WrtcImplementation & { made: RTCPeerConnection[] } {
  const made: RTCPeerConnection[] = []
  const Base = impl.RTCPeerConnection
  class Recording extends Base {
    constructor(config?: RTCConfiguration) {
      super(config)
      made.push(this)
    }
  }
  return {
    RTCPeerConnection: Recording as RTCPeerConnectionConstructor,
    RTCSessionDescription: impl.RTCSessionDescription,
    RTCIceCandidate: impl.RTCIceCandidate,
    made,
  }
}

/** Resolves once `condition()` holds (checked every 50 ms), or rejects after `timeoutMs`. */
export function until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const timer = setInterval(() => {
      if (condition()) {
        clearInterval(timer)
        resolve()
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer)
        reject(new Error(`timed out waiting for ${what}`))
      }
    }, 50)
  })
}

const encode = (n: number): Uint8Array => new TextEncoder().encode(String(n))
const decode = (bytes: Uint8Array): number => Number(new TextDecoder().decode(bytes))

/** Messages 0 … `count - 1` from `from` to `to`, sent in ranges (without waiting), then checked all together. */
export function numberedMessages(from: WebRtcConnection, to: WebRtcConnection, count: number) {
  const got = collectMessages(to, count + 1, 100_000)
  const sends: Promise<void>[] = []
  return {
    /** How many arrived so far. */
    received: got.received,
    /** Sends `start` … `end - 1`. */
    send(start: number, end: number): void {
      for (let i = start; i < end; i++) sends.push(from.send(Channel.Test, encode(i)))
    },
    /** Every message arrived once and in order: a last marker, then no duplicate trails behind (the channel is ordered). */
    async expectAllInOrder(): Promise<void> {
      sends.push(from.send(Channel.Test, encode(-1)))
      await Promise.all(sends)
      const numbers = (await got.done).map((m) => decode(m.bytes))
      expect(numbers).toEqual([...Array.from({ length: count }, (_, i) => i), -1])
    },
  }
}

type Closes = Array<ReturnType<typeof closeWatcher>>

/** The pair rode out the outage: the same connection (no close, no new peer connection), and it carries back too. */
export async function expectSameConnectionUp(
  pair: {
    a: WebRtcConnectionManager
    b: WebRtcConnectionManager
    ab: WebRtcConnection
    ba: WebRtcConnection
  },
  closes: Closes,
): Promise<void> {
  const { a, b, ab, ba } = pair
  expect(closes.map((c) => c.count())).toEqual([0, 0])
  expect([ab.status, ba.status]).toEqual(['open', 'open'])
  expect(a.connections()).toEqual([ab])
  expect(b.connections()).toEqual([ba])
  expect(a.metrics().connectionsClosed + b.metrics().connectionsClosed).toBe(0)
  expect(a.metrics().peerConnectionsCreated + b.metrics().peerConnectionsCreated).toBe(2)
  const back = collectMessages(ab, 1, 30_000)
  await ba.send(Channel.Test, encode(7))
  expect((await back.done).map((m) => decode(m.bytes))).toEqual([7])
}

/**
 * Both sides closed once with `HeartbeatTimeoutError` within the documented bound after `since`
 * (`heartbeatTimeoutMs` + one interval, one more when a tick is excused as a local stall), plus slack for a
 * loaded machine's late timers.
 */
export async function expectDeclaredGone(
  closes: Closes,
  since: number,
  heartbeatTimeoutMs: number,
  heartbeatIntervalMs: number,
): Promise<void> {
  const reasons = await Promise.all(closes.map((c) => c.closed))
  for (const reason of reasons) expect(reason).toBeInstanceOf(HeartbeatTimeoutError)
  const bound = heartbeatTimeoutMs + 2 * heartbeatIntervalMs + 5_000
  for (const c of closes) expect(c.at()! - since).toBeLessThan(bound)
  expect(closes.map((c) => c.count())).toEqual([1, 1])
}
