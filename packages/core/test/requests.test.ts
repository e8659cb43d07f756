import { describe, expect, it } from 'vitest'
import { channel } from '../src/channel.js'
import { createMsgpackCodec } from '../src/codec.js'
import type { Connection } from '../src/connection.js'
import { createNetwork } from '../src/default-network.js'
import {
  ConduitClosedError,
  InvalidOptionsError,
  RemoteRequestError,
  RequestTimeoutError,
  TooManyPendingRequestsError,
} from '../src/errors.js'
import { deferred } from '../src/internal/async.js'
import { MemoryHub } from '../src/memory/hub.js'
import type { Message, RpcHeader } from '../src/message.js'
import { decodeText, idOf, msg, startNetworks, stopAll } from './helpers.js'

const RPC = channel('rpc')
const ignore = { processIncomingMessage: () => {} }

/** The request headers of every envelope arriving on `conn`. */
function headersOn(conn: Connection): RpcHeader[] {
  const codec = createMsgpackCodec()
  const seen: RpcHeader[] = []
  conn.on('message', (_channel, bytes) => {
    const r = codec.decode(bytes.slice())
    if (r.ok && r.envelope.rpc !== undefined) seen.push(r.envelope.rpc)
  })
  return seen
}

describe('request/response', () => {
  it('leaves the table of pending requests empty after 10,000 requests that time out, abort, fail remotely or succeed', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)], { maxPendingRequests: 4096 })
    const never = deferred<Message>()
    await b!.register(RPC, {
      ...ignore,
      processRequest: (_c, _o, m) => {
        const kind = decodeText.decode(m.payload)
        if (kind === 'fail') throw new RangeError('no')
        if (kind === 'hang') return never.promise
        return m
      },
    })
    const conduit = await a!.register(RPC, ignore)
    const outcomes = { ok: 0, RemoteRequestError: 0, RequestTimeoutError: 0, AbortError: 0 }
    for (let wave = 0; wave < 10; wave++) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) => {
          const kind = ['ok', 'fail', 'hang', 'abort'][i % 4]!
          const controller = new AbortController()
          const p = conduit.request(b!.localId, msg(kind === 'abort' ? 'hang' : kind), {
            timeoutMs: kind === 'hang' ? 5 : 10_000,
            signal: controller.signal,
          })
          if (kind === 'abort') queueMicrotask(() => controller.abort())
          return p.then(
            () => outcomes.ok++,
            (err: Error) => outcomes[err.name as keyof typeof outcomes]++,
          )
        }),
      )
      expect(a!.pendingRequests).toBe(0)
    }
    expect(outcomes).toEqual({
      ok: 2500,
      RemoteRequestError: 2500,
      RequestTimeoutError: 2500,
      AbortError: 2500,
    })
    const m = a!.metrics().requests
    expect(m.replied).toBe(2500)
    expect(m.failedRemotely).toBe(2500)
    expect(m.timedOut).toBe(2500)
    await stopAll([a!, b!])
  })

  it('accepts a reply only from the peer the request went to, with unpredictable nonces', async () => {
    const hub = new MemoryHub()
    const [a, b, c] = await startNetworks(hub, [idOf(1), idOf(2), idOf(3)])
    const held = deferred<Message>()
    await b!.register(RPC, { ...ignore, processRequest: () => held.promise })
    await c!.register(RPC, ignore)
    const conduit = await a!.register(RPC, ignore)
    const toB = await (b!.connectionManager.connect(a!.localId) as Promise<Connection>)
    const seen = headersOn(toB)
    const first = conduit.request(b!.localId, msg('one'))
    await expect.poll(() => seen.length).toBe(1)
    const nonce = seen[0]!.nonce
    expect(nonce).toMatch(/^[0-9a-f]{32}$/)
    // c forges b's reply with the right nonce: dropped and counted, the request keeps waiting
    const toA = await c!.connectionManager.connect(a!.localId)
    const forged = createMsgpackCodec().encode({
      channel: RPC,
      sender: c!.localId,
      payload: new TextEncoder().encode('forged'),
      metadata: {},
      timestamp: Date.now(),
      rpc: { kind: 'reply', nonce },
    })
    await toA.send(RPC, forged)
    await expect.poll(() => a!.metrics().requests.misdirectedReplies).toBe(1)
    held.resolve(msg('genuine'))
    expect(decodeText.decode((await first).payload)).toBe('genuine')
    // nonces are not a counter: two requests' nonces share no long prefix
    const second = conduit.request(b!.localId, msg('two'), { timeoutMs: 1000 }).catch(() => {})
    await expect.poll(() => seen.length).toBe(2)
    expect(seen[1]!.nonce.slice(0, 8)).not.toBe(nonce.slice(0, 8))
    await second
    await stopAll([a!, b!, c!])
  })

  it('answers a request to the local identifier through the local processor', async () => {
    const hub = new MemoryHub()
    const [a] = await startNetworks(hub, [idOf(1)])
    const conduit = await a!.register(RPC, {
      ...ignore,
      processRequest: (_c, _o, m) => ({ ...m, metadata: { x: 'y' } }),
    })
    const reply = await conduit.request(a!.localId, msg('self'))
    expect(decodeText.decode(reply.payload)).toBe('self')
    expect(reply.metadata).toEqual({ x: 'y' })
    await stopAll([a!])
  })

  it('refuses a request beyond maxPendingRequests with TooManyPendingRequestsError', async () => {
    const hub = new MemoryHub()
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)], { maxPendingRequests: 2 })
    const never = deferred<Message>()
    await b!.register(RPC, { ...ignore, processRequest: () => never.promise })
    const conduit = await a!.register(RPC, ignore)
    const waiting = [conduit.request(b!.localId, msg('1')), conduit.request(b!.localId, msg('2'))]
    await expect(conduit.request(b!.localId, msg('3'))).rejects.toBeInstanceOf(TooManyPendingRequestsError)
    await a!.stop()
    for (const w of waiting) await expect(w).rejects.toBeInstanceOf(ConduitClosedError)
    expect(a!.pendingRequests).toBe(0)
    await b!.stop()
  })

  it('rejects bad request and network options with InvalidOptionsError', async () => {
    const hub = new MemoryHub()
    expect(() =>
      createNetwork({ connectionManager: hub.connectionManager(idOf(9)), requestTimeoutMs: 0 }),
    ).toThrow(InvalidOptionsError)
    expect(() =>
      createNetwork({ connectionManager: hub.connectionManager(idOf(8)), maxPendingRequests: 1.5 }),
    ).toThrow(InvalidOptionsError)
    const [a, b] = await startNetworks(hub, [idOf(1), idOf(2)])
    const conduit = await a!.register(RPC, ignore)
    await expect(conduit.request(b!.localId, msg('x'), { timeoutMs: -1 })).rejects.toBeInstanceOf(
      InvalidOptionsError,
    )
    await expect(conduit.request(b!.localId, msg('x'), { timeoutMs: 50 })).rejects.toBeInstanceOf(
      RemoteRequestError,
    )
    await b!.register(RPC, { ...ignore, processRequest: () => new Promise<Message>(() => {}) })
    await expect(conduit.request(b!.localId, msg('x'), { timeoutMs: 20 })).rejects.toBeInstanceOf(
      RequestTimeoutError,
    )
    await stopAll([a!, b!])
  })
})
