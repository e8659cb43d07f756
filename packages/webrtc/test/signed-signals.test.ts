import { generateKeyPair, Identifier, type KeyPair } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { ReplayGuard } from '../src/replay-guard.js'
import {
  type SealedSignal,
  SIGNAL_TRANSCRIPT_DOMAIN,
  SignalOpener,
  sealSignal,
  signalTranscript,
} from '../src/signed-signals.js'
import { forgeFingerprints } from './identity-helpers.js'

const SDP = 'v=0\r\na=fingerprint:sha-256 01:02:03\r\na=ice-ufrag:abcd\r\nm=application 9\r\n'
const OFFER = { batch: [{ type: 'offer', sdp: SDP }] }

async function identity(): Promise<{ id: Identifier; keyPair: KeyPair }> {
  const keyPair = await generateKeyPair()
  return { id: Identifier.fromPublicKey(keyPair.publicKey), keyPair }
}

/** A copy of `s` whose payload was rewritten by `edit` (signature untouched: what a relay can do). */
function altered(
  s: SealedSignal,
  edit: (data: Record<string, unknown>) => Record<string, unknown>,
): SealedSignal {
  return { ...s, data: JSON.stringify(edit(JSON.parse(s.data) as Record<string, unknown>)) }
}

describe('signed signals', () => {
  it('opens a signal sealed for this node with its sender, session and payload', async () => {
    const a = await identity()
    const b = await identity()
    const opener = new SignalOpener({ localId: b.id })
    const sealed = await sealSignal(a.keyPair, a.id, b.id, 'sess', OFFER)
    const opened = await opener.open(JSON.parse(JSON.stringify(sealed)))
    expect(opened).toEqual({ from: a.id, session: 'sess', data: OFFER })
    expect(new TextDecoder().decode(signalTranscript(sealed))).toContain(SIGNAL_TRANSCRIPT_DOMAIN)
  })

  it('refuses a signal whose SDP or DTLS fingerprint a relay altered', async () => {
    const a = await identity()
    const b = await identity()
    const opener = new SignalOpener({ localId: b.id })
    const sealed = await sealSignal(a.keyPair, a.id, b.id, 'sess', OFFER)
    const edited = altered(sealed, () => ({ batch: [{ type: 'offer', sdp: SDP.replace('abcd', 'evil') }] }))
    expect(await opener.open(edited)).toBe('signature')
    expect(await opener.open(altered(sealed, forgeFingerprints))).toBe('signature')
    // the honest one still opens: a refused copy spends no nonce
    expect(await opener.open(sealed)).toMatchObject({ from: a.id })
  })

  it('refuses a signal re-addressed, re-attributed or moved to another session', async () => {
    const a = await identity()
    const b = await identity()
    const c = await identity()
    const opener = new SignalOpener({ localId: b.id })
    const sealed = await sealSignal(a.keyPair, a.id, c.id, 'sess', OFFER)
    expect(await opener.open(sealed)).toBe('misaddressed')
    expect(await opener.open({ ...sealed, to: b.id.toHex() })).toBe('signature')
    const toB = await sealSignal(a.keyPair, a.id, b.id, 'sess', OFFER)
    expect(await opener.open({ ...toB, session: 'other' })).toBe('signature')
    expect(await opener.open({ ...toB, from: c.id.toHex() })).toBe('signature')
  })

  it('refuses a replayed signal and a stale one', async () => {
    const a = await identity()
    const b = await identity()
    let now = 1_000_000
    const opener = new SignalOpener({ localId: b.id, maxAgeMs: 60_000, maxSkewMs: 30_000, now: () => now })
    const sealed = await sealSignal(a.keyPair, a.id, b.id, 'sess', OFFER, now)
    expect(await opener.open(sealed)).toMatchObject({ session: 'sess' })
    expect(await opener.open(sealed)).toBe('replay')
    const old = await sealSignal(a.keyPair, a.id, b.id, 'sess', OFFER, now - 60_001)
    expect(await opener.open(old)).toBe('stale')
    const future = await sealSignal(a.keyPair, a.id, b.id, 'sess', OFFER, now + 30_001)
    expect(await opener.open(future)).toBe('stale')
    now += 61_000
    expect(await opener.open(sealed)).toBe('stale')
  })

  it('refuses a flood of stale or misaddressed signals without verifying a signature, and a fresh replay after it', async () => {
    const a = await identity()
    const b = await identity()
    const c = await identity()
    const now = 1_000_000
    const opener = new SignalOpener({ localId: b.id, maxAgeMs: 60_000, maxSkewMs: 30_000, now: () => now })
    const stale = await sealSignal(a.keyPair, a.id, b.id, 'sess', OFFER, now - 60_001)
    const ahead = await sealSignal(a.keyPair, a.id, b.id, 'sess', OFFER, now + 30_001)
    const elsewhere = await sealSignal(a.keyPair, a.id, c.id, 'sess', OFFER, now)
    const refused: Record<string, number> = {}
    for (let i = 0; i < 1_000; i++) {
      // each copy with its own nonce (and so a signature that would not verify): only verifying could tell
      const nonce = i.toString(16).padStart(32, '0')
      for (const s of [stale, ahead, elsewhere]) {
        const reason = await opener.open({ ...s, nonce })
        if (typeof reason === 'string') refused[reason] = (refused[reason] ?? 0) + 1
      }
    }
    expect(refused).toEqual({ stale: 2_000, misaddressed: 1_000 })
    expect(opener.verifications).toBe(0)
    const fresh = await sealSignal(a.keyPair, a.id, b.id, 'sess', OFFER, now)
    expect(await opener.open(fresh)).toMatchObject({ from: a.id, session: 'sess' })
    expect(await opener.open(fresh)).toBe('replay')
    expect(opener.verifications).toBe(2)
  })

  it('binds a plain identifier to the first key that signed for it, and a derived one to its key', async () => {
    const b = await identity()
    const plain = Identifier.random()
    const first = await generateKeyPair()
    const second = await generateKeyPair()
    const opener = new SignalOpener({ localId: b.id })
    expect(await opener.open(await sealSignal(first, plain, b.id, 's', OFFER))).toMatchObject({ from: plain })
    expect(await opener.open(await sealSignal(second, plain, b.id, 's', OFFER))).toBe('binding')
    // a derived identifier, once seen with its key, signed by another key
    const a = await identity()
    expect(await opener.open(await sealSignal(a.keyPair, a.id, b.id, 's', OFFER))).toMatchObject({
      from: a.id,
    })
    expect(await opener.open(await sealSignal(second, a.id, b.id, 's', OFFER))).toBe('binding')
    // self-certifying only: any key the identifier is not derived from, from the first signal on
    const strict = new SignalOpener({ localId: b.id, selfCertifyingOnly: true })
    expect(await strict.open(await sealSignal(second, a.id, b.id, 's', OFFER))).toBe('binding')
    expect(await strict.open(await sealSignal(first, Identifier.random(), b.id, 's', OFFER))).toBe('binding')
    expect(await strict.open(await sealSignal(a.keyPair, a.id, b.id, 's', OFFER))).toMatchObject({
      from: a.id,
    })
  })

  it('refuses malformed input without throwing', async () => {
    const b = await identity()
    const opener = new SignalOpener({ localId: b.id })
    const a = await identity()
    const sealed = await sealSignal(a.keyPair, a.id, b.id, 's', OFFER)
    for (const input of [undefined, null, 'x', 1, {}, { ...sealed, v: 2 }, { ...sealed, data: 'not json' }]) {
      expect(await opener.open(input)).toBe('malformed')
    }
    expect(await opener.open({ ...sealed, data: '[1]' })).toBe('malformed')
  })
})

describe('replay guard', () => {
  it('tells whether a timestamp is fresh without remembering anything', () => {
    const now = 5_000
    const guard = new ReplayGuard({ maxAgeMs: 1_000, maxSkewMs: 500, maxEntries: 2, now: () => now })
    expect([3_999, 4_000, 5_500, 5_501].map((ts) => guard.fresh(ts))).toEqual([false, true, true, false])
    expect(guard.fresh(4_100)).toBe(true)
    expect(guard.size).toBe(0)
    expect(guard.check(4_100, 'a')).toBeUndefined()
    expect(guard.check(4_100, 'a')).toBe('replay')
    // past the floor of an evicted nonce: not fresh any more
    guard.check(4_200, 'b')
    guard.check(4_300, 'c')
    expect(guard.fresh(4_100)).toBe(false)
    expect(guard.fresh(4_101)).toBe(true)
  })

  it('never accepts a nonce again, also after it was evicted from a full table', () => {
    const now = 5_000
    const guard = new ReplayGuard({ maxAgeMs: 1_000, maxSkewMs: 1_000, maxEntries: 2, now: () => now })
    expect(guard.check(4_100, 'a')).toBeUndefined()
    expect(guard.check(4_200, 'b')).toBeUndefined()
    expect(guard.check(4_300, 'c')).toBeUndefined()
    expect(guard.size).toBe(2)
    expect(guard.check(4_100, 'a')).toBe('stale')
    expect(guard.check(4_200, 'b')).toBe('replay')
  })
})
