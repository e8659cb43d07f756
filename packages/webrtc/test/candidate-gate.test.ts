import { describe, expect, it } from 'vitest'
import { isLibdatachannelSdp, LocalCandidateGate } from '../src/candidate-gate.js'
import type { PeerSignal } from '../src/peer-transport.js'

type CandidateSignal = Extract<PeerSignal, { type: 'candidate' }>

const LIBDATACHANNEL_OFFER = 'v=0\r\no=rtc 1234567 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'
const BROWSER_OFFER = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'

function candidate(n: number): CandidateSignal {
  return {
    type: 'candidate',
    candidate: {
      candidate: `candidate:${n} 1 UDP 1 192.0.2.1 ${4000 + n} typ host`,
      sdpMid: '0',
      sdpMLineIndex: 0,
    },
  }
}

function gate(): { gate: LocalCandidateGate; sent: number[] } {
  const sent: number[] = []
  return {
    gate: new LocalCandidateGate((s) =>
      sent.push(Number(s.candidate.candidate.split(':')[1]?.split(' ')[0])),
    ),
    sent,
  }
}

describe('local candidate gate', () => {
  it('tells libdatachannel SDP by its origin line', () => {
    expect(isLibdatachannelSdp(LIBDATACHANNEL_OFFER)).toBe(true)
    expect(isLibdatachannelSdp(BROWSER_OFFER)).toBe(false)
    expect(isLibdatachannelSdp('v=0\r\ns=rtc \r\n')).toBe(false)
  })

  it('holds candidates gathered before the first description, then sends them in order, and later ones at once', () => {
    const { gate: g, sent } = gate()
    g.candidate(candidate(1))
    g.candidate(candidate(2))
    expect(sent).toEqual([])
    g.described('offer', BROWSER_OFFER)
    expect(sent).toEqual([1, 2])
    g.candidate(candidate(3))
    expect(sent).toEqual([1, 2, 3])
  })

  it("holds a libdatachannel offerer's candidates until the answer is applied", () => {
    const { gate: g, sent } = gate()
    g.candidate(candidate(1))
    g.described('offer', LIBDATACHANNEL_OFFER)
    g.candidate(candidate(2))
    expect(sent).toEqual([])
    g.answered()
    expect(sent).toEqual([1, 2])
    g.candidate(candidate(3))
    expect(sent).toEqual([1, 2, 3])
  })

  it("sends a libdatachannel answerer's candidates after its answer", () => {
    const { gate: g, sent } = gate()
    g.candidate(candidate(1))
    g.described('answer', LIBDATACHANNEL_OFFER)
    expect(sent).toEqual([1])
  })

  it('holds nothing for a later offer once candidates flow, and an answer without a held offer changes nothing', () => {
    const { gate: g, sent } = gate()
    g.answered()
    g.described('offer', BROWSER_OFFER)
    g.described('offer', LIBDATACHANNEL_OFFER)
    g.candidate(candidate(1))
    expect(sent).toEqual([1])
  })

  it('drops what it holds when cleared', () => {
    const { gate: g, sent } = gate()
    g.candidate(candidate(1))
    g.described('offer', LIBDATACHANNEL_OFFER)
    g.clear()
    g.answered()
    expect(sent).toEqual([])
  })
})
