import { ConnectionFailedError, PeerNotFoundError } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { type IceFacts, IceConnectionFailedError, SignalingUnavailableError } from '../src/errors.js'
import { candidateType, explainConnectFailure, IceFactsRecorder } from '../src/ice-facts.js'
import { IceFailures } from '../src/ice-failures.js'

const RELAY = 'candidate:1 1 udp 41885439 127.0.0.1 50000 typ relay raddr 0.0.0.0 rport 0 generation 0'
const HOST = 'candidate:2 1 udp 2122260223 192.168.1.4 51000 typ host generation 0'

function facts(overrides: Partial<IceFacts> = {}): IceFacts {
  return {
    exchanged: true,
    connected: false,
    iceState: 'checking',
    localCandidateTypes: [],
    remoteCandidateTypes: [],
    relayGathered: false,
    iceServers: 0,
    iceTransportPolicy: 'relay',
    ...overrides,
  }
}

describe('ICE facts of a peer connection', () => {
  it('reads the type of a candidate line, and none from a line without a known one', () => {
    expect(candidateType(RELAY)).toBe('relay')
    expect(candidateType(`a=${HOST}`)).toBe('host')
    expect(candidateType('candidate:3 1 udp 1 1.2.3.4 5 typ bogus')).toBeUndefined()
    expect(candidateType('')).toBeUndefined()
  })

  it('records gathered and received candidate types, the exchange, and whether ICE ever connected', () => {
    const r = new IceFactsRecorder({
      iceServers: [{ urls: 'turn:t.example' }, { urls: 'stun:s.example' }],
      iceTransportPolicy: 'relay',
    })
    expect(r.facts()).toEqual(
      facts({ exchanged: false, iceState: 'new', iceServers: 2, iceTransportPolicy: 'relay' }),
    )
    r.localCandidate(HOST)
    r.localCandidate(HOST)
    r.remoteCandidate(RELAY)
    r.exchanged(`v=0\r\na=${RELAY}\r\n`, `v=0\r\na=${HOST}\r\n`)
    r.iceState('checking')
    expect(r.facts()).toEqual(
      facts({
        localCandidateTypes: ['host', 'relay'],
        remoteCandidateTypes: ['relay', 'host'],
        relayGathered: true,
        iceServers: 2,
      }),
    )
    r.iceState('connected')
    r.iceState('disconnected')
    expect(r.facts()).toMatchObject({ connected: true, iceState: 'disconnected' })
    expect(new IceFactsRecorder({}).facts()).toMatchObject({ iceServers: 0, iceTransportPolicy: 'all' })
  })

  it('explains a plain connect failure after the exchange, ICE never connected, as IceConnectionFailedError', () => {
    const cause = new ConnectionFailedError('connect timeout')
    const err = explainConnectFailure(cause, facts())
    expect(err).toBeInstanceOf(IceConnectionFailedError)
    expect(err).toBeInstanceOf(ConnectionFailedError)
    expect(err.name).toBe('IceConnectionFailedError')
    expect((err as IceConnectionFailedError).facts).toEqual(facts())
    expect(err.cause).toBe(cause)
  })

  it('leaves other failures as they are: no exchange, ICE connected, a signaling error, a missing peer, no facts', () => {
    const plain = new ConnectionFailedError('connect timeout')
    expect(explainConnectFailure(plain, facts({ exchanged: false }))).toBe(plain)
    expect(explainConnectFailure(plain, facts({ connected: true }))).toBe(plain)
    expect(explainConnectFailure(plain, undefined)).toBe(plain)
    for (const other of [
      new SignalingUnavailableError('down'),
      new PeerNotFoundError('gone'),
      new Error('x'),
    ]) {
      expect(explainConnectFailure(other, facts())).toBe(other)
    }
  })
})

describe('ICE failures of a manager', () => {
  const iceFailure = () => explainConnectFailure(new ConnectionFailedError('connect timeout'), facts())

  it('counts ICE failures, and explains a timed-out dial by the last one since the dial began', () => {
    const f = new IceFailures()
    const since = performance.now()
    f.closed('aa', new ConnectionFailedError('not ICE'))
    f.closed('aa', undefined)
    expect(f.count).toBe(0)
    const timeout = new ConnectionFailedError('no connection to aa within 10 ms')
    expect(f.explain('aa', timeout, since)).toBe(timeout)
    const failure = iceFailure()
    f.closed('aa', failure)
    expect(f.count).toBe(1)
    const explained = f.explain('aa', timeout, since)
    expect(explained).toBeInstanceOf(IceConnectionFailedError)
    expect((explained as IceConnectionFailedError).facts).toBe((failure as IceConnectionFailedError).facts)
    expect((explained as Error).cause).toBe(timeout)
    // another remote, a dial begun later, an error that is not a plain connect failure: unexplained
    expect(f.explain('bb', timeout, since)).toBe(timeout)
    expect(f.explain('aa', timeout, performance.now() + 1)).toBe(timeout)
    const missing = new PeerNotFoundError('gone')
    expect(f.explain('aa', missing, since)).toBe(missing)
  })

  it('forgets a remote once a connection to it opened, and every remote on clear', () => {
    const f = new IceFailures()
    const since = performance.now()
    const timeout = new ConnectionFailedError('timeout')
    f.closed('aa', iceFailure())
    f.closed('bb', iceFailure())
    f.opened('aa')
    expect(f.explain('aa', timeout, since)).toBe(timeout)
    expect(f.explain('bb', timeout, since)).toBeInstanceOf(IceConnectionFailedError)
    f.clear()
    expect(f.explain('bb', timeout, since)).toBe(timeout)
    expect(f.count).toBe(2)
  })
})
