/**
 * The data channels of one connection: one negotiated, ordered data channel per skipmesh channel, its stream id
 * allocated by parity (the lower identifier takes even ids, the higher odd ones), the `open`/`ack` exchange that
 * makes a channel usable, and the resolution of both sides opening the same channel at once.
 *
 * @module
 */
import { type Channel, SendFailedError } from '@skipmesh/core'
import { ChannelSender } from './channel-sender.js'
import {
  CONTROL_CHANNEL_ID,
  type ControlMessage,
  FIRST_CHANNEL_ID,
  IN_BAND_CHANNEL_IDS,
  MAX_CHANNEL_ID,
} from './control.js'
import { PeerLimitExceededError } from './errors.js'
import type { Reassembler } from './framing.js'

/** One skipmesh channel of a connection: its data channel, its sender and its reassembler. */
export interface ChannelStream {
  readonly name: Channel
  readonly id: number
  readonly dc: RTCDataChannel
  /** `pending` until the remote acknowledged creating the matching negotiated channel. */
  state: 'pending' | 'ready' | 'abandoned'
  readonly sender: ChannelSender
  receivedFrames: number
  readonly reassembler: Reassembler
  /** While `pending`: the deadline of the remote's acknowledgement. */
  ackTimer: ReturnType<typeof setTimeout> | undefined
}

/** What a {@link ChannelTable} needs from its connection. */
export interface ChannelTableInit {
  /** Whether this side is the initiator (the lower identifier): it allocates even ids and wins collisions. */
  readonly initiator: boolean
  readonly maxChannels: number
  /** Channels the remote may open; one more is a violation. */
  readonly maxRemoteChannels: number
  /** A channel this side opened must be acknowledged within this many milliseconds. */
  readonly channelAckTimeoutMs: number
  readonly highWaterMark: number
  readonly lowWaterMark: number
  /** Creates the negotiated data channel `id`. */
  createChannel(label: string, id: number): RTCDataChannel
  sendControl(message: ControlMessage): void
  /** Largest data-channel message. */
  frameSize(): number
  isClosed(): boolean
  /** A frame arrived on `stream`. */
  onFrame(stream: ChannelStream, data: unknown): void
  /** A data channel closed, or sending on it failed. */
  onTransportClosed(what: string, cause?: unknown): void
  onProtocolError(): void
  /** The remote exceeded a limit: the connection closes. */
  onViolation(err: PeerLimitExceededError): void
  /** A reassembler for a new channel (drawing on the connection's inbound budget). */
  reassembler(): Reassembler
}

/** The skipmesh channels of one connection, by name and by data channel id. */
export class ChannelTable {
  readonly #init: ChannelTableInit
  readonly #byName = new Map<Channel, ChannelStream>()
  readonly #byId = new Map<number, ChannelStream>()
  readonly #usedIds = new Set<number>([CONTROL_CHANNEL_ID, ...IN_BAND_CHANNEL_IDS])
  #nextId: number
  /** Channels the remote opened (collisions excluded). */
  #remoteOpened = 0

  constructor(init: ChannelTableInit) {
    this.#init = init
    this.#nextId = FIRST_CHANNEL_ID + (init.initiator ? 0 : 1)
  }

  /** The stream of `name`, opening it (announced to the remote) when there is none yet. */
  get(name: Channel): ChannelStream {
    return this.#byName.get(name) ?? this.#open(name)
  }

  /** Frames received so far on data channel `id`. */
  receivedFrames(id: number): number {
    return this.#byId.get(id)?.receivedFrames ?? 0
  }

  /** Every stream by name (the current one of each channel). */
  streams(): IterableIterator<ChannelStream> {
    return this.#byName.values()
  }

  /** Frames sent per data channel id (the `sent` of the close handshake). */
  sentCounts(): Array<readonly [number, number]> {
    const sent: Array<readonly [number, number]> = []
    for (const s of this.#byId.values()) sent.push([s.id, s.sender.sentFrames])
    return sent
  }

  /**
   * Fails every queued send with `err`, stops the acknowledgement deadlines and reporting data channel closes.
   * Returns how many sends had resolved without having been handed to their data channel (now lost).
   */
  closeAll(err: Error): number {
    let lost = 0
    for (const s of this.#byName.values()) lost += s.sender.fail(err)
    for (const s of this.#byId.values()) {
      clearTimeout(s.ackTimer)
      s.dc.onclose = null
    }
    return lost
  }

  /** The remote created data channel `id` for `name`: create ours and acknowledge (or resolve a collision). */
  onRemoteOpen(id: number, name: Channel): void {
    const init = this.#init
    if (init.isClosed()) return
    if (id % 2 !== this.#remoteParity() || this.#usedIds.has(id)) return void init.onProtocolError()
    const existing = this.#byName.get(name)
    if (existing === undefined) {
      if (this.#remoteOpened >= init.maxRemoteChannels) {
        init.onViolation(
          new PeerLimitExceededError(
            'remote-channels',
            `remote opened more than ${init.maxRemoteChannels} channels (${name} too many)`,
          ),
        )
        return
      }
      if (this.#byName.size >= init.maxChannels) return void init.onProtocolError()
      this.#remoteOpened++
      const stream = this.#create(name, id, 'ready')
      init.sendControl({ t: 'ack', id })
      stream.sender.markReady()
      return
    }
    if (existing.state !== 'pending') return void init.onProtocolError()
    // both sides opened `name` at once: the initiator's (lower identifier's) data channel wins
    if (init.initiator) {
      this.#usedIds.add(id)
      return
    }
    existing.state = 'abandoned'
    clearTimeout(existing.ackTimer)
    this.#byId.delete(existing.id)
    this.#byName.delete(name)
    // the queue moves with its sender to the winning data channel
    const adopted = this.#create(name, id, 'ready', existing.sender)
    existing.dc.close()
    init.sendControl({ t: 'ack', id })
    adopted.sender.markReady()
  }

  /** The remote created the matching data channel `id`: its queue may flow. */
  onAck(id: number): void {
    const stream = this.#byId.get(id)
    if (stream === undefined || stream.state !== 'pending' || id % 2 === this.#remoteParity()) {
      return void this.#init.onProtocolError()
    }
    stream.state = 'ready'
    clearTimeout(stream.ackTimer)
    stream.ackTimer = undefined
    stream.sender.markReady()
  }

  #open(name: Channel): ChannelStream {
    if (this.#byName.size >= this.#init.maxChannels) {
      throw new SendFailedError(`at most ${this.#init.maxChannels} channels per connection`)
    }
    const init = this.#init
    const stream = this.#create(name, this.#allocateId(), 'pending')
    init.sendControl({ t: 'open', id: stream.id, ch: name })
    stream.ackTimer = setTimeout(() => {
      if (stream.state !== 'pending' || init.isClosed()) return
      init.onViolation(
        new PeerLimitExceededError(
          'channel-ack-timeout',
          `remote did not acknowledge channel ${name} within ${init.channelAckTimeoutMs} ms`,
        ),
      )
    }, init.channelAckTimeoutMs)
    return stream
  }

  #remoteParity(): number {
    return this.#init.initiator ? 1 : 0
  }

  #allocateId(): number {
    while (this.#nextId <= MAX_CHANNEL_ID && this.#usedIds.has(this.#nextId)) this.#nextId += 2
    if (this.#nextId > MAX_CHANNEL_ID)
      throw new SendFailedError('no data channel ids left on this connection')
    const id = this.#nextId
    this.#nextId += 2
    return id
  }

  #create(name: Channel, id: number, state: ChannelStream['state'], sender?: ChannelSender): ChannelStream {
    const init = this.#init
    const dc = init.createChannel(name, id)
    dc.binaryType = 'arraybuffer'
    dc.bufferedAmountLowThreshold = init.lowWaterMark
    if (sender === undefined) {
      sender = new ChannelSender(dc, {
        name,
        highWaterMark: init.highWaterMark,
        lowWaterMark: init.lowWaterMark,
        frameSize: () => init.frameSize(),
        isClosed: () => init.isClosed(),
        onTransportError: (what, cause) => init.onTransportClosed(what, cause),
      })
    } else {
      sender.attach(dc)
    }
    const stream: ChannelStream = {
      name,
      id,
      dc,
      state,
      sender,
      receivedFrames: 0,
      reassembler: init.reassembler(),
      ackTimer: undefined,
    }
    this.#usedIds.add(id)
    this.#byId.set(id, stream)
    this.#byName.set(name, stream)
    const onFrame = init.onFrame
    dc.onopen = () => stream.sender.pump()
    dc.onmessage = (e: MessageEvent) => onFrame(stream, e.data)
    dc.onclose = () => {
      if (stream.state !== 'abandoned') init.onTransportClosed(`data channel ${name} closed`)
    }
    return stream
  }
}
