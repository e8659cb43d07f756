/**
 * The per-socket request budget: every incoming event, known or not, costs one point; over budget it is refused
 * with `rate-limited`, and a socket that keeps flooding (more refusals than `strikes` per `strikeWindowMs`) is
 * disconnected. Events the protocol does not know are refused with `invalid-payload` here, so no handler sees them.
 *
 * Replies are paid by the peer that opened the session (issue 13, attack 9): each `signal` relayed to a socket
 * gives it {@link REPLY_CREDIT_PER_SIGNAL} credits to answer that sender under that session (at most
 * {@link MAX_REPLY_CREDIT} per session, {@link MAX_CREDITED_SESSIONS} sessions per socket); a `signal` back
 * to the sender under the session spends a credit instead of a point. So a peer flooded with offers can answer
 * them without exhausting its own budget, and keeps signalling honest peers; the flooder pays a point per offer
 * and is refused and disconnected as any flooder. Replies beyond the credit cost points as before.
 *
 * @module
 */
import { type Ack, CLIENT_EVENTS, type SignalErrorCode } from '@skipmesh/signaling-protocol'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import type { ServerContext, SignalingSocket } from './context.js'
import type { ResolvedRateLimit } from './options.js'

const KNOWN_EVENTS: ReadonlySet<string> = new Set(CLIENT_EVENTS)

/** Replies a socket may send without cost for each signal it receives (a description and a candidate batch). */
export const REPLY_CREDIT_PER_SIGNAL = 2
/** Most credits one session holds. */
export const MAX_REPLY_CREDIT = 16
/** Sessions a socket holds credits for; the oldest credited is forgotten first. */
export const MAX_CREDITED_SESSIONS = 256

/** The credits of one socket: `${peer}\n${session}` → replies left (insertion order = least recently credited). */
type Credits = Map<string, number>

function creditKey(payload: unknown, peerField: 'from' | 'to'): string | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined
  const peer = (payload as Record<string, unknown>)[peerField]
  const session = (payload as Record<string, unknown>).session
  return typeof peer === 'string' && typeof session === 'string' ? `${peer}\n${session}` : undefined
}

/** Records the credit a signal relayed to a socket gives it. */
function credit(credits: Credits, key: string): void {
  const left = credits.get(key) ?? 0
  credits.delete(key)
  credits.set(key, Math.min(MAX_REPLY_CREDIT, left + REPLY_CREDIT_PER_SIGNAL))
  if (credits.size > MAX_CREDITED_SESSIONS) {
    const oldest = credits.keys().next().value
    if (oldest !== undefined) credits.delete(oldest)
  }
}

/** Spends one credit of `key`; false when there is none. */
function spend(credits: Credits | undefined, key: string | undefined): boolean {
  if (credits === undefined || key === undefined) return false
  const left = credits.get(key) ?? 0
  if (left <= 0) return false
  if (left === 1) credits.delete(key)
  else credits.set(key, left - 1)
  return true
}

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
    const mine: Credits = new Map()
    socket.onAnyOutgoing((event, payload: unknown) => {
      if (event !== 'signal') return
      const key = creditKey(payload, 'from')
      if (key !== undefined) credit(mine, key)
    })
    // decisions are applied in arrival order, so a credited reply never overtakes an earlier event
    let order: Promise<void> = Promise.resolve()
    socket.use((packet, next) => {
      const [event, ...args] = packet as unknown[]
      const last = args[args.length - 1]
      const ack = typeof last === 'function' ? (last as Ackable) : undefined
      // a reply under a session the other peer opened is paid by its credit (validated by the handler as any)
      const credited = event === 'signal' && spend(mine, creditKey(args[0], 'to'))
      const decision = credited ? Promise.resolve(undefined) : limiter.consume(socket.id)
      order = order.then(() =>
        decision.then(
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
        ),
      )
    })
  }

  const forget = (socketId: string): void => {
    limiter.delete(socketId).catch(() => {})
    strikes.delete(socketId).catch(() => {})
  }

  return { guard, forget }
}
