import { describe, expect, it } from 'vitest'
import type { ConnectionEvents, ConnectionManagerEvents } from '../src/connection.js'
import { Emitter } from '../src/events.js'
import { Identifier } from '../src/identifier.js'
import { MemoryHub } from '../src/memory/hub.js'

interface PeerEvents {
  'peer:connect': (id: Identifier) => void
  'peer:disconnect': (id: Identifier, reason: string) => void
}

describe('typed events', () => {
  it('calls every handler of an event with its arguments', () => {
    const events = new Emitter<PeerEvents>()
    const seen: string[] = []
    events.on('peer:disconnect', (id, reason) => seen.push(`${id.toHex().slice(-2)}:${reason}`))
    events.on('peer:disconnect', (_id, reason) => seen.push(reason))
    events.emit('peer:disconnect', Identifier.fromHex('0a'), 'bye')
    expect(seen).toEqual(['0a:bye', 'bye'])
  })

  it('stops calling a handler once unsubscribed, and a second unsubscribe is harmless', () => {
    const events = new Emitter<PeerEvents>()
    let calls = 0
    const off = events.on('peer:connect', () => calls++)
    events.emit('peer:connect', Identifier.random())
    off()
    off()
    events.emit('peer:connect', Identifier.random())
    expect(calls).toBe(1)
    expect(events.listenerCount('peer:connect')).toBe(0)
  })

  it('keeps calling the other handlers when one throws, reporting the error', () => {
    const errors: unknown[] = []
    const events = new Emitter<PeerEvents>({ onHandlerError: (err) => errors.push(err) })
    let reached = false
    events.on('peer:connect', () => {
      throw new Error('handler bug')
    })
    events.on('peer:connect', () => {
      reached = true
    })
    events.emit('peer:connect', Identifier.random())
    expect(reached).toBe(true)
    expect(errors).toHaveLength(1)
  })

  it('types event names and handler signatures (checked by tsc -p test/tsconfig.json)', () => {
    const events = new Emitter<PeerEvents>()
    // @ts-expect-error: 'peer:connected' is not an event of PeerEvents
    events.on('peer:connected', () => {})
    // @ts-expect-error: the handler of 'peer:connect' gets an Identifier, not a number
    events.on('peer:connect', (id: number) => id)
    // @ts-expect-error: emit checks the argument list too
    events.emit('peer:disconnect', Identifier.random())

    const manager = new MemoryHub().connectionManager(Identifier.random())
    // @ts-expect-error: a ConnectionManager emits 'connection', not 'connect'
    manager.on('connect', () => {})
    const onConnection: ConnectionManagerEvents['connection'] = (conn) => {
      const onMessage: ConnectionEvents['message'] = (channel, bytes) => {
        // @ts-expect-error: bytes are a Uint8Array, not a string
        const s: string = bytes
        return [channel, s]
      }
      conn.on('message', onMessage)
      // @ts-expect-error: a Connection emits 'close', not 'closed'
      conn.on('closed', () => {})
    }
    const off = manager.on('connection', onConnection)
    expect(typeof off).toBe('function')
    off()
  })
})
