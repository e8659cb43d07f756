/**
 * One connected socket: its authentication deadline, its request queue (a socket's requests run one after the
 * other, so its signals keep their order) and the dispatch of each client event to its handler with the payload
 * validated by the protocol's schema. `handleConnection` is the server's `connection` listener.
 *
 * @module
 */
import { type ClientEventName, ClientRequestSchemas, CLIENT_EVENTS } from '@skipmesh/signaling-protocol'
import * as v from 'valibot'
import { Refusal, type ServerContext, type SignalingSocket } from './context.js'
import { handlers, type Payload, signalNow } from './handlers.js'
import { releaseIdentities } from './identity-handlers.js'
import { type Ackable, type RateLimit, refuse } from './rate-limit.js'
import { checkSignal } from './signal-check.js'
import { refusalPush } from './signal-refusals.js'

function issueText(issues: readonly v.BaseIssue<unknown>[]): string {
  const first = issues[0]
  if (first === undefined) return 'invalid payload'
  const path = first.path?.map((p) => String(p.key)).join('.') ?? ''
  return `${path === '' ? 'payload' : path}: ${first.message}`.slice(0, 200)
}

/** The server's state of one socket, handed to every handler of its events. */
export class SocketSession {
  readonly socket: SignalingSocket
  readonly #ctx: ServerContext
  /** Requests waiting for the one running (run by {@link SocketSession.enqueue}'s drain, first in first out). */
  readonly #queue: Array<{ work: () => Promise<void>; onError: (err: unknown) => void }> = []
  #draining = false
  #closed = false
  #authTimer: NodeJS.Timeout | undefined

  constructor(ctx: ServerContext, socket: SignalingSocket) {
    this.#ctx = ctx
    this.socket = socket
  }

  /** Whether the socket disconnected (queued requests then do nothing). */
  get closed(): boolean {
    return this.#closed
  }

  /** (Re)starts the deadline by which the socket must authenticate, or be disconnected. */
  armAuthDeadline(): void {
    clearTimeout(this.#authTimer)
    this.#authTimer = setTimeout(() => {
      this.#ctx.reject('auth-timeout')
      this.#ctx.log.info('socket did not authenticate in time', { socket: this.socket.id })
      this.socket.disconnect(true)
    }, this.#ctx.options.authTimeoutMs)
    this.#authTimer.unref()
  }

  /** Stops the authentication deadline (the socket authenticated). */
  clearAuthDeadline(): void {
    clearTimeout(this.#authTimer)
  }

  /** Forgets the room, id, key and challenge of the socket. */
  resetJoin(): void {
    this.socket.data = {}
  }

  /**
   * The room and id of an authenticated socket.
   * @throws {Refusal} `not-joined` otherwise.
   */
  self(): { room: string; id: string } {
    const { room, id, authenticated } = this.socket.data
    if (authenticated !== true || room === undefined || id === undefined) {
      throw new Refusal('not-joined', 'join and authenticate first')
    }
    return { room, id }
  }

  /**
   * Runs `work` after every earlier request of this socket finished (at once when none is running); `close()` of
   * the server waits for it. What `work` throws goes to `onError`.
   */
  enqueue(work: () => Promise<void>, onError: (err: unknown) => void): void {
    this.#queue.push({ work, onError })
    if (this.#draining) return
    this.#draining = true
    // one tracked promise per run of the queue, not one per request
    void this.#ctx.track(this.#drain())
  }

  async #drain(): Promise<void> {
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        try {
          await next.work()
        } catch (err) {
          next.onError(err)
        }
      }
    } finally {
      this.#draining = false
    }
  }

  /**
   * Queues client event `event` with the arguments Socket.IO delivered: one payload (optional for events whose
   * handler allows it) and an ack. Every outcome answers the ack: the handler's result, its {@link Refusal}, or
   * `invalid-payload` / `internal`. A `signal` without an ack is answered only when refused (`signal-refused`).
   */
  dispatch<E extends ClientEventName>(event: E, args: readonly unknown[]): void {
    const ctx = this.#ctx
    const last = args[args.length - 1]
    // a signal without an ack hears only of its refusal, by a push (the protocol's `signalRefusals`)
    const ack: Ackable =
      typeof last === 'function'
        ? (last as Ackable)
        : event === 'signal'
          ? refusalPush(this.socket, args[0])
          : () => {}
    const params = typeof last === 'function' ? args.slice(0, -1) : args
    // a valid signal while no request of this socket is queued is decided at once when the registry can (the hot path)
    if (event === 'signal' && !this.#draining && this.#signalNow(params, ack)) return
    const { run, payloadOptional } = handlers[event]
    const work = async (): Promise<void> => {
      if (this.#closed) return
      if (params.length > 1 || (params.length === 0 && !payloadOptional)) {
        return refuse(ctx, ack, 'invalid-payload', 'expected one payload argument')
      }
      const raw = params.length === 0 ? {} : params[0]
      // a valid signal (the hot path) skips the schema; anything else gets the schema's verdict and issue text
      let payload = event === 'signal' ? (checkSignal(raw) as Payload<E> | undefined) : undefined
      if (payload === undefined) {
        const parsed = v.safeParse(ClientRequestSchemas[event], raw)
        if (!parsed.success) return refuse(ctx, ack, 'invalid-payload', issueText(parsed.issues))
        payload = parsed.output
      }
      try {
        const result = await run(ctx, this, payload)
        ack({ ok: true, ...result })
      } catch (err) {
        this.#answerFailure(event, ack, err)
      }
    }
    this.enqueue(work, (err) => ctx.log.error('handler crashed', { err: String(err) }))
  }

  /**
   * Decides a `signal` with `params` at once ({@link signalNow}); false when it must take the queue: an invalid
   * payload (the schema words the refusal there) or a registry without `isLiveNow`.
   */
  #signalNow(params: readonly unknown[], ack: Ackable): boolean {
    const ctx = this.#ctx
    if (ctx.registry.isLiveNow === undefined) return false
    const payload =
      params.length === 1 && !this.#closed
        ? (checkSignal(params[0]) as Payload<'signal'> | undefined)
        : undefined
    if (payload === undefined) return false
    try {
      if (!signalNow(ctx, this, payload)) return false
    } catch (err) {
      this.#answerFailure('signal', ack, err)
      return true
    }
    ack({ ok: true })
    return true
  }

  /** Answers what a handler of `event` threw: its {@link Refusal}, or `internal` (logged). */
  #answerFailure(event: ClientEventName, ack: Ackable, err: unknown): void {
    if (err instanceof Refusal) {
      refuse(this.#ctx, ack, err.code, err.message)
      return
    }
    this.#ctx.log.error('request failed', { event, socket: this.socket.id, err: String(err) })
    refuse(this.#ctx, ack, 'internal', 'internal error')
  }

  /** The socket disconnected: stop its deadline, skip its queued requests, release its registration after them. */
  onDisconnect(reason: string): void {
    const ctx = this.#ctx
    this.#closed = true
    clearTimeout(this.#authTimer)
    const { room, id, authenticated } = this.socket.data
    ctx.log.debug('socket disconnected', { socket: this.socket.id, reason, room, id })
    if (authenticated !== true || room === undefined || id === undefined) return
    // after queued requests of this socket, so a pending claim cannot resurrect the registration
    this.enqueue(
      async () => {
        if (await ctx.registry.release(room, id, this.socket.id)) ctx.announceLeft([{ room, id }])
        await releaseIdentities(ctx, this.socket.id, room, this.socket.data.identities)
      },
      (err) => ctx.log.error('release on disconnect failed', { room, id, err: String(err) }),
    )
  }
}

/** The `connection` listener: rate limit first, then one handler per protocol event, then disconnect. */
export function handleConnection(ctx: ServerContext, rateLimit: RateLimit, socket: SignalingSocket): void {
  socket.data = {}
  const session = new SocketSession(ctx, socket)
  session.armAuthDeadline()
  rateLimit.guard(socket)
  for (const event of CLIENT_EVENTS) {
    socket.on(event, (...args: unknown[]) => session.dispatch(event, args))
  }
  socket.on('disconnect', (reason) => {
    rateLimit.forget(socket.id)
    session.onDisconnect(reason)
  })
}
