/**
 * The baseline: a plain `RTCPeerConnection` with one ordered `RTCDataChannel`, SDP exchanged by the test
 * process (non-trickle: ICE gathering completes before each description is handed out), and a bare handshake of
 * skipmesh's peer transport (`peer-native.ts`: perfect negotiation, trickle ICE) with one negotiated data channel.
 * No other skipmesh code is involved.
 *
 * @module
 */
import {
  createDriver,
  type Driver,
  dataChannelPipe,
  epochNow,
  type Pipe,
  serveSink,
} from '../../../bench/measure.mjs'
import { createNativePeerTransport } from '../../../src/peer-native.js'
import type { PeerSignal, PeerTransport } from '../../../src/peer-transport.js'

const RTC_CONFIG: RTCConfiguration = { iceServers: [] }

interface RawEndpoint {
  pc: RTCPeerConnection
  channel: Promise<RTCDataChannel>
  pipe?: Pipe
  driver?: Driver
}

/** A bare peer transport and the one data channel its first message travels on. */
interface BarePeer {
  transport: PeerTransport
  channel: RTCDataChannel
  /** Resolves with the epoch time of `connect`; rejects on the transport's `error`. */
  connected: Promise<number>
}

/** Stream id of the bare peer's data channel (0 and 1 are the transport's in-band channel's). */
const BARE_CHANNEL_ID = 2

function gathered(pc: RTCPeerConnection): Promise<RTCSessionDescriptionInit> {
  return new Promise((resolve) => {
    const done = (): void => {
      const d = pc.localDescription
      if (d !== null) resolve({ type: d.type, sdp: d.sdp })
    }
    if (pc.iceGatheringState === 'complete') return done()
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') done()
    })
  })
}

function opened(channel: RTCDataChannel): Promise<RTCDataChannel> {
  if (channel.readyState === 'open') return Promise.resolve(channel)
  return new Promise((resolve, reject) => {
    channel.addEventListener('open', () => resolve(channel), { once: true })
    channel.addEventListener('close', () => reject(new Error('data channel closed before opening')), {
      once: true,
    })
  })
}

/** Raw RTCDataChannel endpoints of this page, by name. */
export function createRaw() {
  const endpoints = new Map<string, RawEndpoint>()
  const peers = new Map<string, BarePeer>()

  const get = (name: string): RawEndpoint => {
    const e = endpoints.get(name)
    if (e === undefined) throw new Error(`no raw endpoint ${name}`)
    return e
  }

  return {
    /** Creates the offering side (it creates the data channel); resolves with the complete offer. */
    async offer(name: string): Promise<RTCSessionDescriptionInit> {
      const pc = new RTCPeerConnection(RTC_CONFIG)
      const channel = pc.createDataChannel('raw', { ordered: true })
      endpoints.set(name, { pc, channel: opened(channel) })
      await pc.setLocalDescription(await pc.createOffer())
      return gathered(pc)
    },
    /** Creates the answering side from `offer`; resolves with the complete answer. */
    async answer(name: string, offer: RTCSessionDescriptionInit): Promise<RTCSessionDescriptionInit> {
      const pc = new RTCPeerConnection(RTC_CONFIG)
      const channel = new Promise<RTCDataChannel>((resolve) => {
        pc.addEventListener('datachannel', (event) => resolve(opened(event.channel)), { once: true })
      })
      endpoints.set(name, { pc, channel })
      await pc.setRemoteDescription(offer)
      await pc.setLocalDescription(await pc.createAnswer())
      return gathered(pc)
    },
    /** Completes the offering side with the remote answer. */
    async accept(name: string, answer: RTCSessionDescriptionInit): Promise<void> {
      await get(name).pc.setRemoteDescription(answer)
    },
    /** Waits for the data channel to open; `role` makes it the measuring driver or the responding sink. */
    async open(name: string, role: 'driver' | 'sink'): Promise<void> {
      const e = get(name)
      const pipe = dataChannelPipe(await e.channel)
      e.pipe = pipe
      if (role === 'sink') serveSink(pipe)
      else e.driver = createDriver(pipe)
    },
    /** Sends `count` messages of `size` bytes and waits for the sink's acknowledgement. */
    bulk(name: string, size: number, count: number) {
      const d = get(name).driver
      if (d === undefined) throw new Error(`${name} is not a driver`)
      return d.bulk(size, count)
    },
    /** Sequential round trips. */
    rtt(name: string, size: number, samples: number) {
      const d = get(name).driver
      if (d === undefined) throw new Error(`${name} is not a driver`)
      return d.rtt(size, samples)
    },
    /** Closes the endpoint. */
    close(name: string): void {
      endpoints.get(name)?.pc.close()
      endpoints.delete(name)
    },

    /**
     * Starts a bare peer transport over the page's `RTCPeerConnection` (trickle ICE) and its negotiated data
     * channel. Every signal it emits is handed to `window.relaySignal(name, data)` (a binding the test exposes).
     * Resolves at once; use {@link peerConnected} to wait.
     */
    peerStart(name: string, initiator: boolean): number {
      const t0 = epochNow()
      const transport = createNativePeerTransport({
        initiator,
        wrtc: { RTCPeerConnection },
        config: RTC_CONFIG,
      })
      const channel = transport.createChannel('bare', BARE_CHANNEL_ID)
      channel.binaryType = 'arraybuffer'
      const connected = new Promise<number>((resolve, reject) => {
        transport.on('connect', () => resolve(epochNow()))
        transport.on('error', reject)
      })
      // a transport torn down by the remote after a measurement rejects unobserved: expected here
      connected.catch(() => {})
      peers.set(name, { transport, channel, connected })
      const relay = (window as unknown as { relaySignal: (name: string, data: unknown) => Promise<void> })
        .relaySignal
      transport.on('signal', (data) => void relay(name, data))
      return t0
    },
    /** Feeds a relayed signal to the named peer transport. */
    peerSignal(name: string, data: unknown): void {
      peers.get(name)?.transport.signal(data as PeerSignal)
    },
    /** Epoch time at which the named peer connected. */
    peerConnected(name: string): Promise<number> {
      const peer = peers.get(name)
      if (peer === undefined) throw new Error(`no peer ${name}`)
      return peer.connected
    },
    /** Sends one message as soon as the peer's data channel is open. */
    async peerSendFirst(name: string): Promise<void> {
      const peer = peers.get(name)
      if (peer === undefined) throw new Error(`no peer ${name}`)
      const channel = await opened(peer.channel)
      channel.send(new Uint8Array([7]))
    },
    /** Epoch time at which the first message arrived on the named peer. */
    peerFirstMessage(name: string): Promise<number> {
      const peer = peers.get(name)
      if (peer === undefined) throw new Error(`no peer ${name}`)
      return new Promise((resolve) =>
        peer.channel.addEventListener('message', () => resolve(epochNow()), { once: true }),
      )
    },
    peerClose(name: string): void {
      peers.get(name)?.transport.destroy()
      peers.delete(name)
    },
  }
}
