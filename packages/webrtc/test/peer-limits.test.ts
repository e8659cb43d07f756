/**
 * Per-peer inbound limits (issue 13, attacks 1, 6 and 10): a hostile peer that speaks the wire protocol by hand
 * (`hostile-peer.ts`) attacks a victim manager through the real signaling server. Each case asserts the bound the
 * victim keeps (its own byte counter), that only the attacker's connection closes, with a typed reason and a
 * metric, and that the victim goes on serving an honest peer.
 */
import { ConnectionClosedError, channel, Identifier } from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import { afterEach, describe, expect, it } from 'vitest'
import type { WebRtcConnection } from '../src/connection.js'
import { PeerLimitExceededError } from '../src/errors.js'
import { FRAME_LAST, FRAME_MORE } from '../src/framing.js'
import type { WebRtcConnectionManager, WebRtcConnectionManagerOptions } from '../src/manager.js'
import { type HostilePeer, hostilePeer } from './hostile-peer.js'
import {
  closeWatcher,
  collectMessages,
  implementations,
  managerFactory,
  useSignalingServer,
} from './helpers.js'

const fixture = useSignalingServer()

let factory: ReturnType<typeof managerFactory>
const hostiles: HostilePeer[] = []
afterEach(async () => {
  await Promise.all(hostiles.splice(0).map((h) => h.stop()))
  await factory?.stopAll()
})

const EVIL = channel('evil')

/** A frame: the flag byte, then `size` bytes of payload. */
function frame(flag: number, size: number): Uint8Array {
  const out = new Uint8Array(1 + size)
  out[0] = flag
  return out
}

/** Resolves once `dc`'s buffer is at or below `low` bytes (so the attacker never outruns its own stack). */
async function drained(dc: RTCDataChannel, low = 256 * 1024): Promise<void> {
  while (dc.bufferedAmount > low && dc.readyState === 'open') {
    await new Promise<void>((resolve) => setTimeout(resolve, 1))
  }
}

/**
 * Writes `bytes` (a whole message) once per macrotask until `arrived` settles (at most 1,000 times): some stacks
 * register a negotiated channel asynchronously, so a frame sent right after the `ack` can still be dropped.
 */
async function untilArrived(
  attacker: HostilePeer,
  dc: RTCDataChannel,
  bytes: Uint8Array,
  arrived: Promise<unknown>,
) {
  let done = false
  void arrived.finally(() => {
    done = true
  })
  for (let i = 0; i < 1000 && !done && attacker.frame(dc, bytes); i++) {
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  await arrived
}

describe.each(['wrtc', 'node-datachannel'] as const)('per-peer inbound limits (%s)', (name) => {
  /** A victim (its id above the hostile's), an honest peer connected to it, and a hostile peer connected to it. */
  async function scene(
    options: Partial<WebRtcConnectionManagerOptions> = {},
    hostile: { mungeOffer?: (sdp: string) => string } = {},
  ): Promise<{
    victim: WebRtcConnectionManager
    attacker: HostilePeer
    /** The victim's side of the attacker's connection (undefined when it never opened). */
    atVictim: Promise<WebRtcConnection>
    honestCheck: () => Promise<void>
  }> {
    factory = managerFactory(fixture.server, implementations[name]())
    const victim = await factory.make(Identifier.fromHex(`f0${randomNonce(31)}`), options)
    const honest = await factory.make()
    const fromAttacker = new Promise<WebRtcConnection>((resolve) => {
      victim.on('connection', (c) => {
        if (!c.remoteId.equals(honest.localId)) resolve(c)
      })
    })
    const honestConnection = await honest.connect(victim.localId)
    const attacker = await hostilePeer({
      url: fixture.server.url,
      room: factory.room,
      wrtc: implementations[name](),
      victim: victim.localId,
      ...hostile,
    })
    hostiles.push(attacker)
    const honestCheck = async (): Promise<void> => {
      // the honest peer's connection stayed open and carries a message both ways
      expect(honestConnection.status).toBe('open')
      const victimSide = victim.connections().find((c) => c.remoteId.equals(honest.localId))!
      const atVictim = collectMessages(victimSide, 1, 15_000)
      const atHonest = collectMessages(honestConnection, 1, 15_000)
      await honestConnection.send(channel('honest'), new Uint8Array(100_000).fill(1))
      await victimSide.send(channel('honest'), Uint8Array.of(2))
      const [[got], [back]] = await Promise.all([atVictim.done, atHonest.done])
      expect(got!.bytes.length).toBe(100_000)
      expect([...back!.bytes]).toEqual([2])
    }
    return { victim, attacker, atVictim: fromAttacker, honestCheck }
  }

  // data-heavy cases on node-datachannel only: @roamhq/wrtc's data path stalls under CPU load (docs/DECISIONS.md)
  if (name === 'node-datachannel') {
    it('attack 1: bounds the memory of unfinished chunked messages per peer and closes the hoarder (inbound-bytes)', async () => {
      const maxMessageSize = 1024 * 1024
      const maxInboundBytes = 2 * maxMessageSize
      const { victim, attacker, atVictim, honestCheck } = await scene({ maxMessageSize, maxInboundBytes })
      const conn = await atVictim
      const closed = closeWatcher(conn)
      // 8 channels × 1 MiB − 1 of "more chunks follow" would be 8 MiB held without a per-peer budget
      const channels = await Promise.all(
        Array.from({ length: 8 }, (_, i) => attacker.openChannel(`hoard-${i}`)),
      )
      const chunk = frame(FRAME_MORE, 16 * 1024 - 1)
      let sent = 0
      outer: for (let round = 0; round < 63; round++) {
        for (const dc of channels) {
          if (attacker.isClosed() || !attacker.frame(dc, chunk)) break outer
          sent += chunk.length - 1
          await drained(dc)
        }
      }
      const reason = await closed.closed
      expect(reason).toBeInstanceOf(PeerLimitExceededError)
      expect((reason as PeerLimitExceededError).limit).toBe('inbound-bytes')
      // the exact high-water mark, kept by the budget itself (sampling it from this process can miss a burst)
      expect(conn.inboundPeakBytes).toBeLessThanOrEqual(maxInboundBytes)
      expect(conn.inboundPeakBytes).toBeGreaterThan(maxMessageSize)
      expect(conn.inboundHeldBytes).toBe(0)
      expect(sent).toBeGreaterThan(maxInboundBytes - 16 * 1024)
      expect(victim.metrics().peerLimitViolations).toBe(1)
      await attacker.closed
      await honestCheck()
    })

    it('attack 1 with 1-byte chunks: a chunk below the frame-size floor closes the connection at once (frame-size)', async () => {
      const { victim, attacker, atVictim, honestCheck } = await scene()
      const conn = await atVictim
      const closed = closeWatcher(conn)
      const dc = await attacker.openChannel('tiny')
      for (let i = 0; i < 1000 && attacker.frame(dc, frame(FRAME_MORE, 1)); i++);
      const reason = await closed.closed
      expect(reason).toBeInstanceOf(PeerLimitExceededError)
      expect((reason as PeerLimitExceededError).limit).toBe('frame-size')
      expect(conn.inboundHeldBytes).toBe(0)
      expect(victim.metrics().peerLimitViolations).toBe(1)
      await honestCheck()
    })

    it('attack 1: an unfinished chunked message that stops progressing closes its connection (reassembly-timeout)', async () => {
      const reassemblyTimeoutMs = 600
      const { victim, attacker, atVictim, honestCheck } = await scene({ reassemblyTimeoutMs })
      const conn = await atVictim
      const closed = closeWatcher(conn)
      const dc = await attacker.openChannel('stall')
      // a whole message first (the channel works), then the start of one that never ends
      await untilArrived(attacker, dc, Uint8Array.of(FRAME_LAST, 42), collectMessages(conn, 1).done)
      const started = performance.now()
      attacker.frame(dc, frame(FRAME_MORE, 4096))
      const reason = await closed.closed
      expect(reason).toBeInstanceOf(PeerLimitExceededError)
      expect((reason as PeerLimitExceededError).limit).toBe('reassembly-timeout')
      // the attacker answered every ping: only the reassembly deadline ended it
      expect(performance.now() - started).toBeGreaterThanOrEqual(reassemblyTimeoutMs - 50)
      expect(victim.metrics().heartbeatTimeouts).toBe(0)
      expect(victim.metrics().peerLimitViolations).toBe(1)
      await honestCheck()
    })
  }

  it('attack 1: a remote that opens more channels than maxRemoteChannels is closed (remote-channels)', async () => {
    const { victim, attacker, atVictim, honestCheck } = await scene({ maxRemoteChannels: 8 })
    const conn = await atVictim
    const closed = closeWatcher(conn)
    for (let i = 0; i < 9; i++) attacker.control({ t: 'open', id: 4 + 2 * i, ch: `many-${i}` })
    const reason = await closed.closed
    expect(reason).toBeInstanceOf(PeerLimitExceededError)
    expect((reason as PeerLimitExceededError).limit).toBe('remote-channels')
    expect(victim.metrics().peerLimitViolations).toBe(1)
    await honestCheck()
  })

  it('attack 6: a channel the remote never acknowledges ends within channelAckTimeoutMs: sends reject, close() and stop() return, lost early sends are counted', async () => {
    const channelAckTimeoutMs = 700
    const { victim, attacker, atVictim, honestCheck } = await scene({ channelAckTimeoutMs })
    const conn = await atVictim
    let info: { undeliveredSends: number } | undefined
    const closed = new Promise<Error | undefined>((resolve) => {
      conn.on('close', (reason, i) => {
        info = i
        resolve(reason)
      })
    })
    const started = performance.now()
    // small sends resolve at once (copied, under the high-water mark); a large one waits for the channel
    const small = await Promise.all(Array.from({ length: 5 }, (_, i) => conn.send(EVIL, Uint8Array.of(i))))
    expect(small).toHaveLength(5)
    const large = conn.send(EVIL, new Uint8Array(64 * 1024)).catch((err: unknown) => err)
    await conn.close({ signal: AbortSignal.timeout(channelAckTimeoutMs + 10_000) })
    const reason = await closed
    expect(performance.now() - started).toBeGreaterThanOrEqual(channelAckTimeoutMs - 50)
    expect(reason).toBeInstanceOf(PeerLimitExceededError)
    expect((reason as PeerLimitExceededError).limit).toBe('channel-ack-timeout')
    expect(await large).toBeInstanceOf(ConnectionClosedError)
    // the five resolved sends never left: the close says so
    expect(info).toEqual({ undeliveredSends: 5 })
    expect(attacker.received.some((m) => m.t === 'open')).toBe(true)
    expect(victim.metrics().peerLimitViolations).toBe(1)
    await honestCheck()
  })

  it("attack 6: the manager's stop() returns while a remote never acknowledges a channel", async () => {
    const channelAckTimeoutMs = 700
    const { victim, atVictim } = await scene({ channelAckTimeoutMs })
    const conn = await atVictim
    const closed = closeWatcher(conn)
    void conn.send(EVIL, new Uint8Array(64 * 1024)).catch(() => {})
    await victim.stop()
    expect(conn.status).toBe('closed')
    expect(await closed.closed).toBeInstanceOf(PeerLimitExceededError)
  })

  it('attack 9: a flood of offers under new sessions never tears down the open, responsive connection', async () => {
    const { victim, attacker, atVictim, honestCheck } = await scene()
    const conn = await atVictim
    const closed = closeWatcher(conn)
    const created = victim.metrics().peerConnectionsCreated
    const dropped = victim.metrics().signalsDropped
    const flood = 20
    // the manager subscribed to its signaling first: it has handled each offer before this sees it
    const handled = new Promise<void>((resolve) => {
      let n = 0
      victim.signaling.on('signal', (from) => {
        if (from.equals(attacker.id) && ++n === flood) resolve()
      })
    })
    await attacker.offerFlood(flood)
    await handled
    expect(conn.status).toBe('open')
    expect(closed.count()).toBe(0)
    expect(victim.metrics().peerConnectionsCreated).toBe(created)
    expect(victim.metrics().signalsDropped - dropped).toBe(flood)
    // the connection still works: a message from the attacker arrives
    const inbox = collectMessages(conn, 1)
    const dc = await attacker.openChannel('still-open')
    await untilArrived(attacker, dc, Uint8Array.of(FRAME_LAST, 7), inbox.done)
    const [got] = await inbox.done
    expect([...got!.bytes]).toEqual([7])
    await honestCheck()
  })

  if (name === 'node-datachannel') {
    for (const tiny of [2, 64]) {
      it(`attack 10: a=max-message-size:${tiny} in the remote SDP is refused (frame-size), never used for tiny frames`, async () => {
        const { victim, attacker, honestCheck } = await scene(
          {},
          { mungeOffer: (sdp) => sdp.replace(/^a=max-message-size:\d+/m, `a=max-message-size:${tiny}`) },
        )
        await attacker.closed
        expect(victim.metrics().peerLimitViolations).toBe(1)
        expect(victim.metrics().connectionsOpened).toBe(1)
        expect(victim.connections().some((c) => c.remoteId.equals(attacker.id))).toBe(false)
        await honestCheck()
      })
    }
  }
})
