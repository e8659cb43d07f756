import { generateKeyPair, Identifier, type KeyPair } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { encodeControl, parseControl } from '../src/control.js'
import { PeerAuthenticationError } from '../src/errors.js'
import { IdentityPins } from '../src/identity-pins.js'
import {
  type HelloContext,
  type HelloProof,
  HELLO_TRANSCRIPT_DOMAIN,
  helloTranscript,
  PeerAuthenticator,
  type PeerAuthenticationPolicy,
  sdpFingerprints,
} from '../src/peer-auth.js'

const FP_A = 'sha-256 AA:BB'
const FP_B = 'sha-256 CC:DD'

/** Both sides' view of one connection between `a` (initiator) and `b`. */
function views(a: Identifier, b: Identifier, fpA = FP_A, fpB = FP_B): [HelloContext, HelloContext] {
  return [
    { localId: a, remoteId: b, initiator: true, fingerprints: { local: fpA, remote: fpB } },
    { localId: b, remoteId: a, initiator: false, fingerprints: { local: fpB, remote: fpA } },
  ]
}

async function peer(
  keyPair: KeyPair | undefined,
  policy: PeerAuthenticationPolicy = 'optional',
): Promise<PeerAuthenticator> {
  return new PeerAuthenticator({ keyPair, policy })
}

async function refusal(p: Promise<void>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(PeerAuthenticationError)
  return (err as PeerAuthenticationError).failure
}

describe('hello transcript', () => {
  it('is the same bytes on both sides of a connection, and differs per signer role', () => {
    const [onA, onB] = views(Identifier.random(), Identifier.random())
    expect(helloTranscript('initiator', onA)).toEqual(helloTranscript('initiator', onB))
    expect(helloTranscript('responder', onA)).toEqual(helloTranscript('responder', onB))
    expect(helloTranscript('initiator', onA)).not.toEqual(helloTranscript('responder', onA))
    expect(new TextDecoder().decode(helloTranscript('initiator', onA))).toContain(HELLO_TRANSCRIPT_DOMAIN)
  })

  it('normalizes the a=fingerprint lines of a description', () => {
    const sdp =
      'v=0\r\na=fingerprint:SHA-256 ab:cd:ef\r\nm=application 9\r\na=fingerprint:sha-256 AB:CD:EF\r\n'
    expect(sdpFingerprints(sdp)).toBe('sha-256 AB:CD:EF')
    expect(sdpFingerprints(`${sdp}a=fingerprint:sha-1 01:02\r\n`)).toBe('sha-1 01:02,sha-256 AB:CD:EF')
    expect(sdpFingerprints(undefined)).toBe('')
  })
})

describe('hello proofs', () => {
  it('accepts an honest remote with a self-certifying id and with a plain id (pinned)', async () => {
    const keys = await generateKeyPair()
    const b = await peer(await generateKeyPair())
    for (const id of [Identifier.fromPublicKey(keys.publicKey), Identifier.random()]) {
      const a = await peer(keys)
      const [onA, onB] = views(id, Identifier.random())
      await b.verify(onB, await a.prove(onA))
    }
    expect(b.pinned).toBe(2)
  })

  it('refuses another key for a pinned id, and an unsigned hello for it', async () => {
    const id = Identifier.random()
    const b = await peer(undefined)
    const [onA, onB] = views(id, Identifier.random())
    await b.verify(onB, await (await peer(await generateKeyPair())).prove(onA))
    expect(await refusal(b.verify(onB, await (await peer(await generateKeyPair())).prove(onA)))).toBe(
      'key-mismatch',
    )
    expect(await refusal(b.verify(onB, undefined))).toBe('unsigned')
  })

  it('lets the key a self-certifying id derives from take it over from a key pinned before', async () => {
    const owner = await generateKeyPair()
    const id = Identifier.fromPublicKey(owner.publicKey)
    const b = await peer(undefined)
    const [onA, onB] = views(id, Identifier.random())
    await b.verify(onB, await (await peer(await generateKeyPair())).prove(onA))
    await b.verify(onB, await (await peer(owner)).prove(onA))
    expect(await refusal(b.verify(onB, await (await peer(await generateKeyPair())).prove(onA)))).toBe(
      'key-mismatch',
    )
  })

  it('refuses a proof made over other DTLS fingerprints (a server or relay in the middle)', async () => {
    const a = await peer(await generateKeyPair())
    const b = await peer(undefined)
    const ids = [Identifier.random(), Identifier.random()] as const
    // the middle terminates DTLS with each side: A saw the middle's certificate, B too (another one)
    const [aToMiddle] = views(ids[0], ids[1], FP_A, 'sha-256 EE:EE')
    const [, bFromMiddle] = views(ids[0], ids[1], 'sha-256 FF:FF', FP_B)
    expect(await refusal(b.verify(bFromMiddle, await a.prove(aToMiddle)))).toBe('signature')
  })

  it('refuses a proof reflected back to its signer, or made for other identifiers', async () => {
    const keys = await generateKeyPair()
    const a = await peer(keys)
    const [onA, onB] = views(Identifier.fromPublicKey(keys.publicKey), Identifier.random())
    const proof = (await a.prove(onA)) as HelloProof
    // the same proof handed back to A as if B had sent it: A's role was the initiator
    expect(await refusal(a.verify(onA, proof))).toBe('signature')
    const [, elsewhere] = views(onA.localId, Identifier.random())
    expect(await refusal((await peer(undefined)).verify(elsewhere, proof))).toBe('signature')
    expect(await refusal((await peer(undefined)).verify(onB, { pk: proof.pk, sig: '00'.repeat(64) }))).toBe(
      'signature',
    )
  })

  it("enforces 'required' and 'self-certifying'", async () => {
    const keys = await generateKeyPair()
    const [onA, onB] = views(Identifier.random(), Identifier.random())
    expect(await refusal((await peer(undefined, 'required')).verify(onB, undefined))).toBe('unsigned')
    await (await peer(undefined, 'required')).verify(onB, await (await peer(keys)).prove(onA))
    const strict = await peer(undefined, 'self-certifying')
    expect(await refusal(strict.verify(onB, await (await peer(keys)).prove(onA)))).toBe('not-self-certifying')
    expect(await refusal(strict.verify(onB, undefined))).toBe('unsigned')
    const [selfA, selfB] = views(Identifier.fromPublicKey(keys.publicKey), Identifier.random())
    await strict.verify(selfB, await (await peer(keys)).prove(selfA))
  })

  it('travels in the hello, both fields or neither', () => {
    const hello = { t: 'hello', v: 1, max: 16, pk: 'ab'.repeat(32), sig: 'cd'.repeat(64) } as const
    expect(parseControl(encodeControl(hello))).toEqual(hello)
    expect(parseControl(JSON.stringify({ ...hello, sig: undefined }))).toBeUndefined()
    expect(parseControl(JSON.stringify({ ...hello, pk: 'zz'.repeat(32) }))).toBeUndefined()
    expect(parseControl(JSON.stringify({ ...hello, sig: 'cd'.repeat(63) }))).toBeUndefined()
  })
})

describe('identity pins', () => {
  it('keep the most recently confirmed identifiers within the bound', () => {
    const pins = new IdentityPins(2)
    pins.pin('a', 'ka')
    pins.pin('b', 'kb')
    pins.pin('a', 'ka')
    pins.pin('c', 'kc')
    expect([pins.get('a'), pins.get('b'), pins.get('c'), pins.size]).toEqual(['ka', undefined, 'kc', 2])
  })
})
