/**
 * One table of identity pins per manager: the keys its hellos prove and the keys of the signed signals its
 * signaling opens are pinned in the same table (`manager.identityPins`, handed to the signaling through
 * `Signaling.useIdentityPins`), so a plain identifier is bound to one key whichever way it was first proven.
 */
import { generateKeyPair, Identifier, type KeyPair } from '@skipmesh/core'
import { bytesToHex } from '@skipmesh/core/internal'
import { describe, expect, it } from 'vitest'
import { createCompositeSignaling } from '../src/composite-signaling.js'
import { PeerAuthenticationError } from '../src/errors.js'
import { IdentityPins } from '../src/identity-pins.js'
import { createWebRtcConnectionManager, type WebRtcConnectionManager } from '../src/manager.js'
import { createOverlaySignaling } from '../src/overlay-signaling.js'
import { PeerAuthenticator } from '../src/peer-auth.js'
import { SignalingClient, type SignalingClientOptions } from '../src/signaling-client.js'
import { SignalOpener, sealSignal } from '../src/signed-signals.js'
import { implementations, useSignalingServer } from './helpers.js'

const DIAL_MS = 15_000
const OFFER = { batch: [{ type: 'offer', sdp: 'v=0\r\na=fingerprint:sha-256 01:02\r\n' }] }

/** A server client that also opens signed signals, pinning their keys in the table its manager hands it. */
class OpeningClient extends SignalingClient {
  readonly opener: SignalOpener
  handedPins: IdentityPins | undefined

  constructor(options: SignalingClientOptions) {
    super(options)
    this.opener = new SignalOpener({ localId: options.localId })
  }

  useIdentityPins(pins: IdentityPins): void {
    this.handedPins = pins
    this.opener.usePins(pins)
  }
}

const fixture = useSignalingServer()

/** A manager whose signaling is an {@link OpeningClient} (stopped after the test by `stops`). */
async function victim(room: string): Promise<{ manager: WebRtcConnectionManager; client: OpeningClient }> {
  const keyPair = await generateKeyPair()
  const localId = Identifier.fromPublicKey(keyPair.publicKey)
  const client = new OpeningClient({ url: fixture.server.url, room, localId, keyPair })
  const manager = createWebRtcConnectionManager({
    localId,
    keyPair,
    signaling: client,
    rtc: { iceServers: [] },
    wrtc: implementations.wrtc(),
  })
  manager.start()
  await manager.ready()
  return { manager, client }
}

async function dial(from: WebRtcConnectionManager, to: Identifier): Promise<unknown> {
  return from.connect(to, { signal: AbortSignal.timeout(DIAL_MS) }).then(
    (c) => c,
    (e: unknown) => e,
  )
}

const hex = (k: KeyPair): string => bytesToHex(k.publicKey)

describe('one table of identity pins per manager', () => {
  it('shares the table between a peer authenticator and a signal opener given it', async () => {
    const pins = new IdentityPins()
    const local = Identifier.random()
    const auth = new PeerAuthenticator({ policy: 'optional', pins })
    const opener = new SignalOpener({ localId: local, pins })
    expect(auth.pins).toBe(pins)
    const plain = Identifier.random()
    const [first, second] = [await generateKeyPair(), await generateKeyPair()]
    expect(await opener.open(await sealSignal(first, plain, local, 's', OFFER))).toMatchObject({
      from: plain,
    })
    expect(pins.get(plain.toHex())).toBe(hex(first))
    expect(await opener.open(await sealSignal(second, plain, local, 's', OFFER))).toBe('binding')
  })

  it('a key pinned by a hello is the one the opener enforces, and the other way round', async () => {
    const room = `pins-${Math.random().toString(36).slice(2)}`
    const { manager: v, client } = await victim(room)
    try {
      expect(client.handedPins).toBe(v.identityPins)
      const peers = fixture.managers(implementations.wrtc(), { room })

      // hello first: a plain id proves key k1 in its hello, then a signal for that id signed by k2 is refused
      const k1 = await generateKeyPair()
      const p = await peers.make(Identifier.random(), { keyPair: k1 })
      const conn = await dial(v, p.localId)
      expect(conn).toMatchObject({ phase: 'open' })
      expect(v.identityPins.get(p.localId.toHex())).toBe(hex(k1))
      const k2 = await generateKeyPair()
      expect(await client.opener.open(await sealSignal(k2, p.localId, v.localId, 's', OFFER))).toBe('binding')
      expect(await client.opener.open(await sealSignal(k1, p.localId, v.localId, 's', OFFER))).toMatchObject({
        from: p.localId,
      })

      // signal first: a plain id signs with k3, then a peer connecting as that id with k4 is refused in its hello
      const qid = Identifier.random()
      const k3 = await generateKeyPair()
      expect(await client.opener.open(await sealSignal(k3, qid, v.localId, 's', OFFER))).toMatchObject({
        from: qid,
      })
      expect(v.identityPins.get(qid.toHex())).toBe(hex(k3))
      const q = await peers.make(qid, { keyPair: await generateKeyPair() })
      const err = await dial(v, q.localId)
      expect(err).toBeInstanceOf(PeerAuthenticationError)
      expect((err as PeerAuthenticationError).failure).toBe('key-mismatch')
      expect(v.metrics().peerAuthFailures).toBeGreaterThan(0)
      expect(v.identityPins.get(qid.toHex())).toBe(hex(k3))
    } finally {
      await v.stop()
    }
  })

  it('a manager signalling through the server and the overlay hands both its one table', async () => {
    const keyPair = await generateKeyPair()
    const localId = Identifier.random()
    const overlay = createOverlaySignaling({ localId, keyPair })
    const server = new OpeningClient({ url: fixture.server.url, room: 'pins-composite', localId, keyPair })
    const manager = createWebRtcConnectionManager({
      localId,
      keyPair,
      signaling: createCompositeSignaling({ server, overlay }),
      rtc: { iceServers: [] },
      wrtc: implementations.wrtc(),
    })
    expect(server.handedPins).toBe(manager.identityPins)
    const plain = Identifier.random()
    const key = await generateKeyPair()
    expect(await overlay.open(await sealSignal(key, plain, localId, 's', OFFER))).toMatchObject({
      from: plain,
    })
    expect(manager.identityPins.get(plain.toHex())).toBe(hex(key))
  })
})
