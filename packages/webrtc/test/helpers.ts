import { generateKeyPair, Identifier } from '@skipmesh/core'
import { createSignalingServer, type SignalingServer, silentLogger } from '@skipmesh/signaling-server'
import wrtc from '@roamhq/wrtc'
import * as ndc from 'node-datachannel/polyfill'
import { afterAll, afterEach, beforeAll } from 'vitest'
import {
  createWebRtcConnectionManager,
  type WebRtcConnectionManager,
  type WebRtcConnectionManagerOptions,
} from '../src/manager.js'
import { nodeDatachannelWrtc } from '../src/node-datachannel-adapter.js'
import { createSignalingClient, type SignalingClient } from '../src/signaling-client.js'
import type { WebRtcConnection } from '../src/connection.js'
import type { RTCPeerConnectionConstructor, WrtcImplementation } from '../src/wrtc.js'

/** The two Node WebRTC implementations under test. */
export const implementations: Record<'wrtc' | 'node-datachannel', () => WrtcImplementation> = {
  wrtc: () => wrtc as unknown as WrtcImplementation,
  'node-datachannel': () => nodeDatachannelWrtc(ndc),
}

/** A real signaling server on a free loopback port, with a rate limit that does not get in the way of tests. */
export function startSignalingServer(): Promise<SignalingServer> {
  return createSignalingServer({
    port: 0,
    host: '127.0.0.1',
    logger: silentLogger,
    rateLimit: { points: 10_000, durationMs: 1_000 },
  })
}

/** Wraps an implementation so that every RTCPeerConnection it makes is counted (created and still open). */
export function countingWrtc(impl: WrtcImplementation): WrtcImplementation & {
  created: () => number
  open: () => number
} {
  let created = 0
  let closed = 0
  const Base = impl.RTCPeerConnection
  class Counting extends Base {
    #closed = false
    constructor(config?: RTCConfiguration) {
      super(config)
      created++
    }
    override close(): void {
      if (!this.#closed) {
        this.#closed = true
        closed++
      }
      super.close()
    }
  }
  return {
    RTCPeerConnection: Counting as RTCPeerConnectionConstructor,
    RTCSessionDescription: impl.RTCSessionDescription,
    RTCIceCandidate: impl.RTCIceCandidate,
    created: () => created,
    open: () => created - closed,
  }
}

/** Makes, starts and readies managers against one server; `stopAll` stops them. */
export function managerFactory(
  server: SignalingServer,
  impl: WrtcImplementation,
  room = `room-${Math.random().toString(36).slice(2)}`,
  overrides: Partial<WebRtcConnectionManagerOptions> = {},
): {
  make(id?: Identifier, extra?: Partial<WebRtcConnectionManagerOptions>): Promise<WebRtcConnectionManager>
  stopAll(): Promise<void>
  room: string
} {
  const made: WebRtcConnectionManager[] = []
  return {
    room,
    async make(id = Identifier.random(), extra = {}) {
      const m = createWebRtcConnectionManager({
        localId: id,
        keyPair: await generateKeyPair(),
        signaling: { url: server.url, room },
        rtc: { iceServers: [] },
        wrtc: impl,
        ...overrides,
        ...extra,
      })
      made.push(m)
      m.start()
      await m.ready()
      return m
    },
    async stopAll() {
      await Promise.all(made.splice(0).map((m) => m.stop()))
    },
  }
}

/** What {@link useSignalingServer} gives a test file. */
export interface SignalingServerFixture {
  /** The file's server (started before its first test, closed after its last). */
  readonly server: SignalingServer
  /**
   * A raw signaling client in `room` under `id`, started and joined; stopped after the test. Against the file's
   * server unless `server` is given; `options` over the fixture's client options.
   */
  client(
    room: string,
    id?: Identifier,
    server?: SignalingServer,
    options?: { ackEverySignal?: boolean },
  ): Promise<SignalingClient>
  /** A {@link managerFactory} against the file's server (or `options.server`); its managers are stopped after the test. */
  managers(
    impl: WrtcImplementation,
    options?: { room?: string; server?: SignalingServer },
  ): ReturnType<typeof managerFactory>
  /** Stops the raw clients, then the managers made so far (runs after each test; a test may run it earlier). */
  stopAll(): Promise<void>
}

/**
 * The signaling-server fixture of a test file: one real server for the whole file ({@link startSignalingServer}),
 * and the raw clients and managers each test makes through it stopped after that test. Call it at the top level
 * of the file. `clientOptions` apply to every raw client.
 */
export function useSignalingServer(
  clientOptions: { reconnectDelayMs?: number } = {},
): SignalingServerFixture {
  let server: SignalingServer | undefined
  const clients: SignalingClient[] = []
  const factories: Array<ReturnType<typeof managerFactory>> = []
  const fileServer = (): SignalingServer => {
    if (server === undefined) throw new Error('useSignalingServer: the server starts in beforeAll')
    return server
  }
  const fixture: SignalingServerFixture = {
    get server() {
      return fileServer()
    },
    async client(room, id = Identifier.random(), on = fileServer(), options = {}) {
      const client = createSignalingClient({
        url: on.url,
        room,
        localId: id,
        keyPair: await generateKeyPair(),
        ...clientOptions,
        ...options,
      })
      clients.push(client)
      client.start()
      await client.ready()
      return client
    },
    managers(impl, options = {}) {
      const factory = managerFactory(options.server ?? fileServer(), impl, options.room)
      factories.push(factory)
      return factory
    },
    async stopAll() {
      await Promise.all(clients.splice(0).map((c) => c.stop()))
      await Promise.all(factories.splice(0).map((f) => f.stopAll()))
    },
  }
  beforeAll(async () => {
    server = await startSignalingServer()
  })
  afterAll(async () => {
    await server?.close()
  })
  afterEach(() => fixture.stopAll())
  return fixture
}

/** SHA-256 of bytes, hex. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>),
  )
  let s = ''
  for (const b of digest) s += b.toString(16).padStart(2, '0')
  return s
}

/** Two started managers of `factory` and both sides of a connection between them. */
export async function connectedPair(
  factory: ReturnType<typeof managerFactory>,
  extra: Partial<WebRtcConnectionManagerOptions> = {},
): Promise<{
  a: WebRtcConnectionManager
  b: WebRtcConnectionManager
  ab: WebRtcConnection
  ba: WebRtcConnection
}> {
  const a = await factory.make(undefined, extra)
  const b = await factory.make(undefined, extra)
  const incoming = nextConnection(b)
  const ab = await a.connect(b.localId, { signal: AbortSignal.timeout(15_000) })
  const ba = await incoming
  return { a, b, ab, ba }
}

/** The next `'connection'` of `manager`. */
export function nextConnection(
  manager: WebRtcConnectionManager,
  timeoutMs = 15_000,
): Promise<WebRtcConnection> {
  return new Promise<WebRtcConnection>((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error('no connection event'))
    }, timeoutMs)
    const off = manager.on('connection', (c) => {
      clearTimeout(timer)
      off()
      resolve(c)
    })
  })
}

/** Resolves with the close reason once `connection` fired `'close'` (and counts how often it fired). */
export function closeWatcher(connection: WebRtcConnection): {
  closed: Promise<Error | undefined>
  count: () => number
  at: () => number | undefined
} {
  let count = 0
  let at: number | undefined
  const closed = new Promise<Error | undefined>((resolve) => {
    connection.on('close', (reason) => {
      count++
      at ??= performance.now()
      resolve(reason)
    })
  })
  return { closed, count: () => count, at: () => at }
}

/** Collects `n` messages of `connection` (all channels), resolving with them. */
export function collectMessages(
  connection: WebRtcConnection,
  n: number,
  timeoutMs = 60_000,
): { done: Promise<Array<{ channel: string; bytes: Uint8Array }>>; received: () => number } {
  const got: Array<{ channel: string; bytes: Uint8Array }> = []
  const done = new Promise<Array<{ channel: string; bytes: Uint8Array }>>((resolve, reject) => {
    if (n === 0) return resolve(got)
    const timer = setTimeout(
      () => reject(new Error(`only ${got.length} of ${n} messages arrived`)),
      timeoutMs,
    )
    connection.on('message', (channel, bytes) => {
      got.push({ channel, bytes })
      if (got.length === n) {
        clearTimeout(timer)
        resolve(got)
      }
    })
  })
  return { done, received: () => got.length }
}
