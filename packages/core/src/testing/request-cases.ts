import { channel } from '../channel.js'
import { createNetwork, type DefaultNetwork } from '../default-network.js'
import { Identifier } from '../identifier.js'
import { deferred } from '../internal/async.js'
import type { Message } from '../message.js'
import type { ConnectionManagerFixture } from './fixture.js'
import { assert, assertErrorIs, borrowed, bytesEqual, type ComplianceCase, text } from './support.js'

const RPC = channel('compliance-rpc')
const NO_HANDLER = channel('compliance-rpc-none')
const FAILING = channel('compliance-rpc-fail')
const UNREGISTERED = channel('compliance-rpc-absent')
const utf8 = new TextDecoder()

/** Two started networks over two fixture managers. */
async function networks(
  fixture: ConnectionManagerFixture,
): Promise<{ a: DefaultNetwork; b: DefaultNetwork; stop: () => Promise<void> }> {
  const [a, b] = await Promise.all([
    fixture.create(Identifier.random()).then((m) => createNetwork({ connectionManager: borrowed(m) })),
    fixture.create(Identifier.random()).then((m) => createNetwork({ connectionManager: borrowed(m) })),
  ])
  a.start()
  b.start()
  await Promise.all([a.ready(), b.ready()])
  return { a, b, stop: () => Promise.all([a.stop(), b.stop()]).then(() => {}) }
}

function message(s: string, metadata: Record<string, string> = {}): Message {
  return { payload: text.encode(s), metadata }
}

const ignore = { processIncomingMessage() {} }

/** `Conduit.request` and `MessageProcessor.processRequest` over the transport under test. */
export const requestCases: ComplianceCase[] = [
  {
    name: 'answers each of 50 concurrent requests with the reply of the remote processRequest',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { a, b, stop } = await networks(fixture)
      try {
        await b.register(RPC, {
          ...ignore,
          processRequest: (ch, origin, m) => {
            assert(ch === RPC && origin.equals(a.localId), 'the request names its channel and origin')
            return { payload: m.payload.slice().reverse(), metadata: { echo: m.metadata.n ?? '' } }
          },
        })
        const conduit = await a.register(RPC, ignore)
        const replies = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            // a signal of its own per request (following the case's): 50 waiters on one signal are legitimate,
            // but Node warns past 10 listeners on one EventTarget
            conduit.request(b.localId, message(`req-${i}`, { n: `${i}` }), {
              signal: AbortSignal.any([signal]),
            }),
          ),
        )
        replies.forEach((reply, i) => {
          const expected = text.encode(`req-${i}`).reverse()
          assert(bytesEqual(reply.payload, expected), `request ${i} gets its own reply`)
          assert(reply.metadata.echo === `${i}`, `request ${i}'s reply carries its metadata`)
        })
        const am = a.metrics().requests
        assert(am.sent === 50 && am.replied === 50, `a sent and got 50 (${am.sent}, ${am.replied})`)
        assert(b.metrics().requests.answered === 50, 'b answered 50')
        assert(a.pendingRequests === 0, 'nothing is left waiting')
      } finally {
        await stop()
      }
    },
  },
  {
    name: 'a request the remote cannot answer rejects with RemoteRequestError carrying only the error name',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { a, b, stop } = await networks(fixture)
      try {
        await b.register(NO_HANDLER, ignore)
        await b.register(FAILING, {
          ...ignore,
          processRequest: () => Promise.reject(new TypeError('a secret that must not travel')),
        })
        const outcomes: Array<[string, string]> = [
          [NO_HANDLER, 'NoRequestHandler'],
          [FAILING, 'TypeError'],
          [UNREGISTERED, 'NoProcessor'],
        ]
        for (const [name, remoteName] of outcomes) {
          const conduit = await a.register(channel(name), ignore)
          const error = await conduit.request(b.localId, message('?'), { signal }).then(
            () => undefined,
            (err: unknown) => err,
          )
          assertErrorIs(error, ['RemoteRequestError'], `a request on ${name}`)
          assertErrorIs(error, ['ConduitError'], 'a RemoteRequestError')
          const e = error as { remoteName?: unknown; message: string; stack?: string }
          assert(e.remoteName === remoteName, `remoteName ${String(e.remoteName)} is ${remoteName}`)
          assert(!`${e.message} ${e.stack ?? ''}`.includes('secret'), 'the remote message does not travel')
        }
        assert(a.metrics().requests.failedRemotely === 3, 'three requests failed remotely')
        assert(b.metrics().channels[FAILING]?.processorErrors === 1, 'the throw counts as a processor error')
      } finally {
        await stop()
      }
    },
  },
  {
    name: 'a request rejects with RequestTimeoutError or AbortError, and its late reply is counted and dropped',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { a, b, stop } = await networks(fixture)
      try {
        const held = deferred<Message>()
        let calls = 0
        await b.register(RPC, {
          ...ignore,
          processRequest: (_ch, _origin, m) => (calls++ === 0 ? held.promise : m),
        })
        const conduit = await a.register(RPC, ignore)
        const timedOut = await conduit.request(b.localId, message('slow'), { timeoutMs: 50 }).then(
          () => undefined,
          (err: unknown) => err,
        )
        assertErrorIs(timedOut, ['RequestTimeoutError'], 'a request without a reply in time')
        const controller = new AbortController()
        const aborted = conduit.request(b.localId, message('aborted'), { signal: controller.signal })
        controller.abort()
        assertErrorIs(
          await aborted.then(
            () => undefined,
            (e: unknown) => e,
          ),
          ['AbortError'],
          'an aborted request',
        )
        held.resolve(message('too late'))
        // replies on one connection and channel arrive in order: once this one is in, the late one was too
        const later = await conduit.request(b.localId, message('after'), { signal })
        assert(utf8.decode(later.payload) === 'after', 'a later request still gets its reply')
        const m = a.metrics().requests
        assert(m.timedOut === 1 && m.lateReplies >= 1, `timedOut ${m.timedOut}, lateReplies ${m.lateReplies}`)
        assert(a.pendingRequests === 0, 'nothing is left waiting')
      } finally {
        await stop()
      }
    },
  },
]
