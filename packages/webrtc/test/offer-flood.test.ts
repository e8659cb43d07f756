/**
 * Offer floods with no open connection (issue 13, attack 9): remotes that send offer after offer under new
 * sessions, through the real signaling server, to a victim they never finish connecting to. The victim's
 * `RTCPeerConnection`s stay within `maxInboundSessionsPerRemote` (per remote) and `maxPendingInbound` (over all
 * remotes), every refusal is counted, and an honest peer connects and exchanges data while the flood goes on.
 */
import { channel, Identifier } from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import { createSignalingServer, silentLogger } from '@skipmesh/signaling-server'
import { describe, expect, it, vi } from 'vitest'
import type { WebRtcConnection } from '../src/connection.js'
import { InboundSessions } from '../src/inbound-sessions.js'
import type { WebRtcConnectionManager } from '../src/manager.js'
import {
  collectMessages,
  countingWrtc,
  implementations,
  nextConnection,
  useSignalingServer,
} from './helpers.js'
import { deadOffer } from './dead-offer.js'

const fixture = useSignalingServer()

const HELLO = channel('hello')

/** An identifier whose first byte is `first` (the lower id of a pair makes the offers). */
function idStartingWith(first: string): Identifier {
  return Identifier.fromHex(`${first}${randomNonce(31)}`)
}

/** Resolves once `victim` has handled `count` signals from ids in `from` (it subscribed to its signaling first). */
function handled(victim: WebRtcConnectionManager, from: Identifier[], count: number): Promise<void> {
  const hexes = new Set(from.map((id) => id.toHex()))
  return new Promise<void>((resolve) => {
    let n = 0
    victim.signaling.on('signal', (id) => {
      if (hexes.has(id.toHex()) && ++n === count) resolve()
    })
  })
}

/** The highest value `sample()` had each time the victim handled a signal. */
function peakOf(victim: WebRtcConnectionManager, sample: () => number): () => number {
  let peak = sample()
  victim.signaling.on('signal', () => {
    peak = Math.max(peak, sample())
  })
  return () => peak
}

/** `honest` connects to `victim`, and one message goes each way; resolves with the connect time in ms. */
async function honestExchange(
  honest: WebRtcConnectionManager,
  victim: WebRtcConnectionManager,
): Promise<number> {
  const atVictim = nextConnection(victim, 30_000)
  const started = performance.now()
  const conn = await honest.connect(victim.localId, { signal: AbortSignal.timeout(30_000) })
  const connectMs = performance.now() - started
  const back = await atVictim
  expect(back.remoteId.equals(honest.localId)).toBe(true)
  const toVictim = collectMessages(back, 1)
  const toHonest = collectMessages(conn, 1)
  await conn.send(HELLO, Uint8Array.of(1))
  await back.send(HELLO, Uint8Array.of(2))
  expect([...(await toVictim.done)[0]!.bytes]).toEqual([1])
  expect([...(await toHonest.done)[0]!.bytes]).toEqual([2])
  return connectMs
}

for (const [name, impl] of Object.entries(implementations)) {
  describe(`offer floods (${name})`, () => {
    it('500 offers under new sessions from one remote make at most maxInboundSessionsPerRemote peer connections, and an honest peer connects meanwhile', async () => {
      const wrtc = countingWrtc(impl())
      const perRemote = 8
      const connectTimeoutMs = 15_000
      const factory = fixture.managers(wrtc)
      const victim = await factory.make(idStartingWith('f0'), { maxInboundSessionsPerRemote: perRemote })
      // lower than the victim: the honest peer makes offers too, through the same gate
      const honest = await factory.make(idStartingWith('10'), { wrtc: impl() })
      const attackerId = idStartingWith('00')
      const attacker = await fixture.client(factory.room, attackerId)
      const offer = await deadOffer(impl())
      const before = victim.metrics()
      const peakLive = peakOf(victim, () => victim.metrics().peerConnectionsLive)
      const flood = 500
      const done = handled(victim, [attackerId], flood)
      const started = performance.now()
      // the honest peer dials once the flood is under way and while it goes on
      const midFlood = handled(victim, [attackerId], 100)
      const honestRun = midFlood.then(() => honestExchange(honest, victim))
      for (let i = 0; i < flood; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, () =>
            attacker.signal(victim.localId, randomNonce(12), { batch: [offer] }),
          ),
        )
      }
      await done
      const elapsed = performance.now() - started
      const connectMs = await honestRun
      const after = victim.metrics()
      // the bucket refills perRemote tokens per connectTimeoutMs
      const bound = perRemote + Math.ceil((elapsed * perRemote) / connectTimeoutMs)
      const refused = after.inboundSessionsRefused - before.inboundSessionsRefused
      const attackerPcs = flood - refused
      console.log(
        `${name}: ${flood} offers in ${Math.round(elapsed)} ms: ${attackerPcs} attacker peer connections (bound ${bound}), peak live ${peakLive()}, refused ${after.inboundSessionsRefused}, honest connect ${Math.round(connectMs)} ms`,
      )
      expect(attackerPcs).toBeGreaterThanOrEqual(1)
      expect(attackerPcs).toBeLessThanOrEqual(bound)
      // every other peer connection is the honest peer's (one, or a few if its attempt had to be retried)
      expect(after.peerConnectionsCreated - before.peerConnectionsCreated).toBeGreaterThan(attackerPcs)
      expect(after.peerConnectionsCreated - before.peerConnectionsCreated).toBeLessThanOrEqual(
        attackerPcs + 4,
      )
      expect(after.signalsDropped - before.signalsDropped).toBeGreaterThanOrEqual(refused)
      // one attacker attempt at a time (a newer admitted offer replaces the pending one), plus the honest peer's
      expect(peakLive()).toBeLessThanOrEqual(2)
      expect(wrtc.open()).toBeLessThanOrEqual(2)
      expect(after.inboundSessionsPending).toBeLessThanOrEqual(1)
      expect(victim.connections().map((c) => c.remoteId.toHex())).toEqual([honest.localId.toHex()])
    })
  })
}

describe('offer floods from many identities', () => {
  it('keep the attempts remotes started within maxPendingInbound, and an honest peer connects once they end', async () => {
    const impl = implementations['node-datachannel']
    const wrtc = countingWrtc(impl())
    const maxPendingInbound = 6
    const factory = fixture.managers(wrtc)
    // a short connect timeout ends the attackers' attempts soon after the flood
    const victim = await factory.make(idStartingWith('f0'), { maxPendingInbound, connectTimeoutMs: 5_000 })
    const honest = await factory.make(idStartingWith('10'), { wrtc: impl() })
    const attackerIds = Array.from({ length: 12 }, () => idStartingWith('00'))
    const attackers = await Promise.all(attackerIds.map((id) => fixture.client(factory.room, id)))
    const offer = await deadOffer(impl())
    const peakPending = peakOf(victim, () => victim.metrics().inboundSessionsPending)
    const peakLive = peakOf(victim, () => victim.metrics().peerConnectionsLive)
    const perAttacker = 20
    const done = handled(victim, attackerIds, attackers.length * perAttacker)
    await Promise.all(
      attackers.map(async (attacker) => {
        for (let i = 0; i < perAttacker; i++) {
          await attacker.signal(victim.localId, randomNonce(12), { batch: [offer] })
        }
      }),
    )
    await done
    const m = victim.metrics()
    console.log(
      `${attackers.length} identities x ${perAttacker} offers: peak pending ${peakPending()}, peak live ${peakLive()}, created ${m.peerConnectionsCreated}, refused ${m.inboundSessionsRefused}`,
    )
    expect(peakPending()).toBe(maxPendingInbound)
    expect(peakLive()).toBeLessThanOrEqual(maxPendingInbound)
    expect(m.inboundSessionsRefused).toBeGreaterThan(0)
    expect(m.inboundSessionsRefused + m.peerConnectionsCreated).toBe(attackers.length * perAttacker)
    // the attackers' attempts time out (connectTimeoutMs); then the honest peer gets in
    await vi.waitFor(() => expect(victim.metrics().inboundSessionsPending).toBe(0), {
      timeout: 30_000,
      interval: 50,
    })
    await honestExchange(honest, victim)
    expect(wrtc.open()).toBe(1)
  })
})

describe('dial-request floods', () => {
  it('250 dial requests each followed by a bye make at most maxInboundSessionsPerRemote peer connections', async () => {
    const wrtc = countingWrtc(implementations['node-datachannel']())
    const perRemote = 8
    const connectTimeoutMs = 15_000
    const factory = fixture.managers(wrtc)
    // higher than the victim: it may only ask the victim to dial
    const victim = await factory.make(idStartingWith('80'), { maxInboundSessionsPerRemote: perRemote })
    const attackerId = idStartingWith('ff')
    const attacker = await fixture.client(factory.room, attackerId)
    const peakLive = peakOf(victim, () => victim.metrics().peerConnectionsLive)
    const rounds = 250
    const done = handled(victim, [attackerId], 2 * rounds)
    const started = performance.now()
    for (let i = 0; i < rounds; i++) {
      // the victim dials under the request's session, so the attacker can abandon that attempt at once
      const session = randomNonce(12)
      await attacker.signal(victim.localId, session, { dial: true })
      await attacker.signal(victim.localId, session, { bye: true })
    }
    await done
    const elapsed = performance.now() - started
    const m = victim.metrics()
    const bound = perRemote + Math.ceil((elapsed * perRemote) / connectTimeoutMs)
    console.log(
      `${rounds} dial+bye in ${Math.round(elapsed)} ms: ${m.peerConnectionsCreated} peer connections (bound ${bound}), peak live ${peakLive()}, refused ${m.inboundSessionsRefused}`,
    )
    expect(m.peerConnectionsCreated).toBeGreaterThanOrEqual(1)
    expect(m.peerConnectionsCreated).toBeLessThanOrEqual(bound)
    expect(m.inboundSessionsRefused).toBeGreaterThanOrEqual(rounds - bound)
    expect(peakLive()).toBeLessThanOrEqual(1)
  })
})

describe('offer floods against the default signaling rate limit', () => {
  it("cost the flooder its budget, never the victim's: the victim stays joined and an honest peer connects", async () => {
    const limited = await createSignalingServer({ port: 0, host: '127.0.0.1', logger: silentLogger })
    try {
      const impl = implementations['node-datachannel']
      const factory = fixture.managers(impl(), { server: limited })
      const victim = await factory.make(idStartingWith('f0'))
      const honest = await factory.make(idStartingWith('10'))
      let victimDown = 0
      victim.on('signaling:down', () => victimDown++)
      const attacker = await fixture.client(factory.room, idStartingWith('00'), limited)
      const offer = await deadOffer(impl())
      // 500 offers at once: far over the default budget of 200 a second
      const flood = Promise.allSettled(
        Array.from({ length: 500 }, () =>
          attacker.signal(victim.localId, randomNonce(12), { batch: [offer] }),
        ),
      )
      const connectMs = await honestExchange(honest, victim)
      const outcomes = await flood
      const refused = outcomes.filter((o) => o.status === 'rejected').length
      const metrics = await limited.metrics()
      console.log(
        `default limits: attacker refused ${refused}/500, honest connect ${Math.round(connectMs)} ms`,
      )
      expect(refused).toBeGreaterThan(0)
      expect(metrics).toMatch(/skipmesh_signal_rejections_total\{reason="rate-limited"\} [1-9]/)
      expect(victimDown).toBe(0)
      // and it can still signal (a bye of no session the honest peer knows: ignored there)
      await victim.signaling.signal(honest.localId, randomNonce(12), { bye: true })
      await factory.stopAll()
    } finally {
      await fixture.stopAll()
      await limited.close()
    }
  })
})

describe('the admission of remote-started attempts', () => {
  /** A stand-in attempt (the admission only keys on it). */
  const attempt = (): WebRtcConnection => ({}) as WebRtcConnection

  it('gives a remote perRemote attempts per window, refilled with time, and its token back when one opens', () => {
    let now = 0
    const gate = new InboundSessions({ maxPending: 100, perRemote: 4, windowMs: 1_000, now: () => now })
    for (let i = 0; i < 4; i++) expect(gate.admit('a')).toBe(true)
    expect(gate.admit('a')).toBe(false)
    // another remote has its own budget
    expect(gate.admit('b')).toBe(true)
    now += 250
    expect(gate.admit('a')).toBe(true)
    expect(gate.admit('a')).toBe(false)
    // an attempt that opens gives its token back: connecting and closing often is never refused
    const c = attempt()
    gate.track(c, 'a')
    gate.opened(c)
    expect(gate.admit('a')).toBe(true)
    expect(gate.admit('a')).toBe(false)
  })

  it('keeps at most maxPending attempts pending over all remotes; one replacing its own pending attempt fits', () => {
    const gate = new InboundSessions({ maxPending: 2, perRemote: 8, windowMs: 1_000, now: () => 0 })
    const a = attempt()
    const b = attempt()
    expect(gate.admit('a')).toBe(true)
    gate.track(a, 'a')
    expect(gate.admit('b')).toBe(true)
    gate.track(b, 'b')
    expect(gate.pending).toBe(2)
    expect(gate.admit('c')).toBe(false)
    expect(gate.admit('a', a)).toBe(true)
    gate.closed(a)
    expect(gate.pending).toBe(1)
    expect(gate.admit('c')).toBe(true)
  })
})
