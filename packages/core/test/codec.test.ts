import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { Channel, channel } from '../src/channel.js'
import { createMsgpackCodec, DEFAULT_MAX_ENVELOPE_SIZE } from '../src/codec.js'
import { InvalidOptionsError, MetadataLimitError } from '../src/errors.js'
import { Identifier } from '../src/identifier.js'
import type { DecodeResult, MessageEnvelope } from '../src/message.js'
import { envelopeFields, envelopeWith, mp } from './msgpack-writer.js'

const sender = Identifier.fromHex('ab'.repeat(32))

function envelope(overrides: Partial<MessageEnvelope> = {}): MessageEnvelope {
  return {
    channel: Channel.Test,
    sender,
    payload: new TextEncoder().encode('payload'),
    metadata: { kind: 'greeting', 'emoji-✓': 'ünïcødé' },
    timestamp: 1_700_000_000_123,
    ...overrides,
  }
}

function failure(result: DecodeResult): string {
  expect(result.ok).toBe(false)
  return result.ok ? 'ok' : result.reason
}

describe('msgpack envelope codec', () => {
  const codec = createMsgpackCodec()

  it('round-trips an envelope with every field intact', () => {
    const env = envelope()
    const result = codec.decode(codec.encode(env))
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.envelope.channel).toBe(env.channel)
    expect(result.envelope.sender.equals(sender)).toBe(true)
    expect([...result.envelope.payload]).toEqual([...env.payload])
    expect(result.envelope.metadata).toEqual(env.metadata)
    expect(result.envelope.timestamp).toBe(env.timestamp)
  })

  it('round-trips empty and 1 MiB payloads and empty metadata', () => {
    const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 31) & 0xff)
    for (const payload of [new Uint8Array(0), big]) {
      const result = codec.decode(codec.encode(envelope({ payload, metadata: {} })))
      expect(result.ok).toBe(true)
      if (!result.ok) return
      expect(result.envelope.payload.length).toBe(payload.length)
      expect(Buffer.compare(result.envelope.payload, payload)).toBe(0)
      expect(result.envelope.metadata).toEqual({})
    }
  })

  it('gives payloads as plain Uint8Array, not a Node Buffer', () => {
    const result = codec.decode(codec.encode(envelope()))
    expect(result.ok && result.envelope.payload.constructor).toBe(Uint8Array)
    expect(codec.encode(envelope()).constructor).toBe(Uint8Array)
  })

  it('accepts a hand-encoded envelope in the documented wire format', () => {
    const result = codec.decode(envelopeWith((f) => f))
    expect(result.ok).toBe(true)
    if (result.ok) expect(result.envelope.metadata).toEqual({ k: 'v' })
  })

  it('rejects input that is not a map as wrong-type', () => {
    for (const bytes of [
      mp.array([mp.str('test')]),
      mp.str('hello'),
      mp.uint(5),
      mp.nil(),
      mp.bin(new Uint8Array(3)),
    ]) {
      expect(failure(codec.decode(bytes))).toBe('wrong-type')
    }
  })

  it('rejects fields of the wrong type', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['c', mp.uint(1)],
      ['s', mp.str('x'.repeat(32))],
      ['p', mp.str('payload')],
      ['p', mp.array([mp.uint(1)])],
      ['m', mp.array([])],
      ['m', mp.str('k=v')],
      ['m', mp.map([['k', mp.uint(1)]])],
      ['m', mp.map([['k', mp.map([])]])],
      ['t', mp.str('yesterday')],
      ['t', mp.f64(Number.NaN)],
      ['t', mp.f64(Number.POSITIVE_INFINITY)],
    ]
    for (const [key, value] of cases) {
      const bytes = envelopeWith((fields) => fields.map(([k, v]) => [k, k === key ? value : v]))
      expect(failure(codec.decode(bytes)), `field ${key}`).toBe('wrong-type')
    }
  })

  it('rejects a missing field', () => {
    for (const key of ['c', 's', 'p', 'm', 't']) {
      const bytes = envelopeWith((fields) => fields.filter(([k]) => k !== key))
      expect(failure(codec.decode(bytes)), `without ${key}`).toBe('missing-field')
    }
  })

  it('rejects an unknown field', () => {
    const bytes = envelopeWith((fields) => [...fields, ['x', mp.uint(1)]])
    expect(failure(codec.decode(bytes))).toBe('unknown-field')
    const long = envelopeWith((fields) => [...fields, ['channel', mp.str('test')]])
    expect(failure(codec.decode(long))).toBe('unknown-field')
  })

  it('rejects __proto__, constructor and prototype keys at any depth', () => {
    for (const bad of ['__proto__', 'constructor', 'prototype']) {
      const top = envelopeWith((fields) => [...fields, [bad, mp.map([['polluted', mp.str('yes')]])]])
      expect(failure(codec.decode(top)), `top-level ${bad}`).toBe('forbidden-key')
      const inMetadata = envelopeWith((fields) =>
        fields.map(([k, v]) => [k, k === 'm' ? mp.map([[bad, mp.str('x')]]) : v]),
      )
      expect(failure(codec.decode(inMetadata)), `metadata ${bad}`).toBe('forbidden-key')
    }
    // and nothing leaked into Object.prototype along the way
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('needs its own __proto__ check: msgpackr alone silently renames the key', () => {
    // documents the library behaviour the scan guards against
    const packr = new Packr({ useRecords: false, mapsAsObjects: true })
    const raw = packr.unpack(mp.map([['__proto__', mp.map([['polluted', mp.str('yes')]])]])) as Record<
      string,
      unknown
    >
    expect(Object.keys(raw)).toEqual(['__proto_'])
    expect(Object.getPrototypeOf(raw)).toBe(Object.prototype)
  })

  it('rejects duplicate keys, at the top level and in metadata', () => {
    const top = envelopeWith((fields) => [...fields, ['c', mp.str('consensus')]])
    expect(failure(codec.decode(top))).toBe('malformed')
    const inMetadata = envelopeWith((fields) =>
      fields.map(([k, v]) => [
        k,
        k === 'm'
          ? mp.map([
              ['k', mp.str('a')],
              ['k', mp.str('b')],
            ])
          : v,
      ]),
    )
    expect(failure(codec.decode(inMetadata))).toBe('malformed')
  })

  it('rejects non-string map keys', () => {
    const bytes = envelopeWith((fields) => [...fields, [mp.uint(1), mp.uint(2)]])
    expect(failure(codec.decode(bytes))).toBe('wrong-type')
  })

  it('rejects MessagePack extension types, including msgpackr records and timestamps', () => {
    const exts = [
      mp.raw(0xd6, 0xff, 0, 0, 0, 1), // timestamp 32
      mp.raw(0xd4, 0x01, 0x00), // fixext 1
      mp.raw(0xc7, 0x01, 0x72, 0x00), // ext 8, type 'r' (msgpackr record definition)
      mp.raw(0xd5, 0x65, 0x00, 0x00), // type 'e' (msgpackr Error)
      mp.raw(0xc8, 0x00, 0x01, 0x74, 0x00), // ext 16, type 't' (typed array)
      mp.raw(0xc9, 0, 0, 0, 1, 0x70, 0x00), // ext 32, type 'p' (pointer)
    ]
    for (const ext of exts) {
      const asPayload = envelopeWith((fields) => fields.map(([k, v]) => [k, k === 'p' ? ext : v]))
      expect(failure(codec.decode(asPayload))).toBe('wrong-type')
      expect(failure(codec.decode(ext))).toBe('wrong-type')
    }
  })

  it('rejects an invalid channel name', () => {
    for (const name of ['', 'UPPER', 'has space', 'x'.repeat(65), '../etc']) {
      const bytes = envelopeWith((fields) => fields.map(([k, v]) => [k, k === 'c' ? mp.str(name) : v]))
      expect(failure(codec.decode(bytes)), JSON.stringify(name)).toBe('invalid-channel')
    }
  })

  it('rejects a sender that is not 32 bytes', () => {
    for (const n of [0, 31, 33, 64]) {
      const bytes = envelopeWith((fields) =>
        fields.map(([k, v]) => [k, k === 's' ? mp.bin(new Uint8Array(n)) : v]),
      )
      expect(failure(codec.decode(bytes)), `${n} bytes`).toBe('invalid-sender')
    }
  })

  it('rejects input larger than maxEnvelopeSize before parsing it', () => {
    const small = createMsgpackCodec({ maxEnvelopeSize: 100 })
    const bytes = small.encode(envelope({ payload: new Uint8Array(200), metadata: {} }))
    expect(failure(small.decode(bytes))).toBe('oversize')
    expect(small.decode(small.encode(envelope({ payload: new Uint8Array(10), metadata: {} }))).ok).toBe(true)
    expect(codec.maxEnvelopeSize).toBe(DEFAULT_MAX_ENVELOPE_SIZE)
    expect(DEFAULT_MAX_ENVELOPE_SIZE).toBe(16 * 1024 * 1024 + 4096)
  })

  it('rejects every truncation of a valid envelope as malformed', () => {
    const bytes = codec.encode(envelope())
    for (let n = 0; n < bytes.length; n++) {
      expect(failure(codec.decode(bytes.subarray(0, n))), `first ${n} bytes`).toBe('malformed')
    }
  })

  it('rejects trailing bytes, the reserved 0xc1 byte, and absurd declared lengths', () => {
    const valid = codec.encode(envelope())
    expect(failure(codec.decode(mp.concat([valid, mp.raw(0)])))).toBe('malformed')
    expect(failure(codec.decode(mp.raw(0xc1)))).toBe('malformed')
    expect(failure(codec.decode(mp.raw(0xdf, 0xff, 0xff, 0xff, 0xff)))).toBe('malformed')
    expect(failure(codec.decode(mp.raw(0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2)))).toBe('malformed')
  })

  it('rejects nesting deeper than an envelope can have', () => {
    let deep = mp.str('x')
    for (let i = 0; i < 100; i++) deep = mp.array([deep])
    const bytes = envelopeWith((fields) => fields.map(([k, v]) => [k, k === 'm' ? deep : v]))
    expect(failure(codec.decode(bytes))).toBe('malformed')
  })

  it('never throws on thousands of random or mutated inputs', () => {
    let x = 0x9e3779b9
    const rand = (): number => {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      return (x >>> 0) / 4294967296
    }
    const valid = codec.encode(envelope())
    let accepted = 0
    for (let i = 0; i < 4000; i++) {
      let input: Uint8Array
      if (i % 2 === 0) {
        input = new Uint8Array(Math.floor(rand() * 96))
        for (let j = 0; j < input.length; j++) input[j] = Math.floor(rand() * 256)
        // bias toward structure: start many inputs with a map header
        if (input.length > 0 && i % 4 === 0) input[0] = 0x80 | (input[0]! & 0x0f)
      } else {
        input = valid.slice()
        const flips = 1 + Math.floor(rand() * 4)
        for (let k = 0; k < flips; k++) input[Math.floor(rand() * input.length)] = Math.floor(rand() * 256)
      }
      const result = codec.decode(input)
      expect(typeof result.ok).toBe('boolean')
      if (result.ok) {
        accepted++
        expect(result.envelope.sender.bytes.length).toBe(32)
        expect(typeof result.envelope.channel).toBe('string')
        expect(result.envelope.payload).toBeInstanceOf(Uint8Array)
        for (const v of Object.values(result.envelope.metadata)) expect(typeof v).toBe('string')
      }
    }
    // some mutations only touch payload bytes, which stay valid
    expect(accepted).toBeGreaterThan(0)
  })

  it('rejects a non-Uint8Array input without throwing', () => {
    expect(failure(codec.decode('not bytes' as unknown as Uint8Array))).toBe('wrong-type')
  })

  it('round-trips the request header of each kind, as the sixth key written after t', () => {
    for (const kind of ['request', 'reply', 'error'] as const) {
      const env = envelope({ rpc: { kind, nonce: '0123456789abcdef'.repeat(2) } })
      const bytes = codec.encode(env)
      expect(bytes[0]).toBe(0x86)
      const result = codec.decode(bytes)
      expect(result.ok).toBe(true)
      if (result.ok) expect(result.envelope.rpc).toEqual(env.rpc)
      const plain = new Packr({ useRecords: false, mapsAsObjects: true }).unpack(bytes) as Record<
        string,
        unknown
      >
      expect(Object.keys(plain)).toEqual(['c', 's', 'p', 'm', 't', 'r'])
    }
    const none = codec.decode(codec.encode(envelope()))
    expect(none.ok && none.envelope.rpc).toBe(undefined)
  })

  it('rejects a malformed request header as wrong-type and refuses to encode one', () => {
    for (const r of [mp.str('q'), mp.str(`x${'0'.repeat(32)}`), mp.str(`q${'A'.repeat(32)}`), mp.uint(1)]) {
      expect(failure(codec.decode(envelopeWith((f) => [...f, ['r', r]])))).toBe('wrong-type')
    }
    expect(() => codec.encode(envelope({ rpc: { kind: 'request', nonce: 'short' } }))).toThrow(TypeError)
  })

  it('encodes user channels made with channel()', () => {
    const result = codec.decode(codec.encode(envelope({ channel: channel('skipgraph.search-v1') })))
    expect(result.ok && result.envelope.channel).toBe('skipgraph.search-v1')
  })
})

describe('metadata limits', () => {
  const codec = createMsgpackCodec()
  const entries = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']))
  const withMetadata = (m: Uint8Array) =>
    envelopeWith((fields) => fields.map(([k, v]) => [k, k === 'm' ? m : v]))
  /** A metadata map header declaring `n` entries (map 32), then `body`. */
  const map32 = (n: number, body: Uint8Array) =>
    mp.concat([mp.raw(0xdf, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff), body])

  it('round-trips metadata exactly at the default limits (64 entries, 256-byte keys, 4096-byte values)', () => {
    const full = { ...entries(63), ['k'.repeat(256)]: 'é'.repeat(2048) }
    const result = codec.decode(codec.encode(envelope({ metadata: full })))
    expect(result.ok && result.envelope.metadata).toEqual(full)
  })

  it('refuses to encode more entries, or a longer key or value (UTF-8 bytes), with MetadataLimitError', () => {
    const over = [
      entries(65),
      { ['k'.repeat(257)]: 'v' },
      { ['é'.repeat(129)]: 'v' },
      { k: 'v'.repeat(4097) },
    ]
    for (const metadata of over) {
      expect(() => codec.encode(envelope({ metadata }))).toThrow(MetadataLimitError)
    }
  })

  it('rejects a declared entry count over the limit on reading the header, before walking the entries', () => {
    // 2^32 - 1 entries declared and none present: were the entries walked, this would be a truncation
    const result = codec.decode(withMetadata(map32(0xffffffff, new Uint8Array(0))))
    expect(failure(result)).toBe('metadata-limit')
    // a million real entries (about 4 MB): rejected the same way
    const body = new Uint8Array(4 * 1_000_000)
    for (let i = 0; i < body.length; i += 4) body.set([0xa1, 0x61, 0xa1, 0x62], i) // 'a' -> 'b'
    expect(failure(codec.decode(withMetadata(map32(1_000_000, body))))).toBe('metadata-limit')
    expect(failure(codec.decode(withMetadata(map32(65, body.subarray(0, 65 * 4)))))).toBe('metadata-limit')
    expect(codec.decode(withMetadata(map32(64, body.subarray(0, 4)))).ok).toBe(false) // duplicates, not a limit
  })

  it('rejects a key or value over its limit before building the string', () => {
    const longKey = mp.map([['k'.repeat(257), mp.str('v')]])
    const longValue = mp.map([['k', mp.str('v'.repeat(4097))]])
    expect(failure(codec.decode(withMetadata(longKey)))).toBe('metadata-limit')
    expect(failure(codec.decode(withMetadata(longValue)))).toBe('metadata-limit')
  })

  it('takes its limits from options and validates them with InvalidOptionsError', () => {
    const tight = createMsgpackCodec({
      maxMetadataEntries: 1,
      maxMetadataKeyLength: 2,
      maxMetadataValueLength: 3,
    })
    expect(tight.decode(tight.encode(envelope({ metadata: { ab: 'cde' } }))).ok).toBe(true)
    expect(() => tight.encode(envelope({ metadata: { a: 'b', c: 'd' } }))).toThrow(MetadataLimitError)
    expect(() => tight.encode(envelope({ metadata: { abc: 'd' } }))).toThrow(MetadataLimitError)
    expect(() => tight.encode(envelope({ metadata: { a: 'bcde' } }))).toThrow(MetadataLimitError)
    expect(failure(tight.decode(codec.encode(envelope({ metadata: { a: 'b', c: 'd' } }))))).toBe(
      'metadata-limit',
    )
    for (const bad of [0, -1, 1.5, Number.NaN, '8']) {
      expect(() => createMsgpackCodec({ maxMetadataEntries: bad as number })).toThrow(InvalidOptionsError)
      expect(() => createMsgpackCodec({ maxEnvelopeSize: bad as number })).toThrow(InvalidOptionsError)
    }
  })
})

describe('envelope test writer', () => {
  it('writes the five documented keys', () => {
    expect(envelopeFields().map(([k]) => k)).toEqual(['c', 's', 'p', 'm', 't'])
  })
})
