#!/usr/bin/env node
/**
 * `skipmesh-signal`: runs a signaling server until SIGTERM/SIGINT, then shuts it down gracefully.
 *
 * @module
 */
import { parseArgs } from 'node:util'
import { createJsonLogger, type LogLevel } from './logger.js'
import type { SignalingServerOptions } from './options.js'
import { createSignalingServer } from './server.js'

const HELP = `Usage: skipmesh-signal [options]

Runs the skipmesh signaling server (Socket.IO: discovery and WebRTC offer/answer/ICE relay).

Options:
  --port <n>          TCP port, 0 for a free one            (default 8787, env PORT)
  --host <addr>       interface to listen on                 (default 127.0.0.1, env HOST)
  --redis <url>       Redis URL for scale-out, e.g. redis://127.0.0.1:6379 (default: in-memory, env REDIS_URL)
  --origin <url>      allowed Origin; repeat for several     (default: any origin)
  --require-origin    refuse Socket.IO requests without an Origin header
  --static <dir>      serve the files of <dir> at /          (default: none)
  --grace-ms <n>      how long a left peer's id stays reserved for its key (default 30000)
  --max-peers <n>     maximum peers per room, 0 = no limit   (default 1000)
  --turn-url <url>    a TURN server handed to peers with time-limited credentials; repeat for several
  --turn-secret <s>   the secret shared with the TURN server (coturn static-auth-secret; env TURN_SECRET)
  --turn-ttl <s>      lifetime of one TURN credential in seconds (default 3600)
  --log-level <lvl>   debug | info | warn | error            (default info)
  -h, --help          show this help

Endpoints: GET /healthz, GET /metrics (Prometheus), Socket.IO at /socket.io/.
Logs are JSON lines on stderr; the URL is printed on stdout once listening.`

function int(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`skipmesh-signal: --${name} must be a non-negative integer\n`)
    process.exit(2)
  }
  return n
}

async function main(): Promise<void> {
  let values: ReturnType<typeof parse>['values']
  function parse() {
    return parseArgs({
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        redis: { type: 'string' },
        origin: { type: 'string', multiple: true },
        'require-origin': { type: 'boolean' },
        static: { type: 'string' },
        'grace-ms': { type: 'string' },
        'max-peers': { type: 'string' },
        'turn-url': { type: 'string', multiple: true },
        'turn-secret': { type: 'string' },
        'turn-ttl': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    })
  }
  try {
    values = parse().values
  } catch (err) {
    process.stderr.write(`skipmesh-signal: ${(err as Error).message}\n\n${HELP}\n`)
    process.exit(2)
  }
  if (values.help === true) {
    process.stdout.write(`${HELP}\n`)
    return
  }
  const level = (values['log-level'] ?? 'info') as LogLevel
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    process.stderr.write('skipmesh-signal: --log-level must be debug, info, warn or error\n')
    process.exit(2)
  }
  const port = int('port', values.port ?? process.env.PORT) ?? 8787
  const graceMs = int('grace-ms', values['grace-ms'])
  const maxPeersPerRoom = int('max-peers', values['max-peers'])
  const redis = values.redis ?? process.env.REDIS_URL
  const turnSecret = values['turn-secret'] ?? process.env.TURN_SECRET
  const turnTtl = int('turn-ttl', values['turn-ttl'])
  if ((values['turn-url'] === undefined) !== (turnSecret === undefined || turnSecret === '')) {
    process.stderr.write('skipmesh-signal: --turn-url and --turn-secret (or TURN_SECRET) go together\n')
    process.exit(2)
  }
  const options: SignalingServerOptions = {
    port,
    host: values.host ?? process.env.HOST ?? '127.0.0.1',
    logger: createJsonLogger({ level }),
    collectDefaultMetrics: true,
    ...(redis === undefined || redis === '' ? {} : { redis }),
    ...(values.origin === undefined ? {} : { origins: values.origin }),
    ...(values['require-origin'] === true ? { requireOrigin: true } : {}),
    ...(values.static === undefined ? {} : { staticDir: values.static }),
    ...(graceMs === undefined ? {} : { graceMs }),
    ...(maxPeersPerRoom === undefined ? {} : { maxPeersPerRoom }),
    ...(values['turn-url'] === undefined || turnSecret === undefined
      ? {}
      : {
          turn: {
            urls: values['turn-url'],
            secret: turnSecret,
            ...(turnTtl === undefined ? {} : { ttlSeconds: turnTtl }),
          },
        }),
  }
  const server = await createSignalingServer(options)
  process.stdout.write(`skipmesh-signal listening on ${server.url}\n`)
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'shutting down', signal })}\n`,
    )
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  process.stderr.write(
    `skipmesh-signal: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`,
  )
  process.exit(1)
})
