import { describe, expect, it } from 'vitest'
import { InvalidIdentifierError } from '../src/errors.js'
import { IDENTIFIER_LENGTH, Identifier, MembershipVector } from '../src/identifier.js'

describe('Identifier', () => {
  it('left-pads short hex with zeros to 32 bytes', () => {
    const id = Identifier.fromHex('0x1f')
    expect(id.bytes.length).toBe(IDENTIFIER_LENGTH)
    expect(id.toHex()).toBe('00'.repeat(31) + '1f')
    expect(Identifier.fromHex('abc').toHex()).toBe('00'.repeat(30) + '0abc')
    expect(Identifier.fromHex('').toHex()).toBe('00'.repeat(32))
  })

  it('left-pads short byte arrays and copies them', () => {
    const input = Uint8Array.of(1, 2)
    const id = Identifier.fromBytes(input)
    expect(id.toHex()).toBe('00'.repeat(30) + '0102')
    input[0] = 9
    expect(id.toHex()).toBe('00'.repeat(30) + '0102')
  })

  it('round-trips 64 hex digits, lower-casing them', () => {
    const hex = 'AB'.repeat(32)
    expect(Identifier.fromHex(hex).toHex()).toBe('ab'.repeat(32))
    expect(Identifier.fromBytes(Identifier.fromHex(hex).bytes).equals(Identifier.fromHex(hex))).toBe(true)
    expect(JSON.stringify({ id: Identifier.fromHex('01') })).toBe(`{"id":"${'00'.repeat(31)}01"}`)
  })

  it('rejects input longer than 32 bytes', () => {
    expect(() => Identifier.fromHex('00'.repeat(33))).toThrow(InvalidIdentifierError)
    expect(() => Identifier.fromBytes(new Uint8Array(33))).toThrow(InvalidIdentifierError)
  })

  it('rejects non-hex strings and non-byte input', () => {
    expect(() => Identifier.fromHex('xyz')).toThrow(InvalidIdentifierError)
    expect(() => Identifier.fromHex('12 34')).toThrow(InvalidIdentifierError)
    expect(() => Identifier.fromBytes([1, 2] as unknown as Uint8Array)).toThrow(InvalidIdentifierError)
    expect(() => Identifier.fromHex(5 as unknown as string)).toThrow(InvalidIdentifierError)
  })

  it('compares byte-wise, returning -1, 0 or 1', () => {
    const a = Identifier.fromHex('01')
    const b = Identifier.fromHex('02')
    const high = Identifier.fromHex('01' + '00'.repeat(31))
    expect(a.compare(b)).toBe(-1)
    expect(b.compare(a)).toBe(1)
    expect(a.compare(Identifier.fromHex('0001'))).toBe(0)
    expect(high.compare(b)).toBe(1)
    expect(a.equals(Identifier.fromBytes(Uint8Array.of(1)))).toBe(true)
    expect(a.equals(b)).toBe(false)
  })

  it('sorts identifiers in byte order', () => {
    const ids = ['ff', '00', '0100', '10'].map((h) => Identifier.fromHex(h))
    expect(ids.sort((x, y) => x.compare(y)).map((i) => i.toHex().replace(/^0+/, ''))).toEqual([
      '',
      '10',
      'ff',
      '100',
    ])
  })

  it('draws distinct random identifiers', () => {
    const ids = new Set(Array.from({ length: 50 }, () => Identifier.random().toHex()))
    expect(ids.size).toBe(50)
  })
})

describe('MembershipVector', () => {
  it('reads bit 0 as the most significant bit of the first byte', () => {
    const v = MembershipVector.fromHex('80' + '00'.repeat(30) + '01')
    expect(v.bit(0)).toBe(1)
    expect(v.bit(1)).toBe(0)
    expect(v.bit(255)).toBe(1)
    expect(v.bit(254)).toBe(0)
  })

  it('rejects bit indices outside 0–255', () => {
    const v = MembershipVector.random()
    expect(() => v.bit(256)).toThrow(RangeError)
    expect(() => v.bit(-1)).toThrow(RangeError)
    expect(() => v.bit(1.5)).toThrow(RangeError)
  })

  it('counts the common prefix in bits', () => {
    const a = MembershipVector.fromHex('ff'.repeat(32))
    expect(a.commonPrefixBits(a)).toBe(256)
    expect(a.commonPrefixBits(MembershipVector.fromHex('7f' + 'ff'.repeat(31)))).toBe(0)
    expect(a.commonPrefixBits(MembershipVector.fromHex('ff' + 'fe' + 'ff'.repeat(30)))).toBe(15)
    expect(a.commonPrefixBits(MembershipVector.fromHex('ff'.repeat(31) + 'fe'))).toBe(255)
  })

  it('agrees with bit() on every prefix length', () => {
    const a = MembershipVector.random()
    const b = MembershipVector.random()
    let expected = 0
    while (expected < 256 && a.bit(expected) === b.bit(expected)) expected++
    expect(a.commonPrefixBits(b)).toBe(expected)
  })

  it('rejects input longer than 32 bytes', () => {
    expect(() => MembershipVector.fromBytes(new Uint8Array(33))).toThrow(InvalidIdentifierError)
    expect(() => MembershipVector.fromHex('0'.repeat(66))).toThrow(InvalidIdentifierError)
  })
})
