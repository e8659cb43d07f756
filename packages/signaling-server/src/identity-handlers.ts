/**
 * The handlers of a socket's extra identities (a host carrying many nodes on one socket): `add-identity` and
 * `prove-identity` bind each extra id to its own key through the same challenge as `join` / `authenticate`,
 * `remove-identity` releases one, `resolve` names the hosts that carry ids. Extra ids live in the registry
 * like any id (Redis included), with the carrying socket's own id recorded as their `host`.
 *
 * @module
 */
import { randomNonce } from '@skipmesh/core/internal'
import { challengeBytes, type JoinResponse, type ResponseOf } from '@skipmesh/signaling-protocol'
import { claimForSocket } from './claim.js'
import { type ExtraIdentity, Refusal, roomKey, type ServerContext } from './context.js'
import type { Payload } from './handlers.js'
import type { SocketSession } from './session.js'
import { verifyEd25519 } from './verify.js'

function identitiesOf(session: SocketSession): Record<string, ExtraIdentity> {
  const data = session.socket.data
  data.identities ??= {}
  return data.identities
}

/** `add-identity`: checks the id is free for this key, then hands out a challenge to sign. */
export async function addIdentity(
  ctx: ServerContext,
  session: SocketSession,
  { id, publicKey }: Payload<'add-identity'>,
): Promise<JoinResponse> {
  const { room, id: host } = session.self()
  const identities = identitiesOf(session)
  if (id === host || identities[id]?.live === true) {
    throw new Refusal('already-joined', 'this socket already carries this id')
  }
  const max = ctx.options.maxIdentitiesPerSocket
  if (identities[id] === undefined && Object.keys(identities).length >= max) {
    throw new Refusal('too-many-identities', `a socket carries at most ${max} extra ids`)
  }
  const owner = await ctx.registry.owner(room, id)
  if (owner !== undefined && owner.publicKey !== publicKey) {
    throw new Refusal('id-taken', 'another key owns this id in this room')
  }
  const challenge = randomNonce(32)
  identities[id] = { publicKey, challenge, live: false }
  return { challenge }
}

/**
 * `prove-identity`: verifies the signature, claims the id for this socket with its host recorded, and announces
 * `peer-joined { id, host }`. Taking an id over from another socket (same key) announces `peer-left` first; that
 * socket keeps its connection (it may carry other ids) and can no longer release the id.
 */
export async function proveIdentity(
  ctx: ServerContext,
  session: SocketSession,
  { id, signature }: Payload<'prove-identity'>,
): Promise<ResponseOf<'prove-identity'>> {
  const { room, id: host } = session.self()
  const { socket } = session
  const identities = identitiesOf(session)
  const pending = identities[id]
  if (pending?.challenge === undefined) throw new Refusal('not-joined', 'add-identity first')
  const { challenge, publicKey } = pending
  delete pending.challenge
  if (!verifyEd25519(publicKey, challengeBytes(room, id, challenge), signature)) {
    if (!pending.live) delete identities[id]
    throw new Refusal('bad-signature', 'signature does not verify; add the identity again')
  }
  const replaced = await claimForSocket(ctx, session, { room, id, publicKey, host }, () => {
    delete identities[id]
  })
  pending.live = true
  ctx.metrics.joins.inc()
  if (replaced !== undefined) socket.to(roomKey(room)).emit('peer-left', { id })
  socket.to(roomKey(room)).emit('peer-joined', { id, host })
  return {}
}

/** `remove-identity`: releases an extra id of this socket and announces `peer-left`. */
export async function removeIdentity(
  ctx: ServerContext,
  session: SocketSession,
  { id }: Payload<'remove-identity'>,
): Promise<ResponseOf<'remove-identity'>> {
  const { room } = session.self()
  const identities = identitiesOf(session)
  if (identities[id] === undefined) throw new Refusal('not-joined', 'this socket does not carry this id')
  const extra = { [id]: identities[id] }
  delete identities[id]
  await releaseIdentities(ctx, session.socket.id, room, extra)
  return {}
}

/** `resolve`: the hosts that carry the live ones of `ids` in the sender's room. */
export async function resolve(
  ctx: ServerContext,
  session: SocketSession,
  { ids }: Payload<'resolve'>,
): Promise<ResponseOf<'resolve'>> {
  const { room } = session.self()
  const unique = [...new Set(ids)]
  const owners = await Promise.all(unique.map((id) => ctx.registry.owner(room, id)))
  const hosts: Record<string, string> = {}
  for (const [i, id] of unique.entries()) {
    const owner = owners[i]
    if (owner?.live === true) hosts[id] = owner.host ?? id
  }
  return { hosts }
}

/** Releases the live extra ids of a socket that still holds them, announcing each released one. */
export async function releaseIdentities(
  ctx: ServerContext,
  socketId: string,
  room: string,
  identities: Record<string, ExtraIdentity> | undefined,
): Promise<void> {
  if (identities === undefined) return
  for (const [id, identity] of Object.entries(identities)) {
    if (identity.live && (await ctx.registry.release(room, id, socketId))) ctx.announceLeft([{ room, id }])
  }
}
