import { MemoryRegistry } from '../src/registry.js'
import { describeRegistry } from './registry-suite.js'

describeRegistry(
  'memory',
  async () => {
    let now = 1_000_000
    const registry = new MemoryRegistry({ graceMs: 30_000, now: () => now })
    return {
      a: registry,
      b: registry,
      graceMs: 30_000,
      advance: (ms) => {
        now += ms
      },
    }
  },
  { drivableClock: true },
)
