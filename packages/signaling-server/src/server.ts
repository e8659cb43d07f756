import { createPublicKey, randomBytes, randomUUID, verify as verifyNative } from 'node:crypto'
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AbortError } from '@skipmesh/core'
import { createAdapter } from '@socket.io/redis-adapter'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import { createClient } from 'redis'
import { Server, type Socket } from 'socket.io'
import * as v from 'valibot'
import { InvalidServerOptionsError, ListenError, RedisUnavailableError } from './errors.js'
import { createJsonLogger, type Logger } from './logger.js'
import { createServerMetrics, type RejectionReason, type ServerMetrics } from './metrics.js'
import {
  type Ack,
  AuthenticateRequestSchema,
  type ClientToServerEvents,
  challengeBytes,
  bytesToHex,
  type InterServerEvents,
  JoinRequestSchema,
  LeaveRequestSchema,
  ListPeersRequestSchema,
  MAX_PEERS_PAGE,
  type PeersPage,
  type ServerToClientEvents,
  type SignalErrorCode,
  SignalRequestSchema,
  type SocketData,
} from './protocol.js'
import { RedisRegistry } from './redis-registry.js'
import { MemoryRegistry, type OrphanedRegistration, type Registry } from './registry.js'
import { createStaticHandler, type StaticHandler } from './static.js'

/** Per-socket request budget. */
export interface RateLimitOptions {
  /**
   * Requests (any event) a socket may send per `durationMs`; beyond that they are refused with `rate-limited`.
   * @default 200
   */
  readonly points?: number
  /** Length of the budget window in milliseconds. @default 1000 */
  readonly durationMs?: number
  /**
   * Refused requests tolerated per `strikeWindowMs`; one more and the socket is disconnected.
   * @default 50
   */
  readonly strikes?: number
  /** Length of the strike window in milliseconds. @default 10000 */
  readonly strikeWindowMs?: number
}

/** Options of {@link createSignalingServer}. */
export interface SignalingServerOptions {
  /** TCP port; 0 picks a free one (read it from `server.port`). @default 0 */
  readonly port?: number
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host?: string
  /** Socket.IO path. @default '/socket.io' */
  readonly path?: string
  /**
   * Redis URL (`redis://host:port`). When set, the server uses `@socket.io/redis-adapter` and keeps registrations
   * in Redis, so several instances behind a load balancer act as one. When unset, everything is in memory.
   * @default undefined (embedded, in-memory)
   */
  readonly redis?: string
  /** Prefix of every Redis key and of the adapter's channels. @default 'skipmesh:signal' */
  readonly redisPrefix?: string
  /** How long to wait for Redis at start before failing with `RedisUnavailableError`. @default 5000 */
  readonly redisConnectTimeoutMs?: number
  /**
   * Allowed `Origin`s (e.g. `['https://app.example']`), checked on every HTTP request of the Socket.IO endpoint,
   * the WebSocket upgrade included; also used for CORS. Unset: every origin is allowed.
   * @default undefined (allow all)
   */
  readonly origins?: readonly string[]
  /**
   * Refuse Socket.IO requests without an `Origin` header. Browsers send `Origin` on every WebSocket and
   * cross-origin request, so a missing `Origin` means a same-origin polling request or a non-browser client
   * (which could forge any `Origin` anyway).
   * @default false
   */
  readonly requireOrigin?: boolean
  /** How long a peer's id stays owned by its key after it leaves or disconnects. @default 30000 */
  readonly graceMs?: number
  /** Maximum live peers per room; 0 for no limit. @default 1000 */
  readonly maxPeersPerRoom?: number
  /** Peer ids per page of `authenticate` / `list-peers` results (1–256). @default 256 */
  readonly pageSize?: number
  /** Largest Socket.IO/engine.io message in bytes; a larger one closes the socket. @default 65536 */
  readonly maxHttpBufferSize?: number
  /** engine.io ping interval. @default 20000 */
  readonly pingIntervalMs?: number
  /** engine.io ping timeout: a client silent this long after a ping is dropped. @default 10000 */
  readonly pingTimeoutMs?: number
  /** Time a client has to complete the Socket.IO handshake. @default 10000 */
  readonly connectTimeoutMs?: number
  /** Time a socket has to authenticate after connecting (or after `leave`) before it is disconnected. @default 30000 */
  readonly authTimeoutMs?: number
  /** Per-socket rate limit. @default { points: 200, durationMs: 1000, strikes: 50, strikeWindowMs: 10000 } */
  readonly rateLimit?: RateLimitOptions
  /**
   * How often this instance compares the registrations it holds with its connected sockets and releases the ones
   * whose release was lost (e.g. to a Redis outage), announcing `peer-left`. @default 30000
   */
  readonly reconcileIntervalMs?: number
  /**
   * A custom registration store (advanced: another database, or a test double). Unset: in memory, or in Redis
   * when `redis` is set. All instances of one deployment must share it.
   * @default undefined
   */
  readonly registry?: Registry
  /** Redis mode: how often this instance refreshes its liveness key and sweeps dead instances. @default 2000 */
  readonly heartbeatIntervalMs?: number
  /** Redis mode: TTL of the liveness key; an instance silent this long is declared dead. @default 6000 */
  readonly instanceTtlMs?: number
  /** This instance's id (Redis keys, logs, `/healthz`). @default a random UUID */
  readonly instanceId?: string
  /** Where structured logs go. @default JSON lines on stderr at level `info` */
  readonly logger?: Logger
  /** Directory served at `/` (files, `index.html` for directories and extension-less paths). @default undefined */
  readonly staticDir?: string
  /** Also collect prom-client's process metrics (CPU, memory, event loop) in this server's registry. @default false */
  readonly collectDefaultMetrics?: boolean
  /** Aborts starting (rejects with core's `AbortError` and releases what was acquired). */
  readonly signal?: AbortSignal
}

/** The typed Socket.IO server. */
export type SignalingIo = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>

type SignalingSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>

/** A running signaling server. */
export interface SignalingServer {
  /** Base URL, e.g. `http://127.0.0.1:8787` (Socket.IO clients connect here; `/healthz`, `/metrics` live here). */
  readonly url: string
  /** The port it listens on. */
  readonly port: number
  /** This instance's id. */
  readonly instanceId: string
  /** The underlying typed Socket.IO server (for advanced use and tests). */
  readonly io: SignalingIo
  /** The Prometheus metrics text, as served at `GET /metrics`. */
  metrics(): Promise<string>
  /**
   * Graceful shutdown: releases this instance's registrations (announcing `peer-left` to the other instances),
   * closes every socket, the HTTP server and the Redis clients. Idempotent.
   */
  close(): Promise<void>
}

const KNOWN_EVENTS = new Set(['join', 'authenticate', 'list-peers', 'signal', 'leave'])

function roomKey(room: string): string {
  return `room:${room}`
}

function peerKey(room: string, id: string): string {
  return `peer:${room}:${id}`
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 0): number {
  const x = value ?? fallback
  if (!Number.isInteger(x) || x < min)
    throw new InvalidServerOptionsError(`${name} must be an integer >= ${min}`)
  return x
}

function normalizeOrigin(origin: string): string {
  try {
    return new URL(origin).origin
  } catch {
    throw new InvalidServerOptionsError(`origin ${JSON.stringify(origin)} is not a URL`)
  }
}

class Refusal extends Error {
  constructor(
    readonly code: SignalErrorCode,
    message: string,
  ) {
    super(message)
  }
}

function issueText(issues: readonly v.BaseIssue<unknown>[]): string {
  const first = issues[0]
  if (first === undefined) return 'invalid payload'
  const path = first.path?.map((p) => String(p.key)).join('.') ?? ''
  return `${path === '' ? 'payload' : path}: ${first.message}`.slice(0, 200)
}

type Ackable = (res: Ack<object>) => void

/**
 * Ed25519 verification with Node's native crypto (OpenSSL): about 20 times faster than the pure-JS fallback core's
 * `verifySignature` uses, which matters when a thousand peers join at once. Malformed input gives false.
 */
function verifyEd25519(publicKey: string, message: Uint8Array, signature: string): boolean {
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey, 'hex').toString('base64url') },
      format: 'jwk',
    })
    return verifyNative(null, message, key, Buffer.from(signature, 'hex'))
  } catch {
    return false
  }
}

/**
 * Starts a signaling server and resolves once it listens (and, with `redis`, once Redis is connected).
 *
 * @throws {InvalidServerOptionsError} when an option is out of range.
 * @throws {RedisUnavailableError} when `redis` is set and Redis cannot be reached within `redisConnectTimeoutMs`.
 * @throws {ListenError} when the port cannot be bound.
 * @throws {AbortError} when `options.signal` aborts first.
 */
export async function createSignalingServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const signal = options.signal
  if (signal?.aborted) throw new AbortError()
  const port = positiveInt('port', options.port, 0)
  const host = options.host ?? '127.0.0.1'
  const graceMs = positiveInt('graceMs', options.graceMs, 30_000)
  const maxPeersPerRoom = positiveInt('maxPeersPerRoom', options.maxPeersPerRoom, 1000)
  const pageSize = positiveInt('pageSize', options.pageSize, MAX_PEERS_PAGE, 1)
  if (pageSize > MAX_PEERS_PAGE)
    throw new InvalidServerOptionsError(`pageSize must be at most ${MAX_PEERS_PAGE}`)
  const maxHttpBufferSize = positiveInt('maxHttpBufferSize', options.maxHttpBufferSize, 64 * 1024, 1024)
  const authTimeoutMs = positiveInt('authTimeoutMs', options.authTimeoutMs, 30_000, 1)
  const heartbeatIntervalMs = positiveInt('heartbeatIntervalMs', options.heartbeatIntervalMs, 2000, 10)
  const reconcileIntervalMs = positiveInt('reconcileIntervalMs', options.reconcileIntervalMs, 30_000, 1)
  const instanceTtlMs = positiveInt('instanceTtlMs', options.instanceTtlMs, 6000, 10)
  if (instanceTtlMs <= heartbeatIntervalMs) {
    throw new InvalidServerOptionsError('instanceTtlMs must be larger than heartbeatIntervalMs')
  }
  const rate = {
    points: positiveInt('rateLimit.points', options.rateLimit?.points, 200, 1),
    durationMs: positiveInt('rateLimit.durationMs', options.rateLimit?.durationMs, 1000, 1),
    strikes: positiveInt('rateLimit.strikes', options.rateLimit?.strikes, 50, 0),
    strikeWindowMs: positiveInt('rateLimit.strikeWindowMs', options.rateLimit?.strikeWindowMs, 10_000, 1),
  }
  const origins = options.origins === undefined ? undefined : new Set(options.origins.map(normalizeOrigin))
  const requireOrigin = options.requireOrigin ?? false
  const instanceId = options.instanceId ?? randomUUID()
  const prefix = options.redisPrefix ?? 'skipmesh:signal'
  const logger = (options.logger ?? createJsonLogger()) as Logger
  const log = {
    debug: (msg: string, f?: Record<string, unknown>) => logger.debug(msg, { instanceId, ...f }),
    info: (msg: string, f?: Record<string, unknown>) => logger.info(msg, { instanceId, ...f }),
    warn: (msg: string, f?: Record<string, unknown>) => logger.warn(msg, { instanceId, ...f }),
    error: (msg: string, f?: Record<string, unknown>) => logger.error(msg, { instanceId, ...f }),
  }
  const staticHandler: StaticHandler | undefined =
    options.staticDir === undefined ? undefined : createStaticHandler(options.staticDir)

  // ---- Redis (optional)
  type RedisClient = ReturnType<typeof createClient>
  let pub: RedisClient | undefined
  let sub: RedisClient | undefined
  /** Registry commands: fail fast while Redis is unreachable (an `internal` ack) instead of queueing. */
  let cmd: RedisClient | undefined
  const quitRedis = async (): Promise<void> => {
    const clients = [pub, sub, cmd]
    await Promise.race([
      Promise.allSettled(clients.map(async (c) => c?.isOpen && (await c.quit()))),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ])
    for (const c of clients) {
      try {
        if (c?.isOpen) c.destroy()
      } catch {
        // already closed
      }
    }
  }
  if (options.redis !== undefined) {
    const connectTimeoutMs = positiveInt('redisConnectTimeoutMs', options.redisConnectTimeoutMs, 5000, 1)
    pub = createClient({
      url: options.redis,
      socket: {
        connectTimeout: connectTimeoutMs,
        reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000),
      },
    })
    sub = pub.duplicate()
    cmd = pub.duplicate({ disableOfflineQueue: true })
    for (const [name, c] of [
      ['pub', pub],
      ['sub', sub],
      ['cmd', cmd],
    ] as const) {
      c.on('error', (err: unknown) => log.warn('redis client error', { client: name, err: String(err) }))
    }
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    try {
      await Promise.race([
        Promise.all([pub.connect(), sub.connect(), cmd.connect()]),
        new Promise((_, rejectRace) => {
          timer = setTimeout(
            () =>
              rejectRace(
                new RedisUnavailableError(`redis ${options.redis} unreachable for ${connectTimeoutMs} ms`),
              ),
            connectTimeoutMs,
          )
          onAbort = () => rejectRace(new AbortError())
          signal?.addEventListener('abort', onAbort, { once: true })
        }),
      ])
    } catch (err) {
      for (const c of [pub, sub, cmd]) {
        try {
          c.destroy()
        } catch {
          // not connected yet: nothing to destroy
        }
      }
      throw err instanceof RedisUnavailableError || err instanceof AbortError
        ? err
        : new RedisUnavailableError(`redis ${options.redis}: ${String(err)}`, { cause: err })
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }
  }

  const commandClient = cmd
  const registry: Registry =
    options.registry ??
    (commandClient === undefined
      ? new MemoryRegistry({ graceMs })
      : new RedisRegistry({
          client: { sendCommand: (args) => commandClient.sendCommand(args) },
          graceMs,
          instanceTtlMs,
          prefix,
        }))

  // ---- HTTP + Socket.IO
  let io: SignalingIo | undefined
  const localSample = (): { sockets: number; peers: number; rooms: number } => {
    if (io === undefined) return { sockets: 0, peers: 0, rooms: 0 }
    let peers = 0
    const rooms = new Set<string>()
    for (const s of io.of('/').sockets.values()) {
      if (s.data.authenticated === true && s.data.room !== undefined) {
        peers++
        rooms.add(s.data.room)
      }
    }
    return { sockets: io.of('/').sockets.size, peers, rooms: rooms.size }
  }
  const metrics: ServerMetrics = createServerMetrics({
    sample: localSample,
    defaultMetrics: options.collectDefaultMetrics ?? false,
  })
  const reject = (reason: RejectionReason): void => metrics.rejections.inc({ reason })
  const startedAt = Date.now()

  const handleHttp = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'GET' && path === '/healthz') {
      let redis: 'ok' | 'error' | 'disabled' = 'disabled'
      if (cmd !== undefined) {
        try {
          await Promise.race([
            cmd.ping(),
            new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 1000).unref()),
          ])
          redis = 'ok'
        } catch {
          redis = 'error'
        }
      }
      const body = JSON.stringify({
        status: redis === 'error' ? 'degraded' : 'ok',
        instanceId,
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        sockets: localSample().sockets,
        redis,
      })
      res.writeHead(redis === 'error' ? 503 : 200, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      })
      res.end(body)
      return
    }
    if (req.method === 'GET' && path === '/metrics') {
      const text = await metrics.registry.metrics()
      res.writeHead(200, { 'content-type': metrics.registry.contentType })
      res.end(text)
      return
    }
    if (staticHandler !== undefined && (await staticHandler(req, res))) return
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
    res.end('not found\n')
  }

  const httpServer: HttpServer = createServer((req, res) => {
    handleHttp(req, res).catch((err: unknown) => {
      log.error('http handler failed', { err: String(err), url: req.url })
      if (!res.headersSent) res.writeHead(500)
      res.end()
    })
  })
  httpServer.on('clientError', (_err, socket) => socket.destroy())

  io = new Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>(httpServer, {
    path: options.path ?? '/socket.io',
    serveClient: false,
    maxHttpBufferSize,
    pingInterval: positiveInt('pingIntervalMs', options.pingIntervalMs, 20_000, 1),
    pingTimeout: positiveInt('pingTimeoutMs', options.pingTimeoutMs, 10_000, 1),
    connectTimeout: positiveInt('connectTimeoutMs', options.connectTimeoutMs, 10_000, 1),
    allowEIO3: false,
    cors: { origin: origins === undefined ? true : [...origins], methods: ['GET', 'POST'] },
    allowRequest: (req, callback) => {
      const origin = req.headers.origin
      if (origins === undefined || (origin === undefined && !requireOrigin)) return callback(null, true)
      let normalized: string | undefined
      try {
        normalized = origin === undefined ? undefined : new URL(origin).origin
      } catch {
        normalized = undefined
      }
      if (normalized !== undefined && origins.has(normalized)) return callback(null, true)
      reject('origin')
      log.info('origin refused', { origin: origin?.slice(0, 200) })
      callback('origin not allowed', false)
    },
    ...(pub !== undefined && sub !== undefined
      ? { adapter: createAdapter(pub, sub, { key: `${prefix}:io` }) }
      : {}),
  })
  const server = io

  /** Work started by socket handlers, awaited by close() before Redis goes away. */
  const inflight = new Set<Promise<unknown>>()
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p)
    p.then(
      () => inflight.delete(p),
      () => inflight.delete(p),
    )
    return p
  }

  const limiter = new RateLimiterMemory({ points: rate.points, duration: rate.durationMs / 1000 })
  const strikes = new RateLimiterMemory({
    points: Math.max(rate.strikes, 1), // unused when strikes is 0: the first refusal disconnects
    duration: rate.strikeWindowMs / 1000,
  })

  const announceLeft = (left: readonly OrphanedRegistration[]): void => {
    for (const { room, id } of left) server.to(roomKey(room)).emit('peer-left', { id })
  }

  io.on('connection', (socket: SignalingSocket) => {
    socket.data = {}
    let chain: Promise<void> = Promise.resolve()
    let closed = false
    let authTimer: NodeJS.Timeout | undefined
    const armAuthTimer = (): void => {
      clearTimeout(authTimer)
      authTimer = setTimeout(() => {
        reject('auth-timeout')
        log.info('socket did not authenticate in time', { socket: socket.id })
        socket.disconnect(true)
      }, authTimeoutMs)
      authTimer.unref()
    }
    armAuthTimer()

    const resetJoin = (): void => {
      socket.data = {}
    }

    const refuse = (ack: Ackable, code: SignalErrorCode, message: string): void => {
      reject(code)
      ack({ ok: false, error: { code, message } })
    }

    // Rate limit every incoming event, known or not; refused events never reach a handler.
    socket.use((packet, next) => {
      const [event, ...args] = packet as unknown[]
      const last = args[args.length - 1]
      const ack = typeof last === 'function' ? (last as Ackable) : undefined
      limiter.consume(socket.id).then(
        () => {
          if (typeof event !== 'string' || !KNOWN_EVENTS.has(event)) {
            if (ack !== undefined) refuse(ack, 'invalid-payload', 'unknown event')
            else reject('invalid-payload')
            return
          }
          next()
        },
        (res: unknown) => {
          if (!(res instanceof RateLimiterRes)) {
            log.error('rate limiter failed', { err: String(res) })
            return
          }
          if (ack !== undefined) refuse(ack, 'rate-limited', `retry in ${res.msBeforeNext} ms`)
          else reject('rate-limited')
          const disconnectFlooder = (): void => {
            if (!socket.connected) return
            reject('flood-disconnect')
            log.warn('disconnecting flooding socket', {
              socket: socket.id,
              id: socket.data.id,
              room: socket.data.room,
            })
            socket.disconnect(true)
          }
          if (rate.strikes === 0) disconnectFlooder()
          else strikes.consume(socket.id).catch(disconnectFlooder)
        },
      )
    })

    /**
     * Registers a handler that runs strictly after the previous request of this socket finished (signals keep
     * their order), with the payload validated by `schema` and every failure turned into an error ack.
     */
    const handle = <S extends v.GenericSchema, R extends object>(
      event: keyof ClientToServerEvents,
      schema: S,
      optionalPayload: boolean,
      fn: (payload: v.InferOutput<S>) => Promise<R>,
    ): void => {
      socket.on(event, (...args: unknown[]) => {
        const last = args[args.length - 1]
        const ack: Ackable = typeof last === 'function' ? (last as Ackable) : () => {}
        const params = typeof last === 'function' ? args.slice(0, -1) : args
        const run = async (): Promise<void> => {
          if (closed) return
          if (params.length > 1 || (params.length === 0 && !optionalPayload)) {
            return refuse(ack, 'invalid-payload', 'expected one payload argument')
          }
          const parsed = v.safeParse(schema, params.length === 0 ? {} : params[0])
          if (!parsed.success) return refuse(ack, 'invalid-payload', issueText(parsed.issues))
          try {
            const result = await fn(parsed.output)
            ack({ ok: true, ...result })
          } catch (err) {
            if (err instanceof Refusal) return refuse(ack, err.code, err.message)
            log.error('request failed', { event, socket: socket.id, err: String(err) })
            refuse(ack, 'internal', 'internal error')
          }
        }
        chain = track(chain.then(run)).catch((err: unknown) =>
          log.error('handler crashed', { err: String(err) }),
        )
      })
    }

    const self = (): { room: string; id: string } => {
      const { room, id, authenticated } = socket.data
      if (authenticated !== true || room === undefined || id === undefined) {
        throw new Refusal('not-joined', 'join and authenticate first')
      }
      return { room, id }
    }

    const page = async (room: string, id: string, after?: string): Promise<PeersPage> =>
      registry.list(room, { limit: pageSize, exclude: id, ...(after === undefined ? {} : { after }) })

    handle('join', JoinRequestSchema, false, async ({ room, id, publicKey }) => {
      if (socket.data.room !== undefined)
        throw new Refusal('already-joined', 'this socket already joined a room')
      const owner = await registry.owner(room, id)
      if (owner !== undefined && owner.publicKey !== publicKey) {
        throw new Refusal('id-taken', 'another key owns this id in this room')
      }
      if (owner?.live !== true && maxPeersPerRoom > 0 && (await registry.count(room)) >= maxPeersPerRoom) {
        throw new Refusal('room-full', `room holds ${maxPeersPerRoom} peers`)
      }
      const challenge = bytesToHex(randomBytes(32))
      socket.data = { room, id, publicKey, challenge, authenticated: false }
      return { challenge }
    })

    handle('authenticate', AuthenticateRequestSchema, false, async ({ signature }) => {
      const { room, id, publicKey, challenge, authenticated } = socket.data
      if (authenticated === true) throw new Refusal('already-joined', 'already authenticated')
      if (room === undefined || id === undefined || publicKey === undefined || challenge === undefined) {
        throw new Refusal('not-joined', 'join first')
      }
      delete socket.data.challenge
      const valid = verifyEd25519(publicKey, challengeBytes(room, id, challenge), signature)
      if (!valid) {
        resetJoin()
        throw new Refusal('bad-signature', 'signature does not verify; join again')
      }
      const claimed = await registry.claim(
        { room, id, publicKey, socketId: socket.id, instanceId },
        maxPeersPerRoom,
      )
      if (!claimed.ok) {
        resetJoin()
        throw new Refusal(
          claimed.reason,
          claimed.reason === 'id-taken' ? 'another key owns this id' : 'room is full',
        )
      }
      if (closed) {
        // the socket went away while we were claiming: give the registration back
        if (await registry.release(room, id, socket.id)) announceLeft([{ room, id }])
        throw new Refusal('not-joined', 'disconnected')
      }
      await socket.join([roomKey(room), peerKey(room, id)])
      socket.data.authenticated = true
      clearTimeout(authTimer)
      metrics.joins.inc()
      if (claimed.replacedSocketId !== undefined) {
        log.info('peer replaced its stale socket', {
          room,
          id,
          socket: socket.id,
          old: claimed.replacedSocketId,
        })
        server.in(claimed.replacedSocketId).disconnectSockets(true)
        socket.to(roomKey(room)).emit('peer-left', { id })
      }
      socket.to(roomKey(room)).emit('peer-joined', { id })
      log.debug('peer joined', { room, id, socket: socket.id })
      return page(room, id)
    })

    handle('list-peers', ListPeersRequestSchema, true, async ({ cursor }) => {
      const { room, id } = self()
      return page(room, id, cursor)
    })

    handle('signal', SignalRequestSchema, false, async ({ to, session, data }) => {
      const { room, id } = self()
      if (to === id || !(await registry.isLive(room, to))) {
        throw new Refusal('unknown-peer', 'no such peer in this room')
      }
      server.to(peerKey(room, to)).emit('signal', { from: id, session, data })
      metrics.signalsRelayed.inc()
      return {}
    })

    handle('leave', LeaveRequestSchema, true, async () => {
      const { room, id, authenticated } = socket.data
      if (room === undefined || id === undefined) throw new Refusal('not-joined', 'not in a room')
      resetJoin()
      if (authenticated === true) {
        await socket.leave(roomKey(room))
        await socket.leave(peerKey(room, id))
        if (await registry.release(room, id, socket.id)) announceLeft([{ room, id }])
      }
      armAuthTimer()
      return {}
    })

    socket.on('disconnect', (reason) => {
      closed = true
      clearTimeout(authTimer)
      limiter.delete(socket.id).catch(() => {})
      strikes.delete(socket.id).catch(() => {})
      const { room, id, authenticated } = socket.data
      log.debug('socket disconnected', { socket: socket.id, reason, room, id })
      if (authenticated !== true || room === undefined || id === undefined) return
      // after queued requests of this socket, so a pending claim cannot resurrect the registration
      chain = track(
        chain.then(async () => {
          if (await registry.release(room, id, socket.id)) announceLeft([{ room, id }])
        }),
      ).catch((err: unknown) => log.error('release on disconnect failed', { room, id, err: String(err) }))
    })
  })

  io.engine.on('connection_error', (err: { code?: number; message?: string }) => {
    log.debug('engine connection error', { code: err.code, message: err.message })
  })

  // ---- liveness (Redis) and grace-period housekeeping (memory)
  /** Releases registrations this instance holds for sockets it no longer has (a release lost to an outage). */
  const reconcile = async (): Promise<void> => {
    const sockets = server.of('/').sockets
    const lost: OrphanedRegistration[] = []
    for (const held of await registry.held(instanceId)) {
      const s = sockets.get(held.socketId)
      if (s !== undefined && s.data.room === held.room && s.data.id === held.id) continue
      if (await registry.release(held.room, held.id, held.socketId)) lost.push(held)
    }
    if (lost.length > 0) {
      log.warn('released registrations of sockets that are gone', { count: lost.length })
      announceLeft(lost)
    }
  }
  const reconcileEvery = Math.max(1, Math.round(reconcileIntervalMs / heartbeatIntervalMs))
  let beats = 0
  let beating: Promise<void> = Promise.resolve()
  const beat = async (): Promise<void> => {
    try {
      if (++beats % reconcileEvery === 0) await reconcile()
      const { released, wasDeclaredDead } = await registry.heartbeat(instanceId)
      if (released.length > 0) {
        metrics.peersReleasedByDeadInstance.inc(released.length)
        log.warn('released registrations of dead instances', { count: released.length })
        announceLeft(released)
      }
      if (wasDeclaredDead) {
        log.error('this instance had been declared dead; disconnecting its sockets so they register again')
        server.local.disconnectSockets(true)
      }
    } catch (err) {
      log.warn('heartbeat failed', { err: String(err) })
    }
  }
  const cleanupOnFailure = async (): Promise<void> => {
    await server.close().catch(() => {})
    await quitRedis()
  }
  try {
    await beat()
    if (signal?.aborted) throw new AbortError()
    await new Promise<void>((resolve, rejectListen) => {
      const onError = (err: Error): void =>
        rejectListen(new ListenError(`cannot listen on ${host}:${port}: ${err.message}`, { cause: err }))
      httpServer.once('error', onError)
      httpServer.listen(port, host, () => {
        httpServer.off('error', onError)
        resolve()
      })
    })
  } catch (err) {
    await cleanupOnFailure()
    throw err
  }
  // after listening, a server error (e.g. out of file descriptors) must be logged, never crash the process
  httpServer.on('error', (err) => log.error('http server error', { err: String(err) }))
  const heartbeatTimer = setInterval(() => {
    beating = beating.then(beat)
  }, heartbeatIntervalMs)
  heartbeatTimer.unref()

  const address = httpServer.address() as AddressInfo
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${urlHost === '0.0.0.0' || urlHost === '[::]' ? '127.0.0.1' : urlHost}:${address.port}`
  log.info('signaling server listening', { url, redis: options.redis !== undefined })

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(heartbeatTimer)
      await beating
      try {
        announceLeft(await registry.retire(instanceId))
      } catch (err) {
        log.warn('could not release registrations on close', { err: String(err) })
      }
      const done = server.close()
      const force = setTimeout(() => httpServer.closeAllConnections(), 2000)
      await done
      clearTimeout(force)
      httpServer.closeAllConnections()
      await Promise.race([
        Promise.allSettled([...inflight]),
        new Promise((resolve) => setTimeout(resolve, 2000).unref()),
      ])
      await quitRedis()
      log.info('signaling server closed', { url })
    })()
    return closing
  }

  return { url, port: address.port, instanceId, io: server, metrics: () => metrics.registry.metrics(), close }
}
