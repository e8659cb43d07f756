import type { AbortOptions, Identifier, KeyPair, Unsubscribe } from '@skipmesh/core'
import { bytesToHex } from '@skipmesh/core/internal'
import { ackSchema, challengeBytes, JoinResponseSchema } from '@skipmesh/signaling-protocol'
import * as v from 'valibot'
import { SignalingRejectedError, SignalingUnavailableError } from './errors.js'
import type { SignalingClient } from './signaling-client.js'

const ChallengeAckSchema = ackSchema(JoinResponseSchema)
const EmptyAckSchema = ackSchema(v.object({}))

/**
 * The extra identities a host's signaling socket carries: adds each with its own key (`add-identity`, then the
 * signed challenge in `prove-identity`), removes them, and adds them all again after the client re-joins. An identity
 * added while the client is not joined (the server is down) is bound when it joins again.
 */
export class HostIdentities {
  readonly #client: SignalingClient
  readonly #keys = new Map<string, { id: Identifier; keyPair: KeyPair; bound: boolean }>()
  readonly #off: Unsubscribe
  /** Identities that could not be added again after a re-join (their nodes are unreachable until then). */
  failedRejoins = 0

  constructor(client: SignalingClient) {
    this.#client = client
    this.#off = client.on('authenticated', () => void this.#rejoin())
  }

  /** Identities kept to be bound when the client joins again (added while it was not joined). */
  get unbound(): number {
    let n = 0
    for (const k of this.#keys.values()) if (!k.bound) n++
    return n
  }

  /**
   * Binds `id` to `keyPair` on the server, carried by this host's socket; when the client is not joined (the server
   * is unreachable), keeps it and binds it once the client joins again (resolves at once, unbound).
   * @throws {SignalingRejectedError} when the server refuses (`id-taken`, `bad-signature`, `room-full`, …).
   * @throws {SignalingUnavailableError} when the client is joined but the server does not answer.
   * @throws {AbortError} when `options.signal` aborts.
   */
  async add(id: Identifier, keyPair: KeyPair, options: AbortOptions = {}): Promise<void> {
    const hex = id.toHex()
    const entry = { id, keyPair, bound: false }
    if (!this.#client.authenticated) {
      // bound by the next re-join
      this.#keys.set(hex, entry)
      return
    }
    try {
      await this.#prove(id, keyPair, options)
    } catch (err) {
      // the connection dropped meanwhile: the re-join binds it
      if (!(err instanceof SignalingUnavailableError) || this.#client.authenticated) throw err
      this.#keys.set(hex, entry)
      return
    }
    entry.bound = true
    this.#keys.set(hex, entry)
  }

  /** Releases `id` on the server (best effort: a disconnected socket released it already). */
  async remove(id: Identifier, options: AbortOptions = {}): Promise<void> {
    if (!this.#keys.delete(id.toHex())) return
    try {
      await this.#client.request('remove-identity', { id: id.toHex() }, EmptyAckSchema, options)
    } catch {
      // the socket is gone: the server released every id it carried
    }
  }

  /** Stops re-adding identities. */
  close(): void {
    this.#off()
    this.#keys.clear()
  }

  async #prove(id: Identifier, keyPair: KeyPair, options: AbortOptions): Promise<void> {
    const client = this.#client
    const hex = id.toHex()
    const added = await client.request(
      'add-identity',
      { id: hex, publicKey: bytesToHex(keyPair.publicKey) },
      ChallengeAckSchema,
      options,
    )
    if (!added.ok) throw new SignalingRejectedError(added.error.code, added.error.message)
    const signature = await keyPair.sign(challengeBytes(client.room, hex, added.challenge))
    const proved = await client.request(
      'prove-identity',
      { id: hex, signature: bytesToHex(signature) },
      EmptyAckSchema,
      options,
    )
    if (!proved.ok) throw new SignalingRejectedError(proved.error.code, proved.error.message)
  }

  async #rejoin(): Promise<void> {
    for (const entry of [...this.#keys.values()]) {
      entry.bound = false
      try {
        await this.#prove(entry.id, entry.keyPair, {})
        entry.bound = true
      } catch {
        this.failedRejoins++
      }
    }
  }
}
