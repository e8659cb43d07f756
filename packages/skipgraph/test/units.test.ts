import { Identifier, MembershipVector } from '@skipmesh/core'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { LookupTable, sharesPrefix } from '../src/lookup-table.js'
import { checkSkipGraph, searchOracle } from '../src/testing/index.js'
import { decodeWire, encodeWire } from '../src/wire-codec.js'
import { appendHop, hopAt, hopCount, Kind, type WireMessage } from '../src/wire.js'

const id = (hex: string): Identifier => Identifier.fromHex(hex)
const mv = (hex: string): MembershipVector => MembershipVector.fromHex(hex.padEnd(64, '0'))
const NONCE = '0123456789abcdef0123456789abcdef'

/** Plain data for comparison: byte arrays as number arrays, identifiers and vectors as hex. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v)
  if (v instanceof Identifier || v instanceof MembershipVector) return v.toHex()
  if (Array.isArray(v)) return v.map(normalize)
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]))
  return v
}

describe('searchOracle', () => {
  const ids = ['10', '20', '30', '40'].map(id)
  it('returns the node holding the target when present', () => {
    expect(searchOracle(ids, id('10'), id('30'))).toEqual({ result: id('30'), found: true })
    expect(searchOracle(ids, id('40'), id('20'))).toEqual({ result: id('20'), found: true })
  })
  it('searching right returns the greatest identifier at most the target', () => {
    expect(searchOracle(ids, id('10'), id('35'))).toEqual({ result: id('30'), found: false })
    expect(searchOracle(ids, id('20'), id('ff'))).toEqual({ result: id('40'), found: false })
    expect(searchOracle(ids, id('20'), id('21'))).toEqual({ result: id('20'), found: false })
  })
  it('searching left returns the smallest identifier at least the target', () => {
    expect(searchOracle(ids, id('40'), id('25'))).toEqual({ result: id('30'), found: false })
    expect(searchOracle(ids, id('30'), id('01'))).toEqual({ result: id('10'), found: false })
    expect(searchOracle(ids, id('30'), id('29'))).toEqual({ result: id('30'), found: false })
  })
})

describe('checkSkipGraph', () => {
  // 10 (mv 00…), 20 (mv 10…), 30 (mv 01…): level 1 links 10 and 30
  const owners = [
    { id: id('10'), mv: mv('00') },
    { id: id('20'), mv: mv('80') },
    { id: id('30'), mv: mv('40') },
  ]
  const e = (i: number) => ({ id: owners[i]!.id, mv: owners[i]!.mv, alive: true })
  const correct = () => [
    {
      owner: owners[0]!,
      levels: [
        { level: 0, left: null, right: e(1) },
        { level: 1, left: null, right: e(2) },
      ],
    },
    {
      owner: owners[1]!,
      levels: [
        { level: 0, left: e(0), right: e(2) },
        { level: 1, left: null, right: null },
      ],
    },
    {
      owner: owners[2]!,
      levels: [
        { level: 0, left: e(1), right: null },
        { level: 1, left: e(0), right: null },
      ],
    },
  ]
  it('accepts a correct graph', () => {
    expect(checkSkipGraph(correct())).toEqual([])
  })
  it('reports a pointer that skips a member, with its level and side', () => {
    const g = correct()
    g[0]!.levels[0] = { level: 0, left: null, right: e(2) }
    const v = checkSkipGraph(g)
    expect(v).toHaveLength(1)
    expect(v[0]).toMatchObject({ level: 0, side: 'right' })
    expect(v[0]!.node.equals(owners[0]!.id)).toBe(true)
    expect(v[0]!.expected?.equals(owners[1]!.id)).toBe(true)
  })
  it('reports a missing upper-level link and a link to a non-member', () => {
    const g = correct()
    g[2]!.levels[1] = { level: 1, left: null, right: null }
    g[1]!.levels[1] = { level: 1, left: null, right: { id: id('99'), mv: mv('80'), alive: true } }
    const v = checkSkipGraph(g)
    expect(v.map((x) => `${x.level}:${x.side}`).sort()).toEqual(['1:left', '1:right'])
  })
})

describe('wire', () => {
  const n = { id: id('aa'), mv: mv('f0') }
  const samples: WireMessage[] = [
    {
      kind: Kind.Search,
      nonce: NONCE,
      hop: NONCE,
      budget: 9000,
      origin: id('01'),
      target: id('02'),
      level: 7,
      dir: 1,
      reverse: 0,
      hops: appendHop(new Uint8Array(0), id('03').bytes, 2),
    },
    { kind: Kind.SearchResult, nonce: NONCE, found: true, hops: new Uint8Array(0) },
    { kind: Kind.SearchFail, nonce: NONCE, reason: 1 },
    { kind: Kind.Lock, txn: NONCE, levels: [0, 1] },
    { kind: Kind.Read, levels: [4] },
    { kind: Kind.Read, levels: [0, 2], view: [0] },
    {
      kind: Kind.LockReply,
      granted: true,
      reason: 0,
      mv: mv('0f'),
      levels: [{ level: 0, linked: true, left: n, right: null }],
    },
    {
      kind: Kind.Apply,
      txn: NONCE,
      writes: [
        { level: 3, side: 'left', entry: n },
        { level: 4, side: 'right', entry: null },
      ],
    },
    { kind: Kind.ApplyAck, ok: false },
    { kind: Kind.Release, txn: NONCE },
  ]
  it('round-trips every kind', () => {
    for (const msg of samples) {
      const out = decodeWire(encodeWire(msg))
      expect(out.ok).toBe(true)
      expect(normalize(out.ok ? out.msg : null)).toEqual(normalize(msg))
    }
  })
  it('reads a probe read with its view and one without as before, and refuses a view out of range', () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: true })
    const plain = decodeWire(packr.pack([Kind.Read, [1, 3]]))
    expect(normalize(plain)).toEqual({ ok: true, msg: { kind: Kind.Read, levels: [1, 3] } })
    const probe = decodeWire(packr.pack([Kind.Read, [1, 3], [1]]))
    expect(normalize(probe)).toEqual({ ok: true, msg: { kind: Kind.Read, levels: [1, 3], view: [1] } })
    expect(decodeWire(packr.pack([Kind.Read, [1], []])).ok).toBe(true)
    expect(decodeWire(packr.pack([Kind.Read, [1], [256]])).ok).toBe(false)
    expect(decodeWire(packr.pack([Kind.Read, [1], 'x'])).ok).toBe(false)
    expect(decodeWire(packr.pack([Kind.Read, [1], [1], [1]])).ok).toBe(false)
  })
  it('carries a search path as 33 bytes per hop', () => {
    const path = appendHop(appendHop(new Uint8Array(0), id('03').bytes, 2), id('04').bytes, 0)
    expect(hopCount(path)).toBe(2)
    expect(hopAt(path, 0).level).toBe(2)
    expect(Identifier.fromBytes(hopAt(path, 1).node).equals(id('04'))).toBe(true)
  })
  it('never throws on truncated input', () => {
    for (const msg of samples) {
      const bytes = encodeWire(msg)
      for (let len = 0; len < bytes.length; len++) expect(decodeWire(bytes.subarray(0, len)).ok).toBe(false)
    }
  })
})

describe('lookup table', () => {
  it('tracks the top level and marks a dead neighbour everywhere', () => {
    const t = new LookupTable()
    const a = { id: id('01'), mv: mv('00'), alive: true }
    t.set(0, 'left', a)
    t.set(3, 'left', a)
    expect(t.topLevel).toBe(3)
    expect(t.markDead(id('01'))).toHaveLength(2)
    expect(t.get(3, 'left')?.alive).toBe(false)
    t.set(3, 'left', null)
    expect(t.topLevel).toBe(0)
    expect(() => t.set(256, 'left', null)).toThrow(RangeError)
  })
  it('compares membership-vector prefixes bit by bit', () => {
    expect(sharesPrefix(mv('f0'), mv('f8'), 4)).toBe(true)
    expect(sharesPrefix(mv('f0'), mv('f8'), 5)).toBe(false)
    expect(sharesPrefix(mv('f0'), mv('00'), 0)).toBe(true)
  })
})
