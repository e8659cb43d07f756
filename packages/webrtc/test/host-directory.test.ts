import { generateKeyPair, Identifier, PeerNotFoundError } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { createSignalingDirectory } from '../src/host-directory.js'
import { HostIdentities } from '../src/host-identities.js'
import { createSignalingClient, type SignalingClient } from '../src/signaling-client.js'
import { useSignalingServer } from './helpers.js'

const fixture = useSignalingServer()

async function client(room: string): Promise<SignalingClient> {
  const c = createSignalingClient({
    url: fixture.server.url,
    room,
    localId: Identifier.random(),
    keyPair: await generateKeyPair(),
  })
  c.start()
  await c.ready()
  return c
}

describe('signaling host directory', () => {
  it('names the host of nodes bound before and after it joined, batching misses, and forgets nodes that leave', async () => {
    const room = `dir-${Math.random().toString(36).slice(2)}`
    const a = await client(room)
    const identities = new HostIdentities(a)
    const early = [Identifier.random(), Identifier.random(), Identifier.random()]
    for (const id of early) await identities.add(id, await generateKeyPair())
    const b = await client(room)
    const requests: string[] = []
    const request = b.request.bind(b)
    b.request = ((...args: Parameters<typeof request>) => {
      requests.push(args[0])
      return request(...args)
    }) as typeof b.request
    const directory = createSignalingDirectory(b)
    try {
      const signal = AbortSignal.timeout(10_000)
      const hosts = await Promise.all([...early, a.localId].map((id) => directory.resolve(id, { signal })))
      expect(hosts.map((h) => h.toHex())).toEqual([a, a, a, a].map((c) => c.localId.toHex()))
      // the misses of one turn went out as one request
      expect(requests).toEqual(['resolve'])
      await expect(directory.resolve(Identifier.random(), { signal })).rejects.toBeInstanceOf(
        PeerNotFoundError,
      )

      // a node bound later is announced with its host
      const late = Identifier.random()
      const announced = new Promise<void>((resolve) => {
        b.on('peer:host', (id) => id.equals(late) && resolve())
      })
      await identities.add(late, await generateKeyPair())
      await announced
      const before = requests.length
      expect((await directory.resolve(late, { signal })).equals(a.localId)).toBe(true)
      expect(requests.length).toBe(before)

      // a node that leaves is forgotten
      const left = new Promise<void>((resolve) => {
        b.on('peer:left', (id) => id.equals(early[0]!) && resolve())
      })
      await identities.remove(early[0]!)
      await left
      await expect(directory.resolve(early[0]!, { signal })).rejects.toBeInstanceOf(PeerNotFoundError)
    } finally {
      directory.close()
      identities.close()
      await Promise.all([a.stop(), b.stop()])
    }
  })
})
