import { generateKeyPair, Identifier } from '@skipmesh/core'
import { issueTurnCredentials, resolveTurnOptions, type SignalingServer } from '@skipmesh/signaling-server'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type ExpiringIceServer, IssuedIceServers } from '../src/ice-servers.js'
import type { WebRtcConnectionManager, WebRtcConnectionManagerOptions } from '../src/manager.js'
import { SignalingClient, type SignalingClientOptions } from '../src/signaling-client.js'
import {
  closeWatcher,
  implementations,
  managerFactory,
  nextConnection,
  startSignalingServer,
} from './helpers.js'
import {
  expectDeclaredGone,
  expectSameConnectionUp,
  numberedMessages,
  recordingWrtc,
  until,
} from './ice-helpers.js'
import { startTurnServer, type TurnServer } from './turn-server.js'

const SECRET = 'ice-restart-credentials-secret'
/** Seconds a credential lives: short, so that those of the connect have expired when coturn restarts. */
const TTL_SECONDS = 4

/**
 * A signaling client whose issued ICE servers are short-lived TURN credentials, renewed (at 80 % of their life,
 * as the signaling client does with its server's) from a local issuer: a signaling server issues for 60 s at
 * least, too long for a test.
 */
class ShortLivedTurnSignaling extends SignalingClient {
  readonly #issued: IssuedIceServers

  constructor(options: SignalingClientOptions, issued: IssuedIceServers) {
    super(options)
    this.#issued = issued
  }

  override iceServers(): RTCIceServer[] {
    return this.#issued.current()
  }
}

const username = (pc: RTCPeerConnection): string | undefined =>
  pc.getConfiguration().iceServers?.[0]?.username
/** The expiry (ms since the epoch) a TURN REST username carries. */
const expiryOf = (name: string | undefined): number => Number(name?.split(':')[0]) * 1000

/**
 * Relay-only on @roamhq/wrtc (node-datachannel cannot restart ICE, and gathers host candidates despite the
 * policy): the credentials of the connect expire, coturn dies and comes back on its port, and the restart must
 * gather with credentials renewed since.
 */
describe('ICE restart after the issued TURN credentials expired, wrtc, relay-only', () => {
  let signaling: SignalingServer | undefined
  let turn: TurnServer | undefined
  const cleanups: Array<() => unknown> = []

  beforeAll(async () => {
    signaling = await startSignalingServer()
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    await turn?.stop()
  })
  afterAll(async () => {
    await signaling?.close()
  })

  /**
   * Two connected relay-only managers on coturn whose TURN credentials live {@link TTL_SECONDS} and are renewed
   * until `withhold()` is called; `lastExpiry()`: when the last credential issued expires.
   */
  async function relayPair(limits: Partial<WebRtcConnectionManagerOptions>) {
    turn = await startTurnServer(SECRET)
    let withheld = false
    let lastExpiry = 0
    const turnOptions = resolveTurnOptions({ urls: [turn.url], secret: SECRET, ttlSeconds: 60 })
    const wrtc = recordingWrtc(implementations.wrtc())
    const factory = managerFactory(signaling!, wrtc, undefined, {
      // no rtc.iceServers: the manager adds the ones its signaling issued
      rtc: { iceTransportPolicy: 'relay' },
      connectTimeoutMs: 20_000,
      ...limits,
    })
    cleanups.push(() => factory.stopAll())
    const make = async (id: Identifier): Promise<WebRtcConnectionManager> => {
      const issued = new IssuedIceServers({
        fetch: async (): Promise<ExpiringIceServer[] | undefined> => {
          if (withheld) return undefined
          // issued for 60 s, (60 - TTL) s ago: it expires in TTL s
          const ago = (60 - TTL_SECONDS) * 1000
          const creds = issueTurnCredentials(turnOptions, id.toHex().slice(0, 16), Date.now() - ago)
          lastExpiry = Math.max(lastExpiry, creds.expiresAt)
          return [creds]
        },
      })
      cleanups.push(() => issued.stop())
      await issued.refresh()
      const keyPair = await generateKeyPair()
      const client = new ShortLivedTurnSignaling(
        { url: signaling!.url, room: factory.room, localId: id, keyPair },
        issued,
      )
      return factory.make(id, { keyPair, signaling: client })
    }
    const a = await make(Identifier.random())
    const b = await make(Identifier.random())
    const incoming = nextConnection(b, 30_000)
    const ab = await a.connect(b.localId, { signal: AbortSignal.timeout(30_000) })
    const ba = await incoming
    expect(wrtc.made.length).toBe(2)
    const first = wrtc.made.map(username)
    for (const name of first) expect(name).toMatch(/^\d+:[0-9a-f]{16}$/)
    const withhold = () => {
      withheld = true
    }
    return { a, b, ab, ba, made: wrtc.made, first, withhold, lastExpiry: () => lastExpiry }
  }

  it('restarts with the renewed credentials when coturn comes back, losing, duplicating and reordering no message', {
    timeout: 120_000,
  }, async () => {
    const COUNT = 1_000
    const { a, b, ab, ba, made, first } = await relayPair({
      heartbeatIntervalMs: 1_000,
      heartbeatTimeoutMs: 30_000,
    })
    const closes = [closeWatcher(ab), closeWatcher(ba)]
    const restarts = () => a.metrics().iceRestarts + b.metrics().iceRestarts
    const messages = numberedMessages(ab, ba, COUNT)
    messages.send(0, 200)
    await until(() => messages.received() >= 200, 'the first 200 messages', 30_000)
    // the credentials of the connect expire (the allocations made with them live on)
    const expired = Math.max(...first.map(expiryOf))
    await until(() => Date.now() > expired, 'the first credentials to expire', 30_000)
    const port = turn!.port
    await turn!.stop()
    messages.send(200, 700)
    await until(() => restarts() >= 1, 'an ICE restart', 60_000)
    turn = await startTurnServer(SECRET, { port })
    messages.send(700, COUNT)
    await messages.expectAllInOrder()
    // both peer connections gathered again with credentials issued after those of the connect
    for (const [i, pc] of made.entries()) {
      expect(username(pc)).not.toBe(first[i])
      expect(expiryOf(username(pc))).toBeGreaterThan(expiryOf(first[i]))
    }
    await expectSameConnectionUp({ a, b, ab, ba }, closes)
  })

  it('declares the peer gone with HeartbeatTimeoutError within heartbeatTimeoutMs plus two intervals when the renewal is withheld', {
    timeout: 90_000,
  }, async () => {
    const heartbeatIntervalMs = 1_000
    const heartbeatTimeoutMs = 8_000
    const { a, b, ab, ba, withhold, lastExpiry } = await relayPair({
      heartbeatIntervalMs,
      heartbeatTimeoutMs,
    })
    const closes = [closeWatcher(ab), closeWatcher(ba)]
    withhold()
    const expired = lastExpiry()
    await until(() => Date.now() > expired, 'the last credentials issued to expire', 30_000)
    // coturn comes back at once: only the credentials stand between the restart and a new path
    const killedAt = performance.now()
    const port = turn!.port
    await turn!.stop()
    turn = await startTurnServer(SECRET, { port })
    await expectDeclaredGone(closes, killedAt, heartbeatTimeoutMs, heartbeatIntervalMs)
    expect(a.metrics().iceRestarts + b.metrics().iceRestarts).toBeGreaterThanOrEqual(1)
  })
})
