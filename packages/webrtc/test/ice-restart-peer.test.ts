import { describe, expect, it } from 'vitest'
import { createNativePeerTransport } from '../src/peer-native.js'
import type { PeerSignal, PeerTransport, PeerTransportOptions } from '../src/peer-transport.js'
import type { RTCPeerConnectionConstructor, WrtcImplementation } from '../src/wrtc.js'
import { implementations } from './helpers.js'
import { recordingWrtc } from './ice-helpers.js'

/** Wraps an implementation so that the test can await the outcome of each `setRemoteDescription`. */
function watchingRemoteDescriptions(impl: WrtcImplementation): {
  wrtc: WrtcImplementation
  settled: Array<Promise<'applied' | 'refused'>>
  next: () => Promise<Promise<'applied' | 'refused'>>
} {
  const settled: Array<Promise<'applied' | 'refused'>> = []
  const waiters: Array<() => void> = []
  const Base = impl.RTCPeerConnection
  class Watching extends Base {
    override setRemoteDescription(description: RTCSessionDescriptionInit): Promise<void> {
      const result = super.setRemoteDescription(description)
      settled.push(
        result.then(
          () => 'applied' as const,
          () => 'refused' as const,
        ),
      )
      for (const w of waiters.splice(0)) w()
      return result
    }
  }
  const wrtc = { ...impl, RTCPeerConnection: Watching as RTCPeerConnectionConstructor }
  let seen = 0
  const next = async (): Promise<Promise<'applied' | 'refused'>> => {
    while (settled.length <= seen) await new Promise<void>((resolve) => waiters.push(resolve))
    return settled[seen++]!
  }
  return { wrtc, settled, next }
}

/** Connects an initiator of `initiatorImpl` to a responder of `responderImpl`, with one negotiated channel each. */
async function pair(
  initiatorImpl: WrtcImplementation,
  responderImpl: WrtcImplementation,
  options: Partial<PeerTransportOptions> = {},
) {
  const a = createNativePeerTransport({ initiator: true, wrtc: initiatorImpl, config: {}, ...options })
  const b = createNativePeerTransport({ initiator: false, wrtc: responderImpl, config: {}, ...options })
  const events: string[] = []
  const fromA: PeerSignal[] = []
  for (const [name, t] of [
    ['a', a],
    ['b', b],
  ] as const) {
    for (const e of ['connect', 'close', 'error', 'restart'] as const)
      t.on(e, () => events.push(`${name} ${e}`))
  }
  a.on('signal', (s) => {
    fromA.push(s)
    b.signal(s)
  })
  b.on('signal', (s) => a.signal(s))
  const connected = [a, b].map((t) => new Promise<void>((r) => t.on('connect', () => r())))
  const ca = a.createChannel('data', 10)
  const cb = b.createChannel('data', 10)
  const opened = (c: RTCDataChannel) =>
    c.readyState === 'open'
      ? Promise.resolve()
      : new Promise<void>((r) => c.addEventListener('open', () => r()))
  // restarts begin once the transport is connected (its in-band channel open), which may follow this channel's open
  await Promise.all([opened(ca), opened(cb), ...connected])
  return { a, b, ca, cb, events, fromA }
}

function roundTrip(from: RTCDataChannel, to: RTCDataChannel, text: string): Promise<string> {
  const got = new Promise<string>((resolve) => {
    to.onmessage = (m) => resolve(String(m.data))
  })
  from.send(text)
  return got
}

function destroyAll(...transports: PeerTransport[]): void {
  for (const t of transports) t.destroy()
}

describe('ICE restart of the native peer transport', () => {
  it('renegotiates through its signals on wrtc, keeping the data channels and emitting restart, not connect', async () => {
    const watch = watchingRemoteDescriptions(implementations.wrtc())
    const { a, b, ca, cb, events, fromA } = await pair(implementations.wrtc(), watch.wrtc)
    try {
      await watch.next() // the first offer
      const offers = fromA.filter((s) => s.type === 'offer').length
      a.restartIce?.()
      expect(await await watch.next()).toBe('applied')
      expect(fromA.filter((s) => s.type === 'offer').length).toBe(offers + 1)
      expect(await roundTrip(ca, cb, 'after')).toBe('after')
      expect(await roundTrip(cb, ca, 'back')).toBe('back')
      expect(events.filter((e) => e.endsWith('connect')).sort()).toEqual(['a connect', 'b connect'])
      expect(events.filter((e) => !e.endsWith('connect'))).toEqual(['a restart'])
    } finally {
      destroyAll(a, b)
    }
  })

  it('gives both peer connections the current ICE servers before a restart (renewed TURN credentials)', async () => {
    // an unreachable TURN server: the pair connects over host candidates, and the test reads the configuration
    const turn = (username: string): RTCIceServer[] => [
      { urls: ['turn:127.0.0.1:9?transport=udp'], username, credential: 'secret' },
    ]
    let issued = turn('first')
    const initiator = recordingWrtc(implementations.wrtc())
    const responder = recordingWrtc(implementations.wrtc())
    const watch = watchingRemoteDescriptions(responder)
    const { a, b, ca, cb } = await pair(initiator, watch.wrtc, {
      config: { iceServers: issued },
      currentConfig: () => ({ iceServers: issued }),
    })
    const usernames = () =>
      [...initiator.made, ...responder.made].map((pc) => pc.getConfiguration().iceServers?.[0]?.username)
    try {
      await watch.next()
      expect(usernames()).toEqual(['first', 'first'])
      issued = turn('renewed')
      a.restartIce?.()
      expect(usernames()).toEqual(['renewed', 'first'])
      // the responder takes the current servers before it applies the restart offer
      expect(await await watch.next()).toBe('applied')
      expect(usernames()).toEqual(['renewed', 'renewed'])
      expect(await roundTrip(ca, cb, 'after')).toBe('after')
    } finally {
      destroyAll(a, b)
    }
  })

  it('stays up when the remote stack cannot apply the restart (a node-datachannel responder)', async () => {
    const watch = watchingRemoteDescriptions(implementations['node-datachannel']())
    const { a, b, ca, cb, events } = await pair(implementations.wrtc(), watch.wrtc)
    try {
      await watch.next()
      a.restartIce?.()
      expect(await await watch.next()).toBe('refused')
      expect(await roundTrip(ca, cb, 'after')).toBe('after')
      expect(await roundTrip(cb, ca, 'back')).toBe('back')
      expect(events.filter((e) => !e.endsWith('connect'))).toEqual(['a restart'])
    } finally {
      destroyAll(a, b)
    }
  })

  it('makes no restart on a node-datachannel initiator (its polyfill cannot), and stays up', async () => {
    const { a, b, ca, cb, events } = await pair(implementations['node-datachannel'](), implementations.wrtc())
    try {
      a.restartIce?.()
      expect(await roundTrip(ca, cb, 'after')).toBe('after')
      expect(events.filter((e) => !e.endsWith('connect'))).toEqual([])
    } finally {
      destroyAll(a, b)
    }
  })

  it('makes no restart on the responder (only the initiator makes offers)', async () => {
    const { a, b, ca, cb, events } = await pair(implementations.wrtc(), implementations.wrtc())
    try {
      b.restartIce?.()
      expect(await roundTrip(cb, ca, 'after')).toBe('after')
      expect(events.filter((e) => !e.endsWith('connect'))).toEqual([])
    } finally {
      destroyAll(a, b)
    }
  })
})
