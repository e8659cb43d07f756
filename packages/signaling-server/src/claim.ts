import { Refusal, type ServerContext } from './context.js'
import type { Claim } from './registry.js'
import type { SocketSession } from './session.js'

/**
 * Claims an id for `session`'s socket (its own id, or an extra one) in the registry. On refusal runs `onRefused`
 * and throws the {@link Refusal}; when the socket went away meanwhile, gives the registration back and throws
 * `not-joined`. Resolves with the socket that held the id live before, if another one did.
 */
export async function claimForSocket(
  ctx: ServerContext,
  session: SocketSession,
  claim: Omit<Claim, 'socketId' | 'instanceId'>,
  onRefused: () => void,
): Promise<string | undefined> {
  const { socket } = session
  const { instanceId, maxPeersPerRoom } = ctx.options
  const claimed = await ctx.registry.claim({ ...claim, socketId: socket.id, instanceId }, maxPeersPerRoom)
  if (!claimed.ok) {
    onRefused()
    throw new Refusal(
      claimed.reason,
      claimed.reason === 'id-taken' ? 'another key owns this id' : 'room is full',
    )
  }
  const { room, id } = claim
  if (session.closed) {
    // the socket went away while we were claiming: give the registration back
    if (await ctx.registry.release(room, id, socket.id)) ctx.announceLeft([{ room, id }])
    throw new Refusal('not-joined', 'disconnected')
  }
  return claimed.replacedSocketId
}
