/**
 * The bytes a client signs to prove its key: the only part of the protocol that is not a payload shape.
 *
 * @module
 */
import { PROTOCOL_VERSION } from './events.js'

const encoder = new TextEncoder()

/**
 * The bytes a client signs to prove it owns `publicKey` for `id` in `room`: UTF-8 of
 * `skipmesh-signal-v1\n${room}\n${id}\n${challenge}`.
 */
export function challengeBytes(room: string, id: string, challenge: string): Uint8Array {
  return encoder.encode(`skipmesh-signal-v${PROTOCOL_VERSION}\n${room}\n${id}\n${challenge}`)
}
