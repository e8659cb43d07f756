// The one module of a new user's app, as the packages' READMEs show it: a WebRTC connection manager in a
// signaling room, a Network over it, a skip-graph node on the network, then join. `?introducer=<hex>` joins
// through that node; without it this node starts the graph. The test drives it through `window.consumer`.
import { Identifier, createNetwork, generateKeyPair } from '@skipmesh/core'
import { createSkipGraphNode } from '@skipmesh/skipgraph'
import { createWebRtcConnectionManager } from '@skipmesh/webrtc'

const params = new URLSearchParams(location.search)
const status = document.querySelector('#status')

const connectionManager = createWebRtcConnectionManager({
  localId: Identifier.random(),
  keyPair: await generateKeyPair(),
  signaling: { url: location.origin, room: params.get('room') ?? 'consumer' },
  rtc: { iceServers: [] },
})
const network = createNetwork({ connectionManager })
network.start()
await network.ready()

const node = createSkipGraphNode({ network })
node.start()
await node.ready()
const introducer = params.get('introducer')
await node.join(introducer === null ? undefined : Identifier.fromHex(introducer))

window.consumer = {
  id: node.identity.id.toHex(),
  async search(hex) {
    const { result, found } = await node.searchById(Identifier.fromHex(hex))
    return { result: result.toHex(), found }
  },
}
status.textContent = `joined as ${window.consumer.id}`
