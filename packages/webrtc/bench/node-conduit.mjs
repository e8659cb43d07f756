/**
 * The skipmesh side in Node: two `createNetwork` nodes over `WebRtcConnectionManager`s of one WebRTC
 * implementation, joined to a real signaling server, with a channel used as a measurement pipe.
 *
 * @module
 */
import { channel, createNetwork, generateKeyPair, Identifier } from '@skipmesh/core'
import { createWebRtcConnectionManager } from '@skipmesh/webrtc'
import { epochNow } from './measure.mjs'

/**
 * A started, ready node; `pipe(ch, peer)` makes channel `ch` a {@link import('./measure.mjs').Pipe} to `peer`.
 * @param {{ url: string, room: string, wrtc: unknown }} options
 */
export async function startNode({ url, room, wrtc }) {
  const manager = createWebRtcConnectionManager({
    localId: Identifier.random(),
    keyPair: await generateKeyPair(),
    signaling: { url, room },
    rtc: { iceServers: [] },
    wrtc: /** @type {any} */ (wrtc),
  })
  const network = createNetwork({ connectionManager: manager })
  network.start()
  await network.ready()
  return {
    id: manager.localId,
    network,
    manager,
    /**
     * @param {string} name @param {Identifier} peer
     * @returns {Promise<import('./measure.mjs').Pipe>}
     */
    async pipe(name, peer) {
      /** @type {(bytes: Uint8Array) => void} */
      let handler = () => {}
      const conduit = await network.register(channel(name), {
        processIncomingMessage: (_ch, _origin, message) => handler(message.payload),
      })
      return {
        send: (bytes) => conduit.send(peer, { payload: bytes, metadata: {} }),
        onMessage: (h) => {
          handler = h
        },
      }
    },
    /**
     * Registers `name`; `arrived` resolves with the epoch time its first message arrives.
     * @param {string} name
     * @returns {Promise<{ arrived: Promise<number> }>}
     */
    async firstArrival(name) {
      /** @type {(t: number) => void} */
      let resolve = () => {}
      /** @type {Promise<number>} */
      const arrived = new Promise((r) => {
        resolve = r
      })
      await network.register(channel(name), { processIncomingMessage: () => resolve(epochNow()) })
      return { arrived }
    },
    /** Epoch time just before a send that has to dial first. @param {string} name @param {Identifier} peer */
    async timedFirstSend(name, peer) {
      const conduit = await network.register(channel(name), { processIncomingMessage: () => {} })
      const t0 = epochNow()
      await conduit.send(peer, { payload: Uint8Array.of(0, 0, 0, 0), metadata: {} })
      return t0
    },
    stop: () => network.stop(),
  }
}
