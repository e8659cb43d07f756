/**
 * A hostile peer for tests: it joins a signaling room with the lowest identifier (so it is the initiator of every
 * pair), negotiates a peer connection with a victim manager through the real signaling server, and then speaks
 * the skipmesh wire protocol by hand: raw control messages on the negotiated control channel and raw frames on
 * data channels it opens. It answers pings (so the victim's heartbeat never rescues it) and never acknowledges a
 * channel the victim opens unless told to.
 */
import { generateKeyPair, Identifier } from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import { CONTROL_CHANNEL_ID, FIRST_CHANNEL_ID, PEER_PROTOCOL_VERSION } from '../src/control.js'
import { createNativePeerTransport } from '../src/peer-native.js'
import type { PeerSignal, PeerTransport } from '../src/peer-transport.js'
import { createSignalingClient, type SignalingClient } from '../src/signaling-client.js'
import type { WrtcImplementation } from '../src/wrtc.js'

/** What {@link hostilePeer} needs. */
export interface HostilePeerOptions {
  readonly url: string
  readonly room: string
  readonly wrtc: WrtcImplementation
  /** The victim (its identifier must be above `0x00…`: the hostile peer takes `0x00` + random bytes). */
  readonly victim: Identifier
  /** Rewrites the offer's SDP before it leaves (e.g. a tiny `a=max-message-size`). */
  readonly mungeOffer?: (sdp: string) => string
  /** Acknowledge the channels the victim opens. @default false */
  readonly ackChannels?: boolean
  /** The `max` of its hello. @default 16 MiB */
  readonly maxMessageSize?: number
}

/** A connected hostile peer. */
export interface HostilePeer {
  readonly id: Identifier
  /** Sends a raw control message (any JSON). */
  control(message: unknown): void
  /** Announces channel `name` with the next free even id and opens the negotiated data channel. */
  openChannel(name: string): Promise<RTCDataChannel>
  /** Writes one raw frame; false once the data channel is no longer open. */
  frame(dc: RTCDataChannel, bytes: Uint8Array): boolean
  /** Sends `count` offers, each of a fresh peer connection under a new session (attack 9). */
  offerFlood(count: number): Promise<void>
  /** Control messages the victim sent. */
  readonly received: Array<Record<string, unknown>>
  /** Resolves once the victim destroyed the peer connection (or it failed). */
  readonly closed: Promise<void>
  isClosed(): boolean
  /** Destroys the peer connection and leaves the room. */
  stop(): Promise<void>
}

/** A hostile peer connected to `victim` (resolves once both hellos were exchanged). */
export async function hostilePeer(options: HostilePeerOptions): Promise<HostilePeer> {
  const id = Identifier.fromHex(`00${randomNonce(31)}`)
  const signaling: SignalingClient = createSignalingClient({
    url: options.url,
    room: options.room,
    localId: id,
    keyPair: await generateKeyPair(),
  })
  signaling.start()
  await signaling.ready()
  const session = randomNonce(12)
  const peer: PeerTransport = createNativePeerTransport({
    initiator: true,
    wrtc: options.wrtc,
    config: { iceServers: [] },
  })
  let isClosed = false
  const closed = new Promise<void>((resolve) => {
    peer.on('close', () => {
      isClosed = true
      resolve()
    })
  })
  // the victim's signals of this session go to the negotiation
  signaling.on('signal', (from, s, data) => {
    if (!from.equals(options.victim) || s !== session) return
    const batch = (data as { batch?: PeerSignal[] }).batch
    for (const signal of batch ?? []) peer.signal(signal)
  })
  // ours go out one by one (the offer first: the native transport emits it before its candidates)
  let outgoing = Promise.resolve()
  peer.on('signal', (signal) => {
    const s =
      signal.type === 'offer' && options.mungeOffer !== undefined
        ? { type: 'offer' as const, sdp: options.mungeOffer(signal.sdp) }
        : signal
    outgoing = outgoing.then(() => signaling.signal(options.victim, session, { batch: [s] }).catch(() => {}))
  })
  const control = peer.createChannel('skipmesh-control', CONTROL_CHANNEL_ID)
  control.binaryType = 'arraybuffer'
  const received: Array<Record<string, unknown>> = []
  let nextId = FIRST_CHANNEL_ID
  const send = (m: unknown): void => {
    if (control.readyState !== 'open') return
    try {
      control.send(JSON.stringify(m))
    } catch {
      // the victim closed the link (libdatachannel can report its channel closed before readyState says so):
      // what a hostile peer sends then is lost, as it should be
    }
  }
  const acked = new Map<number, () => void>()
  const helloed = new Promise<void>((resolve) => {
    control.onmessage = (e: MessageEvent) => {
      const m = JSON.parse(String(e.data)) as Record<string, unknown>
      received.push(m)
      if (m.t === 'hello') resolve()
      else if (m.t === 'ack') acked.get(Number(m.id))?.()
      else if (m.t === 'ping') send({ t: 'pong' })
      else if (m.t === 'open' && options.ackChannels === true) {
        peer.createChannel(String(m.ch), Number(m.id))
        send({ t: 'ack', id: m.id })
      }
    }
  })
  control.onopen = () =>
    send({ t: 'hello', v: PEER_PROTOCOL_VERSION, max: options.maxMessageSize ?? 16 << 20 })
  await Promise.race([helloed, closed])
  return {
    id,
    control: send,
    async openChannel(name) {
      const channelId = nextId
      nextId += 2
      // like an honest peer: frames only once the victim created its side (frames before that are lost)
      const ack = new Promise<void>((resolve) => acked.set(channelId, resolve))
      const dc = peer.createChannel(name, channelId)
      dc.binaryType = 'arraybuffer'
      send({ t: 'open', id: channelId, ch: name })
      const open =
        dc.readyState === 'open'
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              dc.addEventListener('open', () => resolve(), { once: true })
            })
      await Promise.all([ack, open])
      return dc
    },
    frame(dc, bytes) {
      if (dc.readyState !== 'open') return false
      try {
        dc.send(bytes as Uint8Array<ArrayBuffer>)
        return true
      } catch {
        return false
      }
    },
    async offerFlood(count) {
      for (let i = 0; i < count; i++) {
        const fresh = createNativePeerTransport({
          initiator: true,
          wrtc: options.wrtc,
          config: { iceServers: [] },
        })
        fresh.createChannel('skipmesh-control', CONTROL_CHANNEL_ID)
        const offer = await new Promise<PeerSignal>((resolve) => {
          const off = fresh.on('signal', (signal) => {
            if (signal.type !== 'offer') return
            off()
            resolve(signal)
          })
        })
        fresh.destroy()
        await signaling.signal(options.victim, randomNonce(12), { batch: [offer] })
      }
    },
    received,
    closed,
    isClosed: () => isClosed,
    async stop() {
      peer.destroy()
      await signaling.stop()
    },
  }
}
