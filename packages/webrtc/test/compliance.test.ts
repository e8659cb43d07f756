import { type ConnectionManager, Identifier } from '@skipmesh/core'
import { describeConnectionBudget, describeConnectionManager } from '@skipmesh/core/testing'
import type { SignalingServer } from '@skipmesh/signaling-server'
import { afterAll, beforeAll } from 'vitest'
import { implementations, managerFactory, startSignalingServer } from './helpers.js'

let server: SignalingServer
beforeAll(async () => {
  server = await startSignalingServer()
})
afterAll(async () => {
  await server.close()
})

for (const name of ['wrtc', 'node-datachannel'] as const) {
  const setup = async () => {
    const factory = managerFactory(server, implementations[name]())
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
