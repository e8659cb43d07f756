import { channel, createNetwork, Identifier } from '@skipmesh/core'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { decodeWire } from '../src/wire-codec.js'
import { Kind } from '../src/wire.js'
import { Cluster } from './helpers.js'

const packr = new Packr({ useRecords: false })
const pack = (v: unknown): Uint8Array => packr.pack(v)
const NONCE = 'ab'.repeat(16)
const id32 = new Uint8Array(32).fill(7)
const noHops = new Uint8Array(0)

describe('malformed messages', () => {
  it('drops and counts junk sent from a raw conduit, and keeps working with an unchanged table', async () => {
    const c = new Cluster(21)
    const first = await c.add()
    await first.node.join()
    for (let i = 1; i < 16; i++) {
      const m = await c.add()
      await m.node.join(first.node.identity.id)
    }
    const victim = c.members[5]!.node
    const before = JSON.stringify(victim.lookupTable())

    const raw = createNetwork({ connectionManager: c.hub.connectionManager(Identifier.random()) })
    raw.start()
    await raw.ready()
    const conduit = await raw.register(channel('skipgraph'), { processIncomingMessage: () => {} })

    const junk: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array([0xc1]),
      Uint8Array.from({ length: 64 }, (_, i) => (i * 37) % 256),
      pack({ kind: 1 }),
      pack('hello'),
      pack([]),
      pack([99, NONCE]),
      pack([Kind.Search, NONCE, id32.slice(1), id32, 3, 1, 0, noHops]),
      pack([Kind.Search, NONCE, id32, id32, 256, 1, 0, noHops]),
      pack([Kind.Search, NONCE, id32, id32, -1, 1, 0, noHops]),
      pack([Kind.Search, NONCE, id32, id32, 1.5, 1, 0, noHops]),
      pack([Kind.Search, 'not-a-nonce', id32, id32, 3, 1, 0, noHops]),
      pack([Kind.Search, NONCE.toUpperCase(), id32, id32, 3, 1, 0, noHops]),
      pack([Kind.Search, NONCE, id32, id32, 3, 2, 0, noHops]),
      pack([Kind.Search, NONCE, id32, id32, 3, 1, 0, new Uint8Array(1025 * 33)]),
      pack([Kind.Search, NONCE, id32, id32, 3, 1, 0, new Uint8Array(34)]),
      pack([Kind.Search, NONCE, id32, id32, 3, 1, 0, [[id32, 3]]]),
      pack([Kind.Search, NONCE, 'x'.repeat(32), id32, 3, 1, 0, noHops]),
      pack([Kind.Search, NONCE, id32, id32, 3, 1]),
      pack([Kind.Lock, NONCE, []]),
      pack([Kind.Lock, NONCE, Array.from({ length: 300 }, () => 0)]),
      pack([Kind.Lock, NONCE, [0, 512]]),
      pack([Kind.LockReply, true, 7, id32, []]),
      pack([Kind.LockReply, 'yes', 0, id32, []]),
      pack([Kind.Apply, NONCE, [[0, 2, null]]]),
      pack([Kind.Apply, NONCE, [[0, 1, [id32, id32.slice(4)]]]]),
      pack([Kind.Release, 42]),
      pack([Kind.SearchFail, NONCE, 9]),
      pack([Kind.SearchResult, NONCE, 1, noHops]),
      pack([Kind.Read, [999]]),
    ]
    for (const payload of junk) await conduit.send(victim.identity.id, { payload, metadata: {} })

    // well-formed but unsolicited or unauthorised
    await conduit.send(victim.identity.id, {
      payload: pack([Kind.LockReply, true, 0, id32, []]),
      metadata: {},
    })
    await conduit.send(victim.identity.id, {
      payload: pack([Kind.SearchResult, NONCE, false, noHops]),
      metadata: {},
    })
    // a lock or read request sent as a plain message (requests travel only as core requests)
    await conduit.send(victim.identity.id, { payload: pack([Kind.Read, [0]]), metadata: {} })
    // junk and non-requests sent as requests: counted and dropped, answered with an empty reply
    for (const payload of junk.slice(0, 3)) {
      const reply = await conduit.request(victim.identity.id, { payload, metadata: {} })
      expect(reply.payload).toHaveLength(0)
    }
    const notARequest = pack([Kind.Release, NONCE])
    expect(
      (await conduit.request(victim.identity.id, { payload: notARequest, metadata: {} })).payload,
    ).toHaveLength(0)
    // a table write from a node that holds no lock: refused
    const forged = pack([Kind.Apply, NONCE, [[0, 1, [new Uint8Array(32).fill(255), id32]]]])
    const refused = await conduit.request(victim.identity.id, { payload: forged, metadata: {} })
    expect(decodeWire(refused.payload)).toEqual({ ok: true, msg: { kind: Kind.ApplyAck, ok: false } })

    await new Promise((resolve) => setImmediate(resolve))
    const m = victim.metrics()
    expect(m.malformedDropped).toBe(junk.length + 3)
    expect(m.unexpectedDropped).toBe(4)
    expect(m.rejectedApplies).toBe(1)
    expect(JSON.stringify(victim.lookupTable())).toBe(before)
    expect(victim.status).toBe('joined')
    const got = await victim.searchById(c.members[9]!.node.identity.id)
    expect(got.found).toBe(true)
    await raw.stop()
    await c.stopAll()
  })
})
