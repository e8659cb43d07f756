import { describe, expect, it } from 'vitest'
import { DEFAULT_MAX_CONNECTIONS, readConfig } from '../src/config.js'

const at = (query: string) => readConfig(new URL(`http://127.0.0.1:8787/${query}`) as unknown as Location)

describe("the demo's connection budget (?budget=)", () => {
  it('budgets each node of a per-node tab by default, and none on the shared host or in memory', () => {
    expect(at('').maxConnections).toBe(DEFAULT_MAX_CONNECTIONS)
    expect(at('?transport=per-node').maxConnections).toBe(DEFAULT_MAX_CONNECTIONS)
    expect(at('?transport=shared').maxConnections).toBeNull()
    expect(at('?transport=memory').maxConnections).toBeNull()
  })

  it('takes a positive integer as the budget on any transport, and off as none', () => {
    expect(at('?budget=24').maxConnections).toBe(24)
    expect(at('?transport=shared&budget=8').maxConnections).toBe(8)
    expect(at('?budget=off').maxConnections).toBeNull()
  })

  it('falls back to the default on a value that is not a positive integer', () => {
    for (const bad of ['0', '-3', '2.5', 'many', ''])
      expect(at(`?budget=${bad}`).maxConnections, bad).toBe(DEFAULT_MAX_CONNECTIONS)
  })
})
