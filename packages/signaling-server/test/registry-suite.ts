import { Identifier } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import type { Registry } from '../src/registry.js'

/** What a registry implementation under test provides. */
export interface RegistryFixture {
  /** Two registries sharing one store (two server instances), with grace period `graceMs`. */
  readonly a: Registry
  readonly b: Registry
  /** Makes `ms` pass for grace periods, when the implementation's clock can be driven. */
  readonly advance?: (ms: number) => void
  /** Grace period the registries were made with. */
  readonly graceMs: number
}

const pk1 = '11'.repeat(32)
const pk2 = '22'.repeat(32)
const claim = (id: string, publicKey = pk1, socketId = 's1', instanceId = 'i1', room = 'r') => ({
  room,
  id,
  publicKey,
  socketId,
  instanceId,
})

/** The Registry contract, run against the memory and the Redis registry. */
export function describeRegistry(
  name: string,
  setup: () => Promise<RegistryFixture>,
  options: { drivableClock: boolean },
): void {
  describe(`${name} registry`, () => {
    it('registers the first key and refuses another key for the same id', async () => {
      const { a, b } = await setup()
      const id = Identifier.random().toHex()
      expect(await a.claim(claim(id), 0)).toEqual({ ok: true })
      expect(await b.claim(claim(id, pk2, 's2', 'i2'), 0)).toEqual({ ok: false, reason: 'id-taken' })
      expect(await b.owner('r', id)).toEqual({ publicKey: pk1, live: true })
      expect(await b.isLive('r', id)).toBe(true)
      expect(await b.isLive('other', id)).toBe(false)
    })

    it('records the host that carries an extra identity, and drops it when the id is claimed as a socket id', async () => {
      const { a, b } = await setup()
      const id = Identifier.random().toHex()
      const host = Identifier.random().toHex()
      expect(await a.claim({ ...claim(id), host }, 0)).toEqual({ ok: true })
      expect(await b.owner('r', id)).toEqual({ publicKey: pk1, live: true, host })
      await a.release('r', id, 's1')
      expect(await b.owner('r', id)).toEqual({ publicKey: pk1, live: false, host })
      expect(await b.claim(claim(id, pk1, 's2'), 0)).toEqual({ ok: true })
      expect(await a.owner('r', id)).toStrictEqual({ publicKey: pk1, live: true })
    })

    it('lets the same key take over from another socket and names the replaced socket', async () => {
      const { a, b } = await setup()
      const id = Identifier.random().toHex()
      await a.claim(claim(id), 0)
      expect(await b.claim(claim(id, pk1, 's2', 'i2'), 0)).toEqual({ ok: true, replacedSocketId: 's1' })
      // the replaced socket's late release must not remove the new registration
      expect(await a.release('r', id, 's1')).toBe(false)
      expect(await a.isLive('r', id)).toBe(true)
      expect(await a.count('r')).toBe(1)
    })

    it('keeps a released id owned by its key during the grace period', async () => {
      const { a, b } = await setup()
      const id = Identifier.random().toHex()
      await a.claim(claim(id), 0)
      expect(await a.release('r', id, 's1')).toBe(true)
      expect(await a.release('r', id, 's1')).toBe(false)
      expect(await b.isLive('r', id)).toBe(false)
      expect(await b.owner('r', id)).toEqual({ publicKey: pk1, live: false })
      expect(await b.claim(claim(id, pk2, 's2'), 0)).toEqual({ ok: false, reason: 'id-taken' })
      expect(await b.claim(claim(id, pk1, 's3'), 0)).toEqual({ ok: true })
    })

    // only where the test can drive the clock; the Redis suite checks the key's TTL instead
    if (options.drivableClock) {
      it('frees the id for any key once the grace period is over', async () => {
        const f = await setup()
        if (f.advance === undefined) throw new Error('fixture has no clock to drive')
        const id = Identifier.random().toHex()
        await f.a.claim(claim(id), 0)
        await f.a.release('r', id, 's1')
        f.advance(f.graceMs + 1)
        expect(await f.b.owner('r', id)).toBeUndefined()
        expect(await f.b.claim(claim(id, pk2, 's2'), 0)).toEqual({ ok: true })
      })
    }

    it('counts live ids and refuses a new id in a full room', async () => {
      const { a, b } = await setup()
      const room = `full-${Identifier.random().toHex().slice(0, 8)}`
      const [x, y, z] = [0, 1, 2].map(() => Identifier.random().toHex()) as [string, string, string]
      expect(await a.claim(claim(x, pk1, 's1', 'i1', room), 2)).toEqual({ ok: true })
      expect(await b.claim(claim(y, pk2, 's2', 'i2', room), 2)).toEqual({ ok: true })
      expect(await a.claim(claim(z, pk1, 's3', 'i1', room), 2)).toEqual({ ok: false, reason: 'room-full' })
      // re-registering an id that is live does not need a free slot
      expect(await a.claim(claim(x, pk1, 's4', 'i1', room), 2)).toEqual({ ok: true, replacedSocketId: 's1' })
      expect(await b.count(room)).toBe(2)
    })

    it('lists live ids in order, page by page, without the excluded one', async () => {
      const { a, b } = await setup()
      const room = `list-${Identifier.random().toHex().slice(0, 8)}`
      const ids = Array.from({ length: 7 }, () => Identifier.random().toHex()).sort()
      for (const [n, id] of ids.entries()) await (n % 2 ? a : b).claim(claim(id, pk1, `s${n}`, 'i1', room), 0)
      await a.release(room, ids[3]!, 's3')
      const live = ids.filter((_, n) => n !== 3)
      const seen: string[] = []
      let after: string | undefined
      do {
        const page = await b.list(room, {
          limit: 2,
          exclude: ids[0]!,
          ...(after === undefined ? {} : { after }),
        })
        expect(page.peers.length).toBeLessThanOrEqual(2)
        seen.push(...page.peers)
        after = page.nextCursor
      } while (after !== undefined)
      expect(seen).toEqual(live.slice(1))
      expect(await a.list('empty-room', { limit: 5 })).toEqual({ peers: [] })
    })

    it('lists the live registrations an instance holds, with their sockets', async () => {
      const { a, b } = await setup()
      const room = `held-${Identifier.random().toHex().slice(0, 8)}`
      const [x, y] = [Identifier.random().toHex(), Identifier.random().toHex()]
      await a.claim(claim(x, pk1, 'sx', 'holder', room), 0)
      await a.claim(claim(y, pk1, 'sy', 'holder', room), 0)
      await a.release(room, y, 'sy')
      expect(await b.held('holder')).toEqual([{ room, id: x, socketId: 'sx' }])
      // moved to another instance by the same key: no longer held here
      await b.claim(claim(x, pk1, 'sx2', 'other-holder', room), 0)
      expect(await a.held('holder')).toEqual([])
    })

    it('releases every live registration of an instance when it retires', async () => {
      const { a, b } = await setup()
      const room = `ret-${Identifier.random().toHex().slice(0, 8)}`
      const mine = [Identifier.random().toHex(), Identifier.random().toHex()]
      const theirs = Identifier.random().toHex()
      for (const id of mine) await a.claim(claim(id, pk1, `s-${id}`, 'dying', room), 0)
      await b.claim(claim(theirs, pk2, 's-t', 'other', room), 0)
      const released = await a.retire('dying')
      expect(released.map((r) => r.id).sort()).toEqual([...mine].sort())
      expect(released.every((r) => r.room === room)).toBe(true)
      expect((await b.list(room, { limit: 10 })).peers).toEqual([theirs])
      expect(await b.owner(room, mine[0]!)).toEqual({ publicKey: pk1, live: false })
      expect(await a.retire('dying')).toEqual([])
    })
  })
}
