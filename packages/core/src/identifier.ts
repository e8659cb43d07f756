import { sha256 } from '@noble/hashes/sha2.js'
import { InvalidIdentifierError } from './errors.js'
import { bytesToHex, hexToBytes } from './internal/hex.js'

/** Length in bytes of an {@link Identifier} and of a {@link MembershipVector}. */
export const IDENTIFIER_LENGTH = 32
/** Length in bytes of the raw Ed25519 public key a self-certifying {@link Identifier} is derived from. */
const PUBLIC_KEY_LENGTH = 32
/** Domain separation of {@link MembershipVector.fromIdentifier}'s hash. */
const MV_DOMAIN = new TextEncoder().encode('skipmesh/mv/1')

function bytesFromHex(hex: string): Uint8Array {
  const bytes = hexToBytes(hex)
  if (bytes === undefined)
    throw new InvalidIdentifierError(`not a hex string: ${JSON.stringify(String(hex).slice(0, 80))}`)
  return bytes
}

function padded(bytes: Uint8Array, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new InvalidIdentifierError(`${what} must be a Uint8Array`)
  if (bytes.length > IDENTIFIER_LENGTH) {
    throw new InvalidIdentifierError(`${what} is ${bytes.length} bytes, at most ${IDENTIFIER_LENGTH} allowed`)
  }
  const out = new Uint8Array(IDENTIFIER_LENGTH)
  out.set(bytes, IDENTIFIER_LENGTH - bytes.length)
  return out
}

function randomBytes(): Uint8Array {
  const out = new Uint8Array(IDENTIFIER_LENGTH)
  globalThis.crypto.getRandomValues(out)
  return out
}

function compareBytes(a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  for (let i = 0; i < IDENTIFIER_LENGTH; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/**
 * A node's 32-byte identifier: the key a skip graph is ordered by, and the address the network sends to.
 * Immutable; compare with {@link Identifier.equals} / {@link Identifier.compare}, never with `===`.
 */
export class Identifier {
  /** The 32 bytes, big-endian. Treat as read-only. */
  readonly bytes: Uint8Array
  #hex: string | undefined

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes
  }

  /**
   * Parses hex (an optional `0x` prefix, at most 64 digits; shorter input is left-padded with zeros).
   * @throws {InvalidIdentifierError} when the string is not hex or is longer than 32 bytes.
   */
  static fromHex(hex: string): Identifier {
    if (typeof hex !== 'string') throw new InvalidIdentifierError('identifier hex must be a string')
    return new Identifier(padded(bytesFromHex(hex), 'identifier'))
  }

  /**
   * Copies up to 32 bytes (shorter input is left-padded with zeros).
   * @throws {InvalidIdentifierError} when `bytes` is longer than 32 bytes or not a Uint8Array.
   */
  static fromBytes(bytes: Uint8Array): Identifier {
    return new Identifier(padded(bytes, 'identifier'))
  }

  /** A uniformly random identifier (WebCrypto). */
  static random(): Identifier {
    return new Identifier(randomBytes())
  }

  /**
   * The self-certifying identifier of an Ed25519 key: SHA-256 of the raw 32-byte public key. Nobody without the
   * key's private half can prove it owns this identifier, so a peer that checks the binding
   * ({@link isSelfCertifying}) never takes another key for it, whatever a server or relay says.
   * @example
   * ```ts
   * const keyPair = await generateKeyPair()
   * const id = Identifier.fromPublicKey(keyPair.publicKey)
   * isSelfCertifying(id, keyPair.publicKey) // true
   * ```
   * @throws {InvalidIdentifierError} when `publicKey` is not a 32-byte Uint8Array.
   */
  static fromPublicKey(publicKey: Uint8Array): Identifier {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_LENGTH) {
      throw new InvalidIdentifierError(`a public key must be ${PUBLIC_KEY_LENGTH} bytes`)
    }
    return new Identifier(sha256(publicKey))
  }

  /** Lower-case hex, 64 digits. */
  toHex(): string {
    this.#hex ??= bytesToHex(this.bytes)
    return this.#hex
  }

  toString(): string {
    return this.toHex()
  }

  toJSON(): string {
    return this.toHex()
  }

  /** Whether both identifiers have the same bytes. */
  equals(other: Identifier): boolean {
    return compareBytes(this.bytes, other.bytes) === 0
  }

  /** Byte-wise (big-endian) order: -1 if this is smaller, 0 if equal, 1 if larger. */
  compare(other: Identifier): -1 | 0 | 1 {
    return compareBytes(this.bytes, other.bytes)
  }
}

/**
 * Whether `id` is the self-certifying identifier of `publicKey` ({@link Identifier.fromPublicKey}). Never throws:
 * anything that is not a 32-byte key gives `false`.
 */
export function isSelfCertifying(id: Identifier, publicKey: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_LENGTH) return false
  return compareBytes(id.bytes, sha256(publicKey)) === 0
}

/**
 * A skip-graph node's 32-byte membership vector: random bits; nodes whose vectors share an i-bit prefix are
 * linked in one list at level i. Bit 0 is the most significant bit of byte 0.
 */
export class MembershipVector {
  /** The 32 bytes. Treat as read-only. */
  readonly bytes: Uint8Array

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes
  }

  /** @throws {InvalidIdentifierError} when the hex is malformed or longer than 32 bytes. */
  static fromHex(hex: string): MembershipVector {
    if (typeof hex !== 'string') throw new InvalidIdentifierError('membership vector hex must be a string')
    return new MembershipVector(padded(bytesFromHex(hex), 'membership vector'))
  }

  /** @throws {InvalidIdentifierError} when `bytes` is longer than 32 bytes. */
  static fromBytes(bytes: Uint8Array): MembershipVector {
    return new MembershipVector(padded(bytes, 'membership vector'))
  }

  /** A uniformly random membership vector (WebCrypto). */
  static random(): MembershipVector {
    return new MembershipVector(randomBytes())
  }

  /**
   * The membership vector derived from a node's identifier: SHA-256("skipmesh/mv/1" ‖ the identifier's 32 bytes).
   * Nobody can choose it (so no node can place itself next to a victim at every level) and any peer can recompute
   * it from the identifier alone.
   */
  static fromIdentifier(id: Identifier): MembershipVector {
    const input = new Uint8Array(MV_DOMAIN.length + IDENTIFIER_LENGTH)
    input.set(MV_DOMAIN)
    input.set(id.bytes, MV_DOMAIN.length)
    return new MembershipVector(sha256(input))
  }

  /** Bit `i` (0 = most significant bit of the first byte), 0 or 1. @throws {RangeError} outside 0–255. */
  bit(i: number): 0 | 1 {
    if (!Number.isInteger(i) || i < 0 || i >= IDENTIFIER_LENGTH * 8)
      throw new RangeError(`bit index ${i} out of range`)
    return ((this.bytes[i >> 3]! >> (7 - (i & 7))) & 1) as 0 | 1
  }

  /** How many leading bits this vector shares with `other` (0–256). */
  commonPrefixBits(other: MembershipVector): number {
    for (let i = 0; i < IDENTIFIER_LENGTH; i++) {
      const x = this.bytes[i]! ^ other.bytes[i]!
      if (x !== 0) return i * 8 + Math.clz32(x) - 24
    }
    return IDENTIFIER_LENGTH * 8
  }

  equals(other: MembershipVector): boolean {
    return compareBytes(this.bytes, other.bytes) === 0
  }

  toHex(): string {
    return bytesToHex(this.bytes)
  }

  toString(): string {
    return this.toHex()
  }

  toJSON(): string {
    return this.toHex()
  }
}
