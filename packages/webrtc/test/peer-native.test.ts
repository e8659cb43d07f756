import wrtc from '@roamhq/wrtc'
import * as ndc from 'node-datachannel/polyfill'
import { yieldTask } from '@skipmesh/core/internal'
import { afterEach, describe, expect, it } from 'vitest'
import { isLibdatachannelSdp } from '../src/candidate-gate.js'
import { nodeDatachannelWrtc } from '../src/node-datachannel-adapter.js'
import type { PeerEvents, PeerSignal, PeerTransport } from '../src/peer-transport.js'
import { createNativePeerTransport } from '../src/peer-native.js'
import type { RTCPeerConnectionConstructor, WrtcImplementation } from '../src/wrtc.js'

/** The stacks the native transport drives: both Node stacks, and node-datachannel's polyfill without the adapter. */
const stacks: Record<string, () => WrtcImplementation> = {
  wrtc: () => wrtc as unknown as WrtcImplementation,
  'node-datachannel (adapted)': () => nodeDatachannelWrtc(ndc),
  'node-datachannel (raw polyfill)': () => ndc as unknown as WrtcImplementation,
}

const live: PeerTransport[] = []

afterEach(() => {
  for (const t of live.splice(0)) t.destroy()
})

function transport(wrtcImpl: WrtcImplementation, initiator: boolean): PeerTransport {
  const t = createNativePeerTransport({ initiator, wrtc: wrtcImpl, config: { iceServers: [] } })
  live.push(t)
  return t
}

/** Resolves with the arguments of the next `event` of `t`. */
function next<E extends keyof PeerEvents>(t: PeerTransport, event: E): Promise<Parameters<PeerEvents[E]>> {
  return new Promise((resolve) => {
    const off = t.on(event, ((...args: Parameters<PeerEvents[E]>) => {
      off()
      resolve(args)
    }) as PeerEvents[E])
  })
}

/** Two transports whose signals go straight to each other. */
function pair(wrtcImpl: WrtcImplementation): { a: PeerTransport; b: PeerTransport } {
  const a = transport(wrtcImpl, true)
  const b = transport(wrtcImpl, false)
  a.on('signal', (s) => b.signal(s))
  b.on('signal', (s) => a.signal(s))
  return { a, b }
}

async function connected(a: PeerTransport, b: PeerTransport): Promise<void> {
  await Promise.all([next(a, 'connect'), next(b, 'connect')])
}

function opened(dc: RTCDataChannel): Promise<void> {
  return dc.readyState === 'open'
    ? Promise.resolve()
    : new Promise((resolve) => dc.addEventListener('open', () => resolve(), { once: true }))
}

function nextMessage(dc: RTCDataChannel): Promise<Uint8Array> {
  return new Promise((resolve) =>
    dc.addEventListener('message', (e) => resolve(new Uint8Array(e.data as ArrayBuffer)), { once: true }),
  )
}

/** A negotiated channel `id` on both sides, open. */
async function channelPair(
  a: PeerTransport,
  b: PeerTransport,
  id: number,
): Promise<[RTCDataChannel, RTCDataChannel]> {
  const da = a.createChannel(`ch${id}`, id)
  const db = b.createChannel(`ch${id}`, id)
  da.binaryType = 'arraybuffer'
  db.binaryType = 'arraybuffer'
  await Promise.all([opened(da), opened(db)])
  return [da, db]
}

/** `impl` whose peer connections count the reads of their `localDescription` and `remoteDescription`. */
function countingDescriptionReads(impl: WrtcImplementation): {
  wrtc: WrtcImplementation
  reads: () => number
} {
  let reads = 0
  // proxies, not a subclass: @roamhq/wrtc defines the getters on each instance (non-configurable)
  const counting: ProxyHandler<RTCPeerConnection> = {
    get(target, prop) {
      if (prop === 'localDescription' || prop === 'remoteDescription') reads++
      const value: unknown = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
    set: (target, prop, value) => Reflect.set(target, prop, value, target),
  }
  const RTCPeerConnection: RTCPeerConnectionConstructor = new Proxy(impl.RTCPeerConnection, {
    construct: (Base, args) => new Proxy(Reflect.construct(Base, args) as RTCPeerConnection, counting),
  })
  return { wrtc: { ...impl, RTCPeerConnection }, reads: () => reads }
}

/** `impl` whose peer connections are kept in `pcs`, in the order they were made. */
function capturing(impl: WrtcImplementation): { wrtc: WrtcImplementation; pcs: RTCPeerConnection[] } {
  const pcs: RTCPeerConnection[] = []
  const RTCPeerConnection: RTCPeerConnectionConstructor = new Proxy(impl.RTCPeerConnection, {
    construct: (Base, args) => {
      const pc = Reflect.construct(Base, args) as RTCPeerConnection
      pcs.push(pc)
      return pc
    },
  })
  return { wrtc: { ...impl, RTCPeerConnection }, pcs }
}

/** Resolves once `pc` gathered a candidate and every handler of that event ran. */
async function gathered(pc: RTCPeerConnection): Promise<void> {
  await new Promise<void>((resolve) =>
    pc.addEventListener('icecandidate', (e) => {
      if (e.candidate?.candidate) resolve()
    }),
  )
  await yieldTask()
}

describe.each(Object.entries(stacks))('native peer transport on %s', (name, stack) => {
  it('connects and carries data both ways on a negotiated channel', async () => {
    const { a, b } = pair(stack())
    expect(a.initiator).toBe(true)
    expect(b.initiator).toBe(false)
    await connected(a, b)
    const [da, db] = await channelPair(a, b, 4)
    const atB = nextMessage(db)
    da.send(new Uint8Array([1, 2, 3]))
    expect(await atB).toEqual(new Uint8Array([1, 2, 3]))
    const atA = nextMessage(da)
    db.send(new Uint8Array([4, 5]))
    expect(await atA).toEqual(new Uint8Array([4, 5]))
  })

  it('carries data on a channel created before the first offer', async () => {
    const { a, b } = pair(stack())
    // the control channel is made right after the factory returns, before the offer exists
    const da = a.createChannel('control', 2)
    const db = b.createChannel('control', 2)
    da.binaryType = 'arraybuffer'
    db.binaryType = 'arraybuffer'
    await Promise.all([opened(da), opened(db), connected(a, b)])
    const atB = nextMessage(db)
    da.send(new Uint8Array([7]))
    expect(await atB).toEqual(new Uint8Array([7]))
  })

  it('reports the link maximum message size once connected', async () => {
    const { a, b } = pair(stack())
    expect(a.remoteMaxMessageSize()).toBeUndefined()
    await connected(a, b)
    for (const t of [a, b]) {
      const max = t.remoteMaxMessageSize()
      expect(typeof max).toBe('number')
      expect(max).toBeGreaterThanOrEqual(16 * 1024)
    }
  })

  it('never reads a description back from the stack: fingerprints and message size come from the SDP it applied', async () => {
    // @roamhq/wrtc serializes a description for those getters on this thread while its own threads add candidates to
    // it: reading one while ICE gathers crashed a test worker (SIGSEGV in webrtc::SdpSerialize)
    const counted = countingDescriptionReads(stack())
    const { a, b } = pair(counted.wrtc)
    await connected(a, b)
    const [fa, fb] = await Promise.all([a.fingerprints?.(), b.fingerprints?.()])
    expect(fa?.local).toMatch(/^sha-256 /)
    expect(fa?.local).toBe(fb?.remote)
    expect(fa?.remote).toBe(fb?.local)
    for (const t of [a, b]) expect(t.remoteMaxMessageSize()).toBeGreaterThanOrEqual(16 * 1024)
    expect(counted.reads()).toBe(0)
  })

  it('reports a succeeded candidate pair in its statistics', async () => {
    const { a, b } = pair(stack())
    await connected(a, b)
    for (const t of [a, b]) {
      const pairs = [...(await t.getStats()).values()].filter(
        (s: { type?: string; state?: string }) => s.type === 'candidate-pair' && s.state === 'succeeded',
      )
      expect(pairs.length).toBeGreaterThan(0)
    }
  })

  it('emits close on the remote after destroy, and nothing more on the destroyed side', async () => {
    const { a, b } = pair(stack())
    await connected(a, b)
    await channelPair(a, b, 4)
    const afterDestroy: string[] = []
    a.on('close', () => afterDestroy.push('close'))
    a.on('error', () => afterDestroy.push('error'))
    const remoteClosed = next(b, 'close')
    a.destroy()
    a.destroy()
    await remoteClosed
    expect(afterDestroy).toEqual([])
  })

  it('holds remote candidates that arrive before the remote description', async () => {
    const captured = capturing(stack())
    const impl = captured.wrtc
    const a = transport(impl, true)
    const b = transport(impl, false)
    // a's offer waits until a has gathered a candidate; then b gets the candidates a signalled first, the offer
    // last (a libdatachannel offerer signals none before the answer: see the next case)
    const held: PeerSignal[] = []
    let releasedToB = false
    const firstCandidateOfA = gathered(captured.pcs[0]!)
    a.on('signal', (s) => {
      if (releasedToB) return b.signal(s)
      held.push(s)
    })
    // likewise b's answer reaches a after b's first candidate
    const heldFromB: PeerSignal[] = []
    let releasedToA = false
    b.on('signal', (s) => {
      if (releasedToA) return a.signal(s)
      heldFromB.push(s)
      if (s.type === 'candidate') {
        releasedToA = true
        for (const x of reorder(heldFromB.splice(0))) a.signal(x)
      }
    })
    await firstCandidateOfA
    releasedToB = true
    for (const s of reorder(held.splice(0))) b.signal(s)
    await connected(a, b)
    const [da, db] = await channelPair(a, b, 4)
    const atB = nextMessage(db)
    da.send(new Uint8Array([9]))
    expect(await atB).toEqual(new Uint8Array([9]))
  })

  it('signals its candidates after its offer; a libdatachannel offerer only once the answer is applied', async () => {
    // libdatachannel hands an answer's ICE credentials to its ICE agent before it stores the answer's fingerprint: an
    // answerer that could already reach the offerer (checks, then DTLS) had its certificate verified against no
    // fingerprint, the handshake failed, and applying the answer threw "Got a remote candidate without ICE transport"
    const holds = name.startsWith('node-datachannel')
    const captured = capturing(stack())
    const a = transport(captured.wrtc, true)
    const b = transport(captured.wrtc, false)
    // a's signals wait until a has gathered a candidate and offered; b's until b has gathered and answered
    const fromA: PeerSignal[] = []
    const fromB: PeerSignal[] = []
    let aToB = false
    let bToA = false
    a.on('signal', (s) => {
      fromA.push(s)
      if (aToB) b.signal(s)
    })
    b.on('signal', (s) => {
      fromB.push(s)
      if (bToA) a.signal(s)
    })
    await gathered(captured.pcs[0]!)
    if (fromA.length === 0) await next(a, 'signal')
    const offer = fromA[0]
    expect(offer?.type).toBe('offer')
    expect(offer?.type === 'offer' && isLibdatachannelSdp(offer.sdp)).toBe(holds)
    expect(fromA.some((s) => s.type === 'candidate')).toBe(!holds)
    const bGathered = gathered(captured.pcs[1]!)
    aToB = true
    for (const s of fromA) b.signal(s)
    await bGathered
    if (!fromB.some((s) => s.type === 'answer')) await next(b, 'signal')
    if (holds) {
      // still the offer alone; and the answerer, with no candidate of a, had no path to check
      expect(fromA.map((s) => s.type)).toEqual(['offer'])
      expect(captured.pcs[1]!.iceConnectionState).not.toBe('connected')
    }
    const opened = connected(a, b)
    bToA = true
    for (const s of fromB) a.signal(s)
    await opened
    // the held candidates left once the answer was applied
    expect(fromA.filter((s) => s.type === 'candidate').length).toBeGreaterThan(0)
  })

  it('ignores signals after destroy', async () => {
    const impl = stack()
    const a = transport(impl, true)
    const b = transport(impl, false)
    const toB: PeerSignal[] = []
    a.on('signal', (s) => toB.push(s))
    const offered = next(a, 'signal')
    await offered
    const events: string[] = []
    for (const e of ['signal', 'connect', 'close', 'error'] as const) b.on(e, () => events.push(e))
    b.destroy()
    for (const s of toB) b.signal(s)
    // a second transport that gets the same signals answers: the signals were usable, b just ignored them
    const c = transport(impl, false)
    const answered = next(c, 'signal')
    for (const s of toB) c.signal(s)
    expect((await answered)[0].type).toBe('answer')
    expect(events).toEqual([])
  })

  it('reports a description it cannot apply as an error, then closes once', async () => {
    const b = transport(stack(), false)
    const events: string[] = []
    let error: Error | undefined
    b.on('error', (err) => {
      error = err
      events.push('error')
    })
    b.on('close', () => events.push('close'))
    const closed = next(b, 'close')
    b.signal({ type: 'offer', sdp: 'not an SDP' })
    await closed
    b.signal({ type: 'offer', sdp: 'not an SDP either' })
    expect(events).toEqual(['error', 'close'])
    expect(error?.name).toBe('ConnectionFailedError')
  })

  it('the initiator ignores a colliding offer and still connects to its responder', async () => {
    const impl = stack()
    const a = transport(impl, true)
    const b = transport(impl, false)
    const other = transport(impl, true)
    const fromA: PeerSignal[] = []
    const stopHolding = a.on('signal', (s) => fromA.push(s))
    const [[foreignOffer], [ownOffer]] = await Promise.all([next(other, 'signal'), next(a, 'signal')])
    expect(ownOffer.type).toBe('offer')
    // a has its own offer out (no answer yet): the foreign offer collides with it
    a.signal(foreignOffer)
    stopHolding()
    a.on('signal', (s) => b.signal(s))
    b.on('signal', (s) => a.signal(s))
    for (const s of fromA) b.signal(s)
    await connected(a, b)
    expect(fromA.filter((s) => s.type === 'answer')).toEqual([])
  })
})

/** Candidates first, then the description. */
function reorder(signals: PeerSignal[]): PeerSignal[] {
  return [...signals.filter((s) => s.type === 'candidate'), ...signals.filter((s) => s.type !== 'candidate')]
}

describe('native peer transport renegotiation (wrtc, which implements restartIce)', () => {
  it('resolves an offer collision: the polite responder rolls back, the impolite initiator keeps its offer', async () => {
    const pcs: RTCPeerConnection[] = []
    const Base = (wrtc as unknown as WrtcImplementation).RTCPeerConnection
    class Capturing extends Base {
      constructor(config?: RTCConfiguration) {
        super(config)
        pcs.push(this)
      }
    }
    const impl: WrtcImplementation = {
      ...(wrtc as unknown as WrtcImplementation),
      RTCPeerConnection: Capturing,
    }
    const a = transport(impl, true)
    const b = transport(impl, false)
    const errors: Error[] = []
    a.on('error', (e) => errors.push(e))
    b.on('error', (e) => errors.push(e))
    // signals pass straight through until `held` is set; then both sides' signals wait until both offered
    let held: { fromA: PeerSignal[]; fromB: PeerSignal[]; offers: number; both: () => void } | undefined
    const afterRelease: string[] = []
    const route = (from: 'a' | 'b', s: PeerSignal): void => {
      const to = from === 'a' ? b : a
      if (held === undefined) {
        if (s.type !== 'candidate') afterRelease.push(`${from}:${s.type}`)
        to.signal(s)
      } else {
        ;(from === 'a' ? held.fromA : held.fromB).push(s)
        if (s.type === 'offer' && ++held.offers === 2) held.both()
      }
    }
    a.on('signal', (s) => route('a', s))
    b.on('signal', (s) => route('b', s))
    await connected(a, b)
    const [pa, pb] = pcs as [RTCPeerConnection, RTCPeerConnection]
    const bothOffered = new Promise<void>((both) => {
      held = { fromA: [], fromB: [], offers: 0, both }
    })
    pa.restartIce()
    pb.restartIce()
    await bothOffered
    expect([pa.signalingState, pb.signalingState]).toEqual(['have-local-offer', 'have-local-offer'])
    const { fromA, fromB } = held as NonNullable<typeof held>
    held = undefined
    afterRelease.length = 0
    const aStable = new Promise<void>((resolve) =>
      pa.addEventListener('signalingstatechange', () => pa.signalingState === 'stable' && resolve()),
    )
    for (const s of fromA) b.signal(s)
    for (const s of fromB) a.signal(s)
    await aStable
    // b rolled back its offer and answered a's; a ignored b's offer (it answered nothing)
    expect(afterRelease).toEqual(['b:answer'])
    expect(pb.signalingState).toBe('stable')
    expect(errors).toEqual([])
    const [da, db] = await channelPair(a, b, 6)
    const atB = nextMessage(db)
    da.send(new Uint8Array([6]))
    expect(await atB).toEqual(new Uint8Array([6]))
  })
})
