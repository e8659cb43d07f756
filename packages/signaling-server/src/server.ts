/**
 * `createSignalingServer`: composes the parts of a signaling server (resolved options, Redis, the registry, the
 * HTTP endpoints, Socket.IO with its origin check, the write coalescing, the rate limit, one handler per client
 * event, the heartbeat) and owns their start and shutdown order.
 *
 * @module
 */
import { AbortError } from '@skipmesh/core'
import { createAdapter } from '@socket.io/redis-adapter'
import { Server } from 'socket.io'
import { createContext, type SignalingIo, tagLogger } from './context.js'
import { createHttpServer, listen, originCheck } from './http.js'
import { createLiveness } from './liveness.js'
import { createServerMetrics } from './metrics.js'
import { type ResolvedOptions, resolveOptions, type SignalingServerOptions } from './options.js'
import { createRateLimit } from './rate-limit.js'
import { connectRedis, pingRedis, type RedisClients } from './redis.js'
import { RedisRegistry } from './redis-registry.js'
import { MemoryRegistry, type Registry } from './registry.js'
import { handleConnection } from './session.js'
import { createStaticHandler } from './static.js'
import { createWriteCoalescing } from './write-coalescing.js'

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

/** The registry the options ask for: the caller's, else in Redis when connected, else in memory. */
function createRegistry(options: ResolvedOptions, redis: RedisClients | undefined): Registry {
  if (options.registry !== undefined) return options.registry
  if (redis === undefined) return new MemoryRegistry({ graceMs: options.graceMs })
  const { cmd } = redis
  return new RedisRegistry({
    client: { sendCommand: (args) => cmd.sendCommand(args) },
    graceMs: options.graceMs,
    instanceTtlMs: options.instanceTtlMs,
    prefix: options.redisPrefix,
  })
}

/** Sockets, authenticated peers and their rooms on this instance (for the gauges and `/healthz`). */
function localSample(io: SignalingIo | undefined): { sockets: number; peers: number; rooms: number } {
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

/**
 * Starts a signaling server and resolves once it listens (and, with `redis`, once Redis is connected).
 *
 * @throws {InvalidOptionsError} (core's) when an option is out of range.
 * @throws {RedisUnavailableError} when `redis` is set and Redis cannot be reached within `redisConnectTimeoutMs`.
 * @throws {ListenError} when the port cannot be bound.
 * @throws {AbortError} when `options.signal` aborts first.
 */
export async function createSignalingServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  if (options.signal?.aborted) throw new AbortError()
  const opts = resolveOptions(options)
  const { instanceId, signal } = opts
  const log = tagLogger(opts.logger, instanceId)
  const staticHandler = opts.staticDir === undefined ? undefined : createStaticHandler(opts.staticDir)
  const redis =
    opts.redis === undefined
      ? undefined
      : await connectRedis(opts.redis, { connectTimeoutMs: opts.redisConnectTimeoutMs, log, signal })
  const registry = createRegistry(opts, redis)

  let io: SignalingIo | undefined
  const metrics = createServerMetrics({
    sample: () => localSample(io),
    defaultMetrics: opts.collectDefaultMetrics,
  })
  const httpServer = createHttpServer({
    instanceId,
    metrics,
    log,
    sockets: () => localSample(io).sockets,
    redisHealth: async () => {
      if (redis === undefined) return 'disabled'
      return (await pingRedis(redis.cmd, 1000)) ? 'ok' : 'error'
    },
    staticHandler,
  })
  io = new Server(httpServer, {
    path: opts.path,
    serveClient: false,
    maxHttpBufferSize: opts.maxHttpBufferSize,
    pingInterval: opts.pingIntervalMs,
    pingTimeout: opts.pingTimeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    allowEIO3: false,
    cors: { origin: opts.origins === undefined ? true : [...opts.origins], methods: ['GET', 'POST'] },
    allowRequest: originCheck({
      origins: opts.origins,
      requireOrigin: opts.requireOrigin,
      reject: (reason) => metrics.rejections.inc({ reason }),
      log,
    }),
    ...(redis === undefined
      ? {}
      : { adapter: createAdapter(redis.pub, redis.sub, { key: `${opts.redisPrefix}:io` }) }),
  })
  const ctx = createContext({
    io,
    registry,
    metrics,
    log,
    options: opts,
    singleInstance: redis === undefined,
  })
  const rateLimit = createRateLimit(ctx, opts.rateLimit)
  const coalescing = createWriteCoalescing()
  io.on('connection', (socket) => {
    coalescing.attach(socket)
    handleConnection(ctx, rateLimit, socket)
  })
  io.engine.on('connection_error', (err: { code?: number; message?: string }) => {
    log.debug('engine connection error', { code: err.code, message: err.message })
  })

  const liveness = createLiveness(ctx)
  let address: { url: string; port: number }
  try {
    await liveness.beat()
    if (signal?.aborted) throw new AbortError()
    address = await listen(httpServer, opts.host, opts.port)
  } catch (err) {
    await io.close().catch(() => {})
    await redis?.quit()
    throw err
  }
  // after listening, a server error (e.g. out of file descriptors) must be logged, never crash the process
  httpServer.on('error', (err) => log.error('http server error', { err: String(err) }))
  liveness.start()
  const { url, port } = address
  log.info('signaling server listening', { url, redis: redis !== undefined })

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await liveness.stop()
      try {
        ctx.announceLeft(await registry.retire(instanceId))
      } catch (err) {
        log.warn('could not release registrations on close', { err: String(err) })
      }
      coalescing.close()
      const done = ctx.io.close()
      const force = setTimeout(() => httpServer.closeAllConnections(), 2000)
      await done
      clearTimeout(force)
      httpServer.closeAllConnections()
      await ctx.settled(2000)
      await redis?.quit()
      log.info('signaling server closed', { url })
    })()
    return closing
  }

  return { url, port, instanceId, io: ctx.io, metrics: () => metrics.registry.metrics(), close }
}
