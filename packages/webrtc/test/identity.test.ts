import { ConnectionFailedError, generateKeyPair, Identifier, type KeyPair } from '@skipmesh/core'
import { createSignalingServer, type SignalingServer, silentLogger } from '@skipmesh/signaling-server'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PeerAuthenticationError } from '../src/errors.js'
import type { WebRtcConnectionManager } from '../src/manager.js'
import { createSignalingClient } from '../src/signaling-client.js'
import { implementations, managerFactory } from './helpers.js'
import { forgeFingerprints, interceptedSignaling, MiddleRelay } from './identity-helpers.js'

const GRACE_MS = 300
const DIAL_MS = 15_000

let server: SignalingServer
beforeAll(async () => {
  // a short reservation: an attacker may claim a left peer's id soon after it leaves
  server = await createSignalingServer({
    port: 0,
    host: '127.0.0.1',
    logger: silentLogger,
    rateLimit: { points: 10_000, durationMs: 1_000 },
    graceMs: GRACE_MS,
  })
})
afterAll(() => server.close())

const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(stops.splice(0).map((s) => s()))
})

function factory(impl: keyof typeof implementations = 'wrtc') {
  const f = managerFactory(server, implementations[impl]())
  stops.push(() => f.stopAll())
  return f
}

/** Dials and expects a refusal: the error `connect` rejects with. */
async function refused(from: WebRtcConnectionManager, to: Identifier): Promise<PeerAuthenticationError> {
  const err = await from.connect(to, { signal: AbortSignal.timeout(DIAL_MS) }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(PeerAuthenticationError)
  return err as PeerAuthenticationError
}

/** Claims `id` with `keyPair` as soon as the server's reservation for its last owner lapsed. */
async function claim(
  f: ReturnType<typeof factory>,
  id: Identifier,
  keyPair: KeyPair,
): Promise<WebRtcConnectionManager> {
  const deadline = Date.now() + 20 * GRACE_MS + 10_000
  for (;;) {
    try {
      return await f.make(id, { keyPair })
    } catch (err) {
      // refused with id-taken while the reservation lasts (the manager reports its signaling's refusal)
      if (Date.now() > deadline) throw err
    }
  }
}

describe.each(['wrtc', 'node-datachannel'] as const)('identity (%s)', (impl) => {
  it('connects honest peers with self-certifying ids and with plain ids', async () => {
    const f = factory(impl)
    const ka = await generateKeyPair()
    const kb = await generateKeyPair()
    const a = await f.make(Identifier.fromPublicKey(ka.publicKey), {
      keyPair: ka,
      peerAuthentication: 'self-certifying',
    })
    const b = await f.make(Identifier.fromPublicKey(kb.publicKey), {
      keyPair: kb,
      peerAuthentication: 'self-certifying',
    })
    const c = await f.make(undefined, { peerAuthentication: 'required' })
    const d = await f.make(undefined, { peerAuthentication: 'required' })
    const cd = await c.connect(d.localId, { signal: AbortSignal.timeout(DIAL_MS) })
    expect(cd.phase).toBe('open')
    // a plain id is refused by a peer that requires self-certifying ones (each side decides for itself: the
    // refused side may see its connection open, then close)
    const opened: Identifier[] = []
    a.on('connection', (conn) => opened.push(conn.remoteId))
    expect((await refused(a, c.localId)).failure).toBe('not-self-certifying')
    expect(opened).toEqual([])
    expect([
      b.metrics().peerAuthFailures,
      c.metrics().peerAuthFailures,
      d.metrics().peerAuthFailures,
    ]).toEqual([0, 0, 0])
    expect(a.metrics().peerAuthFailures).toBeGreaterThan(0)
  })
})

describe('identity takeover after the owner left (issue 13 attack 5)', () => {
  it.each(['plain', 'self-certifying'] as const)(
    'a peer that knew a %s id, or requires self-certifying ids, refuses the key that claimed it next',
    async (kind) => {
      const f = factory()
      const owner = await generateKeyPair()
      const id = kind === 'plain' ? Identifier.random() : Identifier.fromPublicKey(owner.publicKey)
      const o = await f.make(id, { keyPair: owner })
      const knew = await f.make()
      await knew.connect(id, { signal: AbortSignal.timeout(DIAL_MS) })
      await o.stop()
      const attacker = await claim(f, id, await generateKeyPair())
      const opened: Identifier[] = []
      knew.on('connection', (c) => opened.push(c.remoteId))
      expect((await refused(knew, id)).failure).toBe('key-mismatch')
      if (kind === 'self-certifying') {
        const strict = await f.make(undefined, { peerAuthentication: 'self-certifying' })
        strict.on('connection', (c) => opened.push(c.remoteId))
        expect((await refused(strict, id)).failure).toBe('not-self-certifying')
        expect(strict.metrics().peerAuthFailures).toBeGreaterThan(0)
      }
      // the attacker dialling does not get through either
      await attacker.connect(knew.localId, { signal: AbortSignal.timeout(DIAL_MS) }).catch(() => {})
      expect(opened).toEqual([])
      expect(knew.metrics().peerAuthFailures).toBeGreaterThan(0)
    },
  )
})

describe('a signaling server that tampers with the negotiation', () => {
  it('rewritten DTLS fingerprints: the connection never opens', async () => {
    const f = factory()
    const ka = await generateKeyPair()
    const client = createSignalingClient({
      url: server.url,
      room: f.room,
      localId: Identifier.random(),
      keyPair: ka,
    })
    const { signaling } = interceptedSignaling(client, {
      outgoing: (_to, _s, data) => forgeFingerprints(data),
    })
    const a = await f.make(client.localId, { keyPair: ka, signaling, connectTimeoutMs: 4_000 })
    const b = await f.make()
    const opened: unknown[] = []
    b.on('connection', (c) => opened.push(c))
    const err = await a.connect(b.localId, { signal: AbortSignal.timeout(DIAL_MS) }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(Error)
    expect([a.connections().length, opened.length]).toEqual([0, 0])
  })

  it('a machine in the middle with its own DTLS certificates: both sides refuse it', async () => {
    // the middle swallows the bye of a side that refused: the other side's attempt may end only at its deadline
    // (see below), so that deadline is well inside the caller's bound (DIAL_MS)
    const CONNECT_MS = 10_000
    const f = factory()
    const ids = [Identifier.random(), Identifier.random()].sort((x, y) => x.compare(y))
    const keys = [await generateKeyPair(), await generateKeyPair()]
    const clients = ids.map((id, i) =>
      createSignalingClient({ url: server.url, room: f.room, localId: id, keyPair: keys[i]! }),
    )
    // the middle swallows every signal between the two and answers each with a peer connection of its own
    let relay: MiddleRelay | undefined
    const toInitiator = (session: string, data: Record<string, unknown>) =>
      ends[0]!.deliver(ids[1]!, session, data)
    const toResponder = (session: string, data: Record<string, unknown>) =>
      ends[1]!.deliver(ids[0]!, session, data)
    const ends = clients.map((client, i) =>
      interceptedSignaling(client, {
        outgoing: (_to, session, data) => {
          relay ??= new MiddleRelay(implementations.wrtc(), toInitiator, toResponder)
          if (i === 0) relay.fromInitiator(session, data)
          else relay.fromResponder(session, data)
          return undefined
        },
      }),
    )
    stops.push(async () => relay?.close())
    const [a, b] = [
      await f.make(ids[0], {
        keyPair: keys[0]!,
        signaling: ends[0]!.signaling,
        connectTimeoutMs: CONNECT_MS,
      }),
      await f.make(ids[1], {
        keyPair: keys[1]!,
        signaling: ends[1]!.signaling,
        connectTimeoutMs: CONNECT_MS,
      }),
    ] as const
    const opened: unknown[] = []
    a.on('connection', (c) => opened.push(c))
    b.on('connection', (c) => opened.push(c))
    const err = await a.connect(ids[1]!, { signal: AbortSignal.timeout(DIAL_MS) }).then(
      () => undefined,
      (e: unknown) => e,
    )
    // the dial ends by itself, refused: the initiator refuses the responder's hello (PeerAuthenticationError), or
    // the responder checked first, refused and closed before its own hello left (a side that refused sends none),
    // and the middle swallowed its bye, so the initiator's attempt waits for a hello that never comes until
    // CONNECT_MS (ConnectionFailedError; with the caller's bound equal to that deadline, the caller's abort won)
    expect(err).toBeInstanceOf(ConnectionFailedError)
    if (!(err instanceof PeerAuthenticationError)) expect(b.metrics().peerAuthFailures).toBeGreaterThan(0)
    if (err instanceof PeerAuthenticationError) expect(err.failure).toBe('signature')
    expect(relay?.forwarded).toBeGreaterThan(0)
    expect(opened).toEqual([])
    expect(a.metrics().peerAuthFailures + b.metrics().peerAuthFailures).toBeGreaterThan(0)
    expect([a.connections().length, b.connections().length]).toEqual([0, 0])
  })
})
