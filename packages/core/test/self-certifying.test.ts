import { describe, expect, it } from 'vitest'
import { InvalidIdentifierError } from '../src/errors.js'
import { Identifier, isSelfCertifying } from '../src/identifier.js'
import { generateKeyPair } from '../src/keys.js'

describe('self-certifying identifiers', () => {
  it('are the SHA-256 of the raw public key', () => {
    // SHA-256 of 32 zero bytes
    expect(Identifier.fromPublicKey(new Uint8Array(32)).toHex()).toBe(
      '66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925',
    )
  })

  it('bind an identifier to the key it was derived from and to no other key', async () => {
    const a = await generateKeyPair()
    const b = await generateKeyPair()
    const id = Identifier.fromPublicKey(a.publicKey)
    expect(id.equals(Identifier.fromPublicKey(a.publicKey))).toBe(true)
    expect(isSelfCertifying(id, a.publicKey)).toBe(true)
    expect(isSelfCertifying(id, b.publicKey)).toBe(false)
    expect(isSelfCertifying(Identifier.random(), a.publicKey)).toBe(false)
  })

  it('reject keys that are not 32 bytes', () => {
    expect(() => Identifier.fromPublicKey(new Uint8Array(31))).toThrow(InvalidIdentifierError)
    expect(() => Identifier.fromPublicKey('00' as unknown as Uint8Array)).toThrow(InvalidIdentifierError)
    expect(isSelfCertifying(Identifier.random(), new Uint8Array(33))).toBe(false)
    expect(isSelfCertifying(Identifier.random(), undefined as unknown as Uint8Array)).toBe(false)
  })
})
