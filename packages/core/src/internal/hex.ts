/** Lower-case hex of `bytes`. */
export function bytesToHex(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += HEX_BYTE[bytes[i]!]!
  return s
}

/**
 * The bytes of a hex string (either case, an optional `0x` prefix, an odd length read as if a `0` led it), or
 * `undefined` when `hex` is not hex.
 */
export function hexToBytes(hex: string): Uint8Array | undefined {
  if (typeof hex !== 'string') return undefined
  const clean = hex.startsWith('0x') ? hex.slice(2) : hex
  const even = clean.length % 2 === 0 ? clean : `0${clean}`
  const out = new Uint8Array(even.length / 2)
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(even.charCodeAt(2 * i))
    const lo = nibble(even.charCodeAt(2 * i + 1))
    if (hi < 0 || lo < 0) return undefined
    out[i] = (hi << 4) | lo
  }
  return out
}

const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  return -1
}
