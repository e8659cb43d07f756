/**
 * The control session of one connection: the negotiated control channel, the hello handshake that opens the
 * connection, keep-alive pings, and the close handshake (`close {sent}` / `fin`) that makes sure each side received
 * everything the other sent. Channel `open`/`ack` messages are passed on to the channel table.
 *
 * @module
 */
import type { Channel } from '@skipmesh/core'
import { type ControlMessage, encodeControl, PEER_PROTOCOL_VERSION, parseControl } from './control.js'
import { ProtocolViolationError } from './errors.js'

/** What a {@link ControlSession} reports to its connection. */
export interface ControlSessionInit {
  /** The negotiated control channel (id 2). */
  readonly channel: RTCDataChannel
  /** Our `maxMessageSize`, announced in our hello. */
  readonly maxMessageSize: number
  /** Whether the connection is closed (incoming control messages are ignored). */
  isClosed(): boolean
  /** The control channel opened: whether the link is acceptable (else no hello is sent). */
  acceptLink(): boolean
  /** The control channel is open and the remote's hello arrived. */
  onHello(): void
  /** Anything arrived on the control channel (liveness). */
  onActivity(): void
  /** The remote created negotiated data channel `id` for `channel`. */
  onOpenChannel(id: number, channel: Channel): void
  /** The remote created the matching negotiated data channel `id`. */
  onAck(id: number): void
  /** The remote began the close handshake. */
  onRemoteClose(): void
  /** Both halves of the close handshake are done. */
  onFinished(): void
  /** Frames received so far on data channel `id`. */
  receivedFrames(id: number): number
  /** A malformed or unexpected control message (counted and dropped). */
  onProtocolError(): void
  /** The remote broke the protocol in a way that ends the connection. */
  onViolation(err: Error): void
  /** The control channel closed or failed. */
  onTransportClosed(what: string, cause?: unknown): void
}

/** The control channel of one connection and its handshakes. */
export class ControlSession {
  readonly #init: ControlSessionInit
  readonly #dc: RTCDataChannel
  #open = false
  #helloReceived = false
  #remoteMaxMessageSize = Number.POSITIVE_INFINITY
  #closeSent = false
  #remoteSent: ReadonlyArray<readonly [number, number]> | undefined
  #finSent = false
  #finReceived = false

  constructor(init: ControlSessionInit) {
    this.#init = init
    const dc = init.channel
    this.#dc = dc
    dc.binaryType = 'arraybuffer'
    dc.onopen = () => {
      if (!init.acceptLink()) return
      this.#open = true
      this.send({ t: 'hello', v: PEER_PROTOCOL_VERSION, max: init.maxMessageSize })
      this.#maybeHello()
    }
    dc.onmessage = (e: MessageEvent) => this.#onMessage(e.data)
    dc.onclose = () => init.onTransportClosed('control channel closed')
    if (dc.readyState === 'open') dc.onopen(new Event('open'))
  }

  /** The remote's `maxMessageSize` (from its hello; `Infinity` before). */
  get remoteMaxMessageSize(): number {
    return this.#remoteMaxMessageSize
  }

  /** Whether we sent our `fin` (we received everything the remote announced). */
  get finSent(): boolean {
    return this.#finSent
  }

  /** Sends one control message (dropped while the control channel is not open). */
  send(message: ControlMessage): void {
    if (this.#dc.readyState !== 'open') return
    try {
      this.#dc.send(encodeControl(message))
    } catch (err) {
      this.#init.onTransportClosed('control channel send failed', err)
    }
  }

  /** Our half of the close handshake: we send nothing more; `sent` is our frame count per data channel id. */
  announceClose(sent: ReadonlyArray<readonly [number, number]>): void {
    this.send({ t: 'close', sent })
    this.#closeSent = true
    this.maybeFin()
  }

  /** Sends `fin` once both sides announced their close and every frame the remote announced arrived. */
  maybeFin(): void {
    if (!this.#closeSent || this.#remoteSent === undefined || this.#finSent || this.#init.isClosed()) return
    for (const [id, count] of this.#remoteSent) {
      if (this.#init.receivedFrames(id) < count) return
    }
    this.send({ t: 'fin' })
    this.#finSent = true
    if (this.#finReceived) this.#init.onFinished()
  }

  /** Stops reporting the control channel's close (the connection is finishing). */
  detach(): void {
    this.#dc.onclose = null
  }

  #maybeHello(): void {
    if (this.#open && this.#helloReceived) this.#init.onHello()
  }

  #onMessage(data: unknown): void {
    const init = this.#init
    if (init.isClosed()) return
    init.onActivity()
    const m = parseControl(data)
    if (m === undefined) return void init.onProtocolError()
    switch (m.t) {
      case 'hello':
        if (m.v !== PEER_PROTOCOL_VERSION) {
          init.onProtocolError()
          init.onViolation(
            new ProtocolViolationError(`remote speaks peer protocol v${m.v}, not v${PEER_PROTOCOL_VERSION}`),
          )
          return
        }
        if (this.#helloReceived) return void init.onProtocolError()
        this.#helloReceived = true
        this.#remoteMaxMessageSize = m.max
        this.#maybeHello()
        return
      case 'open':
        return void init.onOpenChannel(m.id, m.ch)
      case 'ack':
        return void init.onAck(m.id)
      case 'ping':
        return void this.send({ t: 'pong' })
      case 'pong':
        return
      case 'close':
        if (this.#remoteSent !== undefined) return void init.onProtocolError()
        this.#remoteSent = m.sent
        init.onRemoteClose()
        this.maybeFin()
        return
      case 'fin':
        this.#finReceived = true
        if (this.#finSent) init.onFinished()
        return
    }
  }
}
