import { createConnectionBudget } from '../src/budget/index.js'
import type { ConnectionManager } from '../src/connection.js'
import { Identifier } from '../src/identifier.js'
import { MemoryHub } from '../src/memory/hub.js'
import type { ConnectionManagerFixture } from '../src/testing/fixture.js'
import { describeConnectionBudget, describeConnectionManager } from '../src/testing/index.js'
import { memoryFixture, stopAll } from './helpers.js'

describeConnectionBudget('MemoryHub', async () => memoryFixture())

describeConnectionBudget('MemoryHub with seeded random latency', async () =>
  memoryFixture({ seed: 11, latency: { min: 0, max: 3 } }),
)

/** MemoryHub managers behind a roomy budget: the budget must be a transparent ConnectionManager. */
function budgetedFixture(): ConnectionManagerFixture {
  const hub = new MemoryHub()
  const managers: ConnectionManager[] = []
  return {
    async create(id) {
      const m = createConnectionBudget(hub.connectionManager(id), { maxConnections: 16 })
      managers.push(m)
      m.start()
      await m.ready()
      return m
    },
    unknownId: () => Identifier.random(),
    teardown: () => stopAll(managers),
  }
}

describeConnectionManager('MemoryHub behind a connection budget', async () => budgetedFixture())
