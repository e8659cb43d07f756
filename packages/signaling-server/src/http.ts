/**
 * The HTTP side of the server: `GET /healthz`, `GET /metrics`, optional static files, the `Origin` allow-list
 * Socket.IO consults on every request (WebSocket upgrade included), and listening on a port.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ServerOptions } from 'socket.io'
import { ListenError } from './errors.js'
import type { Logger } from './logger.js'
import type { RejectionReason, ServerMetrics } from './metrics.js'
import type { StaticHandler } from './static.js'

/** What the HTTP endpoints read. */
export interface HttpEndpoints {
  readonly instanceId: string
  readonly metrics: ServerMetrics
  readonly log: Logger
  /** Sockets connected to this instance now. */
  readonly sockets: () => number
  /** `'disabled'` without Redis, else whether Redis answers. */
  readonly redisHealth: () => Promise<'ok' | 'error' | 'disabled'>
  readonly staticHandler: StaticHandler | undefined
}

/**
 * An HTTP server answering `GET /healthz`, `GET /metrics`, then static files, else 404. Socket.IO attaches its own
 * path to it. A failing request gets a 500 and is logged; malformed requests close their connection.
 */
export function createHttpServer(endpoints: HttpEndpoints): HttpServer {
  const { instanceId, metrics, log, staticHandler } = endpoints
  const startedAt = Date.now()
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'GET' && path === '/healthz') {
      const redis = await endpoints.redisHealth()
      const body = JSON.stringify({
        status: redis === 'error' ? 'degraded' : 'ok',
        instanceId,
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        sockets: endpoints.sockets(),
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
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error('http handler failed', { err: String(err), url: req.url })
      if (!res.headersSent) res.writeHead(500)
      res.end()
    })
  })
  server.on('clientError', (_err, socket) => socket.destroy())
  return server
}

/**
 * Socket.IO's `allowRequest`: with an allow-list, a request whose `Origin` is not listed (or, with
 * `requireOrigin`, has none) is refused before any Socket.IO session exists, and counted as `origin`.
 */
export function originCheck(options: {
  origins: ReadonlySet<string> | undefined
  requireOrigin: boolean
  reject: (reason: RejectionReason) => void
  log: Logger
}): NonNullable<ServerOptions['allowRequest']> {
  const { origins, requireOrigin, reject, log } = options
  return (req, callback) => {
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
  }
}

/**
 * Starts `server` listening on `host:port` and resolves with its URL (`0.0.0.0` and `::` are reported as
 * `127.0.0.1`).
 *
 * @throws {ListenError} when the port cannot be bound.
 */
export async function listen(
  server: HttpServer,
  host: string,
  port: number,
): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, rejectListen) => {
    const onError = (err: Error): void =>
      rejectListen(new ListenError(`cannot listen on ${host}:${port}: ${err.message}`, { cause: err }))
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${urlHost === '0.0.0.0' || urlHost === '[::]' ? '127.0.0.1' : urlHost}:${address.port}`
  return { url, port: address.port }
}
