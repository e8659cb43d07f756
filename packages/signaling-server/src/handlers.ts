/**
 * One handler per client event, each `(ctx, session, payload)` with the payload already validated by the
 * protocol's schema. A handler resolves with the success part of the ack, or throws a {@link Refusal} carrying the
 * protocol error code; anything else it throws becomes `internal`.
 *
 * @module
 */
import { randomNonce } from '@skipmesh/core/internal'
import {
  type ClientEventName,
  type ClientRequestSchemas,
  challengeBytes,
  type JoinResponse,
  type PeersPage,
  type ResponseOf,
} from '@skipmesh/signaling-protocol'
import type * as v from 'valibot'
import { claimForSocket } from './claim.js'
import { peerKey, Refusal, roomKey, type ServerContext } from './context.js'
import {
  addIdentity,
  proveIdentity,
  releaseIdentities,
  removeIdentity,
  resolve,
} from './identity-handlers.js'
import type { SocketSession } from './session.js'
import { issueTurnCredentials } from './turn.js'
import { verifyEd25519 } from './verify.js'

/** The validated payload of client event `E`. */
export type Payload<E extends ClientEventName> = v.InferOutput<(typeof ClientRequestSchemas)[E]>

/** The handler of client event `E`. */
export type Handler<E extends ClientEventName> = (
  ctx: ServerContext,
  session: SocketSession,
  payload: Payload<E>,
) => Promise<ResponseOf<E>>

function page(ctx: ServerContext, room: string, id: string, after?: string): Promise<PeersPage> {
  return ctx.registry.list(room, {
    limit: ctx.options.pageSize,
    exclude: id,
    ...(after === undefined ? {} : { after }),
  })
}

/** `join`: checks the id is free for this key and the room has space, then hands out a challenge to sign. */
export async function join(
  ctx: ServerContext,
  session: SocketSession,
  { room, id, publicKey }: Payload<'join'>,
): Promise<JoinResponse> {
  const { socket } = session
  if (socket.data.room !== undefined) throw new Refusal('already-joined', 'this socket already joined a room')
  const owner = await ctx.registry.owner(room, id)
  if (owner !== undefined && owner.publicKey !== publicKey) {
    throw new Refusal('id-taken', 'another key owns this id in this room')
  }
  const max = ctx.options.maxPeersPerRoom
  if (owner?.live !== true && max > 0 && (await ctx.registry.count(room)) >= max) {
    throw new Refusal('room-full', `room holds ${max} peers`)
  }
  const challenge = randomNonce(32)
  socket.data = { room, id, publicKey, challenge, authenticated: false }
  // this server pushes the refusal of a signal sent without an ack (session.ts, rate-limit.ts)
  return { challenge, signalRefusals: true }
}

/**
 * `authenticate`: verifies the challenge signature, claims the id in the registry (evicting this key's stale
 * socket), joins the room and announces the peer; answers the first page of peers.
 */
export async function authenticate(
  ctx: ServerContext,
  session: SocketSession,
  { signature }: Payload<'authenticate'>,
): Promise<PeersPage> {
  const { socket } = session
  const { room, id, publicKey, challenge, authenticated } = socket.data
  if (authenticated === true) throw new Refusal('already-joined', 'already authenticated')
  if (room === undefined || id === undefined || publicKey === undefined || challenge === undefined) {
    throw new Refusal('not-joined', 'join first')
  }
  delete socket.data.challenge
  if (!verifyEd25519(publicKey, challengeBytes(room, id, challenge), signature)) {
    session.resetJoin()
    throw new Refusal('bad-signature', 'signature does not verify; join again')
  }
  const replacedSocketId = await claimForSocket(ctx, session, { room, id, publicKey }, () =>
    session.resetJoin(),
  )
  await socket.join([roomKey(room), peerKey(room, id)])
  socket.data.authenticated = true
  session.clearAuthDeadline()
  ctx.metrics.joins.inc()
  if (replacedSocketId !== undefined) {
    ctx.log.info('peer replaced its stale socket', {
      room,
      id,
      socket: socket.id,
      old: replacedSocketId,
    })
    ctx.io.in(replacedSocketId).disconnectSockets(true)
    socket.to(roomKey(room)).emit('peer-left', { id })
  }
  socket.to(roomKey(room)).emit('peer-joined', { id })
  ctx.log.debug('peer joined', { room, id, socket: socket.id })
  return page(ctx, room, id)
}

/** `list-peers`: the page of the room's ids after `cursor`. */
export async function listPeers(
  ctx: ServerContext,
  session: SocketSession,
  { cursor }: Payload<'list-peers'>,
): Promise<PeersPage> {
  const { room, id } = session.self()
  return page(ctx, room, id, cursor)
}

/** `signal`: relays `data` to a live peer of the sender's room, with `from` stamped from the sender's identity. */
export async function signal(
  ctx: ServerContext,
  session: SocketSession,
  payload: Payload<'signal'>,
): Promise<ResponseOf<'signal'>> {
  const { room, id } = session.self()
  const live = payload.to !== id && (await ctx.registry.isLive(room, payload.to))
  relay(ctx, room, id, payload, live)
  return {}
}

/**
 * `signal` decided at once when the registry answers liveness without a promise (the registry's `isLiveNow`): the
 * same checks, delivery and count as {@link signal}. False (nothing done) when the registry cannot.
 * @throws {Refusal} as {@link signal}.
 */
export function signalNow(ctx: ServerContext, session: SocketSession, payload: Payload<'signal'>): boolean {
  const { registry } = ctx
  if (registry.isLiveNow === undefined) return false
  const { room, id } = session.self()
  relay(ctx, room, id, payload, payload.to !== id && registry.isLiveNow(room, payload.to))
  return true
}

function relay(
  ctx: ServerContext,
  room: string,
  from: string,
  { to, session, data }: Payload<'signal'>,
  live: boolean,
): void {
  if (!live) throw new Refusal('unknown-peer', 'no such peer in this room')
  ctx.deliverSignal(room, to, { from, session, data })
  ctx.metrics.signalsRelayed.inc()
}

/** `leave`: leaves the room (the id stays owned by the key for the grace period); the socket may join again. */
export async function leave(
  ctx: ServerContext,
  session: SocketSession,
  _payload: Payload<'leave'>,
): Promise<ResponseOf<'leave'>> {
  const { socket } = session
  const { room, id, authenticated } = socket.data
  if (room === undefined || id === undefined) throw new Refusal('not-joined', 'not in a room')
  const extra = socket.data.identities
  session.resetJoin()
  if (authenticated === true) {
    await socket.leave(roomKey(room))
    await socket.leave(peerKey(room, id))
    if (await ctx.registry.release(room, id, socket.id)) ctx.announceLeft([{ room, id }])
    await releaseIdentities(ctx, socket.id, room, extra)
  }
  session.armAuthDeadline()
  return {}
}

/** `ice-servers`: time-limited TURN credentials for the sender's id (none without TURN configured). */
export async function iceServers(
  ctx: ServerContext,
  session: SocketSession,
): Promise<ResponseOf<'ice-servers'>> {
  const { id } = session.self()
  const turn = ctx.options.turn
  return { iceServers: turn === undefined ? [] : [issueTurnCredentials(turn, id, Date.now())] }
}

/** A handler and whether its event may come without a payload (taken as `{}`). */
export interface HandlerEntry<E extends ClientEventName> {
  readonly run: Handler<E>
  readonly payloadOptional: boolean
}

/** The handler of every client event of the protocol. */
export const handlers: { readonly [E in ClientEventName]: HandlerEntry<E> } = {
  join: { run: join, payloadOptional: false },
  authenticate: { run: authenticate, payloadOptional: false },
  'list-peers': { run: listPeers, payloadOptional: true },
  signal: { run: signal, payloadOptional: false },
  leave: { run: leave, payloadOptional: true },
  'add-identity': { run: addIdentity, payloadOptional: false },
  'prove-identity': { run: proveIdentity, payloadOptional: false },
  'remove-identity': { run: removeIdentity, payloadOptional: false },
  resolve: { run: resolve, payloadOptional: false },
  'ice-servers': { run: iceServers, payloadOptional: true },
}
