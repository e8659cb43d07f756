import { bytesToHex } from '@skipmesh/core/internal'
import * as protocol from '@skipmesh/signaling-protocol'
import { describe, expect, it } from 'vitest'
import { handlers } from '../src/handlers.js'
import * as legacy from '../src/protocol.js'

describe('protocol entry points', () => {
  it('keeps @skipmesh/signaling-server/protocol as a re-export of @skipmesh/signaling-protocol', () => {
    const exported = Object.entries(protocol)
    const reexported = new Map(Object.entries(legacy))
    expect(exported.length).toBeGreaterThan(20)
    for (const [name, value] of exported) expect(reexported.get(name), name).toBe(value)
    expect(legacy.bytesToHex).toBe(bytesToHex)
  })

  it('has one handler for every client event of the protocol and none other', () => {
    expect(Object.keys(handlers).sort()).toEqual([...protocol.CLIENT_EVENTS].sort())
  })
})
