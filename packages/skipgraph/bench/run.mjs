// Skip-graph benchmark over MemoryHub (zero latency): hops and messages per search, messages per join, for
// n = 64, 256, 1,024, 4,096, beside log2(n). Writes docs/benchmarks/skipgraph.{json,md}. Imports ../dist.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNetwork, Identifier, MemoryHub, MembershipVector } from '@skipmesh/core'
import { createSkipGraphNode } from '../dist/index.js'

const SIZES = (process.env.SIZES ?? '64,256,1024,4096').split(',').map(Number)
const SEARCHES = Number(process.env.SEARCHES ?? 2000)
const EXTRA_JOINS = Number(process.env.EXTRA_JOINS ?? 64)
const out = join(dirname(fileURLToPath(import.meta.url)), '../../../docs/benchmarks')

function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const random = rng(2026)
const bytes = () => Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256))

const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length
const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(0.99 * xs.length) - 1)]
const round = (x) => Math.round(x * 100) / 100

async function makeNode(hub) {
  const id = Identifier.fromBytes(bytes())
  const network = createNetwork({ connectionManager: hub.connectionManager(id) })
  network.start()
  await network.ready()
  const node = createSkipGraphNode({
    network,
    identity: { id, mv: MembershipVector.fromBytes(bytes()) },
    random,
    probeIntervalMs: 0, // count search and join messages only
  })
  node.start()
  await node.ready()
  return { node, network }
}

const totalSent = (members) => members.reduce((s, m) => s + m.node.metrics().messagesSent, 0)

async function run(n) {
  const hub = new MemoryHub({ seed: n })
  const members = []
  const t0 = performance.now()
  const first = await makeNode(hub)
  await first.node.join()
  members.push(first)
  for (let i = 1; i < n; i++) {
    const m = await makeNode(hub)
    await m.node.join(members[Math.floor(random() * members.length)].node.identity.id)
    members.push(m)
  }
  const buildMs = performance.now() - t0
  const buildMessages = totalSent(members)

  // join cost into a graph of n nodes: EXTRA_JOINS nodes join (each then leaves again, not measured)
  const joinCosts = []
  for (let k = 0; k < EXTRA_JOINS; k++) {
    const m = await makeNode(hub)
    const all = [...members, m]
    const before = totalSent(all)
    await m.node.join(members[Math.floor(random() * members.length)].node.identity.id)
    joinCosts.push(totalSent(all) - before)
    await m.node.leave()
    await m.network.stop()
  }

  // searches: half for present identifiers, half for absent ones, from random nodes
  const ids = members.map((m) => m.node.identity.id)
  const hops = []
  const messages = []
  const searchBefore = members.reduce(
    (s, m) => s + m.node.metrics().sentByKind.Search + m.node.metrics().sentByKind.SearchResult,
    0,
  )
  const t1 = performance.now()
  for (let k = 0; k < SEARCHES; k++) {
    const origin = members[Math.floor(random() * members.length)].node
    const target = k % 2 === 0 ? ids[Math.floor(random() * ids.length)] : Identifier.fromBytes(bytes())
    const res = await origin.searchById(target)
    hops.push(res.hops.length)
    messages.push(res.hops.length + (res.result.equals(origin.identity.id) ? 0 : 1))
  }
  const searchMs = performance.now() - t1
  const searchAfter = members.reduce(
    (s, m) => s + m.node.metrics().sentByKind.Search + m.node.metrics().sentByKind.SearchResult,
    0,
  )
  const counted = searchAfter - searchBefore
  if (counted !== messages.reduce((s, x) => s + x, 0)) throw new Error(`message count mismatch: ${counted}`)
  const levels = members.map((m) => m.node.lookupTable().levels.length - 1)

  await Promise.all(
    members.map(async (m) => {
      await m.node.stop()
      await m.network.stop()
    }),
  )
  return {
    n,
    log2n: round(Math.log2(n)),
    searches: SEARCHES,
    hopsMean: round(mean(hops)),
    hopsP99: p99(hops),
    messagesPerSearchMean: round(mean(messages)),
    messagesPerSearchP99: p99(messages),
    joins: EXTRA_JOINS,
    messagesPerJoinMean: round(mean(joinCosts)),
    messagesPerJoinP99: p99(joinCosts),
    buildMessagesPerJoinMean: round(buildMessages / n),
    levelsMean: round(mean(levels)),
    buildMs: Math.round(buildMs),
    searchMsEach: round(searchMs / SEARCHES),
  }
}

const results = []
for (const n of SIZES) {
  const r = await run(n)
  console.log(JSON.stringify(r))
  results.push(r)
}

const meta = {
  date: new Date().toISOString(),
  node: process.version,
  transport: 'MemoryHub, zero latency',
  searchMix: '50% present, 50% absent targets',
}
mkdirSync(out, { recursive: true })
writeFileSync(join(out, 'skipgraph.json'), `${JSON.stringify({ meta, results }, null, 2)}\n`)
const md = [
  '# @skipmesh/skipgraph benchmark',
  '',
  `Generated by \`npm run bench -w @skipmesh/skipgraph\` on ${meta.date} (Node ${meta.node}, ${meta.transport}).`,
  `Graphs built by sequential joins through random members; ${SEARCHES} searches per size from random nodes (${meta.searchMix});`,
  `join cost measured on ${EXTRA_JOINS} extra joins into the n-node graph. A message is one skip-graph protocol message`,
  '(a search forward, the answer, a lock, read, apply, acknowledgement or release).',
  '',
  '| n | log2 n | hops/search mean | hops p99 | msgs/search mean | msgs/search p99 | msgs/join mean | msgs/join p99 | mean top level |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.n} | ${r.log2n} | ${r.hopsMean} | ${r.hopsP99} | ${r.messagesPerSearchMean} | ${r.messagesPerSearchP99} | ${r.messagesPerJoinMean} | ${r.messagesPerJoinP99} | ${r.levelsMean} |`,
  ),
  '',
  'Hops grow like log2 n (the skip-graph bound is O(log n) expected); a search costs its hops plus one direct answer to',
  'the origin. A join costs one search for its own identifier plus, per level, about two reads of the walk, two locks, two',
  'applies with acknowledgements (each also releasing its lock), and their replies: O(log n) messages.',
  '',
]
writeFileSync(join(out, 'skipgraph.md'), md.join('\n'))
console.log(`wrote ${join(out, 'skipgraph.md')}`)
