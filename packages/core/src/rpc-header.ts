import type { RpcHeader } from './message.js'

/** Bytes of an encoded request header: the kind letter, then 32 lower-case hex digits of the nonce. */
export const RPC_HEADER_LENGTH = 33
/** Hex digits of a request nonce. */
export const RPC_NONCE_LENGTH = 32

const KIND_LETTER = { request: 0x71, reply: 0x61, error: 0x65 } as const // q, a, e

function kindOf(letter: number): RpcHeader['kind'] | undefined {
  if (letter === 0x71) return 'request'
  if (letter === 0x61) return 'reply'
  if (letter === 0x65) return 'error'
  return undefined
}

/** Whether `nonce` is a well-formed request nonce (32 lower-case hex digits). */
export function isRpcNonce(nonce: unknown): nonce is string {
  if (typeof nonce !== 'string' || nonce.length !== RPC_NONCE_LENGTH) return false
  for (let i = 0; i < RPC_NONCE_LENGTH; i++) if (!isLowerHex(nonce.charCodeAt(i))) return false
  return true
}

function isLowerHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)
}

/** The header encoded in `length` bytes at `at`, or `undefined` when they are not one. */
export function readRpcHeader(bytes: Uint8Array, at: number, length: number): RpcHeader | undefined {
  if (length !== RPC_HEADER_LENGTH) return undefined
  const kind = kindOf(bytes[at]!)
  if (kind === undefined) return undefined
  let nonce = ''
  for (let i = at + 1; i < at + RPC_HEADER_LENGTH; i++) {
    const c = bytes[i]!
    if (!isLowerHex(c)) return undefined
    nonce += String.fromCharCode(c)
  }
  return { kind, nonce }
}

/**
 * Writes `header` (33 bytes) at `pos`.
 * @throws {TypeError} when the header is malformed.
 */
export function writeRpcHeader(out: Uint8Array, pos: number, header: RpcHeader): void {
  const letter = KIND_LETTER[header.kind]
  if (letter === undefined || !isRpcNonce(header.nonce)) throw new TypeError('malformed request header')
  out[pos] = letter
  for (let i = 0; i < RPC_NONCE_LENGTH; i++) out[pos + 1 + i] = header.nonce.charCodeAt(i)
}
