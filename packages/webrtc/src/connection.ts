/**
 * The lifecycle of one connection: connecting until the control session's hello exchange, open, a graceful close
 * (flush, then the close handshake) or a failure, and closed. Sending goes to the channel's sender, control
 * messages to the control session, liveness to the heartbeat.
 *
 * @module
 */
import {
  type AbortOptions,
  type Channel,
  type Connection,
  ConnectionClosedError,
  type ConnectionEvents,
  ConnectionFailedError,
  Emitter,
  type Identifier,
  InvalidChannelError,
  isChannel,
  MessageTooLargeError,
  raceSignal,
  SendFailedError,
  throwIfAborted,
  type Unsubscribe,
} from '@skipmesh/core'
import { type ChannelStream, ChannelTable } from './channels.js'
import { CONTROL_CHANNEL_ID } from './control.js'
import { ControlSession } from './control-session.js'
import {
  HeartbeatTimeoutError,
  PeerAuthenticationError,
  PeerLimitExceededError,
  ProtocolViolationError,
  TransportClosedError,
} from './errors.js'
import { Heartbeat } from './heartbeat.js'
import { explainConnectFailure } from './ice-facts.js'
import { InboundBudget } from './inbound-budget.js'
import { type HelloContext, PeerAuthenticator } from './peer-auth.js'
import type { PeerSignal, PeerTransport } from './peer-transport.js'
import { deferred } from '@skipmesh/core/internal'

/** Limits and timings of one connection (resolved manager options). */
export interface ConnectionLimits {
  readonly maxMessageSize: number
  readonly chunkSize: number
  readonly highWaterMark: number
  readonly lowWaterMark: number
  readonly heartbeatIntervalMs: number
  readonly heartbeatTimeoutMs: number
  readonly closeTimeoutMs: number
  readonly maxChannels: number
  /** Bytes the remote's unfinished chunked messages may hold, over all channels. */
  readonly maxInboundBytes: number
  /** An unfinished chunked message must progress within this many milliseconds. */
  readonly reassemblyTimeoutMs: number
  /** Channels the remote may open. */
  readonly maxRemoteChannels: number
  /** Smallest frame of the link, and of a non-final chunk from the remote (flag byte included). */
  readonly minFrameSize: number
  /** A channel this side opened must be acknowledged within this many milliseconds. */
  readonly channelAckTimeoutMs: number
}

/** Counters a connection updates in its manager's metrics. */
export interface ConnectionCounters {
  peerConnectionsLive: number
  protocolErrors: number
  heartbeatTimeouts: number
  peerLimitViolations: number
  iceRestarts: number
  /** Remotes refused because they did not prove the identifier they connect as (`PeerAuthenticationError`). */
  peerAuthFailures: number
}

/** What the manager gives a connection. @internal */
export interface ConnectionParams {
  readonly localId: Identifier
  readonly remoteId: Identifier
  /** Signaling session id of this peer connection attempt. */
  readonly session: string
  /** The peer connection (its `initiator` is the side with the lower identifier). */
  readonly peer: PeerTransport
  readonly limits: ConnectionLimits
  readonly counters: ConnectionCounters
  /**
   * The manager's peer authentication (its key pair, policy and pins). Absent: unsigned hellos, and a signed one
   * from the remote is checked against this connection alone.
   */
  readonly authenticator?: PeerAuthenticator
  /** The link is up and the hello exchange done. */
  onOpen(connection: WebRtcConnection): void
  /** The connection is gone (never opened, failed or closed); called once. */
  onClosed(connection: WebRtcConnection, reason: Error | undefined): void
}

/** The phase of a connection's life; `'connecting'` ones are internal to the manager. */
export type ConnectionPhase = 'connecting' | 'open' | 'closing' | 'closed'

/** Safe default of a data-channel message when the implementation does not report `sctp.maxMessageSize`. */
export const DEFAULT_LINK_MESSAGE_SIZE = 64 * 1024

/**
 * A skipmesh {@link Connection} over one `RTCPeerConnection`: a negotiated control channel (id 2) and one ordered,
 * reliable negotiated data channel per skipmesh channel. Made by the `WebRtcConnectionManager`.
 */
export class WebRtcConnection implements Connection {
  /** The remote peer's identifier, as authenticated by the signaling server. */
  readonly remoteId: Identifier
  /** The signaling session id of this peer connection. */
  readonly session: string
  /** Whether this side was the WebRTC initiator (the lower identifier). */
  readonly initiator: boolean
  readonly #params: ConnectionParams
  readonly #events = new Emitter<ConnectionEvents>()
  readonly #closed = deferred<void>()
  readonly #control: ControlSession
  readonly #channels: ChannelTable
  readonly #heartbeat: Heartbeat
  readonly #inbound: InboundBudget
  readonly #offPeer: Unsubscribe[]
  #phase: ConnectionPhase = 'connecting'
  #frameSize = DEFAULT_LINK_MESSAGE_SIZE
  #closeTimer: ReturnType<typeof setTimeout> | undefined

  /** @internal made by the manager. */
  constructor(params: ConnectionParams) {
    this.#params = params
    this.remoteId = params.remoteId
    this.session = params.session
    this.initiator = params.peer.initiator
    const { peer, limits, counters } = params
    const isClosed = (): boolean => this.#phase === 'closed'
    const protocolError = (): void => void counters.protocolErrors++
    const transportClosed = (what: string, cause?: unknown): void => this.#onTransportClosed(what, cause)
    const violation = (err: PeerLimitExceededError): void => this.#onViolation(err)
    const authenticator = params.authenticator ?? new PeerAuthenticator({ policy: 'optional' })
    this.#inbound = new InboundBudget({
      maxInboundBytes: limits.maxInboundBytes,
      maxMessageSize: limits.maxMessageSize,
      minFrameSize: limits.minFrameSize,
      reassemblyTimeoutMs: limits.reassemblyTimeoutMs,
      onViolation: violation,
    })
    this.#heartbeat = new Heartbeat({
      intervalMs: limits.heartbeatIntervalMs,
      timeoutMs: limits.heartbeatTimeoutMs,
      ping: () => {
        this.#control.send({ t: 'ping' })
        // a live remote answers every ping: two intervals of silence is a path to repair before ICE notices
        if (this.#heartbeat.silentMs >= 2 * limits.heartbeatIntervalMs) peer.restartIce?.()
      },
      onSilent: () => {
        counters.heartbeatTimeouts++
        this.#finalize(
          new HeartbeatTimeoutError(
            `nothing received from ${this.remoteId.toHex()} for ${limits.heartbeatTimeoutMs} ms`,
          ),
        )
      },
    })
    this.#channels = new ChannelTable({
      initiator: this.initiator,
      maxChannels: limits.maxChannels,
      maxRemoteChannels: limits.maxRemoteChannels,
      channelAckTimeoutMs: limits.channelAckTimeoutMs,
      highWaterMark: limits.highWaterMark,
      lowWaterMark: limits.lowWaterMark,
      createChannel: (label, id) => peer.createChannel(label, id),
      sendControl: (m) => this.#control.send(m),
      frameSize: () => this.#frameSize,
      isClosed,
      onFrame: (stream, data) => this.#onFrame(stream, data),
      onTransportClosed: transportClosed,
      onProtocolError: protocolError,
      onViolation: violation,
      reassembler: () => this.#inbound.reassembler(),
    })
    this.#control = new ControlSession({
      channel: peer.createChannel('skipmesh-control', CONTROL_CHANNEL_ID),
      maxMessageSize: limits.maxMessageSize,
      isClosed,
      acceptLink: () => this.#acceptLink(),
      prove: async () => authenticator.prove(await this.#helloContext()),
      verify: async (proof) => authenticator.verify(await this.#helloContext(), proof),
      onAuthFailure: (err) => this.#onAuthFailure(err),
      onHello: () => this.#onHello(),
      onActivity: () => this.#heartbeat.touch(),
      onOpenChannel: (id, ch) => this.#channels.onRemoteOpen(id, ch),
      onAck: (id) => this.#channels.onAck(id),
      onRemoteClose: () => {
        if (this.#phase === 'open') this.#beginClose()
      },
      onFinished: () => this.#finalize(undefined),
      receivedFrames: (id) => this.#channels.receivedFrames(id),
      onProtocolError: protocolError,
      onViolation: (err) => this.#finalize(err),
      onTransportClosed: transportClosed,
    })
    this.#offPeer = [
      peer.on('error', (err) => this.#onTransportClosed(`peer connection failed: ${err.message}`, err)),
      peer.on('close', () => this.#onTransportClosed('peer connection closed')),
      peer.on('restart', () => void counters.iceRestarts++),
    ]
  }

  /** `'open'` until `close()` is called or the link fails. */
  get status(): 'open' | 'closing' | 'closed' {
    return this.#phase === 'connecting' ? 'open' : this.#phase
  }

  /** The phase including `'connecting'` (before the hello exchange). */
  get phase(): ConnectionPhase {
    return this.#phase
  }

  /** Largest data-channel message this connection sends (link maximum, capped by `chunkSize`). */
  get frameSize(): number {
    return this.#frameSize
  }

  /** The remote's `maxMessageSize` (from its hello). */
  get remoteMaxMessageSize(): number {
    return this.#control.remoteMaxMessageSize
  }

  /** Bytes the remote's unfinished chunked messages hold now (bounded by `maxInboundBytes`). */
  get inboundHeldBytes(): number {
    return this.#inbound.held
  }

  /** The most bytes the remote's unfinished chunked messages ever held at once (never above `maxInboundBytes`). */
  get inboundPeakBytes(): number {
    return this.#inbound.peak
  }

  /**
   * Whether the connection is open and the remote answered lately (something arrived within two heartbeat
   * intervals: a live remote answers every ping). A new offer or dial request never replaces a responsive
   * connection: only one whose remote went quiet. @internal
   */
  isResponsive(): boolean {
    return this.#phase === 'open' && this.#heartbeat.silentMs < 2 * this.#params.limits.heartbeatIntervalMs
  }

  /** Resolves when the connection is closed (never rejects). */
  whenClosed(): Promise<void> {
    return this.#closed.promise
  }

  /** Subscribes to `'message'` or `'close'`; returns the function that unsubscribes. */
  on<E extends keyof ConnectionEvents>(event: E, handler: ConnectionEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  /**
   * Sends `bytes` on `channel`: ordered and reliable per channel. Resolves once every chunk was handed to the data
   * channel. Waits (never fails) while the channel's buffer is above the high-water mark.
   * @throws {ConnectionClosedError} when the connection is closing or closed.
   * @throws {MessageTooLargeError} when `bytes` exceeds the local or the remote `maxMessageSize` (nothing is sent).
   * @throws {InvalidChannelError} when `channel` is not a valid channel name.
   * @throws {SendFailedError} when no data channel can be opened (stream ids exhausted) or the transport failed.
   * @throws {AbortError} when `options.signal` aborts before the first chunk went out.
   */
  send(channel: Channel, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    try {
      if (this.#phase !== 'open') {
        throw new ConnectionClosedError(`connection to ${this.remoteId.toHex()} is ${this.#phase}`)
      }
      if (!isChannel(channel))
        throw new InvalidChannelError(`invalid channel name: ${String(channel).slice(0, 80)}`)
      if (!(bytes instanceof Uint8Array)) throw new SendFailedError('bytes must be a Uint8Array')
      const max = Math.min(this.#params.limits.maxMessageSize, this.remoteMaxMessageSize)
      if (bytes.length > max) {
        throw new MessageTooLargeError(`message of ${bytes.length} bytes exceeds the maximum of ${max} bytes`)
      }
      throwIfAborted(options.signal)
      return this.#channels.get(channel).sender.send(bytes, options.signal)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Closes gracefully: queued sends are flushed, then the close handshake makes sure each side received what the
   * other sent before the peer connection is destroyed. Resolves when closed. Idempotent.
   * @throws {AbortError} when `options.signal` aborts (the close goes on).
   */
  async close(options: AbortOptions = {}): Promise<void> {
    // not explained as an ICE failure: this side gave up
    if (this.#phase === 'connecting') this.#finalize(new ConnectionFailedError('closed while connecting'))
    else if (this.#phase === 'open') this.#beginClose()
    await raceSignal(this.#closed.promise, options.signal)
  }

  /** Destroys the connection at once (no handshake); `'close'` fires with `reason`. @internal */
  destroy(reason: Error): void {
    this.#finalize(this.#explain(reason))
  }

  /** Hands a validated signal from the remote to the peer connection's negotiation. @internal */
  signal(data: PeerSignal): void {
    if (this.#phase === 'closed') return
    try {
      this.#params.peer.signal(data)
    } catch {
      this.#params.counters.protocolErrors++
    }
  }

  /** The link's largest message, or a violation when it is below the frame-size floor. */
  #acceptLink(): boolean {
    const link = this.#params.peer.remoteMaxMessageSize() ?? DEFAULT_LINK_MESSAGE_SIZE
    const floor = this.#params.limits.minFrameSize
    if (link >= floor) return true
    // a remote that announces a tiny a=max-message-size would make every send a flood of tiny frames
    this.#onViolation(
      new PeerLimitExceededError(
        'frame-size',
        `the link carries messages of at most ${link} bytes, below the floor of ${floor}`,
      ),
    )
    return false
  }

  /** This connection as the hello's identity proofs see it (once the first offer/answer exchange completed). */
  async #helloContext(): Promise<HelloContext> {
    const { localId, peer } = this.#params
    return {
      localId,
      remoteId: this.remoteId,
      initiator: this.initiator,
      fingerprints: (await peer.fingerprints?.()) ?? { local: '', remote: '' },
    }
  }

  #onAuthFailure(err: unknown): void {
    if (this.#phase === 'closed') return
    this.#params.counters.peerAuthFailures++
    this.#finalize(
      err instanceof PeerAuthenticationError
        ? err
        : new PeerAuthenticationError('signature', `checking ${this.remoteId.toHex()} failed`, {
            cause: err,
          }),
    )
  }

  #onHello(): void {
    if (this.#phase !== 'connecting' || !this.#acceptLink()) return
    const linkSize = this.#params.peer.remoteMaxMessageSize() ?? DEFAULT_LINK_MESSAGE_SIZE
    this.#frameSize = Math.min(this.#params.limits.chunkSize, linkSize)
    this.#phase = 'open'
    this.#heartbeat.start()
    this.#params.onOpen(this)
  }

  #onFrame(stream: ChannelStream, data: unknown): void {
    if (this.#phase === 'closed') return
    this.#heartbeat.touch()
    stream.receivedFrames++
    if (!(data instanceof ArrayBuffer)) {
      this.#params.counters.protocolErrors++
    } else {
      const result = stream.reassembler.push(new Uint8Array(data))
      if (!this.#inbound.check(stream.reassembler, stream.name, result)) return
      if (result.kind === 'message') {
        this.#events.emit('message', stream.name, result.bytes)
      } else if (result.kind === 'batch') {
        for (const bytes of result.messages) {
          // a handler may have closed the connection
          if (this.phase === 'closed') return
          this.#events.emit('message', stream.name, bytes)
        }
      } else if (result.kind === 'oversize') {
        this.#params.counters.protocolErrors++
        this.#finalize(
          new ProtocolViolationError(
            `remote sent a message of at least ${result.size} bytes on ${stream.name}, over the maximum of ${this.#params.limits.maxMessageSize}`,
          ),
        )
        return
      } else if (result.kind === 'malformed') {
        this.#params.counters.protocolErrors++
      }
    }
    this.#control.maybeFin()
  }

  #beginClose(): void {
    this.#phase = 'closing'
    void this.#flushAndAnnounce()
  }

  async #flushAndAnnounce(): Promise<void> {
    // everything accepted before close() goes out first (pending channels flush once acknowledged). The flush
    // may take long (a large backlog); it is bounded by the heartbeat, which keeps running while closing, so a
    // dead peer still ends it. `closeTimeoutMs` bounds only the handshake that follows.
    await Promise.all([...this.#channels.streams()].map((s) => s.sender.whenEmpty()))
    if (this.#phase !== 'closing') return
    this.#closeTimer = setTimeout(
      () => this.#finalize(new TransportClosedError('close handshake timed out')),
      this.#params.limits.closeTimeoutMs,
    )
    this.#control.announceClose(this.#channels.sentCounts())
  }

  #onViolation(err: PeerLimitExceededError): void {
    if (this.#phase === 'closed') return
    this.#params.counters.peerLimitViolations++
    this.#finalize(err)
  }

  #onTransportClosed(what: string, cause?: unknown): void {
    if (this.#phase === 'closed') return
    // the remote destroys its side once it has our fin: everything was delivered both ways
    if (this.#phase === 'closing' && this.#control.finSent) {
      this.#finalize(undefined)
      return
    }
    const reason =
      this.#phase === 'connecting'
        ? this.#explain(
            new ConnectionFailedError(`connecting to ${this.remoteId.toHex()} failed: ${what}`, { cause }),
          )
        : new TransportClosedError(`${what} (${this.remoteId.toHex()})`, { cause })
    this.#finalize(reason)
  }

  /**
   * The reason of an attempt that fails while connecting: an `IceConnectionFailedError` when the offer/answer
   * exchange completed and ICE never connected (see `ice-facts.ts`), else `reason`.
   */
  #explain(reason: Error): Error {
    return this.#phase === 'connecting'
      ? explainConnectFailure(reason, this.#params.peer.iceFacts?.())
      : reason
  }

  #finalize(reason: Error | undefined): void {
    if (this.#phase === 'closed') return
    this.#phase = 'closed'
    this.#heartbeat.stop()
    this.#inbound.stop()
    clearTimeout(this.#closeTimer)
    const undeliveredSends = this.#channels.closeAll(
      new ConnectionClosedError(`connection to ${this.remoteId.toHex()} closed`, { cause: reason }),
    )
    this.#control.detach()
    for (const off of this.#offPeer) off()
    this.#params.peer.destroy()
    this.#params.counters.peerConnectionsLive--
    this.#params.onClosed(this, reason)
    if (reason === undefined) this.#events.emit('close')
    else this.#events.emit('close', reason, { undeliveredSends })
    this.#events.clear()
    this.#closed.resolve()
  }
}
