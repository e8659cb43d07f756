/**
 * The structure rules of the envelope decoder, for any value: well-formed, no extension types, only string map
 * keys, no forbidden key, nesting at most {@link MAX_DEPTH}. Checked by walking a value without building it.
 *
 * @module
 */
import { ByteCursor } from './cursor.js'
import { isForbiddenKey, MAX_DEPTH } from './format.js'

/** A {@link ByteCursor} that walks whole values and map keys, recording the first structure error. */
export class StructureWalker extends ByteCursor {
  /**
   * Walks any one value without building it, checking its structure: well-formed, no extension types, only
   * string map keys, none of them forbidden, nesting at most {@link MAX_DEPTH}. Linear in the input: every
   * declared element consumes at least one byte, so bogus lengths fail as truncated.
   */
  skipValue(depth: number): boolean {
    if (depth > MAX_DEPTH) return this.fail('malformed', 'nested too deeply')
    if (this.pos >= this.end) return this.truncated()
    const t = this.bytes[this.pos++]!
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return true
    if (t >= 0x80 && t <= 0x8f) return this.#skipMap(t - 0x80, depth)
    if (t >= 0x90 && t <= 0x9f) return this.#skipArray(t - 0x90, depth)
    const sl = this.strLength(t)
    if (sl !== -1) return sl === -2 ? this.truncated() : this.skip(sl)
    switch (t) {
      case 0xc4:
      case 0xc5:
      case 0xc6: {
        const bl = this.binLength(t)
        return bl === -2 ? this.truncated() : this.skip(bl)
      }
      case 0xca:
      case 0xce:
      case 0xd2:
        return this.skip(4)
      case 0xcb:
      case 0xcf:
      case 0xd3:
        return this.skip(8)
      case 0xcc:
      case 0xd0:
        return this.skip(1)
      case 0xcd:
      case 0xd1:
        return this.skip(2)
      case 0xdc:
      case 0xdd: {
        const n = this.uint(t === 0xdc ? 2 : 4)
        return n < 0 ? this.truncated() : this.#skipArray(n, depth)
      }
      case 0xde:
      case 0xdf: {
        const n = this.uint(t === 0xde ? 2 : 4)
        return n < 0 ? this.truncated() : this.#skipMap(n, depth)
      }
      case 0xc7:
      case 0xc8:
      case 0xc9:
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        return this.fail('wrong-type', `extension type 0x${t.toString(16)} not allowed`)
      default:
        return this.fail('malformed', `invalid type byte 0x${t.toString(16)}`)
    }
  }

  #skipArray(n: number, depth: number): boolean {
    for (let i = 0; i < n; i++) if (!this.skipValue(depth + 1)) return false
    return true
  }

  #skipMap(n: number, depth: number): boolean {
    for (let i = 0; i < n; i++) {
      if (this.key() < 0) return false
      if (!this.skipValue(depth + 1)) return false
    }
    return true
  }

  /**
   * Reads a map key: must be a string and not a forbidden one. Returns its byte length (the bytes start at
   * `pos - length`), or -1 after a structure error.
   */
  protected key(): number {
    if (this.pos >= this.end) return this.#truncatedKey()
    const kl = this.strLength(this.bytes[this.pos++]!)
    if (kl === -1) {
      this.fail('wrong-type', 'map key is not a string')
      return -1
    }
    if (kl === -2 || this.pos + kl > this.end) return this.#truncatedKey()
    if (isForbiddenKey(this.bytes, this.pos, kl)) {
      this.fail('forbidden-key', 'forbidden map key')
      return -1
    }
    this.pos += kl
    return kl
  }

  #truncatedKey(): number {
    this.truncated()
    return -1
  }
}
