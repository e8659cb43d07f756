import {
  ComponentNotStartedError,
  ConnectionFailedError,
  channel,
  generateKeyPair,
  Identifier,
  InvalidOptionsError,
  PeerNotFoundError,
} from '@skipmesh/core'
import * as ndc from 'node-datachannel/polyfill'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { encodeControl, parseControl } from '../src/control.js'
import { ProtocolViolationError, WebRtcUnavailableError } from '../src/errors.js'
import {
  encodeBatch,
  encodeFrame,
  FRAME_BATCH,
  FRAME_LAST,
  FRAME_MORE,
  frameCount,
  Reassembler,
} from '../src/framing.js'
import { createWebRtcConnectionManager, type WebRtcConnectionManagerEvents } from '../src/manager.js'
import { nodeDatachannelWrtc } from '../src/node-datachannel-adapter.js'
import { createSignalingClient } from '../src/signaling-client.js'
import type { RTCPeerConnectionConstructor, WrtcImplementation } from '../src/wrtc.js'
import { closeWatcher, implementations, nextConnection, useSignalingServer } from './helpers.js'

const fixture = useSignalingServer({ reconnectDelayMs: 50 })

function room(): string {
  return `u-${Math.random().toString(36).slice(2)}`
}

describe('framing', () => {
  it('splits a message into frames below the frame size and reassembles it', () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff)
    const frameSize = 101
    const r = new Reassembler(1000)
    const frames: Uint8Array[] = []
    for (let offset = 0; offset < bytes.length; offset += frameSize - 1)
      frames.push(encodeFrame(bytes, offset, frameSize))
    expect(frames.length).toBe(frameCount(bytes.length, frameSize))
    expect(frames.every((f) => f.length <= frameSize)).toBe(true)
    expect(frames.slice(0, -1).every((f) => f[0] === FRAME_MORE)).toBe(true)
    expect(frames.at(-1)![0]).toBe(FRAME_LAST)
    const results = frames.map((f) => r.push(f))
    expect(results.slice(0, -1).every((x) => x.kind === 'partial')).toBe(true)
    const last = results.at(-1)!
    expect(last.kind === 'message' && [...last.bytes]).toEqual([...bytes])
  })

  it('frames an empty message as one frame', () => {
    const frame = encodeFrame(new Uint8Array(0), 0, 100)
    expect([...frame]).toEqual([FRAME_LAST])
    const out = new Reassembler(10).push(frame)
    expect(out.kind === 'message' && out.bytes.length).toBe(0)
  })

  it('reports a message over the cap as oversize as soon as it exceeds it, and malformed frames as malformed', () => {
    const r = new Reassembler(150)
    expect(r.push(Uint8Array.of(FRAME_MORE, ...new Uint8Array(100))).kind).toBe('partial')
    expect(r.push(Uint8Array.of(FRAME_MORE, ...new Uint8Array(100)))).toEqual({ kind: 'oversize', size: 200 })
    expect(r.push(new Uint8Array(0)).kind).toBe('malformed')
    expect(r.push(Uint8Array.of(7, 1, 2)).kind).toBe('malformed')
    // after an oversize message the reassembler starts clean
    expect(r.push(Uint8Array.of(FRAME_LAST, 9)).kind).toBe('message')
  })
})

describe('batch frames', () => {
  it('carries several whole messages in one frame, empty ones included', () => {
    const messages = [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.of(9)]
    const frame = encodeBatch(messages)
    expect(frame[0]).toBe(FRAME_BATCH)
    const out = new Reassembler(100).push(frame)
    expect(out.kind === 'batch' && out.messages.map((m) => [...m])).toEqual([[1, 2, 3], [], [9]])
  })

  it('rejects truncated, empty, oversize or misplaced batch frames without throwing', () => {
    const frame = encodeBatch([Uint8Array.of(1, 2, 3)])
    expect(new Reassembler(100).push(frame.subarray(0, frame.length - 1)).kind).toBe('malformed')
    expect(new Reassembler(100).push(Uint8Array.of(FRAME_BATCH, 0, 0)).kind).toBe('malformed')
    expect(new Reassembler(100).push(Uint8Array.of(FRAME_BATCH)).kind).toBe('malformed')
    expect(new Reassembler(2).push(frame).kind).toBe('oversize')
    const r = new Reassembler(100)
    expect(r.push(Uint8Array.of(FRAME_MORE, 5)).kind).toBe('partial')
    expect(r.push(frame).kind).toBe('malformed')
  })
})

describe('control messages', () => {
  it('accepts every well-formed control message', () => {
    for (const m of [
      { t: 'hello', v: 1, max: 16 },
      { t: 'open', id: 4, ch: channel('x') },
      { t: 'ack', id: 5 },
      { t: 'ping' },
      { t: 'pong' },
      { t: 'close', sent: [[4, 10] as const] },
      { t: 'fin' },
    ] as const) {
      expect(parseControl(encodeControl(m))).toEqual(m)
    }
  })

  it('rejects malformed or out-of-range control messages without throwing', () => {
    for (const junk of [
      'not json',
      '[]',
      'null',
      '{"t":"open","id":2,"ch":"x"}',
      '{"t":"open","id":4,"ch":"Bad Channel"}',
      '{"t":"open","id":100000,"ch":"x"}',
      '{"t":"ack","id":"4"}',
      '{"t":"hello","v":1,"max":-1}',
      '{"t":"close","sent":[[4]]}',
      '{"t":"close","sent":{"4":1}}',
      '{"t":"nope"}',
      new ArrayBuffer(4),
      'x'.repeat(70_000),
    ]) {
      expect(parseControl(junk)).toBeUndefined()
    }
  })
})

describe('node-datachannel adapter', () => {
  it('returns plain, writable { type, sdp } descriptions (simple-peer rewrites offer.sdp)', async () => {
    const wrtc = nodeDatachannelWrtc(ndc)
    const pc = new wrtc.RTCPeerConnection({ iceServers: [] })
    try {
      pc.createDataChannel('x')
      const offer = await pc.createOffer()
      expect(Object.getPrototypeOf(offer)).toBe(Object.prototype)
      expect(offer.type).toBe('offer')
      expect(offer.sdp).toContain('m=application')
      offer.sdp = `${offer.sdp}`
      expect(Object.keys(offer).sort()).toEqual(['sdp', 'type'])
    } finally {
      pc.close()
    }
  })

  it('holds remote candidates that arrive before the local description, then applies them', async () => {
    const wrtc = nodeDatachannelWrtc(ndc)
    const offerer = new wrtc.RTCPeerConnection({ iceServers: [] })
    const answerer = new wrtc.RTCPeerConnection({ iceServers: [] })
    try {
      offerer.createDataChannel('x')
      const offer = await offerer.createOffer()
      await offerer.setLocalDescription(offer)
      await answerer.setRemoteDescription(offer)
      // libdatachannel would throw "Got a remote candidate without ICE transport" here
      const added = answerer.addIceCandidate({
        candidate: 'candidate:1 1 UDP 2122317823 127.0.0.1 40000 typ host',
        sdpMid: '0',
      })
      let settled = false
      void added.then(() => {
        settled = true
      })
      await Promise.resolve()
      expect(settled).toBe(false)
      await answerer.setLocalDescription(await answerer.createAnswer())
      await expect(added).resolves.toBeUndefined()
    } finally {
      offerer.close()
      answerer.close()
    }
  })
})

describe('SignalingClient', () => {
  it('joins a room, sees peers join and leave, and relays signals with the authenticated sender', async () => {
    const r = room()
    const a = await fixture.client(r)
    const joined = new Promise<Identifier>((resolve) => a.on('peer:joined', resolve))
    const b = await fixture.client(r)
    expect((await joined).equals(b.localId)).toBe(true)
    expect(b.peers().map((p) => p.toHex())).toEqual([a.localId.toHex()])
    const got = new Promise<{ from: Identifier; session: string; data: unknown }>((resolve) =>
      b.on('signal', (from, session, data) => resolve({ from, session, data })),
    )
    await a.signal(b.localId, 's1', { hello: 'there' })
    const s = await got
    expect(s.from.equals(a.localId)).toBe(true)
    expect(s.session).toBe('s1')
    expect(s.data).toEqual({ hello: 'there' })
    const left = new Promise<Identifier>((resolve) => a.on('peer:left', resolve))
    await b.stop()
    expect((await left).equals(b.localId)).toBe(true)
  })

  it('rejects a signal to a peer outside the room with PeerNotFoundError', async () => {
    const a = await fixture.client(room())
    await expect(a.signal(Identifier.random(), 's', { x: 1 })).rejects.toBeInstanceOf(PeerNotFoundError)
  })

  it('reconnects after the server drops it and re-joins with the same key', async () => {
    const r = room()
    const a = await fixture.client(r)
    const b = await fixture.client(r)
    const reauthenticated = new Promise<Identifier[]>((resolve) => a.on('authenticated', resolve))
    const disconnected = new Promise<string>((resolve) => a.on('disconnected', resolve))
    const sockets = await fixture.server.io.fetchSockets()
    for (const s of sockets) if (s.data.id === a.localId.toHex()) s.disconnect(true)
    expect(await disconnected).toBe('io server disconnect')
    const peers = await reauthenticated
    expect(peers.map((p) => p.toHex())).toEqual([b.localId.toHex()])
    expect(a.authenticated).toBe(true)
    const got = new Promise<Identifier>((resolve) => a.on('signal', (from) => resolve(from)))
    await b.signal(a.localId, 'after', { ok: true })
    expect((await got).equals(b.localId)).toBe(true)
  })

  it('validates its options', () => {
    const base = {
      url: fixture.server.url,
      localId: Identifier.random(),
      keyPair: { publicKey: new Uint8Array(32), sign: async () => new Uint8Array(64) },
    }
    expect(() => createSignalingClient({ ...base, room: 'bad room!' })).toThrow(InvalidOptionsError)
    expect(() => createSignalingClient({ ...base, room: 'ok', ackTimeoutMs: 0 })).toThrow(InvalidOptionsError)
  })
})

/** A WebRTC implementation whose control channel lies in its hello: it claims to accept 1 GiB messages. */
function lyingWrtc(impl: WrtcImplementation): WrtcImplementation {
  const Base = impl.RTCPeerConnection
  class Lying extends Base {
    override createDataChannel(label: string, init?: RTCDataChannelInit): RTCDataChannel {
      const dc = super.createDataChannel(label, init)
      if (label === 'skipmesh-control') {
        const send = dc.send.bind(dc) as (data: string) => void
        Object.defineProperty(dc, 'send', {
          value: (data: unknown) =>
            send(typeof data === 'string' ? data.replace(/"max":\d+/, '"max":1073741824') : (data as string)),
        })
      }
      return dc
    }
  }
  return { ...impl, RTCPeerConnection: Lying as RTCPeerConnectionConstructor }
}

describe('WebRtcConnectionManager', () => {
  it('counts and drops stale, malformed and misdirected signals without throwing or creating a peer connection', async () => {
    const r = room()
    const factory = fixture.managers(implementations.wrtc(), { room: r })
    const m = await factory.make(Identifier.fromHex(`80${'00'.repeat(31)}`))
    const higher = await fixture.client(r, Identifier.fromHex('ff'.repeat(32)))
    const lower = await fixture.client(r, Identifier.fromHex('00'.repeat(32)))
    const before = m.metrics().signalsDropped
    // the manager subscribed to its signaling client first, so it has handled each signal before this sees it
    const seen = new Promise<void>((resolve) => {
      let n = 0
      m.signaling.on('signal', () => {
        if (++n === 6) resolve()
      })
    })
    // to m the higher id is a responder: it must never send an offer, and a candidate of no session of m's is stale
    await higher.signal(m.localId, 'stale', {
      batch: [{ type: 'candidate', candidate: { candidate: 'x', sdpMid: '0' } }],
    })
    await higher.signal(m.localId, 'bogus', { batch: [{ type: 'offer', sdp: 'v=0' }] })
    await higher.signal(m.localId, 'junk', { what: 'ever' })
    await higher.signal(m.localId, 'junk2', { batch: [1, 2, 3] })
    // only the higher id may ask the lower one to dial
    await lower.signal(m.localId, 'dial', { dial: true })
    // the lower id's first signal of a session must be an offer
    await lower.signal(m.localId, 'late', {
      batch: [{ type: 'candidate', candidate: { candidate: 'x', sdpMid: '0' } }],
    })
    await seen
    expect(m.metrics().signalsDropped - before).toBe(6)
    expect(m.metrics().peerConnectionsCreated).toBe(0)
    expect(m.state).toBe('ready')
  })

  it('closes with ProtocolViolationError (counted) when the remote sends a message over our maxMessageSize', async () => {
    const r = room()
    const factory = fixture.managers(implementations.wrtc(), { room: r })
    const a = await factory.make()
    const liar = createWebRtcConnectionManager({
      localId: Identifier.random(),
      keyPair: await generateKeyPair(),
      signaling: { url: fixture.server.url, room: r },
      rtc: { iceServers: [] },
      wrtc: lyingWrtc(implementations.wrtc()),
      maxMessageSize: 64 * 1024,
    })
    liar.start()
    await liar.ready()
    try {
      const incoming = nextConnection(liar)
      const ab = await a.connect(liar.localId)
      const atLiar = closeWatcher(await incoming)
      const atA = closeWatcher(ab)
      await ab.send(channel('big'), new Uint8Array(100 * 1024))
      expect(await atLiar.closed).toBeInstanceOf(ProtocolViolationError)
      await atA.closed
      expect(liar.metrics().protocolErrors).toBe(1)
      expect(atLiar.count()).toBe(1)
      expect(liar.state).toBe('ready')
    } finally {
      await liar.stop()
    }
  })

  it('validates its options and needs a WebRTC implementation outside browsers', async () => {
    const base = {
      localId: Identifier.random(),
      keyPair: await generateKeyPair(),
      signaling: { url: fixture.server.url, room: 'x' },
      wrtc: implementations.wrtc(),
    }
    const { wrtc: _omit, ...withoutWrtc } = base
    expect(() => createWebRtcConnectionManager(withoutWrtc)).toThrow(WebRtcUnavailableError)
    expect(() =>
      createWebRtcConnectionManager({ ...base, heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 1000 }),
    ).toThrow(InvalidOptionsError)
    expect(() => createWebRtcConnectionManager({ ...base, lowWaterMark: 10, highWaterMark: 5 })).toThrow(
      InvalidOptionsError,
    )
    expect(() => createWebRtcConnectionManager({ ...base, maxMessageSize: -1 })).toThrow(InvalidOptionsError)
  })

  it('rejects a send whose signal is already aborted with AbortError, sending nothing', async () => {
    const factory = fixture.managers(implementations.wrtc())
    const a = await factory.make()
    const b = await factory.make()
    const incoming = nextConnection(b)
    const ab = await a.connect(b.localId)
    const ba = await incoming
    const got: number[] = []
    ba.on('message', (_c, bytes) => got.push(bytes.length))
    await expect(
      ab.send(channel('x'), new Uint8Array(5), { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({
      name: 'AbortError',
    })
    const last = new Promise<void>((resolve) => ba.on('message', () => resolve()))
    await ab.send(channel('x'), new Uint8Array(7))
    await last
    expect(got).toEqual([7])
  })

  it('refuses to connect before start and to itself', async () => {
    const m = createWebRtcConnectionManager({
      localId: Identifier.random(),
      keyPair: await generateKeyPair(),
      signaling: { url: fixture.server.url, room: room() },
      wrtc: implementations.wrtc(),
    })
    await expect(m.connect(Identifier.random())).rejects.toBeInstanceOf(ComponentNotStartedError)
    const factory = fixture.managers(implementations.wrtc())
    const started = await factory.make()
    await expect(started.connect(started.localId)).rejects.toBeInstanceOf(ConnectionFailedError)
  })

  it('emits signaling:down when the signaling server drops it and signaling:up once it has joined again', async () => {
    const factory = fixture.managers(implementations.wrtc())
    const m = await factory.make()
    const down = new Promise<void>((resolve) => m.on('signaling:down', resolve))
    const up = new Promise<void>((resolve) => m.on('signaling:up', resolve))
    const sockets = await fixture.server.io.fetchSockets()
    for (const s of sockets) if (s.data.id === m.localId.toHex()) s.disconnect(true)
    await down
    await up
    expect(m.state).toBe('ready')
  })

  it('uses a Signaling implementation it is given, and starts and stops it with itself', async () => {
    const r = room()
    const factory = fixture.managers(implementations.wrtc(), { room: r })
    const b = await factory.make()
    const id = Identifier.random()
    const signaling = createSignalingClient({
      url: fixture.server.url,
      room: r,
      localId: id,
      keyPair: await generateKeyPair(),
    })
    const a = createWebRtcConnectionManager({
      localId: id,
      signaling,
      rtc: { iceServers: [] },
      wrtc: implementations.wrtc(),
    })
    const up = new Promise<void>((resolve) => a.on('signaling:up', resolve))
    a.start()
    try {
      await a.ready()
      await up
      expect(a.signaling).toBe(signaling)
      expect(signaling.authenticated).toBe(true)
      expect(a.peers().map((p) => p.toHex())).toEqual([b.localId.toHex()])
      const incoming = nextConnection(b)
      const ab = await a.connect(b.localId)
      expect((await incoming).remoteId.equals(id)).toBe(true)
      await a.stop()
      expect(ab.status).toBe('closed')
      expect(signaling.state).toBe('stopped')
    } finally {
      await a.stop()
    }
  })

  it('types its events (a wrong event name does not compile)', () => {
    type Names = keyof WebRtcConnectionManagerEvents
    expectTypeOf<Names>().toEqualTypeOf<
      'connection' | 'peer:joined' | 'peer:left' | 'signaling:up' | 'signaling:down'
    >()
    const m = createWebRtcConnectionManager({
      localId: Identifier.random(),
      keyPair: { publicKey: new Uint8Array(32), sign: async () => new Uint8Array(64) },
      signaling: { url: fixture.server.url, room: 'x' },
      wrtc: implementations.wrtc(),
    })
    // @ts-expect-error 'message' is a Connection event, not a manager event
    const off = m.on('message', () => {})
    off()
    expect(typeof off).toBe('function')
  })
})
