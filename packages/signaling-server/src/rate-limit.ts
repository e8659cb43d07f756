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
 * Every decision is made synchronously on arrival ({@link FixedWindows}: the fixed window per socket that
 * `rate-limiter-flexible`'s memory limiter counted, without its promise, result object and timer per request), so
 * decisions keep arrival order by construction.
 *
 * @module
 */
import { type Ack, CLIENT_EVENTS, type SignalErrorCode, type SignalEvent } from '@skipmesh/signaling-protocol'
import type { ServerContext, SignalingSocket } from './context.js'
import type { ResolvedRateLimit } from './options.js'
import { refusalPush } from './signal-refusals.js'

const KNOWN_EVENTS: ReadonlySet<string> = new Set(CLIENT_EVENTS)

/** Replies a socket may send without cost for each signal it receives (a description and a candidate batch). */
export const REPLY_CREDIT_PER_SIGNAL = 2
/** Most credits one session holds. */
export const MAX_REPLY_CREDIT = 16
/** Sessions a socket holds credits for; the oldest credited is forgotten first. */
export const MAX_CREDITED_SESSIONS = 256

interface Credit {
  readonly peer: string
  readonly session: string
  /** Replies left (> 0 while recorded). */
  left: number
}

/**
 * The reply credits of one socket, by peer and session (looked up by the two strings, never by a string joined
 * per signal). The least recently credited session is forgotten first.
 */
class ReplyCredits {
  readonly #byPeer = new Map<string, Map<string, Credit>>()
  /** Every credit, least recently credited first. */
  readonly #order = new Set<Credit>()

  /** A signal from `peer` under `session` was relayed to the socket. */
  credit(peer: string, session: string): void {
    let sessions = this.#byPeer.get(peer)
    if (sessions === undefined) {
      sessions = new Map()
      this.#byPeer.set(peer, sessions)
    }
    let c = sessions.get(session)
    if (c === undefined) {
      c = { peer, session, left: 0 }
      sessions.set(session, c)
    } else this.#order.delete(c)
    c.left = Math.min(MAX_REPLY_CREDIT, c.left + REPLY_CREDIT_PER_SIGNAL)
    this.#order.add(c)
    if (this.#order.size > MAX_CREDITED_SESSIONS) {
      const oldest = this.#order.values().next().value
      if (oldest !== undefined) this.#remove(oldest)
    }
  }

  /** Spends one credit of a reply to `peer` under `session`; false when there is none. */
  spend(peer: string, session: string): boolean {
    const c = this.#byPeer.get(peer)?.get(session)
    if (c === undefined) return false
    if (--c.left === 0) this.#remove(c)
    return true
  }

  #remove(c: Credit): void {
    this.#order.delete(c)
    const sessions = this.#byPeer.get(c.peer)
    sessions?.delete(c.session)
    if (sessions?.size === 0) this.#byPeer.delete(c.peer)
  }
}

/** Spends a credit for the `signal` payload `payload` (as it arrived: unvalidated) when it is a credited reply. */
function spendFor(credits: ReplyCredits, payload: unknown): boolean {
  if (typeof payload !== 'object' || payload === null) return false
  const { to, session } = payload as Record<string, unknown>
  return typeof to === 'string' && typeof session === 'string' && credits.spend(to, session)
}

/**
 * Points counted in fixed windows per key: a window opens with the first point spent after the previous one ended
 * and lasts `durationMs`; the points beyond `points` spent in it are refused until it ends.
 */
export class FixedWindows {
  readonly #points: number
  readonly #durationMs: number
  readonly #windows = new Map<string, { spent: number; endsAt: number }>()

  constructor(points: number, durationMs: number) {
    this.#points = points
    this.#durationMs = durationMs
  }

  /** Spends a point of `key`: 0 when within its budget, else the milliseconds until its window ends (> 0). */
  spend(key: string, now = Date.now()): number {
    let w = this.#windows.get(key)
    if (w === undefined || now >= w.endsAt) {
      w = { spent: 0, endsAt: now + this.#durationMs }
      this.#windows.set(key, w)
    }
    w.spent++
    return w.spent > this.#points ? Math.max(1, w.endsAt - now) : 0
  }

  /** Forgets `key`. */
  delete(key: string): void {
    this.#windows.delete(key)
  }
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
  const budget = new FixedWindows(rate.points, rate.durationMs)
  // unused when strikes is 0: the first refusal disconnects
  const strikes = new FixedWindows(Math.max(rate.strikes, 1), rate.strikeWindowMs)

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
    const mine = new ReplyCredits()
    socket.onAnyOutgoing((event, payload: SignalEvent) => {
      if (event === 'signal') mine.credit(payload.from, payload.session)
    })
    socket.use((packet, next) => {
      // [event, ...args]: read in place (no copy per event)
      const items = packet as unknown[]
      const event = items[0]
      const last = items.length > 1 ? items[items.length - 1] : undefined
      const ack = typeof last === 'function' ? (last as Ackable) : undefined
      // a reply under a session the other peer opened is paid by its credit (validated by the handler as any)
      const credited = event === 'signal' && spendFor(mine, items[1])
      const waitMs = credited ? 0 : budget.spend(socket.id)
      if (waitMs > 0) {
        // a signal without an ack hears of its refusal by a push (the protocol's `signalRefusals`)
        const answer = ack ?? (event === 'signal' ? refusalPush(socket, items[1]) : undefined)
        if (answer !== undefined) refuse(ctx, answer, 'rate-limited', `retry in ${waitMs} ms`)
        else ctx.reject('rate-limited')
        if (rate.strikes === 0 || strikes.spend(socket.id) > 0) disconnectFlooder(socket)
        return
      }
      if (typeof event !== 'string' || !KNOWN_EVENTS.has(event)) {
        if (ack !== undefined) refuse(ctx, ack, 'invalid-payload', 'unknown event')
        else ctx.reject('invalid-payload')
        return
      }
      next()
    })
  }

  const forget = (socketId: string): void => {
    budget.delete(socketId)
    strikes.delete(socketId)
  }

  return { guard, forget }
}
