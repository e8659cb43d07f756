import { ed25519 } from '@noble/curves/ed25519.js'

/** An Ed25519 key pair; the private key never leaves the object. */
export interface KeyPair {
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array
  /** Signs `bytes`; the 64-byte Ed25519 signature. */
  sign(bytes: Uint8Array): Promise<Uint8Array>
}

const ED25519 = { name: 'Ed25519' } as const

function subtle(): SubtleCrypto | undefined {
  return globalThis.crypto?.subtle
}

async function webCryptoKeyPair(s: SubtleCrypto): Promise<KeyPair> {
  const pair = (await s.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair
  const publicKey = new Uint8Array(await s.exportKey('raw', pair.publicKey))
  return {
    publicKey,
    sign: async (bytes) => new Uint8Array(await s.sign(ED25519, pair.privateKey, bytes as BufferSource)),
  }
}

function nobleKeyPair(): KeyPair {
  const secretKey = ed25519.utils.randomSecretKey()
  const publicKey = ed25519.getPublicKey(secretKey)
  return { publicKey, sign: async (bytes) => ed25519.sign(bytes, secretKey) }
}

/**
 * Generates an Ed25519 key pair: WebCrypto where the platform supports Ed25519, else `@noble/curves`.
 * @example
 * ```ts
 * const keys = await generateKeyPair()
 * const sig = await keys.sign(challenge)
 * await verifySignature(keys.publicKey, challenge, sig) // true
 * ```
 */
export async function generateKeyPair(): Promise<KeyPair> {
  const s = subtle()
  if (s !== undefined) {
    try {
      return await webCryptoKeyPair(s)
    } catch {
      // this platform's WebCrypto lacks Ed25519: fall through to the pure-JS implementation
    }
  }
  return nobleKeyPair()
}

/**
 * Verifies an Ed25519 signature (strict RFC 8032 rules: small-order public keys and non-canonical encodings
 * are rejected, so a weak key cannot make one signature valid for every message). Malformed keys or
 * signatures give `false`, never an exception.
 */
export async function verifySignature(
  publicKey: Uint8Array,
  bytes: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false
  try {
    return ed25519.verify(signature, bytes, publicKey, { zip215: false })
  } catch {
    return false
  }
}
