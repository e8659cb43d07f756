import { Channel } from '@skipmesh/core'
import { issueTurnCredentials, resolveTurnOptions, type SignalingServer } from '@skipmesh/signaling-server'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { WebRtcConnection } from '../src/connection.js'
import type { WebRtcConnectionManager, WebRtcConnectionManagerOptions } from '../src/manager.js'
import {
  closeWatcher,
  collectMessages,
  implementations,
  managerFactory,
  nextConnection,
  startSignalingServer,
} from './helpers.js'
import { expectDeclaredGone, expectSameConnectionUp, numberedMessages, until } from './ice-helpers.js'
import { startTurnServer, type TurnServer } from './turn-server.js'

const SECRET = 'ice-restart-secret'
const COUNT = 2_000

const encode = (n: number): Uint8Array => new TextEncoder().encode(String(n))

/**
 * Relay-only on @roamhq/wrtc, which enforces `iceTransportPolicy: 'relay'` (node-datachannel advertises host
 * candidates too, so a coturn outage does not cut its link, and its polyfill cannot restart ICE: see relay.test.ts).
 */
describe('ICE restart through coturn, wrtc, relay-only', () => {
  let signaling: SignalingServer | undefined
  let turn: TurnServer | undefined
  let stopAll: (() => Promise<void>) | undefined

  beforeAll(async () => {
    signaling = await startSignalingServer()
  })
  afterEach(async () => {
    await stopAll?.()
    await turn?.stop()
  })
  afterAll(async () => {
    await signaling?.close()
  })

  async function relayPair(limits: Partial<WebRtcConnectionManagerOptions>): Promise<{
    a: WebRtcConnectionManager
    b: WebRtcConnectionManager
    ab: WebRtcConnection
    ba: WebRtcConnection
  }> {
    turn = await startTurnServer(SECRET)
    const creds = issueTurnCredentials(
      resolveTurnOptions({ urls: [turn.url], secret: SECRET }),
      'p',
      Date.now(),
    )
    const factory = managerFactory(signaling!, implementations.wrtc(), undefined, {
      rtc: { iceServers: [creds], iceTransportPolicy: 'relay' },
      connectTimeoutMs: 20_000,
      ...limits,
    })
    stopAll = () => factory.stopAll()
    const a = await factory.make()
    const b = await factory.make()
    const incoming = nextConnection(b, 30_000)
    const ab = await a.connect(b.localId, { signal: AbortSignal.timeout(30_000) })
    return { a, b, ab, ba: await incoming }
  }

  it('restarts ICE when coturn dies and comes back on the same port, losing, duplicating and reordering no message, on the same connection', {
    timeout: 120_000,
  }, async () => {
    // the restart must complete within heartbeatTimeoutMs of silence: the bound on declaring the peer gone
    const { a, b, ab, ba } = await relayPair({ heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 30_000 })
    const closes = [closeWatcher(ab), closeWatcher(ba)]
    const restarts = () => a.metrics().iceRestarts + b.metrics().iceRestarts
    const messages = numberedMessages(ab, ba, COUNT)
    // a first part over the working relay, delivered
    messages.send(0, 500)
    await until(() => messages.received() >= 500, 'the first 500 messages', 30_000)
    const port = turn!.port
    await turn!.stop()
    // the middle part is sent (queued) while the relay is gone
    messages.send(500, 1_500)
    await until(() => restarts() >= 1, 'an ICE restart', 60_000)
    expect(messages.received()).toBeLessThan(COUNT)
    turn = await startTurnServer(SECRET, { port })
    messages.send(1_500, COUNT)
    await messages.expectAllInOrder()
    expect(restarts()).toBeGreaterThanOrEqual(1)
    // the same connection, and the restarted link carries the other way too
    await expectSameConnectionUp({ a, b, ab, ba }, closes)
  })

  it('declares the peer gone with HeartbeatTimeoutError within heartbeatTimeoutMs plus two intervals when coturn stays down', {
    timeout: 90_000,
  }, async () => {
    const heartbeatIntervalMs = 500
    const heartbeatTimeoutMs = 3_000
    const { ab, ba } = await relayPair({ heartbeatIntervalMs, heartbeatTimeoutMs })
    const closes = [closeWatcher(ab), closeWatcher(ba)]
    const got = collectMessages(ba, 1, 30_000)
    await ab.send(Channel.Test, encode(1))
    await got.done
    const killedAt = performance.now()
    await turn!.stop()
    // ICE restarts alone would go on for 30 s
    await expectDeclaredGone(closes, killedAt, heartbeatTimeoutMs, heartbeatIntervalMs)
  })
})
