// Search answers over WebRTC in Node: N skip-graph nodes, each on its own WebRtcConnectionManager (one
// RTCPeerConnection per remote, node-datachannel by default, WRTC=roamhq for @roamhq/wrtc) joined to a real
// signaling server on loopback, sequential joins, then SEARCHES searches one at a time from random nodes to random
// members. Reports search latency (p50 / p99 / max) and connections per node after the joins and after the
// searches. Run it once per implementation of the skip graph: `SG=../dist/index.js` (the default: answers travel
// back along the path) or SG pointing at another build (e.g. a copy of the previous dist, whose answers went
// straight to the origin over a new connection), with the same SEED, so identities, joins and targets are the
// same. Prints one JSON line; not run in CI.
import { generateKeyPair, Identifier } from '@skipmesh/core'
import { createJsonLogger, createSignalingServer } from '@skipmesh/signaling-server'
import { createWebRtcConnectionManager, nodeDatachannelWrtc } from '@skipmesh/webrtc'
import { joinSequentially, makeMember, stopAll } from './graph.mjs'
import { mean, round, rng } from './stats.mjs'

const N = Number(process.env.N ?? 32)
const SEARCHES = Number(process.env.SEARCHES ?? 256)
const SEED = Number(process.env.SEED ?? 7)
const SG = process.env.SG ?? '../dist/index.js'
const { createSkipGraphNode } = await import(new URL(SG, import.meta.url).href)
const wrtc =
  process.env.WRTC === 'roamhq'
    ? (await import('@roamhq/wrtc')).default
    : nodeDatachannelWrtc(await import('node-datachannel/polyfill'))

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]
}
const stats = (xs) => ({
  mean: round(mean(xs)),
  p50: round(quantile(xs, 0.5)),
  p99: round(quantile(xs, 0.99)),
  max: round(Math.max(...xs)),
})

const random = rng(SEED)
const bytes = () => Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256))
const server = await createSignalingServer({
  port: 0,
  host: '127.0.0.1',
  logger: createJsonLogger({ level: 'warn' }),
})
const room = `search-${SEED}`
const makeNode = async () => {
  const id = Identifier.fromBytes(bytes())
  const manager = createWebRtcConnectionManager({
    localId: id,
    keyPair: await generateKeyPair(),
    signaling: { url: server.url, room },
    rtc: { iceServers: [] },
    wrtc,
  })
  const options = { probeIntervalMs: 0, requestTimeoutMs: 20_000, searchTimeoutMs: 30_000 }
  return makeMember({ id, manager, random, options, create: createSkipGraphNode })
}
const t0 = performance.now()
const members = await joinSequentially(N, makeNode, random)
const count = () => members.map((m) => m.manager.connections().length)
const joinMs = performance.now() - t0
const afterJoins = count()
const ids = members.map((m) => m.node.identity.id)
const latencies = []
const hops = []
let wrong = 0
for (let k = 0; k < SEARCHES; k++) {
  const from = members[Math.floor(random() * members.length)]
  const target = ids[Math.floor(random() * ids.length)]
  const t = performance.now()
  const res = await from.node.searchById(target)
  latencies.push(performance.now() - t)
  hops.push(res.hops.length)
  if (!res.found || !res.result.equals(target)) wrong++
}
const afterSearches = count()
const sent = members.reduce((s, m) => s + m.node.metrics().messagesSent, 0)
await stopAll(members)
await server.close()
console.log(
  JSON.stringify({
    sg: SG,
    wrtc: process.env.WRTC === 'roamhq' ? '@roamhq/wrtc' : 'node-datachannel',
    n: N,
    searches: SEARCHES,
    wrong,
    latencyMs: stats(latencies),
    hops: stats(hops),
    connectionsAfterJoins: stats(afterJoins),
    connectionsAfterSearches: stats(afterSearches),
    skipGraphMessagesSent: sent,
    joinS: round(joinMs / 1000),
  }),
)
process.exit(0)
