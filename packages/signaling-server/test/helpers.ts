import { generateKeyPair, Identifier, type KeyPair } from '@skipmesh/core'
import { io, type Socket } from 'socket.io-client'
import { afterEach } from 'vitest'
import { bytesToHex } from '@skipmesh/core/internal'
import {
  challengeBytes,
  type ClientToServerEvents,
  type PeersPage,
  type ServerToClientEvents,
} from '@skipmesh/signaling-protocol'
import { silentLogger } from '../src/logger.js'
import type { SignalingServerOptions } from '../src/options.js'
import { createSignalingServer, type SignalingServer } from '../src/server.js'

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>

const servers: SignalingServer[] = []
const sockets: ClientSocket[] = []

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect()
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

/** Starts a silent server on a free port, closed after the test. */
export async function startServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const server = await createSignalingServer({ logger: silentLogger, ...options })
  servers.push(server)
  return server
}

/** Connects a client (no reconnection), disconnected after the test. */
export async function connect(
  url: string,
  options: { transports?: ('websocket' | 'polling')[]; extraHeaders?: Record<string, string> } = {},
): Promise<ClientSocket> {
  const socket: ClientSocket = io(url, {
    transports: options.transports ?? ['websocket'],
    reconnection: false,
    forceNew: true,
    ...(options.extraHeaders === undefined ? {} : { extraHeaders: options.extraHeaders }),
  })
  sockets.push(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  return socket
}

/** A peer of a room: its socket, id, keys and the first page it got. */
export interface Peer {
  readonly socket: ClientSocket
  readonly id: string
  readonly keys: KeyPair
  readonly page: PeersPage
}

/** Connects, joins `room` and authenticates; throws with the error code when refused. */
export async function joinAs(
  url: string,
  room: string,
  options: { id?: string; keys?: KeyPair; socket?: ClientSocket } = {},
): Promise<Peer> {
  const socket = options.socket ?? (await connect(url))
  const keys = options.keys ?? (await generateKeyPair())
  const id = options.id ?? Identifier.random().toHex()
  const joined = await socket
    .timeout(5000)
    .emitWithAck('join', { room, id, publicKey: bytesToHex(keys.publicKey) })
  if (!joined.ok) throw Object.assign(new Error(joined.error.code), { code: joined.error.code })
  const signature = await keys.sign(challengeBytes(room, id, joined.challenge))
  const auth = await socket.timeout(5000).emitWithAck('authenticate', { signature: bytesToHex(signature) })
  if (!auth.ok) throw Object.assign(new Error(auth.error.code), { code: auth.error.code })
  const { ok: _ok, ...page } = auth
  return { socket, id, keys, page }
}

/** Resolves with the next `event` payload matching `pred`; rejects after `timeoutMs`. */
export function nextEvent<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
  pred: (payload: Parameters<ServerToClientEvents[E]>[0]) => boolean = () => true,
  timeoutMs = 5000,
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(timeoutMs)
    const listener = ((payload: Parameters<ServerToClientEvents[E]>[0]) => {
      if (!pred(payload)) return
      socket.off(event, listener as never)
      resolve(payload)
    }) as never
    socket.on(event, listener)
    signal.addEventListener('abort', () => {
      socket.off(event, listener)
      reject(new Error(`timed out waiting for ${event}`))
    })
  })
}

/** Resolves when the socket is disconnected (with the reason); rejects after `timeoutMs`. */
export function disconnected(socket: ClientSocket, timeoutMs = 5000): Promise<string> {
  if (socket.disconnected) return Promise.resolve('already disconnected')
  return new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(timeoutMs)
    socket.once('disconnect', (reason) => resolve(reason))
    signal.addEventListener('abort', () => reject(new Error('timed out waiting for disconnect')))
  })
}

/** Collects every `event` payload a socket receives. */
export function collect<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
): Parameters<ServerToClientEvents[E]>[0][] {
  const out: Parameters<ServerToClientEvents[E]>[0][] = []
  socket.on(event, ((p: Parameters<ServerToClientEvents[E]>[0]) => out.push(p)) as never)
  return out
}

/** Asserts the healthy pair still relays: `a` signals `b` and `b` receives it with `from` = a.id. */
export async function assertRelays(a: Peer, b: Peer): Promise<void> {
  const session = `check-${Math.random().toString(36).slice(2)}`
  const got = nextEvent(b.socket, 'signal', (s) => s.session === session)
  const ack = await a.socket
    .timeout(5000)
    .emitWithAck('signal', { to: b.id, session, data: { type: 'offer', sdp: 'v=0' } })
  if (!ack.ok) throw new Error(`relay refused: ${ack.error.code}`)
  const signal = await got
  if (signal.from !== a.id) throw new Error('wrong from')
}
