import { createConnectionBudget } from '../src/budget/index.js'
import { describeConnectionBudget, describeConnectionManager } from '../src/testing/index.js'
import { muxFixture } from './mux-helpers.js'

describeConnectionManager('multiplexer, nodes on different hosts', async () => muxFixture(3))

describeConnectionManager('multiplexer, nodes of one host (in memory)', async () => muxFixture(1))

describeConnectionManager(
  'multiplexer over MemoryHub with seeded random latency',
  async () => muxFixture(2, { seed: 5, latency: { min: 0, max: 3 } }),
  { largePayloadBytes: 256 * 1024 },
)

describeConnectionManager('multiplexer nodes behind a connection budget', async () =>
  muxFixture(2, {}, (m) => createConnectionBudget(m, { maxConnections: 16 })),
)

describeConnectionBudget('multiplexer, nodes on different hosts', async () => muxFixture(3))

describeConnectionBudget('multiplexer, nodes of one host (in memory)', async () => muxFixture(1))
