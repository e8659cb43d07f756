import type {
  BudgetedConnectionManager,
  ConnectionBudgetEvents,
  ConnectionBudgetOptions,
} from '../budget/contract.js'
import { createConnectionBudget } from '../budget/manager.js'
import type { Connection, ConnectionManager } from '../connection.js'
import { createNetwork } from '../default-network.js'
import { Identifier } from '../identifier.js'
import type { Message } from '../message.js'
import type { ComplianceOptions, ConnectionManagerFixture } from './fixture.js'
import {
  assert,
  borrowed,
  bounded,
  type ComplianceCase,
  collect,
  nextConnection,
  TEST,
  text,
  whenClosed,
} from './support.js'

/**
 * The idle timeout of the idle case: long enough that a slow transport's far side announces the connection
 * before the near side's first send, short enough to keep the case quick (1 s at the default 30 s timeout).
 */
function idleTimeoutFor(options: Required<ComplianceOptions>): number {
  return Math.round(Math.min(2_000, Math.max(200, options.timeoutMs / 30)))
}

/** A started budget over a fresh fixture manager; the fixture still owns (and tears down) the manager. */
async function budgeted(
  fixture: ConnectionManagerFixture,
  options: ConnectionBudgetOptions,
): Promise<BudgetedConnectionManager> {
  const budget = createConnectionBudget(borrowed(await fixture.create(Identifier.random())), options)
  budget.start()
  await budget.ready()
  return budget
}

/** What a budget case body gets: a started budget `a`, `peers` fixture managers, and the case's signal. */
interface BudgetCaseContext {
  a: BudgetedConnectionManager
  peers: ConnectionManager[]
  signal: AbortSignal
}

/** A case over a budget made with `budgetOptions` and `peerCount` plain managers; the budget always stops. */
function budgetCase(
  name: string,
  budgetOptions:
    | ConnectionBudgetOptions
    | ((options: Required<ComplianceOptions>) => ConnectionBudgetOptions),
  peerCount: number,
  body: (ctx: BudgetCaseContext) => Promise<void>,
): ComplianceCase {
  return {
    name,
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const a = await budgeted(
        fixture,
        typeof budgetOptions === 'function' ? budgetOptions(options) : budgetOptions,
      )
      try {
        const peers = await Promise.all(
          Array.from({ length: peerCount }, () => fixture.create(Identifier.random())),
        )
        await body({ a, peers, signal })
      } finally {
        await a.stop()
      }
    },
  }
}

/** The next `event` of `budget`, with its arguments (subscribe before causing it). */
function nextEvent<E extends 'prune' | 'over-budget'>(
  budget: BudgetedConnectionManager,
  event: E,
  signal: AbortSignal,
): Promise<Parameters<ConnectionBudgetEvents[E]>> {
  let off: (() => void) | undefined
  const p = new Promise<Parameters<ConnectionBudgetEvents[E]>>((resolve) => {
    const handler = (...args: Parameters<ConnectionBudgetEvents[E]>): void => resolve(args)
    off = budget.on(event, handler as ConnectionBudgetEvents[E])
  })
  return bounded(p, signal, `a '${event}' event`).finally(() => off?.())
}

/** `from` connected to `to`, with the remote's side of the connection. */
async function link(
  from: ConnectionManager,
  to: ConnectionManager,
  signal: AbortSignal,
): Promise<{ near: Connection; far: Connection }> {
  const incoming = nextConnection(to, from.localId, signal)
  const near = await from.connect(to.localId, { signal })
  return { near, far: await incoming }
}

/** Records how many messages had arrived on `conn` when it closed. */
function deliveredBeforeClose(conn: Connection): { atClose: () => number } {
  const inbox = collect(conn)
  let atClose = -1
  conn.on('close', () => {
    atClose = inbox.messages.length
  })
  return { atClose: () => atClose }
}

/**
 * Compliance cases of a connection budget over the transport under test: the budget wraps the fixture's
 * managers, so the closes, redials and deliveries below are the transport's own.
 */
export const budgetCases: ComplianceCase[] = [
  budgetCase(
    'prunes the least valuable idle connection when over maxConnections, delivering what was sent, and the remote can dial again',
    { maxConnections: 2, idleTimeoutMs: 0 },
    3,
    async ({ a, peers, signal }) => {
      const [b, c, d] = peers
      a.tag(c!.localId, 'kept', { value: 50 })
      const ab = await link(a, b!, signal)
      const ac = await link(a, c!, signal)
      const atB = deliveredBeforeClose(ab.far)
      const bClosed = whenClosed(ab.far)
      await ab.near.send(TEST, text.encode('last words'), { signal })
      const pruned = nextEvent(a, 'prune', signal)
      const ad = await a.connect(d!.localId, { signal })
      const [conn, reason] = await pruned
      assert(conn.remoteId.equals(b!.localId), 'the least valuable connection is pruned')
      assert(reason === 'over-budget', `pruned for being over budget (got ${reason})`)
      await bClosed.closed(signal)
      assert(atB.atClose() === 1, `what was sent arrived before the close (${atB.atClose()} of 1)`)
      assert(ac.near.status === 'open' && ad.status === 'open', 'the valued and the new connection stay')
      assert(!a.connections().some((x) => x.remoteId.equals(b!.localId)), 'the pruned one is not listed')
      const again = await link(b!, a, signal)
      const atA = collect(again.far)
      await again.near.send(TEST, text.encode('again'), { signal })
      await atA.waitFor(1, signal)
      assert(a.metrics().pruned >= 1, 'the prune is counted')
    },
  ),
  budgetCase(
    'never prunes a protected connection, even over budget; once untagged it is pruned',
    { maxConnections: 1, idleTimeoutMs: 0 },
    2,
    async ({ a, peers, signal }) => {
      const [b, c] = peers
      a.tag(b!.localId, 'neighbour', { protect: true })
      a.tag(c!.localId, 'neighbour', { protect: true })
      const ab = await link(a, b!, signal)
      const over = nextEvent(a, 'over-budget', signal)
      const ac = await link(a, c!, signal)
      const [active, max] = await over
      assert(active === 2 && max === 1, `over budget with 2 of 1 (got ${active} of ${max})`)
      assert(ab.near.status === 'open' && ac.near.status === 'open', 'both protected connections stay')
      const m = a.metrics()
      assert(m.overBudget === 1 && m.pruned === 0, `overBudget ${m.overBudget}, pruned ${m.pruned}`)
      assert(m.protected === 2, `2 protected connections (got ${m.protected})`)
      const pruned = nextEvent(a, 'prune', signal)
      const cClosed = whenClosed(ac.far)
      assert(a.untag(c!.localId, 'neighbour'), 'untag reports the tag it removed')
      const [conn] = await pruned
      assert(conn.remoteId.equals(c!.localId), 'the connection that lost its protection is pruned')
      await cClosed.closed(signal)
      assert(ab.near.status === 'open', 'the protected connection stays')
    },
  ),
  budgetCase(
    'closes an idle untagged connection after idleTimeoutMs, delivering what was sent first; a valued one stays',
    (options) => ({ maxConnections: 8, idleTimeoutMs: idleTimeoutFor(options) }),
    2,
    async ({ a, peers, signal }) => {
      const [b, c] = peers
      a.tag(c!.localId, 'valued', { value: 10 })
      const ac = await link(a, c!, signal)
      const ab = await link(a, b!, signal)
      const atB = deliveredBeforeClose(ab.far)
      const bClosed = whenClosed(ab.far)
      const pruned = nextEvent(a, 'prune', signal)
      const sentAt = Date.now()
      await ab.near.send(TEST, text.encode('bye'), { signal })
      const [conn, reason] = await pruned
      const idleFor = Date.now() - sentAt
      assert(conn.remoteId.equals(b!.localId) && reason === 'idle', `b is pruned as idle (${reason})`)
      assert(idleFor >= a.idleTimeoutMs, `not before idleTimeoutMs (after ${idleFor} ms)`)
      await bClosed.closed(signal)
      assert(atB.atClose() === 1, `what was sent arrived before the close (${atB.atClose()} of 1)`)
      assert(ac.near.status === 'open', 'the valued connection, idle for longer, stays open')
      const m = a.metrics()
      assert(m.prunedIdle === 1 && m.active === 1, `prunedIdle ${m.prunedIdle}, active ${m.active}`)
    },
  ),
  budgetCase(
    'metrics count pruned, active, protected and by tag',
    { maxConnections: 3, idleTimeoutMs: 0 },
    4,
    async ({ a, peers, signal }) => {
      const [b, c, d, e] = peers
      a.tag(b!.localId, 'neighbour', { value: 100, protect: true })
      a.tag(c!.localId, 'neighbour', { value: 20 })
      a.tag(c!.localId, 'search', { value: 5 })
      a.tag(d!.localId, 'search', { value: 1 })
      for (const x of [b!, c!, d!]) await link(a, x, signal)
      let m = a.metrics()
      assert(m.active === 3 && m.protected === 1 && m.pruned === 0, `active ${m.active}, pruned ${m.pruned}`)
      assert(m.byTag.neighbour === 2 && m.byTag.search === 2, `byTag ${JSON.stringify(m.byTag)}`)
      const pruned = nextEvent(a, 'prune', signal)
      await link(a, e!, signal)
      const [conn] = await pruned
      assert(conn.remoteId.equals(d!.localId), 'the lowest-valued unprotected connection is pruned')
      m = a.metrics()
      assert(m.active === 3 && m.pruned === 1 && m.prunedOverBudget === 1, `after: ${JSON.stringify(m)}`)
      assert(m.byTag.neighbour === 2 && m.byTag.search === 1, `byTag after: ${JSON.stringify(m.byTag)}`)
      assert(a.tags(d!.localId).length === 1, 'tags belong to the peer and outlive its connection')
    },
  ),
  budgetCase(
    'counts incoming connections toward maxConnections',
    { maxConnections: 1, idleTimeoutMs: 0 },
    2,
    async ({ a, peers, signal }) => {
      const [b, c] = peers
      const ba = await link(b!, a, signal)
      const closed = whenClosed(ba.near)
      const pruned = nextEvent(a, 'prune', signal)
      const ca = await link(c!, a, signal)
      const [conn] = await pruned
      assert(conn.remoteId.equals(b!.localId), 'the older incoming connection is pruned')
      await closed.closed(signal)
      assert(ca.near.status === 'open', 'the newer incoming connection stays')
    },
  ),
  {
    name: 'a network over a budget reaches a pruned peer again on its next send',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const budget = createConnectionBudget(borrowed(await fixture.create(Identifier.random())), {
        maxConnections: 1,
        idleTimeoutMs: 0,
      })
      const nets = [
        createNetwork({ connectionManager: budget }),
        ...(await Promise.all(
          [1, 2].map(async () =>
            createNetwork({ connectionManager: borrowed(await fixture.create(Identifier.random())) }),
          ),
        )),
      ]
      const [a, b, c] = nets as [(typeof nets)[0], (typeof nets)[0], (typeof nets)[0]]
      for (const n of nets) n.start()
      try {
        await Promise.all(nets.map((n) => n.ready()))
        const inbox: string[] = []
        let arrived: (() => void) | undefined
        const processor = {
          processIncomingMessage(_ch: unknown, _origin: Identifier, m: Message) {
            inbox.push(new TextDecoder().decode(m.payload))
            arrived?.()
          },
        }
        await b.register(TEST, processor)
        await c.register(TEST, processor)
        const conduit = await a.register(TEST, { processIncomingMessage() {} })
        const route = [b, c, b, c]
        for (const [i, to] of route.entries()) {
          const got = new Promise<void>((resolve) => {
            arrived = resolve
          })
          await conduit.send(to.localId, { payload: text.encode(`m${i}`), metadata: {} }, { signal })
          await bounded(got, signal, `message m${i}`)
        }
        assert(inbox.join(',') === 'm0,m1,m2,m3', `every message arrived in turn (${inbox.join(',')})`)
        assert(budget.metrics().prunedOverBudget >= 2, `peers were pruned (${budget.metrics().pruned})`)
      } finally {
        await Promise.all(nets.map((n) => n.stop()))
      }
    },
  },
]
