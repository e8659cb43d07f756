import { readdirSync, readFileSync } from 'node:fs'
import * as v from 'valibot'
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  ackSchema,
  CLIENT_EVENTS,
  type ClientEventName,
  ClientRequestSchemas,
  type ClientToServerEvents,
  challengeBytes,
  JoinResponseSchema,
  jsonSize,
  MAX_SIGNAL_DATA_SIZE,
  PeersPageSchema,
  type RequestOf,
  type ResponseOf,
  SignalRequestSchema,
} from '../src/index.js'

describe('protocol', () => {
  it('imports nothing but valibot, so browsers can load it', () => {
    const dir = new URL('../src/', import.meta.url)
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'))
    expect(files.length).toBeGreaterThan(0)
    const external = new Set<string>()
    for (const file of files) {
      const source = readFileSync(new URL(file, dir), 'utf8')
      for (const m of source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        if (!m[1]?.startsWith('./')) external.add(m[1] ?? '')
      }
      expect(source, file).not.toMatch(/\b(?:Buffer|process|require)\b/)
    }
    expect([...external]).toEqual(['valibot'])
  })

  it('signs the UTF-8 of skipmesh-signal-v1, room, id and challenge separated by newlines', () => {
    const bytes = challengeBytes('lobby', 'ab'.repeat(32), 'cd'.repeat(32))
    expect(new TextDecoder().decode(bytes)).toBe(
      `skipmesh-signal-v1\nlobby\n${'ab'.repeat(32)}\n${'cd'.repeat(32)}`,
    )
  })

  it('accepts simple-peer offers and candidates and strips unknown keys', () => {
    const offer = {
      to: 'a'.repeat(64),
      session: 'p1:3',
      data: { type: 'offer', sdp: 'v=0\r\n' },
      from: 'b'.repeat(64),
    }
    expect(v.parse(SignalRequestSchema, offer)).toEqual({ to: offer.to, session: 'p1:3', data: offer.data })
    const candidate = {
      candidate: { candidate: 'candidate:0 1 UDP 1 127.0.0.1 1 typ host', sdpMLineIndex: 0, sdpMid: '0' },
    }
    expect(v.safeParse(SignalRequestSchema, { to: offer.to, session: 's', data: candidate }).success).toBe(
      true,
    )
  })

  it('measures JSON size and refuses non-JSON values', () => {
    const value = { a: [1, { b: 'x' }, null, true] }
    expect(jsonSize(value)).toBeGreaterThanOrEqual(JSON.stringify(value).length)
    expect(jsonSize({ a: new Uint8Array(2) })).toBe(-1)
    expect(jsonSize({ a: Number.NaN })).toBe(-1)
    expect(jsonSize({ a: () => 1 })).toBe(-1)
    expect(jsonSize({ a: 'x'.repeat(MAX_SIGNAL_DATA_SIZE) })).toBeGreaterThan(MAX_SIGNAL_DATA_SIZE)
  })

  it('validates acks as either a result or a typed error', () => {
    const schema = ackSchema(JoinResponseSchema)
    expect(v.safeParse(schema, { ok: true, challenge: 'c'.repeat(64) }).success).toBe(true)
    expect(v.safeParse(schema, { ok: false, error: { code: 'id-taken', message: '' } }).success).toBe(true)
    expect(v.safeParse(schema, { ok: false, error: { code: 'made-up', message: '' } }).success).toBe(false)
    expect(
      v.safeParse(ackSchema(PeersPageSchema), { ok: true, peers: Array(257).fill('a'.repeat(64)) }).success,
    ).toBe(false)
  })

  it('types the client events', () => {
    expectTypeOf<Parameters<ClientToServerEvents['signal']>[0]>().toHaveProperty('session')
    // @ts-expect-error: not an event of the protocol
    expectTypeOf<ClientToServerEvents['no-such-event']>().toBeAny()
  })

  it('lists exactly the events of the typed event map, each with its request schema', () => {
    expectTypeOf<ClientEventName>().toEqualTypeOf<keyof ClientToServerEvents>()
    expectTypeOf<RequestOf<'join'>>().toHaveProperty('publicKey')
    expectTypeOf<ResponseOf<'join'>>().toHaveProperty('challenge')
    expect([...CLIENT_EVENTS].sort()).toEqual(Object.keys(ClientRequestSchemas).sort())
    expect(new Set(CLIENT_EVENTS).size).toBe(10)
  })
})
