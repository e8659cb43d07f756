import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { type Channel, channel } from '../src/channel.js'
import { createMsgpackCodec } from '../src/codec.js'
import { Identifier } from '../src/identifier.js'
import type { DecodeResult, MessageEnvelope } from '../src/message.js'
import { mp } from './msgpack-writer.js'
import { createReferenceCodec } from './reference-codec.js'

/** The oracle predates the metadata limits (tested in codec.test.ts): compare without them. */
const NO_METADATA_LIMITS = {
  maxMetadataEntries: Number.MAX_SAFE_INTEGER,
  maxMetadataKeyLength: Number.MAX_SAFE_INTEGER,
  maxMetadataValueLength: Number.MAX_SAFE_INTEGER,
}

/** xorshift32: deterministic inputs, so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
}

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  int64AsType: 'number',
})

const STRING_POOL = [
  '',
  'k',
  'kind',
  'seq',
  '42',
  'ünïcødé',
  'emoji-✓',
  '😀',
  'x'.repeat(40),
  'é'.repeat(140),
]

function randomString(rand: () => number): string {
  if (rand() < 0.7) return STRING_POOL[Math.floor(rand() * STRING_POOL.length)]!
  let s = ''
  const n = Math.floor(rand() * 40)
  for (let i = 0; i < n; i++)
    s += String.fromCharCode(rand() < 0.8 ? 32 + Math.floor(rand() * 95) : Math.floor(rand() * 0x3000))
  return s
}

function randomEnvelope(rand: () => number): MessageEnvelope {
  const metadata: Record<string, string> = {}
  const entries = rand() < 0.3 ? 0 : Math.floor(rand() * (rand() < 0.1 ? 40 : 5))
  for (let i = 0; i < entries; i++) metadata[`${randomString(rand)}${i}`] = randomString(rand)
  const sizes = [0, 1, 16, 17, 100, 255, 256, 1000, 65535, 65536, 70000]
  const payload = new Uint8Array(sizes[Math.floor(rand() * sizes.length)]!)
  for (let i = 0; i < payload.length; i += 97) payload[i] = Math.floor(rand() * 256)
  const timestamps = [
    0,
    127,
    128,
    65536,
    2 ** 32 - 1,
    2 ** 32,
    1_700_000_000_123,
    -1,
    -32,
    -33,
    -200,
    -40000,
    -(2 ** 31),
    -(2 ** 31) - 1,
    1.5,
    Number.MAX_SAFE_INTEGER,
  ]
  const channels = ['test', 'a', 'skipgraph.search-v1', 'x'.repeat(64), 'under_score-9.dot']
  return {
    channel: channel(channels[Math.floor(rand() * channels.length)]!),
    sender: Identifier.fromBytes(Uint8Array.from({ length: 32 }, () => Math.floor(rand() * 256))),
    payload,
    metadata,
    timestamp: timestamps[Math.floor(rand() * timestamps.length)]!,
  }
}

function expectSameEnvelope(actual: MessageEnvelope, expected: MessageEnvelope): void {
  expect(actual.channel).toBe(expected.channel)
  expect(actual.sender.equals(expected.sender)).toBe(true)
  expect(Buffer.compare(actual.payload, expected.payload)).toBe(0)
  expect(actual.metadata).toEqual(expected.metadata)
  expect(Object.getPrototypeOf(actual.metadata)).toBe(Object.prototype)
  expect(actual.timestamp).toBe(expected.timestamp)
}

function verdict(r: DecodeResult): string {
  return r.ok ? 'ok' : r.reason
}

describe('msgpack envelope codec against msgpackr', () => {
  const codec = createMsgpackCodec(NO_METADATA_LIMITS)

  it('writes exactly the bytes msgpackr writes, and each side decodes the other', () => {
    const rand = rng(7)
    for (let i = 0; i < 400; i++) {
      const env = randomEnvelope(rand)
      const fields = {
        c: env.channel,
        s: env.sender.bytes,
        p: env.payload,
        m: env.metadata,
        t: env.timestamp,
      }
      const ours = codec.encode(env)
      const theirs = packr.pack(fields)
      expect(ours.constructor).toBe(Uint8Array)
      expect(Buffer.compare(ours, theirs), `envelope ${i}`).toBe(0)
      const unpacked = packr.unpack(ours) as typeof fields
      expect(unpacked.c).toBe(env.channel)
      expect(Buffer.compare(unpacked.s, env.sender.bytes)).toBe(0)
      expect(Buffer.compare(unpacked.p, env.payload)).toBe(0)
      expect(unpacked.m).toEqual(env.metadata)
      expect(unpacked.t).toBe(env.timestamp)
      const decoded = codec.decode(theirs)
      expect(
        verdict(decoded),
        JSON.stringify([
          decoded,
          verdict(codec.decode(ours)),
          verdict(codec.decode(new Uint8Array(theirs))),
          theirs.byteOffset,
          theirs.length,
          env.payload.length,
          env.metadata,
        ]),
      ).toBe('ok')
      if (decoded.ok) expectSameEnvelope(decoded.envelope, env)
    }
  })

  it('decodes msgpackr output in any key order', () => {
    const rand = rng(11)
    for (let i = 0; i < 100; i++) {
      const env = randomEnvelope(rand)
      const entries: Array<[string, unknown]> = [
        ['c', env.channel],
        ['s', env.sender.bytes],
        ['p', env.payload],
        ['m', env.metadata],
        ['t', env.timestamp],
      ]
      entries.sort(() => rand() - 0.5)
      const decoded = codec.decode(packr.pack(Object.fromEntries(entries)))
      expect(decoded.ok).toBe(true)
      if (decoded.ok) expectSameEnvelope(decoded.envelope, env)
    }
  })

  it('accepts wider headers than needed (map 16, str 8, bin 32, uint 64, int 64, float 32)', () => {
    const bin32 = (b: Uint8Array): Uint8Array => mp.concat([mp.raw(0xc6, 0, 0, 0, b.length), b])
    const bytes = mp.concat([
      mp.raw(0xde, 0, 5),
      mp.raw(0xd9, 1, 0x63),
      mp.raw(0xd9, 4),
      new TextEncoder().encode('test'),
      mp.str('s'),
      bin32(new Uint8Array(32).fill(9)),
      mp.str('p'),
      bin32(Uint8Array.of(1, 2)),
      mp.str('m'),
      mp.raw(0xdf, 0, 0, 0, 1),
      mp.str('k'),
      mp.raw(0xda, 0, 1, 0x76),
      mp.str('t'),
      mp.raw(0xcf, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0x7b),
    ])
    for (const c of [codec, createReferenceCodec()]) {
      const result = c.decode(bytes)
      expect(result.ok).toBe(true)
      if (!result.ok) return
      expect(result.envelope.channel).toBe('test')
      expect([...result.envelope.payload]).toEqual([1, 2])
      expect(result.envelope.metadata).toEqual({ k: 'v' })
      expect(result.envelope.timestamp).toBe(0x18bcfe5687b)
    }
    const negative = (t: Uint8Array): DecodeResult =>
      codec.decode(
        mp.map([
          ['c', mp.str('test')],
          ['s', mp.bin(new Uint8Array(32))],
          ['p', mp.bin(new Uint8Array(0))],
          ['m', mp.map([])],
          ['t', t],
        ]),
      )
    const int64 = negative(mp.raw(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe))
    expect(int64.ok && int64.envelope.timestamp).toBe(-2)
    const float32 = negative(mp.raw(0xca, 0x3f, 0xc0, 0, 0))
    expect(float32.ok && float32.envelope.timestamp).toBe(1.5)
    const int16 = negative(mp.raw(0xd1, 0xff, 0x00))
    expect(int16.ok && int16.envelope.timestamp).toBe(-256)
  })
})

describe('msgpack envelope codec against the earlier two-pass decoder', () => {
  const codec = createMsgpackCodec(NO_METADATA_LIMITS)
  const reference = createReferenceCodec()

  function agree(input: Uint8Array, label: string): DecodeResult {
    const ours = codec.decode(input)
    const theirs = reference.decode(input)
    expect(verdict(ours), label).toBe(verdict(theirs))
    if (ours.ok && theirs.ok) expectSameEnvelope(ours.envelope, theirs.envelope)
    return ours
  }

  it('gives the same verdict, reason and fields on mutated, truncated and extended envelopes', () => {
    const rand = rng(23)
    let accepted = 0
    for (let i = 0; i < 3000; i++) {
      const env = randomEnvelope(rand)
      if (env.payload.length > 300) env.payload = env.payload.subarray(0, 40)
      const valid = codec.encode(env)
      let input: Uint8Array
      const kind = i % 4
      if (kind === 0) {
        input = valid.slice()
        const flips = 1 + Math.floor(rand() * 3)
        // mostly in the envelope's structure, the first 50 bytes
        for (let k = 0; k < flips; k++)
          input[Math.floor(rand() * Math.min(input.length, rand() < 0.8 ? 50 : input.length))] = Math.floor(
            rand() * 256,
          )
      } else if (kind === 1) {
        input = valid.subarray(0, Math.floor(rand() * valid.length))
      } else if (kind === 2) {
        // the map header claims one more entry, followed by a random key and value
        const extra = mp.concat([
          rand() < 0.5
            ? mp.str(['c', 's', 'p', 'm', 't', 'x', 'constructor'][Math.floor(rand() * 7)]!)
            : mp.uint(3),
          [
            mp.str('consensus'),
            mp.uint(7),
            mp.nil(),
            mp.map([['a', mp.str('b')]]),
            mp.bin(new Uint8Array(32)),
          ][Math.floor(rand() * 5)]!,
        ])
        input = mp.concat([mp.raw(0x86), valid.subarray(1), extra])
      } else {
        input = new Uint8Array(Math.floor(rand() * 64))
        for (let j = 0; j < input.length; j++) input[j] = Math.floor(rand() * 256)
        if (input.length > 0 && rand() < 0.5) input[0] = 0x80 | (input[0]! & 0x0f)
      }
      if (agree(input, `input ${i} kind ${kind}`).ok) accepted++
    }
    expect(accepted).toBeGreaterThan(100)
  })

  it('agrees on every single-field fault the codec tests craft', () => {
    const values = [
      mp.str('test'),
      mp.str('UPPER'),
      mp.str(''),
      mp.str('x'.repeat(65)),
      mp.uint(1),
      mp.nil(),
      mp.bin(new Uint8Array(32)),
      mp.bin(new Uint8Array(31)),
      mp.f64(Number.NaN),
      mp.f64(1),
      mp.map([]),
      mp.map([['k', mp.str('v')]]),
      mp.map([['k', mp.uint(1)]]),
      mp.map([['__proto__', mp.str('x')]]),
      mp.map([
        ['k', mp.str('a')],
        ['k', mp.str('b')],
      ]),
      mp.array([mp.array([mp.array([mp.array([mp.uint(1)])])])]),
      mp.raw(0xd4, 1, 0),
    ]
    const base: Array<[string, Uint8Array]> = [
      ['c', mp.str('test')],
      ['s', mp.bin(new Uint8Array(32).fill(7))],
      ['p', mp.bin(Uint8Array.of(1, 2, 3))],
      ['m', mp.map([['k', mp.str('v')]])],
      ['t', mp.f64(1_700_000_000_000)],
    ]
    for (let f = 0; f < base.length; f++) {
      for (const [v, value] of values.entries()) {
        const fields = base.map(([k, old], i): [string, Uint8Array] => [k, i === f ? value : old])
        agree(mp.map(fields), `field ${base[f]![0]} value ${v}`)
        agree(mp.map([...fields, fields[f]!]), `field ${base[f]![0]} twice, value ${v}`)
        agree(mp.map(fields.filter((_, i) => i !== f)), `without ${base[f]![0]}`)
      }
    }
  })
})

describe('encoded envelopes', () => {
  it('stay intact and disjoint while many more are encoded, small and large alike', () => {
    const codec = createMsgpackCodec(NO_METADATA_LIMITS)
    const sender = Identifier.fromHex('01'.repeat(32))
    const kept: Uint8Array[] = []
    for (let i = 0; i < 600; i++) {
      const size = i % 50 === 0 ? 5000 : (i * 37) % 1500
      const payload = new Uint8Array(size).fill(i & 0xff)
      kept.push(
        codec.encode({ channel: channel('test'), sender, payload, metadata: { i: String(i) }, timestamp: i }),
      )
    }
    // writing into one envelope must not touch any other
    for (const bytes of kept) bytes[bytes.length - 1] = bytes[bytes.length - 1]!
    const ranges = new Map<ArrayBufferLike, Array<[number, number]>>()
    for (const [i, bytes] of kept.entries()) {
      const result = codec.decode(bytes)
      expect(result.ok, `envelope ${i}`).toBe(true)
      if (!result.ok) return
      expect(result.envelope.metadata).toEqual({ i: String(i) })
      expect(result.envelope.payload.every((b) => b === (i & 0xff))).toBe(true)
      const list = ranges.get(bytes.buffer) ?? []
      list.push([bytes.byteOffset, bytes.byteOffset + bytes.length])
      ranges.set(bytes.buffer, list)
    }
    for (const list of ranges.values()) {
      list.sort((a, b) => a[0] - b[0])
      for (let j = 1; j < list.length; j++) expect(list[j]![0]).toBeGreaterThanOrEqual(list[j - 1]![1])
    }
  })

  it('keeps encoding after a transport transferred (detached) the buffer of an earlier envelope', () => {
    const codec = createMsgpackCodec(NO_METADATA_LIMITS)
    const env = {
      channel: channel('test'),
      sender: Identifier.fromHex('02'.repeat(32)),
      payload: Uint8Array.of(1, 2, 3),
      metadata: {},
      timestamp: 5,
    }
    const first = codec.encode(env)
    structuredClone(first.buffer, { transfer: [first.buffer as ArrayBuffer] })
    expect(first.buffer.byteLength).toBe(0)
    const second = codec.encode(env)
    const result = codec.decode(second)
    expect(result.ok && [...result.envelope.payload]).toEqual([1, 2, 3])
  })
})

describe('decode hints', () => {
  const codec = createMsgpackCodec(NO_METADATA_LIMITS)
  const sender = Identifier.fromHex('cd'.repeat(32))
  const bytes = codec.encode({
    channel: channel('test'),
    sender,
    payload: Uint8Array.of(1),
    metadata: {},
    timestamp: 1,
  })

  it('returns the hinted channel string and sender instance when they match the bytes', () => {
    const hinted = Identifier.fromHex('cd'.repeat(32))
    const result = codec.decode(bytes, { channel: 'test' as Channel, sender: hinted })
    expect(result.ok).toBe(true)
    if (result.ok) expect(result.envelope.sender).toBe(hinted)
  })

  it('decodes the same envelope with wrong hints, and hints never make bad bytes valid', () => {
    const other = Identifier.fromHex('ef'.repeat(32))
    const result = codec.decode(bytes, { channel: 'consensus' as Channel, sender: other })
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.envelope.channel).toBe('test')
    expect(result.envelope.sender.equals(sender)).toBe(true)
    expect(result.envelope.sender).not.toBe(other)
    const invalid = mp.map([
      ['c', mp.str('UPPER')],
      ['s', mp.bin(sender.bytes)],
      ['p', mp.bin(new Uint8Array(0))],
      ['m', mp.map([])],
      ['t', mp.uint(1)],
    ])
    const hinted = codec.decode(invalid, { channel: 'UPPER' as Channel, sender })
    expect(verdict(hinted)).toBe('invalid-channel')
  })

  it('leaves the payload a view of the input, plain Uint8Array even for a Buffer input', () => {
    const input = Buffer.from(bytes)
    const result = codec.decode(input)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.envelope.payload.constructor).toBe(Uint8Array)
    expect(result.envelope.payload.buffer).toBe(input.buffer)
  })
})
