/**
 * The envelope's wire format as the decoder checks it: field keys and their bits, the forbidden keys as bytes,
 * the bytes a channel name may hold, the nesting limit.
 *
 * @module
 */
import { FORBIDDEN_KEYS } from '../internal/keys.js'

/** Keys rejected anywhere in a decoded map (prototype pollution). */
export const FORBIDDEN_KEY_BYTES = [...FORBIDDEN_KEYS].map((k) => new TextEncoder().encode(k))

export function isForbiddenKey(bytes: Uint8Array, at: number, length: number): boolean {
  if (length !== 9 && length !== 11) return false
  for (const key of FORBIDDEN_KEY_BYTES) {
    if (key.length !== length) continue
    let same = true
    for (let i = 0; i < length && same; i++) same = bytes[at + i] === key[i]
    if (same) return true
  }
  return false
}

export const EMPTY = new Uint8Array(0)

/** Bounds on an envelope's metadata, checked by `encode` and, before any entry is built, by `decode`. */
export interface MetadataLimits {
  /** Entries at most. */
  readonly maxEntries: number
  /** UTF-8 bytes of one key at most. */
  readonly maxKeyLength: number
  /** UTF-8 bytes of one value at most. */
  readonly maxValueLength: number
}

/** The codec's default {@link MetadataLimits}. */
export const DEFAULT_METADATA_LIMITS: MetadataLimits = Object.freeze({
  maxEntries: 64,
  maxKeyLength: 256,
  maxValueLength: 4096,
})

/** Nesting deeper than this is malformed: a valid envelope is at most two levels deep. */
export const MAX_DEPTH = 4

/** 1 for the bytes a channel name may contain (`[a-z0-9._-]`), else 0. */
export const CHANNEL_BYTES = new Uint8Array(256)
for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789._-') CHANNEL_BYTES[c.charCodeAt(0)] = 1
export const MAX_CHANNEL_LENGTH = 64

// The envelope's fields, as bits of a mask, in the order the reference decoder checked them.
export const C = 1
export const S = 2
export const P = 4
export const M = 8
export const T = 16
export const ALL_FIELDS = C | S | P | M | T
/** The optional request/response header (`r`); not part of {@link ALL_FIELDS}. */
export const R = 32
export const FIELD_NAMES: ReadonlyArray<[number, string]> = [
  [C, 'c'],
  [S, 's'],
  [P, 'p'],
  [M, 'm'],
  [T, 't'],
]

/** The field bit of a one-byte key (`c`, `s`, `p`, `m`, `t`), 0 for any other byte. */
export function fieldOf(byte: number): number {
  switch (byte) {
    case 0x63:
      return C
    case 0x73:
      return S
    case 0x70:
      return P
    case 0x6d:
      return M
    case 0x74:
      return T
    case 0x72:
      return R
    default:
      return 0
  }
}
