import { bytesToHex } from './hex.js'

/** Bytes drawn from the platform's CSPRNG per refill of the entropy cache (256 nonces of 16 bytes). */
const POOL_BYTES = 4096

/**
 * A cache of crypto-strong random bytes, handed out once each. One call to `crypto.getRandomValues` costs
 * several microseconds in Node (it was over a third of the CPU of a skip-graph search, which takes two nonces
 * per hop), so the bytes are drawn 4 KiB at a time, as Node's own `crypto.randomUUID` does. The cache is the one
 * piece of module state in core, deliberately: it holds no behaviour, only entropy that no caller can observe or
 * influence, and every byte is used once.
 */
class EntropyCache {
  readonly #pool = new Uint8Array(POOL_BYTES)
  #offset = POOL_BYTES

  /** `bytes` fresh random bytes as lower-case hex. */
  hex(bytes: number): string {
    if (bytes > POOL_BYTES) {
      const b = new Uint8Array(bytes)
      globalThis.crypto.getRandomValues(b)
      return bytesToHex(b)
    }
    if (this.#offset + bytes > POOL_BYTES) {
      globalThis.crypto.getRandomValues(this.#pool)
      this.#offset = 0
    }
    const out = bytesToHex(this.#pool.subarray(this.#offset, this.#offset + bytes))
    // a byte handed out is never handed out again, nor left readable in the pool
    this.#pool.fill(0, this.#offset, this.#offset + bytes)
    this.#offset += bytes
    return out
  }
}

const entropy = new EntropyCache()

/** `bytes` random bytes (crypto-strong) as lower-case hex: unpredictable request and session nonces. */
export function randomNonce(bytes = 16): string {
  return entropy.hex(bytes)
}
