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
  toAbortError,
  type Unsubscribe,
} from '@skipmesh/core'
import type SimplePeer from 'simple-peer'
import {
  CONTROL_CHANNEL_ID,
  type ControlMessage,
  encodeControl,
  FIRST_CHANNEL_ID,
  IN_BAND_CHANNEL_IDS,
  MAX_CHANNEL_ID,
  PEER_PROTOCOL_VERSION,
  parseControl,
} from './control.js'
import { HeartbeatTimeoutError, ProtocolViolationError, TransportClosedError } from './errors.js'
import { BATCH_LENGTH_BYTES, encodeBatch, encodeFrame, FRAME_OVERHEAD, Reassembler } from './framing.js'

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
}

/** Counters a connection updates in its manager's metrics. */
export interface ConnectionCounters {
  peerConnectionsLive: number
  protocolErrors: number
  heartbeatTimeouts: number
}

/** What the manager gives a connection. @internal */
export interface ConnectionParams {
  readonly localId: Identifier
  readonly remoteId: Identifier
  /** Signaling session id of this peer connection attempt. */
  readonly session: string
  /** Whether this side is the simple-peer initiator (it has the lower identifier). */
  readonly initiator: boolean
  readonly peer: SimplePeer.Instance
  readonly limits: ConnectionLimits
  readonly counters: ConnectionCounters
  /** The link is up and the hello exchange done. */
  onOpen(connection: WebRtcConnection): void
  /** The connection is gone (never opened, failed or closed); called once. */
  onClosed(connection: WebRtcConnection, reason: Error | undefined): void
}

/** The phase of a connection's life; `'connecting'` ones are internal to the manager. */
export type ConnectionPhase = 'connecting' | 'open' | 'closing' | 'closed'

interface PendingSend {
  readonly bytes: Uint8Array
  offset: number
  started: boolean
  /** A small message: copied at `send`, may travel in a batch frame with others. */
  readonly small: boolean
  /** Its `send` already resolved (it was copied while the channel was under the high-water mark). */
  early: boolean
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
  readonly done: Promise<void>
  unsubscribeAbort: (() => void) | undefined
}

interface ChannelEntry {
  readonly name: Channel
  readonly id: number
  readonly dc: RTCDataChannel
  /** `pending` until the remote acknowledged creating the matching negotiated channel. */
  state: 'pending' | 'ready' | 'abandoned'
  readonly queue: PendingSend[]
  /** Bytes of the messages in `queue` not yet handed to the data channel. */
  queuedBytes: number
  /** `bufferedAmount` as last read by the pump. */
  lastBuffered: number
  pumping: boolean
  pumpScheduled: boolean
  /** Resolved when the queue is empty and no pump runs (graceful close waits for it). */
  readonly emptyWaiters: Array<() => void>
  sentFrames: number
  receivedFrames: number
  readonly reassembler: Reassembler
}

/** Safe default of a data-channel message when the implementation does not report `sctp.maxMessageSize`. */
export const DEFAULT_LINK_MESSAGE_SIZE = 64 * 1024

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {})
  return { promise, resolve, reject }
}

/** The `a=max-message-size` of an SDP: a number, `Infinity` for 0 (RFC 8841: any size), `undefined` when absent. */
function sdpMaxMessageSize(sdp: string | undefined): number | undefined {
  const m = sdp === undefined ? null : /^a=max-message-size:(\d+)\s*$/m.exec(sdp)
  if (m === null) return undefined
  const n = Number(m[1])
  return n === 0 ? Number.POSITIVE_INFINITY : n
}

/**
 * Largest message the link carries: `sctp.maxMessageSize` where the implementation reports it; else the smaller of
 * both descriptions' `a=max-message-size` (node-datachannel's polyfill has `sctp === null` until its late
 * `connected` state); else {@link DEFAULT_LINK_MESSAGE_SIZE}.
 */
export function linkMessageSize(pc: RTCPeerConnection): number {
  const sctpMax = (pc as { sctp?: { maxMessageSize?: number } | null }).sctp?.maxMessageSize
  if (typeof sctpMax === 'number' && sctpMax > FRAME_OVERHEAD) return sctpMax
  let remote: number | undefined
  let local: number | undefined
  try {
    remote = sdpMaxMessageSize(pc.remoteDescription?.sdp)
    local = sdpMaxMessageSize(pc.localDescription?.sdp)
  } catch {
    // an implementation without descriptions: keep the default
  }
  // RFC 8841: a remote description without the attribute means 64 KiB
  const fromSdp = Math.min(remote ?? DEFAULT_LINK_MESSAGE_SIZE, local ?? Number.POSITIVE_INFINITY)
  return fromSdp > FRAME_OVERHEAD ? fromSdp : DEFAULT_LINK_MESSAGE_SIZE
}

/** Messages up to this size are copied at `send` and may be coalesced into batch frames. */
export const COALESCE_MAX_MESSAGE = 2 * 1024
/** Largest batch frame. */
export const BATCH_FRAME_MAX = 16 * 1024

/** Poll interval of the `bufferedamountlow` fallback (some implementations never fire the event). */
const DRAIN_POLL_MS = 5
/** Bytes sent between two reads of `bufferedAmount` (at most). */
const BUFFER_CHECK_BYTES = 64 * 1024

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
  readonly #peer: SimplePeer.Instance
  readonly #pc: RTCPeerConnection
  readonly #limits: ConnectionLimits
  readonly #counters: ConnectionCounters
  readonly #params: ConnectionParams
  readonly #events = new Emitter<ConnectionEvents>()
  readonly #control: RTCDataChannel
  readonly #byName = new Map<Channel, ChannelEntry>()
  readonly #byId = new Map<number, ChannelEntry>()
  readonly #usedIds = new Set<number>([CONTROL_CHANNEL_ID, ...IN_BAND_CHANNEL_IDS])
  readonly #closed = deferred<void>()
  #phase: ConnectionPhase = 'connecting'
  #controlOpen = false
  #helloReceived = false
  #remoteMaxMessageSize = Number.POSITIVE_INFINITY
  #frameSize = DEFAULT_LINK_MESSAGE_SIZE
  #nextId: number
  #lastReceived = Date.now()
  #heartbeat: ReturnType<typeof setInterval> | undefined
  #closeTimer: ReturnType<typeof setTimeout> | undefined
  #closeSent = false
  #remoteSent: ReadonlyArray<readonly [number, number]> | undefined
  #finSent = false
  #finReceived = false
  /** Macrotask scheduling without timer clamping: setImmediate (Node) or a MessageChannel (browsers). */
  #taskChannel: MessageChannel | undefined
  readonly #tasks: Array<() => void> = []

  /** @internal made by the manager. */
  constructor(params: ConnectionParams) {
    this.#params = params
    this.remoteId = params.remoteId
    this.session = params.session
    this.initiator = params.initiator
    this.#peer = params.peer
    this.#limits = params.limits
    this.#counters = params.counters
    this.#nextId = FIRST_CHANNEL_ID + (params.initiator ? 0 : 1)
    this.#pc = (params.peer as unknown as { _pc: RTCPeerConnection })._pc
    this.#control = this.#pc.createDataChannel('skipmesh-control', {
      negotiated: true,
      id: CONTROL_CHANNEL_ID,
      ordered: true,
    })
    this.#control.binaryType = 'arraybuffer'
    this.#control.onopen = () => {
      this.#controlOpen = true
      this.#sendControl({ t: 'hello', v: PEER_PROTOCOL_VERSION, max: this.#limits.maxMessageSize })
      this.#maybeOpen()
    }
    this.#control.onmessage = (e: MessageEvent) => this.#onControl(e.data)
    this.#control.onclose = () => this.#onTransportClosed('control channel closed')
    if (this.#control.readyState === 'open') this.#control.onopen(new Event('open'))
    this.#peer.on('error', (err: Error) =>
      this.#onTransportClosed(`peer connection failed: ${err.message}`, err),
    )
    this.#peer.on('close', () => this.#onTransportClosed('peer connection closed'))
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
    return this.#remoteMaxMessageSize
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
      const max = Math.min(this.#limits.maxMessageSize, this.#remoteMaxMessageSize)
      if (bytes.length > max) {
        throw new MessageTooLargeError(`message of ${bytes.length} bytes exceeds the maximum of ${max} bytes`)
      }
      throwIfAborted(options.signal)
      const entry = this.#byName.get(channel) ?? this.#openChannel(channel)
      const small = bytes.length <= COALESCE_MAX_MESSAGE
      const d = deferred<void>()
      const item: PendingSend = {
        // a small message is copied now: its send may resolve before it leaves, and it may share a frame
        bytes: small ? bytes.slice() : bytes,
        offset: 0,
        started: false,
        small,
        early: false,
        resolve: d.resolve,
        reject: d.reject,
        done: d.promise,
        unsubscribeAbort: undefined,
      }
      entry.queue.push(item)
      entry.queuedBytes += item.bytes.length
      if (small && entry.queuedBytes + entry.lastBuffered <= this.#limits.highWaterMark) {
        item.early = true
        item.resolve()
      } else if (options.signal !== undefined) {
        const signal = options.signal
        const onAbort = (): void => {
          if (item.started) return
          const i = entry.queue.indexOf(item)
          if (i >= 0) {
            entry.queue.splice(i, 1)
            entry.queuedBytes -= item.bytes.length
          }
          item.reject(toAbortError(signal))
        }
        signal.addEventListener('abort', onAbort, { once: true })
        item.unsubscribeAbort = () => signal.removeEventListener('abort', onAbort)
      }
      // small messages go out on the next task, so that the ones sent meanwhile share frames
      if (small) this.#schedulePump(entry)
      else this.#pump(entry)
      return d.promise
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
    if (this.#phase === 'connecting') this.destroy(new ConnectionFailedError('closed while connecting'))
    else if (this.#phase === 'open') this.#beginClose()
    await raceSignal(this.#closed.promise, options.signal)
  }

  /** Destroys the connection at once (no handshake); `'close'` fires with `reason`. @internal */
  destroy(reason: Error): void {
    this.#finalize(reason)
  }

  /** Hands a signal from the remote to simple-peer. @internal */
  signal(data: SimplePeer.SignalData): void {
    if (this.#phase === 'closed') return
    try {
      this.#peer.signal(data)
    } catch {
      this.#counters.protocolErrors++
    }
  }

  // ---- opening

  #maybeOpen(): void {
    if (this.#phase !== 'connecting' || !this.#controlOpen || !this.#helloReceived) return
    this.#frameSize = Math.min(this.#limits.chunkSize, linkMessageSize(this.#pc))
    this.#phase = 'open'
    this.#lastReceived = Date.now()
    this.#heartbeat = setInterval(() => this.#tick(), this.#limits.heartbeatIntervalMs)
    this.#params.onOpen(this)
  }

  // ---- control channel

  #sendControl(message: ControlMessage): void {
    if (this.#control.readyState !== 'open') return
    try {
      this.#control.send(encodeControl(message))
    } catch (err) {
      this.#onTransportClosed('control channel send failed', err)
    }
  }

  #onControl(data: unknown): void {
    if (this.#phase === 'closed') return
    this.#lastReceived = Date.now()
    const m = parseControl(data)
    if (m === undefined) {
      this.#counters.protocolErrors++
      return
    }
    switch (m.t) {
      case 'hello':
        if (m.v !== PEER_PROTOCOL_VERSION) {
          this.#counters.protocolErrors++
          this.#finalize(
            new ProtocolViolationError(`remote speaks peer protocol v${m.v}, not v${PEER_PROTOCOL_VERSION}`),
          )
          return
        }
        if (this.#helloReceived) return void this.#counters.protocolErrors++
        this.#helloReceived = true
        this.#remoteMaxMessageSize = m.max
        this.#maybeOpen()
        return
      case 'open':
        this.#onRemoteOpen(m.id, m.ch)
        return
      case 'ack':
        this.#onAck(m.id)
        return
      case 'ping':
        this.#sendControl({ t: 'pong' })
        return
      case 'pong':
        return
      case 'close':
        if (this.#remoteSent !== undefined) return void this.#counters.protocolErrors++
        this.#remoteSent = m.sent
        if (this.#phase === 'open') this.#beginClose()
        this.#maybeFin()
        return
      case 'fin':
        this.#finReceived = true
        if (this.#finSent) this.#finalize(undefined)
        return
    }
  }

  // ---- channels

  #allocateId(): number {
    while (this.#nextId <= MAX_CHANNEL_ID && this.#usedIds.has(this.#nextId)) this.#nextId += 2
    if (this.#nextId > MAX_CHANNEL_ID)
      throw new SendFailedError('no data channel ids left on this connection')
    const id = this.#nextId
    this.#nextId += 2
    return id
  }

  #createEntry(name: Channel, id: number, state: ChannelEntry['state']): ChannelEntry {
    const dc = this.#pc.createDataChannel(name, { negotiated: true, id, ordered: true })
    dc.binaryType = 'arraybuffer'
    dc.bufferedAmountLowThreshold = this.#limits.lowWaterMark
    const entry: ChannelEntry = {
      name,
      id,
      dc,
      state,
      queue: [],
      queuedBytes: 0,
      lastBuffered: 0,
      pumping: false,
      pumpScheduled: false,
      emptyWaiters: [],
      sentFrames: 0,
      receivedFrames: 0,
      reassembler: new Reassembler(this.#limits.maxMessageSize),
    }
    this.#usedIds.add(id)
    this.#byId.set(id, entry)
    this.#byName.set(name, entry)
    dc.onopen = () => this.#pump(entry)
    dc.onmessage = (e: MessageEvent) => this.#onFrame(entry, e.data)
    dc.onclose = () => {
      if (entry.state !== 'abandoned') this.#onTransportClosed(`data channel ${name} closed`)
    }
    return entry
  }

  #openChannel(name: Channel): ChannelEntry {
    if (this.#byName.size >= this.#limits.maxChannels) {
      throw new SendFailedError(`at most ${this.#limits.maxChannels} channels per connection`)
    }
    const entry = this.#createEntry(name, this.#allocateId(), 'pending')
    this.#sendControl({ t: 'open', id: entry.id, ch: name })
    return entry
  }

  #remoteParity(): number {
    return this.initiator ? 1 : 0
  }

  #onRemoteOpen(id: number, name: Channel): void {
    if (this.#phase === 'closed') return
    if (id % 2 !== this.#remoteParity() || this.#usedIds.has(id)) return void this.#counters.protocolErrors++
    const existing = this.#byName.get(name)
    if (existing === undefined) {
      if (this.#byName.size >= this.#limits.maxChannels) return void this.#counters.protocolErrors++
      this.#createEntry(name, id, 'ready')
      this.#sendControl({ t: 'ack', id })
      return
    }
    if (existing.state !== 'pending') return void this.#counters.protocolErrors++
    // both sides opened `name` at once: the initiator's (lower identifier's) data channel wins
    if (this.initiator) {
      this.#usedIds.add(id)
      return
    }
    existing.state = 'abandoned'
    this.#byId.delete(existing.id)
    this.#byName.delete(name)
    const adopted = this.#createEntry(name, id, 'ready')
    adopted.queue.push(...existing.queue.splice(0))
    adopted.queuedBytes = existing.queuedBytes
    existing.queuedBytes = 0
    adopted.emptyWaiters.push(...existing.emptyWaiters.splice(0))
    existing.dc.close()
    this.#sendControl({ t: 'ack', id })
    this.#pump(adopted)
  }

  #onAck(id: number): void {
    const entry = this.#byId.get(id)
    if (entry === undefined || entry.state !== 'pending' || id % 2 === this.#remoteParity()) {
      this.#counters.protocolErrors++
      return
    }
    entry.state = 'ready'
    this.#pump(entry)
  }

  #onFrame(entry: ChannelEntry, data: unknown): void {
    if (this.#phase === 'closed') return
    this.#lastReceived = Date.now()
    entry.receivedFrames++
    if (!(data instanceof ArrayBuffer)) {
      this.#counters.protocolErrors++
    } else {
      const result = entry.reassembler.push(new Uint8Array(data))
      if (result.kind === 'message') {
        this.#events.emit('message', entry.name, result.bytes)
      } else if (result.kind === 'batch') {
        for (const bytes of result.messages) {
          if (this.phase === 'closed') return
          this.#events.emit('message', entry.name, bytes)
        }
      } else if (result.kind === 'oversize') {
        this.#counters.protocolErrors++
        this.#finalize(
          new ProtocolViolationError(
            `remote sent a message of at least ${result.size} bytes on ${entry.name}, over the maximum of ${this.#limits.maxMessageSize}`,
          ),
        )
        return
      } else if (result.kind === 'malformed') {
        this.#counters.protocolErrors++
      }
    }
    if (this.#remoteSent !== undefined) this.#maybeFin()
  }

  // ---- sending

  #pump(entry: ChannelEntry): void {
    if (entry.pumping || entry.state !== 'ready' || entry.queue.length === 0) return
    if (entry.dc.readyState !== 'open' || this.#phase === 'closed') return
    entry.pumping = true
    void this.#runPump(entry)
  }

  #schedulePump(entry: ChannelEntry): void {
    if (entry.pumping || entry.pumpScheduled) return
    entry.pumpScheduled = true
    this.#nextTask(() => {
      entry.pumpScheduled = false
      this.#pump(entry)
    })
  }

  /** Runs `fn` in a later task, without the timer clamping of `setTimeout(0)`. */
  #nextTask(fn: () => void): void {
    const g = globalThis as { setImmediate?: (fn: () => void) => unknown }
    if (typeof g.setImmediate === 'function') {
      g.setImmediate(fn)
      return
    }
    if (typeof MessageChannel !== 'function') {
      setTimeout(fn, 0)
      return
    }
    this.#tasks.push(fn)
    if (this.#taskChannel === undefined) {
      const channel = new MessageChannel()
      channel.port1.onmessage = () => {
        for (const task of this.#tasks.splice(0)) task()
      }
      this.#taskChannel = channel
    }
    if (this.#tasks.length === 1) this.#taskChannel.port2.postMessage(0)
  }

  #macrotask(): Promise<void> {
    return new Promise((resolve) => this.#nextTask(resolve))
  }

  async #runPump(entry: ChannelEntry): Promise<void> {
    const { dc } = entry
    const high = this.#limits.highWaterMark
    // reading bufferedAmount crosses into the WebRTC stack (costly per message in some): read it every
    // `checkEvery` bytes, so the buffer exceeds the high-water mark by less than that
    const checkEvery = Math.min(BUFFER_CHECK_BYTES, high)
    const batchMax = Math.min(this.#frameSize, BATCH_FRAME_MAX)
    let burst = 0
    let unchecked = checkEvery
    try {
      while (entry.queue.length > 0 && this.#phase !== 'closed') {
        if (unchecked >= checkEvery) {
          unchecked = 0
          entry.lastBuffered = dc.bufferedAmount
          if (entry.lastBuffered > high) {
            await this.#drained(entry)
            burst = 0
            unchecked = checkEvery
            continue
          }
        }
        if (burst >= high) {
          // some stacks update bufferedAmount only between tasks: never push more than the mark in one go
          await this.#macrotask()
          burst = 0
          unchecked = checkEvery
          continue
        }
        const item = entry.queue[0]!
        let frame: Uint8Array<ArrayBuffer>
        let done: PendingSend[]
        const batched = item.small ? this.#batchable(entry.queue, batchMax) : 1
        if (batched > 1) {
          done = entry.queue.slice(0, batched)
          frame = encodeBatch(done.map((p) => p.bytes))
        } else {
          frame = encodeFrame(item.bytes, item.offset, this.#frameSize)
          done = []
        }
        try {
          dc.send(frame)
        } catch (err) {
          this.#onTransportClosed(`send on data channel ${entry.name} failed`, err)
          return
        }
        entry.sentFrames++
        burst += frame.length
        unchecked += frame.length
        if (batched <= 1) {
          item.started = true
          item.offset += frame.length - FRAME_OVERHEAD
          if (item.offset >= item.bytes.length) done.push(item)
        }
        if (done.length > 0) entry.queue.splice(0, done.length)
        for (const p of done) {
          entry.queuedBytes -= p.bytes.length
          p.unsubscribeAbort?.()
          if (!p.early) p.resolve()
        }
      }
    } finally {
      // synchronously after the last look at the queue (before any resolved sender resumes): a send queued from
      // now on starts a new pump
      entry.pumping = false
      if (entry.queue.length === 0) for (const w of entry.emptyWaiters.splice(0)) w()
    }
  }

  /** How many small messages at the head of `queue` fit one batch frame of at most `max` bytes (at least 1). */
  #batchable(queue: readonly PendingSend[], max: number): number {
    let n = 0
    let size = FRAME_OVERHEAD
    for (const p of queue) {
      if (!p.small || p.started) break
      size += BATCH_LENGTH_BYTES + p.bytes.length
      if (n > 0 && size > max) break
      n++
    }
    return Math.max(n, 1)
  }

  /** Resolves when `entry` has nothing left to send (or the connection closed). */
  #whenEmpty(entry: ChannelEntry): Promise<void> {
    if (entry.queue.length === 0 && !entry.pumping) return Promise.resolve()
    return new Promise((resolve) => entry.emptyWaiters.push(resolve))
  }

  /** Resolves once the channel's buffer is at or below the low-water mark (or the connection closed). */
  async #drained(entry: ChannelEntry): Promise<void> {
    const { dc } = entry
    const low = this.#limits.lowWaterMark
    while (dc.bufferedAmount > low && this.#phase !== 'closed' && dc.readyState === 'open') {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer)
          dc.removeEventListener('bufferedamountlow', done)
          resolve()
        }
        const timer = setTimeout(done, DRAIN_POLL_MS)
        dc.addEventListener('bufferedamountlow', done)
      })
    }
  }

  // ---- liveness

  #tick(): void {
    if (this.#phase === 'closed') return
    if (Date.now() - this.#lastReceived > this.#limits.heartbeatTimeoutMs) {
      this.#counters.heartbeatTimeouts++
      this.#finalize(
        new HeartbeatTimeoutError(
          `nothing received from ${this.remoteId.toHex()} for ${this.#limits.heartbeatTimeoutMs} ms`,
        ),
      )
      return
    }
    this.#sendControl({ t: 'ping' })
  }

  // ---- closing

  #beginClose(): void {
    this.#phase = 'closing'
    void this.#flushAndAnnounce()
  }

  async #flushAndAnnounce(): Promise<void> {
    // everything accepted before close() goes out first (pending channels flush once acknowledged). The flush
    // may take long (a large backlog); it is bounded by the heartbeat, which keeps running while closing, so a
    // dead peer still ends it. `closeTimeoutMs` bounds only the handshake that follows.
    await Promise.all([...this.#byName.values()].map((e) => this.#whenEmpty(e)))
    if (this.#phase !== 'closing') return
    this.#closeTimer = setTimeout(
      () => this.#finalize(new TransportClosedError('close handshake timed out')),
      this.#limits.closeTimeoutMs,
    )
    const sent: Array<readonly [number, number]> = []
    for (const e of this.#byId.values()) sent.push([e.id, e.sentFrames])
    this.#sendControl({ t: 'close', sent })
    this.#closeSent = true
    this.#maybeFin()
  }

  #maybeFin(): void {
    if (!this.#closeSent || this.#remoteSent === undefined || this.#finSent || this.#phase === 'closed')
      return
    for (const [id, count] of this.#remoteSent) {
      if ((this.#byId.get(id)?.receivedFrames ?? 0) < count) return
    }
    this.#sendControl({ t: 'fin' })
    this.#finSent = true
    if (this.#finReceived) this.#finalize(undefined)
  }

  #onTransportClosed(what: string, cause?: unknown): void {
    if (this.#phase === 'closed') return
    // the remote destroys its side once it has our fin: everything was delivered both ways
    if (this.#phase === 'closing' && this.#finSent) {
      this.#finalize(undefined)
      return
    }
    const reason =
      this.#phase === 'connecting'
        ? new ConnectionFailedError(`connecting to ${this.remoteId.toHex()} failed: ${what}`, { cause })
        : new TransportClosedError(`${what} (${this.remoteId.toHex()})`, { cause })
    this.#finalize(reason)
  }

  #finalize(reason: Error | undefined): void {
    if (this.#phase === 'closed') return
    this.#phase = 'closed'
    clearInterval(this.#heartbeat)
    clearTimeout(this.#closeTimer)
    const closedError = new ConnectionClosedError(`connection to ${this.remoteId.toHex()} closed`, {
      cause: reason,
    })
    for (const entry of this.#byName.values()) {
      for (const item of entry.queue.splice(0)) {
        item.unsubscribeAbort?.()
        if (!item.early) item.reject(closedError)
      }
      entry.queuedBytes = 0
      for (const w of entry.emptyWaiters.splice(0)) w()
    }
    if (this.#taskChannel !== undefined) {
      this.#taskChannel.port1.onmessage = null
      this.#taskChannel.port1.close()
      this.#taskChannel.port2.close()
    }
    this.#control.onclose = null
    for (const entry of this.#byId.values()) entry.dc.onclose = null
    this.#peer.removeAllListeners('close')
    this.#peer.removeAllListeners('error')
    this.#peer.on('error', () => {})
    try {
      // close the RTCPeerConnection now (simple-peer's destroy closes it only in a microtask), so that resources
      // are released when 'close' fires
      this.#pc.close()
    } catch {
      // already closed
    }
    try {
      this.#peer.destroy()
    } catch {
      // already destroyed
    }
    this.#counters.peerConnectionsLive--
    this.#params.onClosed(this, reason)
    this.#events.emit('close', reason)
    this.#events.clear()
    this.#closed.resolve()
  }
}
