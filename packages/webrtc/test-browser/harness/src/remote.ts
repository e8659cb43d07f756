/**
 * Cross-context connection managers. A `RemoteHost` in page B owns real `WebRtcConnectionManager`s; a
 * `RemoteManager` in page A is a `ConnectionManager` whose every call is forwarded to B and whose events are
 * B's events forwarded back. The test process is the wire: page A's `window.__remoteCall` binding calls
 * `pageB.evaluate(harness.remoteHost.handle(...))`, and page B's `window.__remoteEvents` binding calls
 * `pageA.evaluate(harness.remoteEvents(...))`.
 *
 * Ordering: B numbers its events; every reply carries the number of the last event B emitted before
 * answering, and A resolves the call only after it applied every event up to that number. So a caller in A
 * sees the same causal order as a caller in B would (e.g. a `'close'` before the `close()` that caused it
 * resolves).
 *
 * @module
 */
import {
  type AbortOptions,
  type Channel,
  ComponentAlreadyStartedError,
  type Connection,
  type ConnectionEvents,
  type ConnectionManager,
  type ConnectionManagerEvents,
  channel as toChannel,
  Emitter,
  generateKeyPair,
  Identifier,
  toAbortError,
  type Unsubscribe,
} from '@skipmesh/core'
import { createWebRtcConnectionManager } from '@skipmesh/webrtc'
import { fromBase64, fromWireError, toBase64, toWireError, type WireError } from './wire.js'

/** Options for a manager made in a page. */
export interface ManagerSpec {
  id: string
  url: string
  room: string
  /** Extra `createWebRtcConnectionManager` options (numbers only: time-outs and sizes). */
  tuning?: Record<string, number>
  /** The peer connections' configuration. @default { iceServers: [] } */
  rtc?: RTCConfiguration
}

type RemoteEventBody =
  | { type: 'connection'; mgr: number; conn: number; remoteId: string }
  | { type: 'message'; conn: number; channel: string; data: string }
  | { type: 'close'; conn: number; reason?: WireError }

type RemoteEvent = RemoteEventBody & { seq: number }

interface StateSnapshot {
  /** connection handle → status */
  conns: Array<[number, Connection['status']]>
  /** manager handle → open connection handles */
  open: Array<[number, number[]]>
}

type Reply =
  | { ok: true; value: unknown; seq: number; state: StateSnapshot }
  | { ok: false; error: WireError; seq: number; state: StateSnapshot }

/** Makes a started, ready WebRTC connection manager for the harness. */
export async function startManager(spec: ManagerSpec): Promise<ConnectionManager> {
  const manager = createWebRtcConnectionManager({
    localId: Identifier.fromHex(spec.id),
    keyPair: await generateKeyPair(),
    signaling: { url: spec.url, room: spec.room },
    rtc: spec.rtc ?? { iceServers: [] },
    ...spec.tuning,
  })
  manager.start()
  await manager.ready()
  return manager
}

/** Page B's side: owns managers and connections, answers calls, streams events to page A. */
export class RemoteHost {
  readonly #managers = new Map<number, ConnectionManager>()
  readonly #conns = new Map<number, Connection>()
  readonly #connIds = new Map<Connection, number>()
  readonly #connManager = new Map<number, number>()
  readonly #aborts = new Map<number, AbortController>()
  #nextHandle = 1
  #seq = 0
  #pending: RemoteEvent[] = []
  #flushing = false
  readonly #send: (events: RemoteEvent[]) => Promise<void>

  constructor(send: (events: RemoteEvent[]) => Promise<void>) {
    this.#send = send
  }

  #emit(event: RemoteEventBody): void {
    this.#pending.push({ ...event, seq: ++this.#seq })
    if (!this.#flushing) {
      this.#flushing = true
      setTimeout(() => void this.#flush(), 0)
    }
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending
      this.#pending = []
      try {
        await this.#send(batch)
      } catch {
        // page A is gone (closed on purpose by the test): nothing left to tell it
        this.#pending = []
      }
    }
    this.#flushing = false
  }

  #track(mgr: number, conn: Connection): number {
    const known = this.#connIds.get(conn)
    if (known !== undefined) return known
    const handle = this.#nextHandle++
    this.#conns.set(handle, conn)
    this.#connIds.set(conn, handle)
    this.#connManager.set(handle, mgr)
    this.#emit({ type: 'connection', mgr, conn: handle, remoteId: conn.remoteId.toHex() })
    conn.on('message', (ch, bytes) =>
      this.#emit({ type: 'message', conn: handle, channel: ch, data: toBase64(bytes) }),
    )
    conn.on('close', (reason) =>
      this.#emit(
        reason === undefined
          ? { type: 'close', conn: handle }
          : { type: 'close', conn: handle, reason: toWireError(reason) },
      ),
    )
    return handle
  }

  #snapshot(): StateSnapshot {
    const conns: StateSnapshot['conns'] = [...this.#conns].map(([h, c]) => [h, c.status])
    const open: StateSnapshot['open'] = [...this.#managers].map(([m, mgr]) => [
      m,
      mgr.connections().map((c) => this.#track(m, c)),
    ])
    return { conns, open }
  }

  #manager(handle: number): ConnectionManager {
    const m = this.#managers.get(handle)
    if (m === undefined) throw new Error(`no remote manager ${handle}`)
    return m
  }

  #conn(handle: number): Connection {
    const c = this.#conns.get(handle)
    if (c === undefined) throw new Error(`no remote connection ${handle}`)
    return c
  }

  #signal(call: number | undefined): AbortSignal | undefined {
    if (call === undefined) return undefined
    const controller = new AbortController()
    this.#aborts.set(call, controller)
    return controller.signal
  }

  async #run(op: string, args: Record<string, unknown>): Promise<unknown> {
    const call = args.call as number | undefined
    const signal = this.#signal(call)
    const options: AbortOptions = signal === undefined ? {} : { signal }
    try {
      switch (op) {
        case 'create': {
          const manager = await startManager(args.spec as ManagerSpec)
          const handle = this.#nextHandle++
          this.#managers.set(handle, manager)
          manager.on('connection', (conn) => void this.#track(handle, conn))
          return { mgr: handle, localId: manager.localId.toHex(), maxMessageSize: manager.maxMessageSize }
        }
        case 'connect': {
          const mgr = args.mgr as number
          const conn = await this.#manager(mgr).connect(Identifier.fromHex(args.id as string), options)
          return this.#track(mgr, conn)
        }
        case 'send': {
          const conn = this.#conn(args.conn as number)
          await conn.send(toChannel(args.channel as string), fromBase64(args.data as string), options)
          return null
        }
        case 'close':
          await this.#conn(args.conn as number).close(options)
          return null
        case 'abort':
          this.#aborts.get(args.target as number)?.abort()
          return null
        case 'stop':
          await this.#manager(args.mgr as number).stop()
          return null
        case 'metrics': {
          const m = this.#manager(args.mgr as number) as ConnectionManager & { metrics?: () => unknown }
          return m.metrics?.() ?? null
        }
        case 'stopAll':
          await this.stopAll()
          return null
        case 'done':
          await this.#manager(args.mgr as number).done()
          return null
        default:
          throw new Error(`unknown remote op ${op}`)
      }
    } finally {
      if (call !== undefined) this.#aborts.delete(call)
    }
  }

  /** Runs one forwarded call; never rejects (errors travel in the reply). */
  async handle(op: string, args: Record<string, unknown>): Promise<Reply> {
    try {
      const value = await this.#run(op, args)
      const state = this.#snapshot()
      return { ok: true, value, seq: this.#seq, state }
    } catch (err) {
      const state = this.#snapshot()
      return { ok: false, error: toWireError(err), seq: this.#seq, state }
    }
  }

  /** Stops every manager (test teardown). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#managers.values()].map((m) => m.stop()))
    this.#managers.clear()
  }
}

/** A `Connection` living in page B, seen from page A. */
class RemoteConnection implements Connection {
  readonly remoteId: Identifier
  status: Connection['status'] = 'open'
  readonly events = new Emitter<ConnectionEvents>()
  readonly #client: RemoteClient
  readonly handle: number

  constructor(client: RemoteClient, handle: number, remoteId: Identifier) {
    this.#client = client
    this.handle = handle
    this.remoteId = remoteId
  }

  on<E extends keyof ConnectionEvents>(event: E, handler: ConnectionEvents[E]): Unsubscribe {
    return this.events.on(event, handler)
  }

  async send(channel: Channel, bytes: Uint8Array, options?: AbortOptions): Promise<void> {
    await this.#client.call('send', { conn: this.handle, channel, data: toBase64(bytes) }, options)
  }

  async close(options?: AbortOptions): Promise<void> {
    if (this.status === 'open') this.status = 'closing'
    await this.#client.call('close', { conn: this.handle }, options)
  }
}

/** A `ConnectionManager` living in page B, seen from page A. Already started and ready. */
class RemoteManager implements ConnectionManager {
  readonly localId: Identifier
  readonly maxMessageSize: number
  readonly events = new Emitter<ConnectionManagerEvents>()
  readonly open = new Set<RemoteConnection>()
  readonly #client: RemoteClient
  readonly handle: number

  constructor(client: RemoteClient, handle: number, localId: Identifier, maxMessageSize: number) {
    this.#client = client
    this.handle = handle
    this.localId = localId
    this.maxMessageSize = maxMessageSize
  }

  on<E extends keyof ConnectionManagerEvents>(event: E, handler: ConnectionManagerEvents[E]): Unsubscribe {
    return this.events.on(event, handler)
  }

  start(): void {
    throw new ComponentAlreadyStartedError('the remote manager was started when it was created')
  }

  ready(): Promise<void> {
    return Promise.resolve()
  }

  async done(): Promise<void> {
    await this.#client.call('done', { mgr: this.handle })
  }

  async stop(): Promise<void> {
    await this.#client.call('stop', { mgr: this.handle })
  }

  /** The remote manager's counters (`WebRtcMetrics`). */
  metrics(): Promise<unknown> {
    return this.#client.call('metrics', { mgr: this.handle })
  }

  async connect(id: Identifier, options?: AbortOptions): Promise<Connection> {
    const handle = (await this.#client.call(
      'connect',
      { mgr: this.handle, id: id.toHex() },
      options,
    )) as number
    return this.#client.connection(handle)
  }

  connections(): Connection[] {
    return [...this.open]
  }
}

/** Page A's side: forwards calls to page B and applies B's events in order. */
export class RemoteClient {
  readonly #call: (op: string, args: Record<string, unknown>) => Promise<Reply>
  readonly #managers = new Map<number, RemoteManager>()
  readonly #conns = new Map<number, RemoteConnection>()
  readonly #early = new Map<number, RemoteEvent>()
  readonly #waiters: Array<{ seq: number; resolve: () => void }> = []
  #applied = 0
  #nextCall = 1

  constructor(call: (op: string, args: Record<string, unknown>) => Promise<Reply>) {
    this.#call = call
  }

  /** Makes a started, ready manager in page B. */
  async create(spec: ManagerSpec): Promise<ConnectionManager> {
    const v = (await this.call('create', { spec })) as {
      mgr: number
      localId: string
      maxMessageSize: number
    }
    const m = new RemoteManager(this, v.mgr, Identifier.fromHex(v.localId), v.maxMessageSize)
    this.#managers.set(v.mgr, m)
    return m
  }

  /** Stops every manager made in page B. */
  async stopAll(): Promise<void> {
    await this.call('stopAll', {})
  }

  connection(handle: number): RemoteConnection {
    const c = this.#conns.get(handle)
    if (c === undefined) throw new Error(`remote connection ${handle} was never announced`)
    return c
  }

  async call(op: string, args: Record<string, unknown>, options?: AbortOptions): Promise<unknown> {
    const signal = options?.signal
    if (signal?.aborted === true) throw toAbortError(signal)
    const call = this.#nextCall++
    const onAbort = (): void => void this.#call('abort', { target: call })
    signal?.addEventListener('abort', onAbort, { once: true })
    let reply: Reply
    try {
      reply = await this.#call(op, signal === undefined ? args : { ...args, call })
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    await this.#caughtUp(reply.seq)
    if (this.#applied === reply.seq) this.#applySnapshot(reply.state)
    if (!reply.ok) throw fromWireError(reply.error)
    return reply.value
  }

  #caughtUp(seq: number): Promise<void> {
    if (this.#applied >= seq) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ seq, resolve }))
  }

  #applySnapshot(state: StateSnapshot): void {
    for (const [h, status] of state.conns) {
      const c = this.#conns.get(h)
      if (c !== undefined) c.status = status
    }
    for (const [m, handles] of state.open) {
      const manager = this.#managers.get(m)
      if (manager === undefined) continue
      manager.open.clear()
      for (const h of handles) {
        const c = this.#conns.get(h)
        if (c !== undefined) manager.open.add(c)
      }
    }
  }

  /** Applies a batch of page B's events (in sequence order, whatever order batches arrive in). */
  receive(events: RemoteEvent[]): void {
    for (const e of events) this.#early.set(e.seq, e)
    for (;;) {
      const next = this.#early.get(this.#applied + 1)
      if (next === undefined) break
      this.#early.delete(next.seq)
      this.#applied = next.seq
      this.#apply(next)
    }
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]!
      if (w.seq <= this.#applied) {
        this.#waiters.splice(i, 1)
        w.resolve()
      }
    }
  }

  #apply(e: RemoteEvent): void {
    switch (e.type) {
      case 'connection': {
        const manager = this.#managers.get(e.mgr)
        const conn = new RemoteConnection(this, e.conn, Identifier.fromHex(e.remoteId))
        this.#conns.set(e.conn, conn)
        manager?.open.add(conn)
        manager?.events.emit('connection', conn)
        return
      }
      case 'message': {
        this.#conns.get(e.conn)?.events.emit('message', toChannel(e.channel), fromBase64(e.data))
        return
      }
      case 'close': {
        const conn = this.#conns.get(e.conn)
        if (conn === undefined) return
        conn.status = 'closed'
        for (const m of this.#managers.values()) m.open.delete(conn)
        conn.events.emit('close', e.reason === undefined ? undefined : fromWireError(e.reason))
        return
      }
    }
  }
}
