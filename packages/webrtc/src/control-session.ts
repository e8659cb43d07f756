/**
 * The control session of one connection: the negotiated control channel, the hello handshake that opens the
 * connection (with the identity proofs of `peer-auth.ts`: control messages that follow the remote's hello wait until
 * its proof is checked), keep-alive pings, and the close handshake (`close {sent}` / `fin`) that makes sure each side received
 * everything the other sent. Channel `open`/`ack` messages are passed on to the channel table.
 *
 * @module
 */
import type { Channel } from '@skipmesh/core'
import { type ControlMessage, encodeControl, PEER_PROTOCOL_VERSION, parseControl } from './control.js'
import { ProtocolViolationError } from './errors.js'
import type { HelloProof } from './peer-auth.js'

/** Control messages the remote may send while its hello's proof is being checked (then a violation). */
const MAX_WAITING_MESSAGES = 1024

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
  /** This side's identity proof for its hello; `undefined` for an unsigned hello. */
  prove(): Promise<HelloProof | undefined>
  /** Checks the remote's hello proof; rejects with the error that refuses the remote. */
  verify(proof: HelloProof | undefined): Promise<void>
  /** The remote's hello proof was refused (the connection ends with `err`). */
  onAuthFailure(err: unknown): void
  /** Our hello went out, and the remote's arrived and was authenticated. */
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
  #helloSent = false
  #helloReceived = false
  #authenticated = false
  /** Messages that arrived while the remote's proof was being checked; `undefined` when not checking. */
  #waiting: unknown[] | undefined
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
      if (init.acceptLink()) void this.#sendHello()
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

  async #sendHello(): Promise<void> {
    const init = this.#init
    let proof: HelloProof | undefined
    try {
      proof = await init.prove()
    } catch (err) {
      return void init.onTransportClosed('signing the hello failed', err)
    }
    if (init.isClosed()) return
    this.send({ t: 'hello', v: PEER_PROTOCOL_VERSION, max: init.maxMessageSize, ...proof })
    this.#helloSent = true
    this.#maybeHello()
  }

  #maybeHello(): void {
    if (this.#helloSent && this.#authenticated) this.#init.onHello()
  }

  /** Checks the remote's proof; what arrives meanwhile waits, and is handled once the remote is authenticated. */
  async #authenticate(proof: HelloProof | undefined): Promise<void> {
    const init = this.#init
    this.#waiting = []
    try {
      await init.verify(proof)
    } catch (err) {
      this.#waiting = undefined
      if (!init.isClosed()) init.onAuthFailure(err)
      return
    }
    const waiting = this.#waiting
    this.#waiting = undefined
    if (init.isClosed()) return
    this.#authenticated = true
    this.#maybeHello()
    for (const data of waiting) this.#onMessage(data)
  }

  #onMessage(data: unknown): void {
    const init = this.#init
    if (init.isClosed()) return
    init.onActivity()
    if (this.#waiting !== undefined) {
      if (this.#waiting.length < MAX_WAITING_MESSAGES) return void this.#waiting.push(data)
      return void init.onViolation(
        new ProtocolViolationError(
          `over ${MAX_WAITING_MESSAGES} control messages before the hello was checked`,
        ),
      )
    }
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
        void this.#authenticate(
          m.pk === undefined || m.sig === undefined ? undefined : { pk: m.pk, sig: m.sig },
        )
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
