import { describeConnectionManager } from '../src/testing/index.js'
import { memoryFixture } from './helpers.js'

describeConnectionManager('MemoryHub', async () => memoryFixture())

describeConnectionManager(
  'MemoryHub with seeded random latency',
  async () => memoryFixture({ seed: 7, latency: { min: 0, max: 3 } }),
  { largePayloadBytes: 256 * 1024 },
)
