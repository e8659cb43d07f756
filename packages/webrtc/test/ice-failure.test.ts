import { ConnectionFailedError, generateKeyPair, Identifier } from '@skipmesh/core'
import type { SignalingServer } from '@skipmesh/signaling-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IceConnectionFailedError } from '../src/errors.js'
import type { WebRtcConnectionManager } from '../src/manager.js'
import { SignalingClient } from '../src/signaling-client.js'
import { implementations, managerFactory, startSignalingServer } from './helpers.js'
import { until } from './ice-helpers.js'
import { freePort } from '../../../scripts/free-port.mjs'

const CONNECT_TIMEOUT_MS = 4_000
/** The bound on the rejection: the connect timeout, plus slack for a loaded machine's late timers. */
const BOUND_MS = CONNECT_TIMEOUT_MS + 5_000

/** Two identifiers, the lower first (the lower one makes the offer). */
function orderedIds(): [Identifier, Identifier] {
  const x = Identifier.random()
  const y = Identifier.random()
  return x.compare(y) < 0 ? [x, y] : [y, x]
}

/** Dials `to` from `from`, resolving with the rejection and how long it took. */
async function failedDial(
  from: WebRtcConnectionManager,
  to: Identifier,
): Promise<{ err: unknown; ms: number }> {
  const started = performance.now()
  const err = await from.connect(to, { signal: AbortSignal.timeout(60_000) }).then(
    () => new Error('connected'),
    (e: unknown) => e,
  )
  return { err, ms: performance.now() - started }
}

/**
 * On @roamhq/wrtc, which enforces `iceTransportPolicy: 'relay'` (node-datachannel gathers host candidates despite
 * it, so its peers connect anyway: see relay.test.ts).
 */
describe('a dial whose offer/answer exchange completes but whose ICE never connects, wrtc', () => {
  let signaling: SignalingServer | undefined
  beforeAll(async () => {
    signaling = await startSignalingServer()
  })
  afterAll(async () => {
    await signaling?.close()
  })

  /** `a` dials `b`; `dialler: 'higher'` makes `a` the higher id (it asks `b` to make the offer). */
  async function iceFails(rtc: RTCConfiguration, dialler: 'lower' | 'higher' = 'lower') {
    const factory = managerFactory(signaling!, implementations.wrtc(), undefined, {
      rtc,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    })
    try {
      const [low, high] = orderedIds()
      const a = await factory.make(dialler === 'lower' ? low : high)
      const b = await factory.make(dialler === 'lower' ? high : low)
      const { err, ms } = await failedDial(a, b.localId)
      // the answering side counts its failed attempt too (its own connect timeout, or the dialler's bye)
      await until(() => b.metrics().iceConnectionFailures >= 1, 'the inbound side to count it', BOUND_MS)
      return { err, ms, a, b }
    } finally {
      await factory.stopAll()
    }
  }

  it('rejects with IceConnectionFailedError within the connect timeout when relay-only has no ICE server', async () => {
    const { err, ms, a } = await iceFails({ iceServers: [], iceTransportPolicy: 'relay' })
    expect(err).toBeInstanceOf(IceConnectionFailedError)
    expect(err).toBeInstanceOf(ConnectionFailedError)
    expect(ms).toBeLessThan(BOUND_MS)
    expect((err as IceConnectionFailedError).facts).toEqual({
      exchanged: true,
      connected: false,
      iceState: expect.any(String),
      localCandidateTypes: [],
      remoteCandidateTypes: [],
      relayGathered: false,
      iceServers: 0,
      iceTransportPolicy: 'relay',
    })
    expect(a.metrics().iceConnectionFailures).toBeGreaterThanOrEqual(1)
  })

  it('rejects with IceConnectionFailedError too when the dialling side is the higher id (the remote offers)', async () => {
    const { err, ms } = await iceFails({ iceServers: [], iceTransportPolicy: 'relay' }, 'higher')
    expect(err).toBeInstanceOf(IceConnectionFailedError)
    expect(ms).toBeLessThan(BOUND_MS)
    expect((err as IceConnectionFailedError).facts).toMatchObject({ exchanged: true, connected: false })
  })

  it('rejects with IceConnectionFailedError when the only TURN server is a closed port', async () => {
    const port = await freePort()
    const turn = { urls: [`turn:127.0.0.1:${port}?transport=udp`], username: 'u', credential: 'c' }
    const { err, ms } = await iceFails({ iceServers: [turn], iceTransportPolicy: 'relay' })
    expect(err).toBeInstanceOf(IceConnectionFailedError)
    expect(ms).toBeLessThan(BOUND_MS)
    expect((err as IceConnectionFailedError).facts).toMatchObject({
      exchanged: true,
      connected: false,
      relayGathered: false,
      iceServers: 1,
      iceTransportPolicy: 'relay',
    })
  })

  it('rejects with a plain ConnectionFailedError, not an ICE one, when the remote is in the room but never answers', async () => {
    const factory = managerFactory(signaling!, implementations.wrtc(), undefined, {
      rtc: { iceServers: [], iceTransportPolicy: 'relay' },
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    })
    const [low, high] = orderedIds()
    // a peer that joined the room and ignores every signal: the offer goes out, no answer comes back
    const silent = new SignalingClient({
      url: signaling!.url,
      room: factory.room,
      localId: high,
      keyPair: await generateKeyPair(),
    })
    try {
      silent.start()
      await silent.ready()
      const a = await factory.make(low)
      const { err, ms } = await failedDial(a, high)
      expect(err).toBeInstanceOf(ConnectionFailedError)
      expect(err).not.toBeInstanceOf(IceConnectionFailedError)
      expect(ms).toBeLessThan(BOUND_MS)
      expect(a.metrics().iceConnectionFailures).toBe(0)
    } finally {
      await factory.stopAll()
      await silent.stop()
    }
  })
})
