#!/usr/bin/env node
// A small real example of @skipmesh/core: four nodes on an in-memory hub exchange messages on two channels;
// prints what was routed where, then each node's metrics. Run: `npm run example` (after `npm run build`).
import { Channel, Identifier, MemoryHub, channel, createNetwork } from '@skipmesh/core'

const hub = new MemoryHub({ seed: 7, latency: { min: 1, max: 5 } })
const chat = channel('example.chat')
const short = (id) => id.toHex().slice(0, 8)
const text = new TextEncoder()
const read = new TextDecoder()

// resolves once every message sent below has reached its processor (the hub has latency)
const sends = 5
let delivered = 0
let allDelivered
const done = new Promise((resolve) => {
  allDelivered = resolve
})

const nodes = []
for (let i = 0; i < 4; i++) {
  const network = createNetwork({ connectionManager: hub.connectionManager(Identifier.random()) })
  network.start()
  await network.ready()
  const conduits = {}
  for (const ch of [Channel.Test, chat]) {
    conduits[ch] = await network.register(ch, {
      processIncomingMessage(ch, origin, message) {
        console.log(
          `  ${short(network.localId)} got on ${ch.padEnd(12)} from ${short(origin)}: ${read.decode(message.payload)}`,
        )
        if (++delivered === sends) allDelivered()
      },
    })
  }
  nodes.push({ network, conduits })
}

const [a, b, c, d] = nodes
const msg = (s) => ({ payload: text.encode(s), metadata: {} })
console.log('routing:')
await a.conduits[Channel.Test].send(b.network.localId, msg('hello b, on test'))
await a.conduits[chat].send(b.network.localId, msg('hello b, on chat'))
const results = await c.conduits[chat].broadcast(
  [a.network.localId, b.network.localId, d.network.localId],
  msg('broadcast from c'),
)
console.log(`broadcast: ${results.filter((r) => r.ok).length}/${results.length} ok`)
await done

console.log('\nmetrics:')
for (const { network } of nodes) {
  const m = network.metrics()
  console.log(
    `  ${short(network.localId)} sent ${m.total.messagesSent} (${m.total.bytesSent} B), received ${m.total.messagesReceived} (${m.total.bytesReceived} B), connections active ${m.connections.active}`,
  )
}
await Promise.all(nodes.map(({ network }) => network.stop()))
