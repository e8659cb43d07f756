import {
  AbstractComponent,
  type AbortOptions,
  ConnectionFailedError,
  Emitter,
  generateKeyPair,
  Identifier,
  type Unsubscribe,
} from '@skipmesh/core'
import { type Deferred, deferred, yieldTask } from '@skipmesh/core/internal'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type CompositeSignaling, createCompositeSignaling } from '../src/composite-signaling.js'
import { SignalingUnavailableError } from '../src/errors.js'
import { createOverlaySignaling, type OverlaySignaling } from '../src/overlay-signaling.js'
import type { Signaling, SignalingEvents, SignalPayload, SignalRelay } from '../src/signaling.js'
import type { OpenedSignal } from '../src/signed-signals.js'

/** A signaling server stand-in: joined at start, records what it relays, can lose its connection. */
class FakeServer extends AbstractComponent implements Signaling {
  readonly sent: Array<{ to: string; session: string; data: SignalPayload }> = []
  /** What `signal` throws (after recording the signal), when set. */
  failure: Error | undefined
  readonly #events = new Emitter<SignalingEvents>()

  on<E extends keyof SignalingEvents>(event: E, handler: SignalingEvents[E]): Unsubscribe {
    return this.#events.on(event, handler)
  }

  peers(): Identifier[] {
    return []
  }

  async signal(to: Identifier, session: string, data: SignalPayload): Promise<void> {
    this.sent.push({ to: to.toHex(), session, data })
    if (this.failure !== undefined) throw this.failure
  }

  /** The server hands this side a signal. */
  deliver(from: Identifier, session: string, data: SignalPayload): void {
    this.#events.emit('signal', from, session, data)
  }

  /** The connection to the server is lost (the client would retry). */
  lose(): void {
    this.#events.emit('disconnected', 'transport close')
  }

  protected async onStart(): Promise<void> {
    this.#events.emit('authenticated', [])
  }

  protected async onStop(): Promise<void> {}
}

/** One overlay relay call, settled by the test. */
interface RelayCall {
  to: string
  done: Deferred<void>
}

/** A relay whose every call waits until the test settles it. */
class ScriptedRelay implements SignalRelay {
  readonly calls: RelayCall[] = []
  readonly #waiters: Array<Deferred<void>> = []

  relay(to: Identifier, _bytes: Uint8Array, _options?: AbortOptions): Promise<void> {
    const call = { to: to.toHex(), done: deferred<void>() }
    this.calls.push(call)
    for (const w of this.#waiters.splice(0)) w.resolve()
    return call.done.promise
  }

  onDeliver(): Unsubscribe {
    return () => {}
  }

  /** The `i`-th call (0-based), once it was made. */
  async call(i: number): Promise<RelayCall> {
    while (this.calls.length <= i) {
      const w = deferred<void>()
      this.#waiters.push(w)
      await w.promise
    }
    return this.calls[i]!
  }
}

const WAIT_MS = 1_000

describe('composite signaling routes', () => {
  const made: CompositeSignaling[] = []
  afterEach(async () => {
    vi.useRealTimers()
    await Promise.all(made.splice(0).map((c) => c.stop()))
  })

  /** A started composite (server joined, overlay attached to a scripted relay), and the peer it signals. */
  async function started(): Promise<{
    composite: CompositeSignaling
    overlay: OverlaySignaling
    server: FakeServer
    relay: ScriptedRelay
    to: Identifier
  }> {
    const keyPair = await generateKeyPair()
    const localId = Identifier.fromPublicKey(keyPair.publicKey)
    // the overlay's own timeout is far off: what is measured here is the composite's wait
    const overlay = createOverlaySignaling({ localId, keyPair, relayTimeoutMs: 600_000 })
    const relay = new ScriptedRelay()
    overlay.attach(relay)
    const server = new FakeServer()
    const composite = createCompositeSignaling({ server, overlay, overlayWaitMs: WAIT_MS })
    made.push(composite)
    composite.start()
    await composite.ready()
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    return { composite, overlay, server, relay, to: Identifier.random() }
  }

  it('emits the sealed signals the server delivered in their order, whichever verification finishes first', async () => {
    const { composite, overlay, server } = await started()
    const from = Identifier.random()
    const opens = [deferred<OpenedSignal>(), deferred<OpenedSignal>(), deferred<OpenedSignal>()]
    let opened = 0
    vi.spyOn(overlay, 'open').mockImplementation(() => opens[opened++]!.promise)
    const got: string[] = []
    const both = deferred<void>()
    composite.on('signal', (_from, session) => {
      got.push(session)
      if (got.length === 2) both.resolve()
    })
    for (let i = 0; i < 3; i++) server.deliver(from, 's', { sealed: '{}' })
    // the last two verify first; the first is refused: nothing may overtake it while it is being verified
    opens[2]!.resolve({ from, session: 'third', data: {} })
    opens[1]!.resolve({ from, session: 'second', data: {} })
    await yieldTask()
    expect(got).toEqual([])
    opens[0]!.reject(new Error('refused'))
    await both.promise
    expect(got).toEqual(['second', 'third'])
  })

  it('sends a signal the overlay has not delivered within overlayWaitMs through the server too, while it is connected', async () => {
    const { composite, server, relay, to } = await started()
    const sending = composite.signal(to, 's1', { n: 1 })
    await relay.call(0)
    await vi.advanceTimersByTimeAsync(WAIT_MS - 1)
    expect(server.sent).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    await sending
    expect(server.sent).toHaveLength(1)
    expect(server.sent[0]).toMatchObject({ to: to.toHex(), session: 's1' })
    expect(composite.routeMetrics()).toMatchObject({ serverSignalsSent: 1, overlayFallbacks: 1 })
  })

  it('leaves the server alone when the overlay delivers in time', async () => {
    const { composite, server, relay, to } = await started()
    const sending = composite.signal(to, 's1', { n: 1 })
    ;(await relay.call(0)).done.resolve()
    await sending
    await vi.advanceTimersByTimeAsync(WAIT_MS * 5)
    expect(server.sent).toEqual([])
    expect(composite.routeMetrics()).toMatchObject({
      serverSignalsSent: 0,
      overlaySignalsSent: 1,
      overlayFallbacks: 0,
    })
  })

  it('gives the overlay route all its time once the server connection is lost', async () => {
    const { composite, server, relay, to } = await started()
    server.lose()
    const sending = composite.signal(to, 's1', { n: 1 })
    const call = await relay.call(0)
    await vi.advanceTimersByTimeAsync(WAIT_MS * 10)
    expect(server.sent).toEqual([])
    call.done.resolve()
    await sending
    expect(composite.routeMetrics()).toMatchObject({ serverSignalsSent: 0, overlaySignalsSent: 1 })
  })

  it('falls back to the server at once when the overlay route fails', async () => {
    const { composite, server, relay, to } = await started()
    const sending = composite.signal(to, 's1', { n: 1 })
    ;(await relay.call(0)).done.reject(new ConnectionFailedError('no overlay route'))
    await sending
    expect(server.sent).toHaveLength(1)
    expect(composite.routeMetrics()).toMatchObject({ serverSignalsSent: 1, overlayFallbacks: 1 })
  })

  it("holds a session's later signal until its first one arrived, and does not hold another session", async () => {
    const { composite, overlay, relay, to } = await started()
    const seal = vi.spyOn(overlay, 'seal')
    const first = composite.signal(to, 's1', { offer: true })
    const firstCall = await relay.call(0)
    const later = composite.signal(to, 's1', { candidate: 1 })
    const other = composite.signal(to, 's2', { offer: true })
    // the other session goes at once, while s1's first signal is still on its way
    ;(await relay.call(1)).done.resolve()
    await other
    await seal.mock.results[1]!.value
    await yieldTask()
    expect(relay.calls).toHaveLength(2)
    firstCall.done.resolve()
    await first
    ;(await relay.call(2)).done.resolve()
    await later
    expect(composite.routeMetrics().overlaySignalsSent).toBe(3)
  })

  it("rejects with the server's error when a slow overlay route and the server both fail", async () => {
    const { composite, server, relay, to } = await started()
    server.failure = new SignalingUnavailableError('not connected')
    const sending = composite.signal(to, 's1', { n: 1 })
    sending.catch(() => {})
    const call = await relay.call(0)
    await vi.advanceTimersByTimeAsync(WAIT_MS)
    expect(server.sent).toHaveLength(1)
    call.done.reject(new ConnectionFailedError('no route onward'))
    await expect(sending).rejects.toBe(server.failure)
  })

  it('rejects a negative overlayWaitMs', async () => {
    const keyPair = await generateKeyPair()
    const localId = Identifier.fromPublicKey(keyPair.publicKey)
    const overlay = createOverlaySignaling({ localId, keyPair })
    expect(() => createCompositeSignaling({ server: new FakeServer(), overlay, overlayWaitMs: -1 })).toThrow(
      expect.objectContaining({ name: 'InvalidOptionsError' }),
    )
  })
})

describe('overlay signaling delivery', () => {
  it('emits the signals its relay delivered in their order, whichever verification finishes first', async () => {
    const keyPair = await generateKeyPair()
    const overlay = createOverlaySignaling({ localId: Identifier.fromPublicKey(keyPair.publicKey), keyPair })
    let deliver: ((bytes: Uint8Array) => void | Promise<void>) | undefined
    overlay.attach({
      relay: async () => {},
      onDeliver: (handler) => {
        deliver = handler
        return () => {}
      },
    })
    overlay.start()
    await overlay.ready()
    try {
      const from = Identifier.random()
      const opens = [deferred<OpenedSignal>(), deferred<OpenedSignal>(), deferred<OpenedSignal>()]
      let opened = 0
      vi.spyOn(overlay, 'open').mockImplementation(() => opens[opened++]!.promise)
      const got: string[] = []
      overlay.on('signal', (_from, session) => got.push(session))
      const bytes = new TextEncoder().encode('{}')
      const delivered = [0, 1, 2].map(() => Promise.resolve(deliver!(bytes)))
      opens[2]!.resolve({ from, session: 'third', data: {} })
      opens[1]!.resolve({ from, session: 'second', data: {} })
      await yieldTask()
      expect(got).toEqual([])
      // the first is refused: its delivery reports it, and the others follow in order
      opens[0]!.reject(new Error('refused'))
      await expect(delivered[0]).rejects.toThrow('refused')
      await Promise.all(delivered.slice(1))
      expect(got).toEqual(['second', 'third'])
    } finally {
      await overlay.stop()
    }
  })
})
