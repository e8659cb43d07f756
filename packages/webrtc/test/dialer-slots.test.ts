/**
 * The dialer's table of remotes stays bounded: a remote that signalled and holds nothing (no peer connection, no
 * dial, nobody waiting) is forgotten, so remotes that signalled once and went away leave no state behind
 * (`metrics().remotesTracked`). Driven through a scripted signaling, no server needed.
 */
import {
  AbstractComponent,
  ConnectionFailedError,
  Emitter,
  Identifier,
  PeerNotFoundError,
  type Unsubscribe,
} from '@skipmesh/core'
import { randomNonce } from '@skipmesh/core/internal'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createWebRtcConnectionManager, type WebRtcConnectionManager } from '../src/manager.js'
import type { PeerSignal } from '../src/peer-transport.js'
import type { Signaling, SignalingEvents, SignalPayload } from '../src/signaling.js'
import type { WrtcImplementation } from '../src/wrtc.js'
import { deadOffer } from './dead-offer.js'
import { countingWrtc, implementations } from './helpers.js'

/** A signaling whose incoming signals the test delivers itself; what the manager sends is recorded. */
class ScriptedSignaling extends AbstractComponent implements Signaling {
  readonly #events = new Emitter<SignalingEvents>()
  readonly sent: { to: Identifier; session: string; data: SignalPayload }[] = []
  /** Ids `signal` refuses with `PeerNotFoundError`. */
  readonly absent = new Set<string>()

  on<E extends keyof SignalingEvents>(event: E, handler: SignalingEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  peers(): Identifier[] {
    return []
  }

  async signal(to: Identifier, session: string, data: SignalPayload): Promise<void> {
    if (this.absent.has(to.toHex())) throw new PeerNotFoundError(`${to.toHex()} is not in the room`)
    this.sent.push({ to, session, data })
  }

  /** Delivers a signal from `from`, as the signaling service would. */
  deliver(from: Identifier, session: string, data: SignalPayload): void {
    this.#events.emit('signal', from, session, data)
  }

  protected async onStart(): Promise<void> {}
  protected async onStop(): Promise<void> {}
}

const managers: WebRtcConnectionManager[] = []
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()))
})

/** An identifier whose first byte is `first` (the lower id of a pair makes the offers). */
function idStartingWith(first: string): Identifier {
  return Identifier.fromHex(`${first}${randomNonce(31)}`)
}

async function victim(
  wrtc: WrtcImplementation,
  connectTimeoutMs = 15_000,
): Promise<{ manager: WebRtcConnectionManager; signaling: ScriptedSignaling }> {
  const signaling = new ScriptedSignaling()
  const manager = createWebRtcConnectionManager({
    localId: idStartingWith('80'),
    signaling,
    rtc: { iceServers: [] },
    wrtc,
    connectTimeoutMs,
  })
  managers.push(manager)
  manager.start()
  await manager.ready()
  return { manager, signaling }
}

/** Resolves after the microtasks queued so far ran (the dialer forgets idle slots in one). */
function microtasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

const CANDIDATE: PeerSignal = {
  type: 'candidate',
  candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 },
}

describe('the dialer forgets remotes that hold nothing', () => {
  it('10,000 remotes that each signalled once (stray candidates, byes, dial requests from the wrong side) leave no slot', async () => {
    const { manager, signaling } = await victim(implementations['node-datachannel']())
    const before = manager.metrics()
    const remotes = 10_000
    for (let i = 0; i < remotes; i++) {
      const kind = i % 3
      if (kind === 0) signaling.deliver(Identifier.random(), randomNonce(12), { batch: [CANDIDATE] })
      else if (kind === 1) signaling.deliver(Identifier.random(), randomNonce(12), { bye: true })
      // a remote higher than the victim asks it to dial (it may); a lower one may not: dropped
      else signaling.deliver(idStartingWith('00'), randomNonce(12), { dial: true })
    }
    await microtasks()
    const after = manager.metrics()
    expect(after.signalsReceived - before.signalsReceived).toBe(remotes)
    // stray candidates and wrong-side dial requests are dropped; byes of unknown sessions are ignored
    expect(after.signalsDropped - before.signalsDropped).toBe(
      Math.ceil(remotes / 3) + Math.floor(remotes / 3),
    )
    expect(after.peerConnectionsCreated).toBe(before.peerConnectionsCreated)
    expect(after.remotesTracked).toBe(0)
  })

  for (const [name, impl] of Object.entries(implementations)) {
    it(`remotes whose offers made attempts that never connected are forgotten once the attempts time out (${name})`, async () => {
      const wrtc = countingWrtc(impl())
      const { manager, signaling } = await victim(wrtc, 1_000)
      const offer = await deadOffer(impl())
      const remotes = 20
      for (let i = 0; i < remotes; i++) {
        signaling.deliver(idStartingWith('00'), randomNonce(12), { batch: [offer] })
      }
      await microtasks()
      expect(manager.metrics().peerConnectionsCreated).toBe(remotes)
      expect(manager.metrics().remotesTracked).toBe(remotes)
      // the victim answered each of them
      await vi.waitFor(() => expect(new Set(signaling.sent.map((s) => s.to.toHex())).size).toBe(remotes), {
        timeout: 20_000,
      })
      await vi.waitFor(
        () => {
          expect(manager.metrics().peerConnectionsLive).toBe(0)
          expect(manager.metrics().remotesTracked).toBe(0)
        },
        { timeout: 30_000, interval: 50 },
      )
      expect(wrtc.open()).toBe(0)
    })
  }

  it('a dial that failed leaves no slot: the remote never answered, or it is not in the room', async () => {
    const { manager, signaling } = await victim(implementations['node-datachannel'](), 500)
    // lower than the victim (it makes the offers): the victim sends a dial request, nobody answers it
    const silent = idStartingWith('00')
    await expect(manager.connect(silent)).rejects.toBeInstanceOf(ConnectionFailedError)
    expect(signaling.sent.some((s) => s.to.equals(silent) && s.data.dial === true)).toBe(true)
    const absent = idStartingWith('01')
    signaling.absent.add(absent.toHex())
    await expect(manager.connect(absent)).rejects.toBeInstanceOf(PeerNotFoundError)
    await microtasks()
    expect(manager.metrics().remotesTracked).toBe(0)
    expect(manager.metrics().dialsFailed).toBe(2)
  })
})
