import { describe, expect, it } from 'vitest'
import { MAX_SIGNAL_BATCH, parsePeerMessage } from '../src/signals.js'

const offer = { type: 'offer', sdp: 'v=0\r\n' }
const candidate = {
  type: 'candidate',
  candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0' },
}

describe('peer-to-peer signal messages', () => {
  it('accepts dial requests, byes and batches of offers, answers and candidates', () => {
    expect(parsePeerMessage({ dial: true })).toEqual({ dial: true })
    expect(parsePeerMessage({ bye: true })).toEqual({ bye: true })
    expect(parsePeerMessage({ batch: [offer, candidate] })).toEqual({ batch: [offer, candidate] })
    const nulls = { type: 'candidate', candidate: { candidate: 'x', sdpMid: null, sdpMLineIndex: null } }
    expect(parsePeerMessage({ batch: [{ type: 'answer', sdp: 'v=0' }, nulls] })).toEqual({
      batch: [{ type: 'answer', sdp: 'v=0' }, nulls],
    })
  })

  it('keeps only the known fields of a signal', () => {
    const parsed = parsePeerMessage({ batch: [{ ...offer, extra: 1, __proto__: { polluted: true } }], x: 2 })
    expect(parsed).toEqual({ batch: [offer] })
    expect(Object.keys((parsed as { batch: object[] }).batch[0]!)).toEqual(['type', 'sdp'])
  })

  it('rejects malformed messages without throwing', () => {
    for (const junk of [
      null,
      'offer',
      [],
      { what: 'ever' },
      { dial: 'yes' },
      { batch: [] },
      { batch: [1, 2, 3] },
      { batch: Array.from({ length: MAX_SIGNAL_BATCH + 1 }, () => candidate) },
      { batch: [{ type: 'renegotiate', renegotiate: true }] },
      { batch: [{ type: 'offer' }] },
      { batch: [{ type: 'offer', sdp: 5 }] },
      { batch: [{ type: 'candidate', candidate: { candidate: 5 } }] },
      { batch: [{ type: 'candidate', candidate: { candidate: 'x', sdpMLineIndex: -1 } }] },
      { batch: [{ type: 'offer', sdp: 'x'.repeat(70 * 1024) }] },
    ]) {
      expect(parsePeerMessage(junk)).toBeUndefined()
    }
  })
})
