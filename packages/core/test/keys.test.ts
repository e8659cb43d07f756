import { ed25519 } from '@noble/curves/ed25519.js'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { generateKeyPair, verifySignature } from '../src/keys.js'

const bytes = new TextEncoder().encode('skipmesh-signal-v1\nroom\nid\nchallenge')

describe('Ed25519 keys', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  it('falls back to the pure-JS implementation where WebCrypto lacks Ed25519', async () => {
    const real = globalThis.crypto
    let generateCalls = 0
    vi.stubGlobal('crypto', {
      getRandomValues: <T extends ArrayBufferView>(a: T) => real.getRandomValues(a),
      subtle: {
        generateKey: async () => {
          generateCalls++
          throw new DOMException('Ed25519 is not supported', 'NotSupportedError')
        },
      },
    })
    const keys = await generateKeyPair()
    expect(generateCalls).toBe(1)
    const sig = await keys.sign(bytes)
    expect(await verifySignature(keys.publicKey, bytes, sig)).toBe(true)
  })

  it('signs bytes that verify against the public key', async () => {
    const keys = await generateKeyPair()
    expect(keys.publicKey.length).toBe(32)
    const sig = await keys.sign(bytes)
    expect(sig.length).toBe(64)
    expect(await verifySignature(keys.publicKey, bytes, sig)).toBe(true)
  })

  it('rejects a tampered message, a tampered signature and another key', async () => {
    const keys = await generateKeyPair()
    const other = await generateKeyPair()
    const sig = await keys.sign(bytes)
    const tamperedBytes = bytes.slice()
    tamperedBytes[0]! ^= 1
    const tamperedSig = sig.slice()
    tamperedSig[10]! ^= 0x80
    expect(await verifySignature(keys.publicKey, tamperedBytes, sig)).toBe(false)
    expect(await verifySignature(keys.publicKey, bytes, tamperedSig)).toBe(false)
    expect(await verifySignature(other.publicKey, bytes, sig)).toBe(false)
  })

  it('returns false for malformed keys and signatures instead of throwing', async () => {
    const keys = await generateKeyPair()
    const sig = await keys.sign(bytes)
    expect(await verifySignature(new Uint8Array(31), bytes, sig)).toBe(false)
    expect(await verifySignature(keys.publicKey, bytes, sig.subarray(0, 63))).toBe(false)
    // an all-zero (small-order) key with an all-zero signature passes permissive ZIP-215 checks: must be false
    expect(await verifySignature(new Uint8Array(32), bytes, new Uint8Array(64))).toBe(false)
    expect(await verifySignature('key' as unknown as Uint8Array, bytes, sig)).toBe(false)
  })

  it('verifies signatures made by the pure-JS implementation (the fallback path)', async () => {
    const secret = ed25519.utils.randomSecretKey()
    const sig = ed25519.sign(bytes, secret)
    expect(await verifySignature(ed25519.getPublicKey(secret), bytes, sig)).toBe(true)
  })

  it('gives each key pair a different public key', async () => {
    const [a, b] = await Promise.all([generateKeyPair(), generateKeyPair()])
    expect(Buffer.compare(a.publicKey, b.publicKey)).not.toBe(0)
  })
})
