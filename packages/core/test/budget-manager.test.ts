import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { AbortOptions } from '../src/abort.js'
import { createConnectionBudget } from '../src/budget/index.js'
import type { BudgetedConnectionManager, ConnectionBudgetOptions, PruneReason } from '../src/budget/index.js'
import { type Channel, channel } from '../src/channel.js'
import type {
  Connection,
  ConnectionEvents,
  ConnectionManager,
  ConnectionManagerEvents,
} from '../src/connection.js'
import { ComponentNotStartedError, ConnectionClosedError, InvalidOptionsError } from '../src/errors.js'
import { Emitter, type Unsubscribe } from '../src/events.js'
import { Identifier } from '../src/identifier.js'
import { type Deferred, deferred } from '../src/internal/async.js'
import { AbstractComponent } from '../src/lifecycle.js'

const CH = channel('budget-unit')

/** A connection whose sends can be held open, to stand for a transport with a backlog. */
class FakeConnection implements Connection {
  status: 'open' | 'closing' | 'closed' = 'open'
  hold = false
  readonly held: Array<Deferred<void>> = []
  readonly #events = new Emitter<ConnectionEvents>()
  constructor(readonly remoteId: Identifier) {}
  on<E extends keyof ConnectionEvents>(event: E, handler: ConnectionEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }
  send(_channel: Channel, _bytes: Uint8Array, _options?: AbortOptions): Promise<void> {
    if (this.status !== 'open') return Promise.reject(new ConnectionClosedError('closed'))
    if (!this.hold) return Promise.resolve()
    const d = deferred<void>()
    this.held.push(d)
    return d.promise
  }
  async close(): Promise<void> {
    if (this.status === 'closed') return
    this.status = 'closed'
    this.#events.emit('close')
  }
  receive(bytes: Uint8Array): void {
    this.#events.emit('message', CH, bytes)
  }
}

/** A manager that connects to any identifier at once, and takes incoming connections on request. */
class FakeManager extends AbstractComponent implements ConnectionManager {
  readonly localId = Identifier.random()
  readonly maxMessageSize = 1024
  readonly #events = new Emitter<ConnectionManagerEvents>()
  readonly #open = new Map<string, FakeConnection>()
  on<E extends keyof ConnectionManagerEvents>(event: E, handler: ConnectionManagerEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }
  protected async onStart(): Promise<void> {}
  protected async onStop(): Promise<void> {
    await Promise.all([...this.#open.values()].map((c) => c.close()))
  }
  async connect(id: Identifier): Promise<Connection> {
    return this.#open.get(id.toHex()) ?? this.incoming(id)
  }
  /** A new connection to `id` (announced like an incoming one). */
  incoming(id: Identifier): FakeConnection {
    const conn = new FakeConnection(id)
    this.#open.set(id.toHex(), conn)
    conn.on('close', () => this.#open.delete(id.toHex()))
    this.#events.emit('connection', conn)
    return conn
  }
  connections(): Connection[] {
    return [...this.#open.values()]
  }
  fake(id: Identifier): FakeConnection {
    return this.#open.get(id.toHex())!
  }
}

async function started(options: ConnectionBudgetOptions, inner = new FakeManager()) {
  const budget = createConnectionBudget(inner, options)
  const prunes: Array<{ peer: Identifier; reason: PruneReason }> = []
  budget.on('prune', (c, reason) => prunes.push({ peer: c.remoteId, reason }))
  budget.start()
  await budget.ready()
  return { budget, inner, prunes }
}

/** Lets the budget's queued check run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const ids = (n: number): Identifier[] => Array.from({ length: n }, () => Identifier.random())

describe('createConnectionBudget', () => {
  it.each([
    [{ maxConnections: 0 }],
    [{ maxConnections: 2.5 }],
    [{ idleTimeoutMs: -1 }],
    [{ idleTimeoutMs: Number.POSITIVE_INFINITY }],
    [{ idleValueThreshold: -1 }],
    [{ maxConnections: '8' }],
  ])('rejects %j with InvalidOptionsError', (options) => {
    expect(() => createConnectionBudget(new FakeManager(), options as ConnectionBudgetOptions)).toThrow(
      InvalidOptionsError,
    )
  })

  it('applies the documented defaults', () => {
    const budget = createConnectionBudget(new FakeManager())
    expect(budget.maxConnections).toBe(64)
    expect(budget.idleTimeoutMs).toBe(30_000)
  })

  it('types its events: a wrong event name does not compile', () => {
    const budget = createConnectionBudget(new FakeManager())
    const off = budget.on('prune', (_c: Connection, _r: PruneReason) => {})
    off()
    // @ts-expect-error not an event of the budget
    budget.on('pruned', () => {})
  })

  it('refuses to connect before it is started', async () => {
    const budget = createConnectionBudget(new FakeManager())
    await expect(budget.connect(Identifier.random())).rejects.toBeInstanceOf(ComponentNotStartedError)
  })
})

describe('BudgetedConnectionManager', () => {
  let budget: BudgetedConnectionManager | undefined
  afterEach(async () => {
    await budget?.stop()
    budget = undefined
  })

  it('hands out one wrapper per connection: from the event, connect and connections()', async () => {
    const s = await started({ maxConnections: 4 })
    budget = s.budget
    const [p] = ids(1)
    const announced: Connection[] = []
    budget.on('connection', (c) => announced.push(c))
    const conn = await budget.connect(p!)
    expect(announced).toEqual([conn])
    expect(await budget.connect(p!)).toBe(conn)
    expect(budget.connections()).toEqual([conn])
    expect(conn.remoteId.equals(p!)).toBe(true)
  })

  it('starts and stops the manager it wraps', async () => {
    const inner = new FakeManager()
    const s = await started({}, inner)
    expect(inner.state).toBe('ready')
    await s.budget.stop()
    expect(inner.state).toBe('stopped')
  })

  it('never prunes a connection with a send in flight', async () => {
    const s = await started({ maxConnections: 1, idleTimeoutMs: 0 })
    budget = s.budget
    const [p, q, r] = ids(3)
    const busy = await budget.connect(p!)
    s.inner.fake(p!).hold = true
    const sending = busy.send(CH, new Uint8Array(1))
    await budget.connect(q!)
    await settle()
    expect(s.prunes).toEqual([])
    expect(budget.metrics().overBudget).toBe(1)
    s.inner.fake(p!).held[0]!.resolve()
    await sending
    await budget.connect(r!)
    await settle()
    // both idle ones go now (the busy one's send settled); the fresh one stays
    expect(s.prunes.map((x) => x.peer.toHex()).sort()).toEqual([p!.toHex(), q!.toHex()].sort())
    expect(budget.connections().map((c) => c.remoteId)).toEqual([r])
  })

  it('prunes the least recently active of equal value, counting received messages as activity', async () => {
    const s = await started({ maxConnections: 2, idleTimeoutMs: 0 })
    budget = s.budget
    const [p, q, r] = ids(3)
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      await budget.connect(p!)
      vi.advanceTimersByTime(10)
      await budget.connect(q!)
      vi.advanceTimersByTime(10)
      s.inner.fake(p!).receive(new Uint8Array(1))
      vi.advanceTimersByTime(10)
      s.inner.incoming(r!)
      await settle()
    } finally {
      vi.useRealTimers()
    }
    expect(s.prunes).toEqual([{ peer: q, reason: 'over-budget' }])
  })

  it('adopts the connections the wrapped manager already had', async () => {
    const inner = new FakeManager()
    inner.start()
    await inner.ready()
    const [p, q] = ids(2)
    inner.incoming(p!)
    inner.incoming(q!)
    const s = await started({ maxConnections: 1, idleTimeoutMs: 0 }, inner)
    budget = s.budget
    await settle()
    expect(s.prunes).toHaveLength(1)
    expect(budget.metrics().active).toBe(1)
  })
})

describe('BudgetedConnectionManager timers', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('postpones an idle close while messages flow, then closes after idleTimeoutMs of silence', async () => {
    const { budget, inner, prunes } = await started({ idleTimeoutMs: 1_000 })
    const [p] = ids(1)
    await budget.connect(p!)
    await settle()
    await vi.advanceTimersByTimeAsync(900)
    inner.fake(p!).receive(new Uint8Array(1))
    await vi.advanceTimersByTimeAsync(900)
    expect(prunes).toEqual([])
    await vi.advanceTimersByTimeAsync(100)
    expect(prunes).toEqual([{ peer: p, reason: 'idle' }])
    expect(inner.fake(p!)).toBeUndefined()
    await budget.stop()
  })

  it('does not close a connection idle behind a long send, and closes it once idle after the send', async () => {
    const { budget, inner, prunes } = await started({ idleTimeoutMs: 1_000 })
    const [p] = ids(1)
    const conn = await budget.connect(p!)
    inner.fake(p!).hold = true
    void conn.send(CH, new Uint8Array(1))
    await vi.advanceTimersByTimeAsync(5_000)
    expect(prunes).toEqual([])
    expect(vi.getTimerCount()).toBe(1)
    inner.fake(p!).held[0]!.resolve()
    await vi.advanceTimersByTimeAsync(999)
    expect(prunes).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(prunes).toEqual([{ peer: p, reason: 'idle' }])
    await budget.stop()
  })

  it('prunes an over-budget connection when its protecting tag expires', async () => {
    const { budget, prunes } = await started({ maxConnections: 1, idleTimeoutMs: 0 })
    const [p, q] = ids(2)
    budget.tag(p!, 'neighbour', { protect: true, value: 100, ttlMs: 5_000 })
    budget.tag(q!, 'neighbour', { protect: true, value: 100 })
    await budget.connect(p!)
    await budget.connect(q!)
    await settle()
    expect(budget.metrics().overBudget).toBe(1)
    await vi.advanceTimersByTimeAsync(4_999)
    expect(prunes).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(prunes).toEqual([{ peer: p, reason: 'over-budget' }])
    expect(budget.tags(p!)).toEqual([])
    await budget.stop()
  })

  it('counts overBudget once per arrival, not again at each later wake-up', async () => {
    const { budget, prunes } = await started({ maxConnections: 1, idleTimeoutMs: 0 })
    const [p, q] = ids(2)
    budget.tag(p!, 'neighbour', { protect: true })
    budget.tag(q!, 'neighbour', { protect: true })
    budget.tag(q!, 'search', { value: 5, ttlMs: 1_000 })
    const over: number[] = []
    budget.on('over-budget', (active) => over.push(active))
    await budget.connect(p!)
    await budget.connect(q!)
    await settle()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(budget.tags(q!).map((t) => t.name)).toEqual(['neighbour'])
    expect(over).toEqual([2])
    expect(budget.metrics()).toMatchObject({ overBudget: 1, active: 2, protected: 2, pruned: 0 })
    expect(prunes).toEqual([])
    await budget.stop()
  })

  it('keeps a valued connection open when idle, and closes it once untagged and idle', async () => {
    const { budget, prunes } = await started({ idleTimeoutMs: 1_000 })
    const [p] = ids(1)
    budget.tag(p!, 'neighbour', { value: 10 })
    await budget.connect(p!)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(prunes).toEqual([])
    expect(budget.untag(p!, 'neighbour')).toBe(true)
    await settle()
    await vi.advanceTimersByTimeAsync(0)
    expect(prunes).toEqual([{ peer: p, reason: 'idle' }])
    await budget.stop()
  })

  it('leaves no timer behind when stopped', async () => {
    const { budget } = await started({ idleTimeoutMs: 1_000 })
    budget.tag(Identifier.random(), 'x', { ttlMs: 50_000 })
    for (const p of ids(3)) await budget.connect(p)
    await settle()
    expect(vi.getTimerCount()).toBe(1)
    await budget.stop()
    expect(vi.getTimerCount()).toBe(0)
  })
})
