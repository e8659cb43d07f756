import { type ConnectionManager, Identifier } from '@skipmesh/core'
import { describeConnectionBudget, describeConnectionManager } from '@skipmesh/core/testing'
import { implementations, managerFactory, useSignalingServer } from './helpers.js'

const fixture = useSignalingServer()

for (const name of ['wrtc', 'node-datachannel'] as const) {
  const setup = async () => {
    const factory = managerFactory(fixture.server, implementations[name]())
    return {
      create: (id: Identifier): Promise<ConnectionManager> => factory.make(id),
      unknownId: () => Identifier.random(),
      teardown: () => factory.stopAll(),
    }
  }
  describeConnectionManager(`WebRTC (${name}) through a real signaling server`, setup, {
    timeoutMs: 20_000,
    largePayloadBytes: 1024 * 1024,
  })
  describeConnectionBudget(`WebRTC (${name}) through a real signaling server`, setup, { timeoutMs: 20_000 })
}
