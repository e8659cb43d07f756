import { type ConnectionManager, generateKeyPair, Identifier } from '@skipmesh/core'
import { describeConnectionManager } from '@skipmesh/core/testing'
import { createWebRtcHost, type WebRtcHost } from '../src/host.js'
import { implementations, useSignalingServer } from './helpers.js'

const fixture = useSignalingServer()

for (const name of ['wrtc', 'node-datachannel'] as const) {
  // two hosts per case; consecutive managers sit on different hosts, so every pair a case makes spans the
  // hosts' one RTCPeerConnection
  const setup = async () => {
    const room = `hostcc-${Math.random().toString(36).slice(2)}`
    let hosts: Promise<WebRtcHost[]> | undefined
    const nodes: ConnectionManager[] = []
    const startHosts = async (): Promise<WebRtcHost[]> => {
      const made = await Promise.all(
        [0, 1].map(async () =>
          createWebRtcHost({
            keyPair: await generateKeyPair(),
            signaling: { url: fixture.server.url, room },
            rtc: { iceServers: [] },
            wrtc: implementations[name](),
          }),
        ),
      )
      for (const h of made) h.start()
      await Promise.all(made.map((h) => h.ready()))
      return made
    }
    return {
      async create(id: Identifier): Promise<ConnectionManager> {
        hosts ??= startHosts()
        const host = (await hosts)[nodes.length % 2]!
        const node = host.node(id, await generateKeyPair())
        nodes.push(node)
        node.start()
        await node.ready()
        return node
      },
      unknownId: () => Identifier.random(),
      async teardown() {
        await Promise.all(nodes.map((n) => n.stop()))
        if (hosts !== undefined) await Promise.all((await hosts).map((h) => h.stop()))
      },
    }
  }
  describeConnectionManager(`nodes of two WebRTC hosts (${name})`, setup, {
    timeoutMs: 20_000,
    largePayloadBytes: 1024 * 1024,
  })
}
