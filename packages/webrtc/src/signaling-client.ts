import {
  AbstractComponent,
  type AbortOptions,
  ComponentNotStartedError,
  Emitter,
  Identifier,
  InvalidOptionsError,
  type KeyPair,
  PeerNotFoundError,
  raceSignal,
  type ThrowableContext,
  throwIfAborted,
  type Unsubscribe,
} from '@skipmesh/core'
import {
  type Ack,
  ackSchema,
  type ClientEventName,
  type ClientToServerEvents,
  challengeBytes,
  IceServersResponseSchema,
  JoinResponseSchema,
  PeerEventSchema,
  PeersPageSchema,
  type RequestOf,
  ROOM_PATTERN,
  type SignalData,
  type SignalErrorCode,
  SignalEventSchema,
  type SignalRequest,
  type ServerToClientEvents,
} from '@skipmesh/signaling-protocol'
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client'
import * as v from 'valibot'
import { SignalingRejectedError, SignalingUnavailableError } from './errors.js'
import { IssuedIceServers } from './ice-servers.js'
import { SignalAcks } from './signal-acks.js'
import type { Signaling, SignalingEvents } from './signaling.js'
import { bytesToHex, checkNumber, sleep } from '@skipmesh/core/internal'

/** Options of {@link createSignalingClient}. */
export interface SignalingClientOptions {
  /** The signaling server's URL, e.g. `https://signal.example` or `http://127.0.0.1:8787`. */
  readonly url: string
  /** The room to join: 1–64 characters of `[A-Za-z0-9._-]`. */
  readonly room: string
  /** This peer's identifier (its id in the room). */
  readonly localId: Identifier
  /** The key pair that signs the server's challenge; its public key owns `localId` in the room. */
  readonly keyPair: KeyPair
  /** Socket.IO path on the server. @default '/socket.io' */
  readonly path?: string
  /** A request the server does not answer within this many milliseconds fails. @default 10000 */
  readonly ackTimeoutMs?: number
  /** `ready()` rejects with {@link SignalingUnavailableError} when the first join has not succeeded by then. @default 15000 */
  readonly joinTimeoutMs?: number
  /** Delay before the first reconnection attempt (doubles per failed attempt). @default 500 */
  readonly reconnectDelayMs?: number
  /** Upper bound of the reconnection delay. @default 5000 */
  readonly reconnectDelayMaxMs?: number
  /** Extra socket.io-client options (merged over the defaults). @default { transports: ['websocket'] } */
  readonly socketOptions?: Partial<ManagerOptions & SocketOptions>
  /**
   * Ask the server to acknowledge every signal. By default only the first signal to a peer under a session is
   * acknowledged when the server pushes refusals (its join answer's `signalRefusals`); the later ones hear only of a
   * refusal (see {@link SignalingClient.signal}). @default false
   */
  readonly ackEverySignal?: boolean
}

/** Events of a {@link SignalingClient}: those of the {@link Signaling} contract. */
export type SignalingClientEvents = SignalingEvents

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>

const TERMINAL_JOIN_CODES: ReadonlySet<SignalErrorCode> = new Set([
  'bad-signature',
  'id-taken',
  'invalid-payload',
])
const JoinAckSchema = ackSchema(JoinResponseSchema)
const PeersAckSchema = ackSchema(PeersPageSchema)
const EmptyAckSchema = ackSchema(v.object({}))
const IceServersAckSchema = ackSchema(IceServersResponseSchema)
const RATE_LIMIT_RETRIES = 4

function positive(name: string, value: number | undefined, fallback: number): number {
  return checkNumber(name, value ?? fallback, { min: 1 })
}

/**
 * The client of the skipmesh signaling protocol over Socket.IO: joins a room by signing the server's challenge,
 * keeps the list of peers in the room, relays signals, and reconnects (re-joining with the same key) when the
 * connection to the server drops. Make one with {@link createSignalingClient}.
 */
export class SignalingClient extends AbstractComponent implements Signaling {
  /** This peer's identifier. */
  readonly localId: Identifier
  /** The room this client joins. */
  readonly room: string
  readonly #url: string
  readonly #keyPair: KeyPair
  readonly #path: string
  readonly #ackTimeoutMs: number
  readonly #joinTimeoutMs: number
  readonly #reconnectDelayMs: number
  readonly #reconnectDelayMaxMs: number
  readonly #socketOptions: Partial<ManagerOptions & SocketOptions>
  readonly #events = new Emitter<SignalingClientEvents>()
  readonly #peers = new Map<string, Identifier>()
  #socket: ClientSocket | undefined
  #authenticated = false
  #joining: Promise<void> | undefined
  #firstJoin: { resolve: () => void; reject: (err: unknown) => void } | undefined
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #retryDelay: number
  #invalidEvents = 0
  /** Whether the joined server pushes refusals of signals sent without an ack (and this client may send such). */
  #refusalsPushed = false
  readonly #ackEverySignal: boolean
  readonly #acks = new SignalAcks()
  /** TURN servers the server issued (none when it has no TURN), renewed before they expire. */
  readonly #iceServers = new IssuedIceServers({
    fetch: async () => {
      const res = await this.#request('ice-servers', {}, IceServersAckSchema, undefined)
      // a server without the event (older) refuses it: no TURN from it
      return res.ok ? res.iceServers : []
    },
  })

  constructor(options: SignalingClientOptions) {
    super()
    if (typeof options.url !== 'string' || options.url.length === 0)
      throw new InvalidOptionsError('url is required')
    if (typeof options.room !== 'string' || !ROOM_PATTERN.test(options.room)) {
      throw new InvalidOptionsError('room must be 1-64 characters of [A-Za-z0-9._-]')
    }
    if (!(options.localId instanceof Identifier))
      throw new InvalidOptionsError('localId must be an Identifier')
    if (typeof options.keyPair?.sign !== 'function') throw new InvalidOptionsError('keyPair is required')
    this.localId = options.localId
    this.room = options.room
    this.#url = options.url
    this.#keyPair = options.keyPair
    this.#path = options.path ?? '/socket.io'
    this.#ackTimeoutMs = positive('ackTimeoutMs', options.ackTimeoutMs, 10_000)
    this.#joinTimeoutMs = positive('joinTimeoutMs', options.joinTimeoutMs, 15_000)
    this.#reconnectDelayMs = positive('reconnectDelayMs', options.reconnectDelayMs, 500)
    this.#reconnectDelayMaxMs = positive('reconnectDelayMaxMs', options.reconnectDelayMaxMs, 5_000)
    this.#retryDelay = this.#reconnectDelayMs
    this.#socketOptions = options.socketOptions ?? {}
    this.#ackEverySignal = options.ackEverySignal === true
  }

  /** Subscribes to an event of {@link SignalingClientEvents}; returns the function that unsubscribes. */
  on<E extends keyof SignalingClientEvents>(event: E, handler: SignalingClientEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  /** Whether the client is currently joined and authenticated. */
  get authenticated(): boolean {
    return this.#authenticated
  }

  /** Server pushes that failed validation and were dropped. */
  get invalidEvents(): number {
    return this.#invalidEvents
  }

  /** Signals sent without an ack that the server refused (a rate-limited one is sent again, acknowledged). */
  get refusedSignals(): number {
    return this.#acks.refusedCount
  }

  /** The other peers in the room, as announced by the server (ascending). */
  peers(): Identifier[] {
    return [...this.#peers.values()].sort((a, b) => a.compare(b))
  }

  /**
   * Relays `data` to peer `to` of the room under `session`. Retries a few times when the server answers
   * `rate-limited`. The first signal of a session waits for the server's ack; a later one of the same session, to
   * a server that pushes refusals (and without `ackEverySignal`), resolves once sent: its refusal comes later and is
   * counted in {@link SignalingClient.refusedSignals} (a rate-limited one is sent again, acknowledged).
   * @throws {PeerNotFoundError} when `to` is not in the room.
   * @throws {SignalingRejectedError} when the server refuses for another reason (`.code`).
   * @throws {SignalingUnavailableError} when the client is not joined or the server does not answer in time.
   * @throws {AbortError} when `options.signal` aborts.
   */
  async signal(to: Identifier, session: string, data: SignalData, options: AbortOptions = {}): Promise<void> {
    const payload = { to: to.toHex(), session, data }
    if (this.#sendUnacked(payload, options.signal)) return
    const res = await this.request('signal', payload, EmptyAckSchema, options)
    if (res.ok) return
    if (res.error.code === 'unknown-peer')
      throw new PeerNotFoundError(`${to.toHex()} is not in room ${this.room}`)
    throw new SignalingRejectedError(res.error.code, res.error.message)
  }

  /**
   * Sends one protocol request on the joined socket and answers its ack, validated with `schema` (for companions
   * of this client, such as the extra identities of a WebRTC host). Retries a few times while the server
   * answers `rate-limited`; other refusals are answered as they are.
   * @throws {SignalingUnavailableError} when the client is not joined or the server does not answer in time.
   * @throws {AbortError} when `options.signal` aborts.
   */
  async request<E extends ClientEventName, S extends v.GenericSchema<unknown, Ack<object>>>(
    event: E,
    payload: RequestOf<E>,
    schema: S,
    options: AbortOptions = {},
  ): Promise<v.InferOutput<S>> {
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(options.signal)
      const res = await this.#request(event, payload, schema, options.signal)
      if (res.ok || res.error.code !== 'rate-limited' || attempt >= RATE_LIMIT_RETRIES) return res
      await sleep(250 * 2 ** attempt, options.signal)
    }
  }

  /**
   * Fetches every page of the room's peer list and replaces the known peers with it.
   * @throws {SignalingUnavailableError} when the client is not joined or the server does not answer in time.
   * @throws {SignalingRejectedError} when the server refuses.
   * @throws {AbortError} when `options.signal` aborts.
   */
  async listPeers(options: AbortOptions = {}): Promise<Identifier[]> {
    const ids: string[] = []
    let cursor: string | undefined
    do {
      const res = await this.#request(
        'list-peers',
        cursor === undefined ? {} : { cursor },
        PeersAckSchema,
        options.signal,
      )
      if (!res.ok) throw new SignalingRejectedError(res.error.code, res.error.message)
      ids.push(...res.peers)
      cursor = res.nextCursor
    } while (cursor !== undefined)
    this.#replacePeers(ids)
    return this.peers()
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    const first = new Promise<void>((resolve, reject) => {
      this.#firstJoin = { resolve, reject }
    })
    const socket: ClientSocket = io(this.#url, {
      path: this.#path,
      transports: ['websocket'],
      forceNew: true,
      reconnectionDelay: this.#reconnectDelayMs,
      reconnectionDelayMax: this.#reconnectDelayMaxMs,
      ...this.#socketOptions,
    })
    this.#socket = socket
    socket.on('connect', () => {
      this.#retryDelay = this.#reconnectDelayMs
      this.#startJoin()
    })
    socket.on('disconnect', (reason) => {
      this.#authenticated = false
      this.#events.emit('disconnected', String(reason))
      // the server closed us on purpose (auth timeout, rate limit, replaced): socket.io does not retry by itself
      if (reason === 'io server disconnect') this.#scheduleRetry(() => socket.connect())
    })
    socket.on('peer-joined', (payload) => {
      const parsed = v.safeParse(PeerEventSchema, payload)
      if (!parsed.success) return void this.#invalidEvents++
      const { host } = parsed.output
      if (host !== undefined && parsed.output.id !== this.localId.toHex()) {
        this.#events.emit('peer:host', Identifier.fromHex(parsed.output.id), Identifier.fromHex(host))
      }
      if (parsed.output.id === this.localId.toHex() || this.#peers.has(parsed.output.id)) return
      const id = Identifier.fromHex(parsed.output.id)
      this.#peers.set(parsed.output.id, id)
      this.#events.emit('peer:joined', id)
    })
    socket.on('peer-left', (payload) => {
      const parsed = v.safeParse(PeerEventSchema, payload)
      if (!parsed.success) return void this.#invalidEvents++
      const id = this.#peers.get(parsed.output.id)
      if (id === undefined) return
      this.#peers.delete(parsed.output.id)
      this.#events.emit('peer:left', id)
    })
    socket.on('signal-refused', (payload) => {
      if (!this.#acks.refused(payload, (req) => this.request('signal', req, EmptyAckSchema)))
        this.#invalidEvents++
    })
    socket.on('signal', (payload) => {
      const parsed = v.safeParse(SignalEventSchema, payload)
      if (!parsed.success) return void this.#invalidEvents++
      this.#events.emit(
        'signal',
        Identifier.fromHex(parsed.output.from),
        parsed.output.session,
        parsed.output.data,
      )
    })
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new SignalingUnavailableError(`not joined at ${this.#url} within ${this.#joinTimeoutMs} ms`),
          ),
        this.#joinTimeoutMs,
      )
    })
    try {
      await raceSignal(Promise.race([first, timeout]), ctx.signal)
    } finally {
      clearTimeout(timer)
      this.#firstJoin = undefined
    }
  }

  /**
   * The TURN servers the signaling server issued this client, with credentials still valid (empty when it has no
   * TURN configured). Asked for once joined, renewed before they expire.
   */
  iceServers(): RTCIceServer[] {
    return this.#iceServers.current()
  }

  protected async onStop(): Promise<void> {
    this.#iceServers.stop()
    clearTimeout(this.#retryTimer)
    const socket = this.#socket
    this.#socket = undefined
    this.#firstJoin?.reject(new ComponentNotStartedError('signaling client stopped'))
    if (socket === undefined) return
    if (this.#authenticated && socket.connected) {
      try {
        await socket.timeout(Math.min(this.#ackTimeoutMs, 1_000)).emitWithAck('leave', {})
      } catch {
        // best effort: the server releases the registration on disconnect anyway
      }
    }
    this.#authenticated = false
    socket.removeAllListeners()
    socket.disconnect()
    this.#events.clear()
  }

  #scheduleRetry(fn: () => void): void {
    if (this.#socket === undefined) return
    clearTimeout(this.#retryTimer)
    const wait = this.#retryDelay
    this.#retryDelay = Math.min(this.#retryDelay * 2, this.#reconnectDelayMaxMs)
    this.#retryTimer = setTimeout(() => {
      if (this.#socket !== undefined) fn()
    }, wait)
  }

  #startJoin(): void {
    if (this.#joining !== undefined) return
    this.#joining = this.#join()
      .catch((err: unknown) => {
        if (this.#socket === undefined) return
        const terminal = err instanceof SignalingRejectedError && TERMINAL_JOIN_CODES.has(err.code)
        if (terminal && this.#firstJoin !== undefined) {
          this.#firstJoin.reject(err)
          return
        }
        // transient (timeout, internal, rate-limited, room-full): try again on a fresh socket connection
        this.#scheduleRetry(() => {
          const s = this.#socket
          if (s === undefined) return
          if (s.connected) this.#startJoin()
          else s.connect()
        })
      })
      .finally(() => {
        this.#joining = undefined
      })
  }

  /**
   * Sends `payload` without an ack when it is not its session's first signal and the server pushes refusals; false
   * (nothing sent) when it needs the ack.
   * @throws {SignalingUnavailableError} when the client is not joined.
   */
  #sendUnacked(payload: SignalRequest, signal: AbortSignal | undefined): boolean {
    if (!this.#refusalsPushed || this.#ackEverySignal) return false
    if (this.#acks.first(payload.to, payload.session)) return false
    throwIfAborted(signal)
    const socket = this.#socket
    if (socket === undefined || !socket.connected || !this.#authenticated) {
      throw new SignalingUnavailableError(`not connected to ${this.#url}`)
    }
    // biome-ignore lint/suspicious/noExplicitAny: the typed emit asks for the ack this signal goes without
    ;(socket as any).emit('signal', payload)
    return true
  }

  async #join(): Promise<void> {
    const id = this.localId.toHex()
    const joined = await this.#request(
      'join',
      { room: this.room, id, publicKey: bytesToHex(this.#keyPair.publicKey) },
      JoinAckSchema,
      undefined,
      true,
    )
    if (!joined.ok) {
      if (joined.error.code !== 'already-joined')
        throw new SignalingRejectedError(joined.error.code, joined.error.message)
      // a previous join of this socket is still registered: leave it and start over
      await this.#request('leave', {}, EmptyAckSchema, undefined, true)
      return this.#join()
    }
    this.#refusalsPushed = joined.signalRefusals === true
    this.#acks.clear()
    const signature = await this.#keyPair.sign(challengeBytes(this.room, id, joined.challenge))
    const auth = await this.#request(
      'authenticate',
      { signature: bytesToHex(signature) },
      PeersAckSchema,
      undefined,
      true,
    )
    if (!auth.ok) throw new SignalingRejectedError(auth.error.code, auth.error.message)
    const ids = [...auth.peers]
    let cursor = auth.nextCursor
    while (cursor !== undefined) {
      const page = await this.#request('list-peers', { cursor }, PeersAckSchema, undefined, true)
      if (!page.ok) throw new SignalingRejectedError(page.error.code, page.error.message)
      ids.push(...page.peers)
      cursor = page.nextCursor
    }
    this.#authenticated = true
    this.#retryDelay = this.#reconnectDelayMs
    await this.#iceServers.refresh()
    this.#replacePeers(ids)
    this.#firstJoin?.resolve()
    this.#events.emit('authenticated', this.peers())
  }

  #replacePeers(ids: readonly string[]): void {
    const next = new Set(ids)
    next.delete(this.localId.toHex())
    for (const [hex, id] of [...this.#peers]) {
      if (!next.has(hex)) {
        this.#peers.delete(hex)
        this.#events.emit('peer:left', id)
      }
    }
    for (const hex of next) {
      if (this.#peers.has(hex)) continue
      const id = Identifier.fromHex(hex)
      this.#peers.set(hex, id)
      this.#events.emit('peer:joined', id)
    }
  }

  /** One request with an ack, validated; `duringJoin` allows it before authentication. */
  async #request<E extends keyof ClientToServerEvents, S extends v.GenericSchema<unknown, Ack<object>>>(
    event: E,
    payload: Parameters<ClientToServerEvents[E]>[0],
    schema: S,
    signal: AbortSignal | undefined,
    duringJoin = false,
  ): Promise<v.InferOutput<S>> {
    throwIfAborted(signal)
    const socket = this.#socket
    if (socket === undefined) throw new SignalingUnavailableError('signaling client is not started')
    if (!socket.connected || (!duringJoin && !this.#authenticated)) {
      throw new SignalingUnavailableError(`not connected to ${this.#url}`)
    }
    let raw: unknown
    try {
      // biome-ignore lint/suspicious/noExplicitAny: socket.io's decorated ack types do not survive the generic event
      raw = await raceSignal((socket.timeout(this.#ackTimeoutMs) as any).emitWithAck(event, payload), signal)
    } catch (err) {
      if (signal?.aborted === true) throw err
      throw new SignalingUnavailableError(`no answer to ${event} within ${this.#ackTimeoutMs} ms`, {
        cause: err,
      })
    }
    const parsed = v.safeParse(schema, raw)
    if (!parsed.success) throw new SignalingUnavailableError(`malformed answer to ${event}`)
    return parsed.output
  }
}

/**
 * Makes an unstarted {@link SignalingClient}; `start()` it and await `ready()` (joined and authenticated).
 * @throws {InvalidOptionsError} when an option is missing or out of range.
 */
export function createSignalingClient(options: SignalingClientOptions): SignalingClient {
  return new SignalingClient(options)
}
