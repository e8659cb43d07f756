/**
 * The per-socket request budget: every incoming event, known or not, costs one point; over budget it is refused
 * with `rate-limited`, and a socket that keeps flooding (more refusals than `strikes` per `strikeWindowMs`) is
 * disconnected. Events the protocol does not know are refused with `invalid-payload` here, so no handler sees them.
 *
 * @module
 */
import { type Ack, CLIENT_EVENTS, type SignalErrorCode } from '@skipmesh/signaling-protocol'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import type { ServerContext, SignalingSocket } from './context.js'
import type { ResolvedRateLimit } from './options.js'

const KNOWN_EVENTS: ReadonlySet<string> = new Set(CLIENT_EVENTS)

/** An ack callback as it arrives from Socket.IO. */
export type Ackable = (res: Ack<object>) => void

/** The rate limiter of one server. */
export interface RateLimit {
  /** Installs the budget check as `socket`'s first middleware. */
  guard(socket: SignalingSocket): void
  /** Drops `socket`'s budget and strikes (on disconnect). */
  forget(socketId: string): void
}

/** Counts the refusal and answers `ack` with `code`. */
export function refuse(ctx: ServerContext, ack: Ackable, code: SignalErrorCode, message: string): void {
  ctx.reject(code)
  ack({ ok: false, error: { code, message } })
}

/** Creates the rate limiter of the server of `ctx`. */
export function createRateLimit(ctx: ServerContext, rate: ResolvedRateLimit): RateLimit {
  const limiter = new RateLimiterMemory({ points: rate.points, duration: rate.durationMs / 1000 })
  const strikes = new RateLimiterMemory({
    points: Math.max(rate.strikes, 1), // unused when strikes is 0: the first refusal disconnects
    duration: rate.strikeWindowMs / 1000,
  })

  const disconnectFlooder = (socket: SignalingSocket): void => {
    if (!socket.connected) return
    ctx.reject('flood-disconnect')
    ctx.log.warn('disconnecting flooding socket', {
      socket: socket.id,
      id: socket.data.id,
      room: socket.data.room,
    })
    socket.disconnect(true)
  }

  const guard = (socket: SignalingSocket): void => {
    socket.use((packet, next) => {
      const [event, ...args] = packet as unknown[]
      const last = args[args.length - 1]
      const ack = typeof last === 'function' ? (last as Ackable) : undefined
      limiter.consume(socket.id).then(
        () => {
          if (typeof event !== 'string' || !KNOWN_EVENTS.has(event)) {
            if (ack !== undefined) refuse(ctx, ack, 'invalid-payload', 'unknown event')
            else ctx.reject('invalid-payload')
            return
          }
          next()
        },
        (res: unknown) => {
          if (!(res instanceof RateLimiterRes)) {
            ctx.log.error('rate limiter failed', { err: String(res) })
            return
          }
          if (ack !== undefined) refuse(ctx, ack, 'rate-limited', `retry in ${res.msBeforeNext} ms`)
          else ctx.reject('rate-limited')
          if (rate.strikes === 0) disconnectFlooder(socket)
          else strikes.consume(socket.id).catch(() => disconnectFlooder(socket))
        },
      )
    })
  }

  const forget = (socketId: string): void => {
    limiter.delete(socketId).catch(() => {})
    strikes.delete(socketId).catch(() => {})
  }

  return { guard, forget }
}
