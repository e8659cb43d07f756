import { mulberry32 } from '@skipmesh/core/internal'
import { MAX_SIGNAL_DATA_SIZE, SignalRequestSchema } from '@skipmesh/signaling-protocol'
import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import { checkSignal } from '../src/signal-check.js'

const ID = 'ab'.repeat(32)
const CANDIDATE = {
  candidate:
    'candidate:842163049 1 udp 1677729535 192.0.2.10 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0',
  sdpMLineIndex: 0,
  sdpMid: '0',
}

/** Nested `depth` levels of `{ a: … }` around `{}`. */
function nested(depth: number): Record<string, unknown> {
  let x: Record<string, unknown> = {}
  for (let i = 0; i < depth; i++) x = { a: x }
  return x
}

class Custom {
  a = 1
}

const base = { to: ID, session: 'sess-1', data: { batch: [{ type: 'candidate', candidate: CANDIDATE }] } }

/** Payloads the schema accepts and refuses, including the edges of every rule. */
const cases: Array<[string, unknown]> = [
  ['a candidate batch', base],
  ['an offer', { to: ID, session: 'a', data: { batch: [{ type: 'offer', sdp: 'v=0\r\n'.repeat(100) }] } }],
  ['a dial request', { to: ID, session: 'x'.repeat(64), data: { dial: true } }],
  ['every session character', { to: ID, session: 'Az09._:-', data: {} }],
  ['extra keys (stripped)', { ...base, from: 'f'.repeat(64), extra: 1 }],
  [
    'a null-prototype payload and data',
    Object.assign(Object.create(null), { ...base, data: Object.create(null) }),
  ],
  ['data as deep as allowed', { ...base, data: nested(7) }],
  ['data one level too deep', { ...base, data: nested(8) }],
  ['data at the size limit', { ...base, data: { s: 'x'.repeat(MAX_SIGNAL_DATA_SIZE - 8) } }],
  ['data over the size limit', { ...base, data: { s: 'x'.repeat(MAX_SIGNAL_DATA_SIZE) } }],
  ['an upper-case id', { ...base, to: ID.toUpperCase() }],
  ['a short id', { ...base, to: ID.slice(1) }],
  ['a numeric id', { ...base, to: 1 }],
  ['an empty session', { ...base, session: '' }],
  ['a long session', { ...base, session: 'x'.repeat(65) }],
  ['a session with a space', { ...base, session: 'a b' }],
  ['a session with a newline', { ...base, session: 'a\n' }],
  ['an id with a trailing newline', { ...base, to: `${ID}\n` }],
  ['no data', { to: ID, session: 's' }],
  ['data as an array', { ...base, data: [1] }],
  ['data as a string', { ...base, data: 'x' }],
  ['data null', { ...base, data: null }],
  ['data as a class instance', { ...base, data: new Custom() }],
  ['binary inside data', { ...base, data: { b: new Uint8Array(2) } }],
  ['a non-finite number inside data', { ...base, data: { n: Number.POSITIVE_INFINITY } }],
  ['a payload array', [base]],
  ['a payload class instance', Object.assign(new Custom(), base)],
  ['no payload', undefined],
  ['a string payload', 'signal'],
]

describe('the hot path of signal validation', () => {
  it.each(cases)('agrees with SignalRequestSchema on %s', (_name, payload) => {
    const schema = v.safeParse(SignalRequestSchema, payload)
    const fast = checkSignal(payload)
    if (schema.success) {
      expect(fast).toEqual(schema.output)
      expect(Object.keys(fast!)).toEqual(Object.keys(schema.output))
      expect(fast!.data).toBe((payload as { data: unknown }).data)
    } else {
      expect(fast).toBeUndefined()
    }
  })

  it('agrees with SignalRequestSchema on 2,000 random mutations of a valid signal', () => {
    const random = mulberry32(15)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
    const ids = [ID, ID.toUpperCase(), ID.slice(2), `${ID}0`, '', 7, null]
    const sessions = ['s', 'x'.repeat(64), 'x'.repeat(65), '', 'a b', 'é', 3, undefined]
    const datas = [base.data, {}, [], null, 'x', nested(3), nested(9), new Custom(), { u: undefined }]
    let accepted = 0
    for (let i = 0; i < 2_000; i++) {
      const payload: Record<string, unknown> = { to: pick(ids), session: pick(sessions), data: pick(datas) }
      if (random() < 0.2) delete payload[pick(['to', 'session', 'data'])]
      const schema = v.safeParse(SignalRequestSchema, payload)
      const fast = checkSignal(payload)
      if (schema.success) {
        accepted++
        expect(fast).toEqual(schema.output)
      } else expect(fast).toBeUndefined()
    }
    expect(accepted).toBeGreaterThan(0)
  })
})
