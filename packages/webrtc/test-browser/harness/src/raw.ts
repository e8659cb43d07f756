/**
 * The baseline: a plain `RTCPeerConnection` with one ordered `RTCDataChannel`, SDP exchanged by the test
 * process (non-trickle: ICE gathering completes before each description is handed out), and a bare
 * simple-peer handshake. No skipmesh code is involved.
 *
 * @module
 */
import SimplePeer from 'simple-peer'
import {
  createDriver,
  type Driver,
  dataChannelPipe,
  epochNow,
  type Pipe,
  serveSink,
} from '../../../bench/measure.mjs'

const RTC_CONFIG: RTCConfiguration = { iceServers: [] }

interface RawEndpoint {
  pc: RTCPeerConnection
  channel: Promise<RTCDataChannel>
  pipe?: Pipe
  driver?: Driver
}

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
  const peers = new Map<string, SimplePeer.Instance>()

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
     * Starts a bare simple-peer (its defaults: trickle ICE). Every signal it emits is handed to `window.relaySignal(name,
     * data)` (a binding the test exposes). Resolves at once; use {@link peerConnected} to wait.
     */
    peerStart(name: string, initiator: boolean): number {
      const t0 = epochNow()
      const peer = new SimplePeer({ initiator, config: RTC_CONFIG })
      peers.set(name, peer)
      // simple-peer emits 'error' when the remote tears the pair down (e.g. "User-Initiated Abort" once the other
      // side is destroyed after a measurement): expected here, and unhandled it would be an uncaught page error
      peer.on('error', () => {})
      const relay = (window as unknown as { relaySignal: (name: string, data: unknown) => Promise<void> })
        .relaySignal
      peer.on('signal', (data: unknown) => void relay(name, JSON.parse(JSON.stringify(data))))
      return t0
    },
    /** Feeds a relayed signal to the named simple-peer. */
    peerSignal(name: string, data: unknown): void {
      peers.get(name)?.signal(data as SimplePeer.SignalData)
    },
    /** Epoch time at which the named peer connected. */
    peerConnected(name: string): Promise<number> {
      const peer = peers.get(name)
      if (peer === undefined) throw new Error(`no peer ${name}`)
      if (peer.connected) return Promise.resolve(epochNow())
      return new Promise((resolve, reject) => {
        peer.once('connect', () => resolve(epochNow()))
        peer.once('error', (err: Error) => reject(err))
      })
    },
    /** Sends one message as soon as the peer is connected. */
    async peerSendFirst(name: string): Promise<void> {
      const peer = peers.get(name)
      if (peer === undefined) throw new Error(`no peer ${name}`)
      if (!peer.connected) await new Promise<void>((resolve) => peer.once('connect', () => resolve()))
      peer.send(new Uint8Array([7]))
    },
    /** Epoch time at which the first message arrived on the named peer. */
    peerFirstMessage(name: string): Promise<number> {
      const peer = peers.get(name)
      if (peer === undefined) throw new Error(`no peer ${name}`)
      return new Promise((resolve) => peer.once('data', () => resolve(epochNow())))
    },
    peerClose(name: string): void {
      peers.get(name)?.destroy()
      peers.delete(name)
    },
  }
}
