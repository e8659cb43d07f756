import { generateKeyPair, Identifier, type KeyPair } from '@skipmesh/core'
import { bytesToHex } from '@skipmesh/core/internal'
import { challengeBytes } from '@skipmesh/signaling-protocol'
import type { ClientSocket, Peer } from './helpers.js'

/** An extra id added to a peer's socket. */
export interface Extra {
  readonly id: string
  readonly keys: KeyPair
}

/** Adds an extra id to `host`'s socket (`add-identity` + `prove-identity`); throws with the code when refused. */
export async function addIdentity(
  host: Peer,
  room: string,
  options: { id?: string; keys?: KeyPair; signWith?: KeyPair } = {},
): Promise<Extra> {
  const keys = options.keys ?? (await generateKeyPair())
  const id = options.id ?? Identifier.random().toHex()
  const added = await host.socket
    .timeout(5000)
    .emitWithAck('add-identity', { id, publicKey: bytesToHex(keys.publicKey) })
  if (!added.ok) throw Object.assign(new Error(added.error.code), { code: added.error.code })
  const signature = await (options.signWith ?? keys).sign(challengeBytes(room, id, added.challenge))
  const proved = await host.socket
    .timeout(5000)
    .emitWithAck('prove-identity', { id, signature: bytesToHex(signature) })
  if (!proved.ok) throw Object.assign(new Error(proved.error.code), { code: proved.error.code })
  return { id, keys }
}

/** The host the server names for `id`, `unknown` when it names none, or the refusal code. */
export async function resolveHost(socket: ClientSocket, id: string): Promise<string> {
  const res = await socket.timeout(5000).emitWithAck('resolve', { ids: [id] })
  return res.ok ? (res.hosts[id] ?? 'unknown') : `refused:${res.error.code}`
}
