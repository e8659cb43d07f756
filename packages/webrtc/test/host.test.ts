import {
  Channel,
  channel,
  createNetwork,
  type DefaultNetwork,
  generateKeyPair,
  Identifier,
  type Message,
  type MessageProcessor,
} from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { createWebRtcHost, type WebRtcHost } from '../src/host.js'
import { countingWrtc, implementations, useSignalingServer } from './helpers.js'

const fixture = useSignalingServer()

const text = new TextEncoder()
const decode = new TextDecoder()
const NODES_PER_HOST = 3
const ECHO = channel('echo')

/** Records arrivals; `waitFor(n)` resolves once `n` have arrived. */
class Inbox implements MessageProcessor {
  readonly got: string[] = []
  #waiters: Array<{ n: number; resolve: () => void }> = []
  processIncomingMessage(_ch: Channel, _origin: Identifier, message: Message): void {
    this.got.push(decode.decode(message.payload))
    for (const w of this.#waiters.filter((x) => this.got.length >= x.n)) w.resolve()
    this.#waiters = this.#waiters.filter((x) => this.got.length < x.n)
  }
  processRequest(_ch: Channel, origin: Identifier, message: Message): Message {
    return {
      payload: text.encode(`${decode.decode(message.payload)} from ${origin.toHex().slice(0, 8)}`),
      metadata: {},
    }
  }
  waitFor(n: number): Promise<void> {
    if (this.got.length >= n) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ n, resolve }))
  }
}

for (const name of ['wrtc', 'node-datachannel'] as const) {
  describe(`WebRTC host (${name})`, () => {
    it('carries every node pair of two hosts over one RTCPeerConnection per host pair, with requests', async () => {
      const room = `hosts-${Math.random().toString(36).slice(2)}`
      const wrtcs = [countingWrtc(implementations[name]()), countingWrtc(implementations[name]())]
      const hosts: WebRtcHost[] = []
      for (const wrtc of wrtcs) {
        hosts.push(
          createWebRtcHost({
            keyPair: await generateKeyPair(),
            signaling: { url: fixture.server.url, room },
            rtc: { iceServers: [] },
            wrtc,
          }),
        )
      }
      const networks: DefaultNetwork[] = []
      try {
        for (const h of hosts) h.start()
        await Promise.all(hosts.map((h) => h.ready()))
        for (const h of hosts) {
          for (let i = 0; i < NODES_PER_HOST; i++) {
            const id = Identifier.random()
            networks.push(createNetwork({ connectionManager: h.node(id, await generateKeyPair()) }))
          }
        }
        for (const n of networks) n.start()
        await Promise.all(networks.map((n) => n.ready()))
        const inboxes = networks.map(() => new Inbox())
        const conduits = await Promise.all(networks.map((n, i) => n.register(Channel.Test, inboxes[i]!)))
        const echoes = await Promise.all(networks.map((n, i) => n.register(ECHO, inboxes[i]!)))

        const sends: Array<Promise<void>> = []
        for (const [i, c] of conduits.entries()) {
          for (const [j, n] of networks.entries()) {
            if (i !== j) sends.push(c.send(n.localId, { payload: text.encode(`${i}->${j}`), metadata: {} }))
          }
        }
        await Promise.all(sends)
        await Promise.all(inboxes.map((b) => b.waitFor(networks.length - 1)))
        for (const [j, b] of inboxes.entries()) {
          const expected = networks.map((_, i) => `${i}->${j}`).filter((_, i) => i !== j)
          expect([...b.got].sort()).toEqual(expected.sort())
        }
        // requests across the hosts and within one
        const far = networks[NODES_PER_HOST]!.localId
        const near = networks[1]!.localId
        const short = networks[0]!.localId.toHex().slice(0, 8)
        const replies = await Promise.all([
          echoes[0]!.request(far, { payload: text.encode('hi'), metadata: {} }, { timeoutMs: 10_000 }),
          echoes[0]!.request(near, { payload: text.encode('hey'), metadata: {} }, { timeoutMs: 10_000 }),
        ])
        expect(replies.map((r) => decode.decode(r.payload))).toEqual([
          `hi from ${short}`,
          `hey from ${short}`,
        ])

        for (const [k, h] of hosts.entries()) {
          const m = h.metrics()
          expect(m.webrtc.peerConnectionsCreated).toBe(1)
          expect(m.webrtc.connectionsActive).toBe(1)
          expect(wrtcs[k]!.created()).toBe(1)
          expect(m.mux.hostLinks).toBe(1)
          expect(m.mux.rejectedFrames).toBe(0)
          // every node talks to the 5 others: 2 of them on its host, 3 across
          expect(m.mux.virtualLinks).toMatchObject({ open: NODES_PER_HOST * 5, local: NODES_PER_HOST * 2 })
        }
      } finally {
        await Promise.all(networks.map((n) => n.stop()))
        await Promise.all(hosts.map((h) => h.stop()))
      }
    }, 60_000)
  })
}
