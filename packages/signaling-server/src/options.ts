/**
 * The options of `createSignalingServer`, their defaults, and their validation: {@link resolveOptions} turns what
 * the caller passed into a complete, checked {@link ResolvedOptions} before anything is started.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { InvalidOptionsError } from '@skipmesh/core'
import { numberOption } from '@skipmesh/core/internal'
import { MAX_PEERS_PAGE } from '@skipmesh/signaling-protocol'
import { createJsonLogger, type Logger } from './logger.js'
import type { Registry } from './registry.js'
import { type ResolvedTurnOptions, resolveTurnOptions, type TurnOptions } from './turn.js'

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

/** Options of `createSignalingServer`. */
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
  /** Maximum extra ids (`add-identity`) one socket carries or is adding. @default 256 */
  readonly maxIdentitiesPerSocket?: number
  /**
   * TURN: the server hands each authenticated peer time-limited credentials for these TURN servers
   * (`ice-servers` request; the TURN REST API scheme of coturn's `use-auth-secret`). The secret never leaves the
   * server. Without it, `ice-servers` answers an empty list.
   */
  readonly turn?: TurnOptions
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

/** The per-socket budget with every default filled in. */
export interface ResolvedRateLimit {
  readonly points: number
  readonly durationMs: number
  readonly strikes: number
  readonly strikeWindowMs: number
}

/** Every option checked and defaulted (`redis`, `registry`, `staticDir`, `signal` stay optional). */
export interface ResolvedOptions {
  readonly port: number
  readonly host: string
  readonly path: string
  readonly redis: string | undefined
  readonly redisPrefix: string
  readonly redisConnectTimeoutMs: number
  /** Normalized origins (`URL.origin`), or undefined to allow all. */
  readonly origins: ReadonlySet<string> | undefined
  readonly requireOrigin: boolean
  readonly graceMs: number
  readonly maxPeersPerRoom: number
  readonly maxIdentitiesPerSocket: number
  readonly turn: ResolvedTurnOptions | undefined
  readonly pageSize: number
  readonly maxHttpBufferSize: number
  readonly pingIntervalMs: number
  readonly pingTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly authTimeoutMs: number
  readonly rateLimit: ResolvedRateLimit
  readonly reconcileIntervalMs: number
  readonly registry: Registry | undefined
  readonly heartbeatIntervalMs: number
  readonly instanceTtlMs: number
  readonly instanceId: string
  readonly logger: Logger
  readonly staticDir: string | undefined
  readonly collectDefaultMetrics: boolean
  readonly signal: AbortSignal | undefined
}

/** An integer option of at least `min` (and at most `max`), `fallback` when unset. */
function int(name: string, value: number | undefined, fallback: number, min = 0, max?: number): number {
  return numberOption(name, value, fallback, { integer: true, min, ...(max === undefined ? {} : { max }) })
}

function normalizeOrigin(origin: string): string {
  try {
    return new URL(origin).origin
  } catch {
    throw new InvalidOptionsError(`origin ${JSON.stringify(origin)} is not a URL`)
  }
}

/**
 * Checks `options` and fills in the defaults.
 *
 * @throws {InvalidOptionsError} (core's) when an option is out of range, an origin is not a URL, or
 * `instanceTtlMs` is not larger than `heartbeatIntervalMs`.
 */
export function resolveOptions(options: SignalingServerOptions): ResolvedOptions {
  const heartbeatIntervalMs = int('heartbeatIntervalMs', options.heartbeatIntervalMs, 2000, 10)
  const instanceTtlMs = int('instanceTtlMs', options.instanceTtlMs, 6000, 10)
  if (instanceTtlMs <= heartbeatIntervalMs) {
    throw new InvalidOptionsError('instanceTtlMs must be larger than heartbeatIntervalMs')
  }
  const rate = options.rateLimit
  return {
    port: int('port', options.port, 0),
    host: options.host ?? '127.0.0.1',
    path: options.path ?? '/socket.io',
    redis: options.redis,
    redisPrefix: options.redisPrefix ?? 'skipmesh:signal',
    redisConnectTimeoutMs:
      options.redis === undefined
        ? 5000
        : int('redisConnectTimeoutMs', options.redisConnectTimeoutMs, 5000, 1),
    origins: options.origins === undefined ? undefined : new Set(options.origins.map(normalizeOrigin)),
    requireOrigin: options.requireOrigin ?? false,
    graceMs: int('graceMs', options.graceMs, 30_000),
    maxPeersPerRoom: int('maxPeersPerRoom', options.maxPeersPerRoom, 1000),
    maxIdentitiesPerSocket: int('maxIdentitiesPerSocket', options.maxIdentitiesPerSocket, 256),
    turn: options.turn === undefined ? undefined : resolveTurnOptions(options.turn),
    pageSize: int('pageSize', options.pageSize, MAX_PEERS_PAGE, 1, MAX_PEERS_PAGE),
    maxHttpBufferSize: int('maxHttpBufferSize', options.maxHttpBufferSize, 64 * 1024, 1024),
    pingIntervalMs: int('pingIntervalMs', options.pingIntervalMs, 20_000, 1),
    pingTimeoutMs: int('pingTimeoutMs', options.pingTimeoutMs, 10_000, 1),
    connectTimeoutMs: int('connectTimeoutMs', options.connectTimeoutMs, 10_000, 1),
    authTimeoutMs: int('authTimeoutMs', options.authTimeoutMs, 30_000, 1),
    rateLimit: {
      points: int('rateLimit.points', rate?.points, 200, 1),
      durationMs: int('rateLimit.durationMs', rate?.durationMs, 1000, 1),
      strikes: int('rateLimit.strikes', rate?.strikes, 50, 0),
      strikeWindowMs: int('rateLimit.strikeWindowMs', rate?.strikeWindowMs, 10_000, 1),
    },
    reconcileIntervalMs: int('reconcileIntervalMs', options.reconcileIntervalMs, 30_000, 1),
    registry: options.registry,
    heartbeatIntervalMs,
    instanceTtlMs,
    instanceId: options.instanceId ?? randomUUID(),
    logger: options.logger ?? createJsonLogger(),
    staticDir: options.staticDir,
    collectDefaultMetrics: options.collectDefaultMetrics ?? false,
    signal: options.signal,
  }
}
