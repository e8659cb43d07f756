import { channel } from '../channel.js'
import { Identifier } from '../identifier.js'
import { deliveryCases } from './delivery-cases.js'
import { requestCases } from './request-cases.js'
import {
  assert,
  assertErrorIs,
  bytesEqual,
  type ComplianceCase,
  collect,
  nextConnection,
  pair,
  TEST,
  text,
  whenClosed,
} from './support.js'

export { budgetCases } from './budget-cases.js'
export { type ComplianceCase, ComplianceAssertionError } from './support.js'

/** The transport's own cases. */
const transportCases: ComplianceCase[] = [
  {
    name: 'connects and exchanges messages both ways',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { ab, ba } = await pair(fixture, signal)
      assert(ab.status === 'open' && ba.status === 'open', 'both sides are open')
      const atB = collect(ba)
      const atA = collect(ab)
      await ab.send(TEST, text.encode('ping'), { signal })
      await atB.waitFor(1, signal)
      assert(atB.messages[0]!.channel === TEST, 'b sees the channel a sent on')
      assert(bytesEqual(atB.messages[0]!.bytes, text.encode('ping')), 'b receives the bytes a sent')
      await ba.send(TEST, text.encode('pong'), { signal })
      await atA.waitFor(1, signal)
      assert(bytesEqual(atA.messages[0]!.bytes, text.encode('pong')), 'a receives the bytes b sent')
    },
  },
  {
    name: 'announces an incoming connection with the remote identifier',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const a = await fixture.create(Identifier.random())
      const b = await fixture.create(Identifier.random())
      const incoming = nextConnection(b, a.localId, signal)
      const ab = await a.connect(b.localId, { signal })
      const ba = await incoming
      assert(ab.remoteId.equals(b.localId), "the dialler's connection names the remote")
      assert(ba.remoteId.equals(a.localId), 'the announced connection names the dialler')
      assert(
        b.connections().some((c) => c === ba),
        "the announced connection is among the remote's open connections",
      )
    },
  },
  {
    name: 'returns the same connection to a second connect',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { a, b, ab } = await pair(fixture, signal)
      const again = await a.connect(b.localId, { signal })
      assert(again === ab, 'the second connect returns the cached connection object')
      assert(a.connections().filter((c) => c.remoteId.equals(b.localId)).length === 1, 'one connection to b')
    },
  },
  {
    name: 'concurrent connects from both sides yield exactly one connection per pair',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const a = await fixture.create(Identifier.random())
      const b = await fixture.create(Identifier.random())
      const [ab1, ba1, ab2, ba2] = await Promise.all([
        a.connect(b.localId, { signal }),
        b.connect(a.localId, { signal }),
        a.connect(b.localId, { signal }),
        b.connect(a.localId, { signal }),
      ])
      assert(ab1 === ab2, "a's concurrent connects share one connection")
      assert(ba1 === ba2, "b's concurrent connects share one connection")
      const aToB = a.connections().filter((c) => c.remoteId.equals(b.localId))
      const bToA = b.connections().filter((c) => c.remoteId.equals(a.localId))
      assert(aToB.length === 1, `a has exactly one connection to b (has ${aToB.length})`)
      assert(bToA.length === 1, `b has exactly one connection to a (has ${bToA.length})`)
      assert(aToB[0] === ab1 && bToA[0] === ba1, 'the connections returned are the ones kept')
      const atB = collect(ba1)
      const atA = collect(ab1)
      await ab1.send(TEST, text.encode('from a'), { signal })
      await ba1.send(TEST, text.encode('from b'), { signal })
      await Promise.all([atB.waitFor(1, signal), atA.waitFor(1, signal)])
      assert(bytesEqual(atB.messages[0]!.bytes, text.encode('from a')), 'messages flow from a to b')
      assert(bytesEqual(atA.messages[0]!.bytes, text.encode('from b')), 'messages flow from b to a')
    },
  },
  {
    name: 'keeps per-channel order under 1,000 interleaved messages on 3 channels',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { ab, ba } = await pair(fixture, signal)
      const channels = [channel('order-a'), channel('order-b'), channel('order-c')]
      const total = 1000
      const atB = collect(ba)
      const sends: Array<Promise<void>> = []
      for (let i = 0; i < total; i++) {
        const bytes = new Uint8Array(4)
        new DataView(bytes.buffer).setUint32(0, i)
        sends.push(ab.send(channels[i % 3]!, bytes, { signal }))
      }
      await Promise.all(sends)
      await atB.waitFor(total, signal)
      for (const [k, ch] of channels.entries()) {
        const got = atB.messages
          .filter((m) => m.channel === ch)
          .map((m) => new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint32(0))
        const expected: number[] = []
        for (let i = k; i < total; i += 3) expected.push(i)
        assert(got.length === expected.length, `${ch}: ${got.length} of ${expected.length} messages arrived`)
        assert(
          got.every((v, i) => v === expected[i]),
          `${ch}: messages arrived out of order`,
        )
      }
    },
  },
  {
    name: 'a close is seen by both sides, exactly once each',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { a, b, ab, ba } = await pair(fixture, signal)
      const atA = whenClosed(ab)
      const atB = whenClosed(ba)
      await ab.close({ signal })
      await Promise.all([atA.closed(signal), atB.closed(signal)])
      await ab.close({ signal })
      await ba.close({ signal })
      assert(atA.count() === 1, `close fired ${atA.count()} times on the closing side`)
      assert(atB.count() === 1, `close fired ${atB.count()} times on the remote side`)
      assert(ab.status === 'closed' && ba.status === 'closed', 'both sides report closed')
      assert(!a.connections().includes(ab), 'the closing side no longer lists the connection')
      assert(!b.connections().includes(ba), 'the remote side no longer lists the connection')
    },
  },
  {
    name: 'connect to an unknown identifier fails with a typed error within the abort bound',
    async run(fixture, options) {
      const a = await fixture.create(Identifier.random())
      const bound = Math.min(Math.floor(options.timeoutMs / 3), 10_000)
      const signal = AbortSignal.timeout(bound)
      let timer: ReturnType<typeof setTimeout> | undefined
      const overdue = new Promise<'overdue'>((resolve) => {
        timer = setTimeout(() => resolve('overdue'), bound + 2_000)
      })
      try {
        const outcome = await Promise.race([
          a.connect(fixture.unknownId(), { signal }).then(
            () => ({ ok: true as const }),
            (err: unknown) => ({ ok: false as const, err }),
          ),
          overdue,
        ])
        assert(
          outcome !== 'overdue',
          `connect ignored its abort signal (still pending ${bound + 2_000} ms later)`,
        )
        assert(!outcome.ok, 'connect to an unknown identifier must fail')
        assertErrorIs(
          outcome.err,
          ['ConnectionFailedError', 'AbortError'],
          'connect to an unknown identifier',
        )
      } finally {
        clearTimeout(timer)
      }
    },
  },
  {
    name: 'send after close fails with a typed error',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { ab } = await pair(fixture, signal)
      await ab.close({ signal })
      let error: unknown
      try {
        await ab.send(TEST, text.encode('too late'), { signal })
      } catch (err) {
        error = err
      }
      assert(error !== undefined, 'send on a closed connection must reject')
      assertErrorIs(error, ['ConnectionClosedError', 'SendFailedError'], 'send after close')
    },
  },
  {
    name: 'a send on an invalid channel name rejects with InvalidChannelError',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { ab } = await pair(fixture, signal)
      for (const bad of ['', 'Upper', 'sp ace', 'x'.repeat(65)]) {
        const error = await ab.send(bad as typeof TEST, text.encode('x'), { signal }).then(
          () => undefined,
          (err: unknown) => err,
        )
        assertErrorIs(error, ['InvalidChannelError'], `a send on ${JSON.stringify(bad)}`)
        assertErrorIs(error, ['ConduitError'], 'an InvalidChannelError')
      }
    },
  },
  {
    name: 'delivers empty and large payloads byte-identical',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { ab, ba } = await pair(fixture, signal)
      const atB = collect(ba)
      const large = new Uint8Array(options.largePayloadBytes)
      let x = 0x2545f491
      for (let i = 0; i < large.length; i++) {
        x ^= x << 13
        x ^= x >>> 17
        x ^= x << 5
        large[i] = x & 0xff
      }
      const original = large.slice()
      await ab.send(TEST, new Uint8Array(0), { signal })
      await ab.send(TEST, large, { signal })
      large.fill(0) // the sender may reuse its buffer once send resolved
      await atB.waitFor(2, signal)
      assert(atB.messages[0]!.bytes.length === 0, 'the empty payload arrives empty')
      assert(
        bytesEqual(atB.messages[1]!.bytes, original),
        `the ${original.length}-byte payload arrives intact`,
      )
    },
  },
]

/**
 * The `ConnectionManager` compliance cases, free of any test framework (they throw on failure), so they run
 * under vitest ({@link describeConnectionManager}) and in a browser page alike: the transport's own cases,
 * then request/response through a `DefaultNetwork` over it.
 */
export const connectionManagerCases: ComplianceCase[] = [...transportCases, ...deliveryCases, ...requestCases]
