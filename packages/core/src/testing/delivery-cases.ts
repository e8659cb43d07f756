import { channel } from '../channel.js'
import { yieldTask } from '../internal/async.js'
import type { Connection } from '../connection.js'
import { assert, assertErrorIs, type ComplianceCase, collect, pair, TEST, whenClosed } from './support.js'

/** Sequence number `i` as 4 bytes. */
function numbered(i: number): Uint8Array {
  const bytes = new Uint8Array(4)
  new DataView(bytes.buffer).setUint32(0, i)
  return bytes
}

function numberOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
}

/** Starts `count` sends on `conn` without awaiting them; resolves with which of them resolved (in order). */
async function sendAll(conn: Connection, count: number, signal: AbortSignal): Promise<number[]> {
  const outcomes = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => conn.send(i % 2 === 0 ? TEST : OTHER, numbered(i), { signal })),
  )
  const resolved: number[] = []
  for (const [i, o] of outcomes.entries()) {
    if (o.status === 'fulfilled') resolved.push(i)
    else assertErrorIs(o.reason, ['ConnectionClosedError', 'SendFailedError'], `send ${i} during a close`)
  }
  return resolved
}

const OTHER = channel('compliance-other')

/** Watches both sides' `'close'`; `gracefully` waits for both and asserts neither had a reason. */
function closesOf(ab: Connection, ba: Connection): { gracefully(signal: AbortSignal): Promise<void> } {
  const sides = [whenClosed(ab), whenClosed(ba)]
  const reasons: unknown[] = []
  ab.on('close', (reason) => reasons.push(reason))
  ba.on('close', (reason) => reasons.push(reason))
  return {
    async gracefully(signal) {
      await Promise.all(sides.map((side) => side.closed(signal)))
      assert(
        reasons.every((r) => r === undefined),
        'a graceful close fires close without a reason on both sides',
      )
    },
  }
}

/**
 * The delivery contract of `Connection.send` (no silent loss): a resolved send is delivered unless the connection
 * fails; a graceful close comes only after every resolved send of either side was delivered.
 */
export const deliveryCases: ComplianceCase[] = [
  {
    name: 'a graceful close delivers every send that resolved before it, on both sides',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { ab, ba } = await pair(fixture, signal)
      const atB = collect(ba)
      const atA = collect(ab)
      const closes = closesOf(ab, ba)
      const count = 500
      // both sides send without awaiting, and a closes while the sends are in flight
      const fromA = sendAll(ab, count, signal)
      const fromB = sendAll(ba, count, signal)
      const closing = ab.close({ signal })
      const [sentA, sentB] = await Promise.all([fromA, fromB])
      await closing
      await closes.gracefully(signal)
      assert(sentA.length === count, `every send made before close() resolves (${sentA.length} of ${count})`)
      const gotB = atB.messages.map((m) => numberOf(m.bytes))
      const gotA = atA.messages.map((m) => numberOf(m.bytes))
      assert(
        sentA.every((i) => gotB.includes(i)),
        `b received ${gotB.length} of the ${sentA.length} sends of a that resolved`,
      )
      assert(
        sentB.every((i) => gotA.includes(i)),
        `a received ${gotA.length} of the ${sentB.length} sends of b that resolved`,
      )
    },
  },
  {
    name: 'a close by the remote while this side sends loses no resolved send, and a send after it rejects',
    async run(fixture, options) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const { ab, ba } = await pair(fixture, signal)
      const atB = collect(ba)
      const closes = closesOf(ab, ba)
      // b closes once it has seen the tenth message, while a goes on sending one message after the other
      const bClosing = atB.waitFor(10, signal).then(() => ba.close({ signal }))
      const resolved: number[] = []
      for (let i = 0; i < 400; i++) {
        // yield to the event loop between sends, as an application does
        await yieldTask()
        const sent = await ab.send(TEST, numbered(i), { signal }).then(
          () => true,
          (err: unknown) => {
            assertErrorIs(err, ['ConnectionClosedError', 'SendFailedError'], 'a send while the remote closes')
            return false
          },
        )
        if (!sent) break
        resolved.push(i)
      }
      await bClosing
      await closes.gracefully(signal)
      const got = atB.messages.map((m) => numberOf(m.bytes))
      assert(
        got.length === resolved.length && resolved.every((i, k) => got[k] === i),
        `b received ${got.length} of the ${resolved.length} sends of a that resolved, in order`,
      )
      const late = await ab.send(TEST, numbered(-1), { signal }).then(
        () => undefined,
        (err: unknown) => err,
      )
      assertErrorIs(late, ['ConnectionClosedError', 'SendFailedError'], 'a send after the close')
    },
  },
]
